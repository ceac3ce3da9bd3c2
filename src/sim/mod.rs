//! A deterministic simulator of keyrelay's rotation protocol.
//!
//! It drives the real [`crate::driver::Driver`] (and through it the real core) against
//! simulated ports that share one seeded world: providers with immediate and long-running
//! regenerates, a Key Vault, a Service Bus that delays, duplicates, reorders and loses
//! messages, consumers that follow their steps or break the protocol in one way each, two
//! orchestrator instances that crash and restart from the store, duplicate triggers, sweeps
//! and operator commands. Every port call is a point where the scheduler can switch to another
//! task or crash the caller. Invariants I1–I6 of DESIGN.md, and "no consumer that followed its
//! steps ever holds a key that no longer works", are checked after every step. A schedule is a
//! pure function of its seed: `cargo run --release --example simulate -- --replay SEED` prints
//! its trace. See `docs/simulator.md`.

mod check;
mod consumer;
mod exec;
mod ports;
mod run;
mod schedule;
mod world;

pub use consumer::Behavior;
pub use run::{run_many, Summary};
pub use schedule::{run as run_schedule, Report};
pub use world::{Stats, SECRET_MARK};
