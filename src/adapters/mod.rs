//! Implementations of the ports.

pub mod azure;
pub mod memory;
pub mod redis;
pub mod sqlite_store;
