//! Helpers shared by integration tests; one file per topic.
#![allow(dead_code)]

pub mod agent;
pub mod azurite;
pub mod redis;
pub mod twin;
pub mod stack;
