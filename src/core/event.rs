use crate::domain::{ConsumerId, SecretValue, SecretVersion, Slot};
use crate::ports::{KeyAuthStatus, UsageEvidence};
use crate::protocol::{Ack, Heartbeat};
use std::time::Duration;

/// What the guard phase learned from the outside world (gathered by the driver).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardFacts {
    pub key_auth: KeyAuthStatus,
    /// The current Key Vault version and the slot its tags say it holds.
    pub current_version: Option<SecretVersion>,
    pub current_slot_tag: Option<Slot>,
    /// The slot whose provider value equals the current Key Vault value, when the driver
    /// could compare them (values are compared, never stored).
    pub current_slot_by_value: Option<Slot>,
    /// Consumers whose last heartbeat names a version holding the given slot.
    pub heartbeats: Vec<(ConsumerId, SecretVersion, Option<Slot>)>,
    /// Provider usage evidence for the standby slot.
    pub standby_usage: UsageEvidence,
}

/// The result of a provider call the core asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderResult {
    Done,
    Pending { operation: String, retry_after: Duration },
    Throttled { retry_after: Duration },
    KeyUsedRecently { detail: String },
    KeyAuthDisabled { switch: String },
    Failed { detail: String, transient: bool },
}

/// Operator commands on a rotation. Every one names who gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OperatorCommand {
    /// Re-send steps to the consumers that have not acked healthy, or re-run the stalled phase.
    Retry { operator: String },
    /// Publish the old slot's value again, reload everyone back, end RolledBack.
    Rollback { operator: String, reason: String },
    /// Retire the old slot although not every consumer acked (recorded, I1/I2 exception).
    Force { operator: String, reason: String },
}

/// Everything that can happen to a rotation.
#[derive(Debug, Clone)]
pub enum Event {
    /// Time passed (sweeper, scheduled message, or a restart after a crash): re-derive and
    /// re-emit whatever the current phase is due to do.
    Tick,
    Guard(GuardFacts),
    /// Result of `Action::Regenerate` or `Action::PollOperation` for this slot.
    Regenerated { slot: Slot, result: ProviderResult },
    /// Result of `Action::Publish`: the version now holding `slot`, or a failure.
    Published { slot: Slot, result: Result<SecretVersion, (String, bool)> },
    /// A consumer's ack. `key` is the value of the version the ack names, read by the driver
    /// from the secret store (None if that version does not exist): the core recomputes the
    /// proof with it and forgets it.
    Ack { ack: Ack, key: Option<SecretValue> },
    Heartbeat(Heartbeat),
    /// Result of `Action::CheckUsage` for the old slot.
    Usage { slot: Slot, result: Result<UsageEvidence, String> },
    /// A failed step send for one consumer (transient: retried on the next tick).
    StepSendFailed { consumer: ConsumerId, detail: String },
    Operator(OperatorCommand),
    /// When the driver could not finish the guard gathering (e.g. Key Vault down).
    GuardFailed { detail: String, transient: bool },
}
