//! The rotation core: a deterministic state machine, `(record, event, now) -> (record, actions)`.
//!
//! No I/O, no clock, no randomness it is not given. The driver persists the record it returns
//! *before* performing the actions, so a crash between the two is repaired by replaying: the
//! core re-derives the actions of the current phase from the record alone when the next
//! `Tick` arrives (every action is safe to repeat). The simulator drives this module through
//! random interleavings and checks invariants I1–I6 after every step.

mod action;
mod event;
mod machine;
mod plan;
mod record;

pub use action::Action;
pub use event::{Event, GuardFacts, OperatorCommand, ProviderResult};
pub use machine::{handle, start, Outcome, Verdict};
pub use plan::{Plan, PlannedConsumer, Timing, Trigger};
pub use record::{
    AckState, ConsumerProgress, ForceRecord, Phase, Rotation, Stall, TimelineEntry,
};
