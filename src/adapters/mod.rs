//! Implementations of the ports.

pub mod azure;
