//! Helpers shared by integration tests, one topic per file.

pub mod azurite;
