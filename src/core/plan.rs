use crate::domain::{ConsumerId, CredentialName, HumanDuration, Slot, Wave};
use crate::ports::SecretRef;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Why a rotation started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Trigger {
    Schedule,
    KeyVaultEvent { event_type: String, version: String },
    Manual { operator: String },
}

/// One consumer as the policy declares it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlannedConsumer {
    pub id: ConsumerId,
    pub wave: Wave,
    /// How long after its step the consumer has to ack before the rotation stalls.
    pub ack_deadline: HumanDuration,
}

/// Tunables of the protocol. Defaults suit Azure: steps re-sent every minute until acked
/// (Service Bus duplicate detection drops the copies), transient failures retried 8 times.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Timing {
    /// After emitting a side effect, how long before a `Tick` may emit it again (the first
    /// attempt is presumed to be running, or to have crashed).
    pub action_lease: HumanDuration,
    /// The longest a key- or secret-changing action may take once started; the driver starts
    /// one only if this much of its lease is left (see `driver::perform`). Shorter than
    /// `action_lease`. Records written before this field existed read the default.
    #[serde(default = "default_action_time_limit")]
    pub action_time_limit: HumanDuration,
    /// How often an unacked step is sent again with the same MessageId (lost messages).
    pub resend_every: HumanDuration,
    /// Longest wait for a long-running regenerate before the rotation stalls.
    pub operation_timeout: HumanDuration,
    /// Transient failures in one phase before the rotation stalls.
    pub max_transient_failures: u32,
    /// First backoff after a transient failure; it doubles up to `action_lease`.
    pub backoff: HumanDuration,
    /// How long the usage guard keeps re-checking before it stalls.
    pub usage_guard_timeout: HumanDuration,
}

/// Azure calls are bounded well under this by the adapters' timeouts; Publish makes three.
fn default_action_time_limit() -> HumanDuration {
    HumanDuration::from_secs(30)
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            action_lease: HumanDuration::from_secs(120),
            action_time_limit: default_action_time_limit(),
            resend_every: HumanDuration::from_secs(60),
            operation_timeout: HumanDuration::from_secs(1_800),
            max_transient_failures: 8,
            backoff: HumanDuration::from_secs(5),
            usage_guard_timeout: HumanDuration::from_secs(86_400),
        }
    }
}

/// Everything a rotation needs to know from the policy, frozen when it starts so a policy
/// edit halfway through cannot change the rules of a rotation in flight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    pub credential: CredentialName,
    /// Provider kind and resource, for evidence and for the published version's tags.
    pub provider: String,
    pub resource_id: String,
    pub secret: SecretRef,
    pub content_type: String,
    pub validity: HumanDuration,
    pub consumers: Vec<PlannedConsumer>,
    pub soak: HumanDuration,
    pub usage_guard: bool,
    /// Used only when the current Key Vault version carries no slot tag (first rotation of an
    /// adopted secret): the slot the operator says consumers use.
    pub initial_active_slot: Option<Slot>,
    pub timing: Timing,
}

impl Plan {
    /// The waves in order, each with its consumers.
    pub fn waves(&self) -> Vec<(Wave, Vec<&PlannedConsumer>)> {
        let mut waves: Vec<Wave> = self.consumers.iter().map(|c| c.wave).collect();
        waves.sort();
        waves.dedup();
        waves
            .into_iter()
            .map(|w| (w, self.consumers.iter().filter(|c| c.wave == w).collect()))
            .collect()
    }

    pub fn consumer(&self, id: &ConsumerId) -> Option<&PlannedConsumer> {
        self.consumers.iter().find(|c| &c.id == id)
    }

    pub fn expires_from(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now + self.validity.to_chrono()
    }
}
