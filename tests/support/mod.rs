//! Helpers shared by integration tests; one file per topic.
#![allow(dead_code)]

pub mod agent;
pub mod azurite;
pub mod handler;
pub mod redis;
pub mod stack;
pub mod twin;
