//! keyrelay: zero-downtime rotation of two-key credentials.
//!
//! The crate is laid out as the architecture is:
//! - [`domain`] and [`protocol`]: types parsed at the edge, and the wire contract with consumers;
//! - [`core`]: the deterministic rotation state machine (no I/O);
//! - [`ports`]: the traits the driver uses to reach the world;
//! - [`adapters`]: implementations of the ports (Azure, Redis, SQLite, memory);
//! - [`driver`]: runs the core against the ports, persisting before every side effect;
//! - [`sim`]: the deterministic simulator that checks the invariants over random schedules;
//! - [`shells`]: the Functions custom handler, the CLI and the consumer agent.

pub mod adapters;
pub mod core;
pub mod domain;
pub mod driver;
pub mod evidence;
pub mod policy;
pub mod ports;
pub mod protocol;
pub mod shells;
pub mod sim;
pub mod twin;
