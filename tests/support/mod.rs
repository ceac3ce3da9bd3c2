//! Shared test helpers, one topic per file.
#![allow(dead_code)]

pub mod azurite;
pub mod twin;
