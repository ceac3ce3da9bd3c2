//! Helpers shared by integration tests; one file per topic.
#![allow(dead_code)]

pub mod agent;
pub mod azurite;
pub mod doubles;
pub mod handler;
pub mod plan;
pub mod redis;
pub mod stack;
pub mod twin;
