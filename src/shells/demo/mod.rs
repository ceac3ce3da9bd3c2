//! `keyrelay demo`: a full rotation a newcomer can watch, with no Azure account.
//!
//! The embedded variant runs the real core and driver against the in-memory ports, with
//! consumer tasks that keep issuing requests with the key they hold, so the summary's
//! "failed consumer requests" is measured, not asserted.

mod embedded;
mod timeline;

pub use embedded::{run_embedded, succeeded, DemoOptions, DemoSummary};
