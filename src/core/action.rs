use crate::domain::Slot;
use crate::protocol::Step;
use chrono::{DateTime, Utc};

/// A side effect the core asks for. The driver performs it after persisting the record that
/// asked, and feeds the result back as an [`super::Event`]. Each action is safe to repeat.
///
/// Actions that change a key or a secret carry `not_after`: the end of the lease the record
/// took when it asked. A driver must not start such an action once its lease has run out,
/// because by then another instance may have re-issued it and moved on (a regenerate that
/// lands after the new value was published would break I1). A started action must also
/// *finish* inside the lease, so the driver starts one only while at least
/// `Timing::action_time_limit` of the lease is left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Gather `GuardFacts` (read-only).
    EvaluateGuards,
    /// Regenerate a slot. `force` only on a recorded operator force.
    Regenerate { slot: Slot, force: bool, not_after: DateTime<Utc> },
    /// Poll a long-running regenerate.
    PollOperation { slot: Slot, operation: String, not_after: DateTime<Utc> },
    /// Read the slot's value from the provider and write it to the secret store as a new
    /// version tagged with this rotation and slot (reuse the version if one with those tags
    /// exists).
    Publish { slot: Slot, not_after: DateTime<Utc> },
    /// Send one reload step.
    SendStep(Step),
    /// Ask the provider whether the slot was used recently.
    CheckUsage { slot: Slot },
    /// Raise an alert: the rotation stalled and waits for an operator.
    Alert { reason: String },
}

impl Action {
    /// The lease end of a key- or secret-changing action.
    pub fn not_after(&self) -> Option<DateTime<Utc>> {
        match self {
            Action::Regenerate { not_after, .. }
            | Action::PollOperation { not_after, .. }
            | Action::Publish { not_after, .. } => Some(*not_after),
            _ => None,
        }
    }
}
