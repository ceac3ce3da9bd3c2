use crate::domain::{Slot};
use crate::protocol::Step;

/// A side effect the core asks for. The driver performs it after persisting the record that
/// asked, and feeds the result back as an [`super::Event`]. Each action is safe to repeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Gather `GuardFacts` (read-only).
    EvaluateGuards,
    /// Regenerate a slot. `force` only on a recorded operator force.
    Regenerate { slot: Slot, force: bool },
    /// Poll a long-running regenerate.
    PollOperation { slot: Slot, operation: String },
    /// Read the slot's value from the provider and write it to the secret store as a new
    /// version tagged with this rotation (reuse the version if one with the tag exists).
    Publish { slot: Slot },
    /// Send one reload step.
    SendStep(Step),
    /// Ask the provider whether the slot was used recently.
    CheckUsage { slot: Slot },
    /// Raise an alert: the rotation stalled and waits for an operator.
    Alert { reason: String },
}
