//! The policy file as TOML spells it. Values that have a domain type are parsed into it here
//! (so a bad duration or consumer id is reported at its own line by the TOML parser); fields
//! that later checks must point at keep their span.

use crate::domain::{ConsumerId, CredentialName, HumanDuration, Slot, Wave};
use crate::policy::ProviderKind;
use serde::Deserialize;
use serde_spanned::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPolicy {
    #[serde(default)]
    pub defaults: RawDefaults,
    #[serde(default)]
    pub timing: RawTiming,
    #[serde(default, rename = "credential")]
    pub credentials: Vec<RawCredential>,
}

/// Values every credential inherits unless it sets its own.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDefaults {
    pub validity: Option<Spanned<HumanDuration>>,
    pub rotate_every: Option<Spanned<HumanDuration>>,
    pub ack_deadline: Option<HumanDuration>,
    pub soak: Option<HumanDuration>,
    pub usage_guard: Option<bool>,
    pub content_type: Option<String>,
    pub alert: Option<Spanned<String>>,
}

/// Overrides of the protocol's timing (`core::Timing`); rarely needed.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTiming {
    pub action_lease: Option<Spanned<HumanDuration>>,
    pub action_time_limit: Option<Spanned<HumanDuration>>,
    pub resend_every: Option<Spanned<HumanDuration>>,
    pub operation_timeout: Option<HumanDuration>,
    pub max_transient_failures: Option<u32>,
    pub backoff: Option<HumanDuration>,
    pub usage_guard_timeout: Option<HumanDuration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCredential {
    pub name: Spanned<CredentialName>,
    pub provider: Spanned<ProviderKind>,
    /// ARM resource id, for providers managed through Resource Manager.
    pub resource: Option<Spanned<String>>,
    /// Provider address, for providers outside ARM (Redis Cloud API URL, redis:// host).
    pub address: Option<Spanned<String>>,
    pub vault: Spanned<String>,
    pub secret: Spanned<String>,
    pub content_type: Option<String>,
    pub validity: Option<Spanned<HumanDuration>>,
    pub rotate_every: Option<Spanned<HumanDuration>>,
    pub soak: Option<HumanDuration>,
    pub usage_guard: Option<bool>,
    pub initial_slot: Option<Slot>,
    pub alert: Option<Spanned<String>>,
    /// Redis kinds only (see `policy::redis`): the ACL user(s), the Key Vault secrets holding
    /// admin credentials or API keys, the staging / incoming secrets and a private CA.
    pub user: Option<Spanned<String>>,
    pub users: Option<Spanned<Vec<String>>>,
    pub admin_secret: Option<Spanned<String>>,
    pub api_keys_secret: Option<Spanned<String>>,
    pub staging_secret: Option<Spanned<String>>,
    pub incoming_secret: Option<Spanned<String>>,
    pub ca_file: Option<Spanned<String>>,
    #[serde(default, rename = "consumer")]
    pub consumers: Vec<RawConsumer>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConsumer {
    pub id: Spanned<ConsumerId>,
    pub wave: Option<Spanned<Wave>>,
    pub ack_deadline: Option<Spanned<HumanDuration>>,
    pub health: Option<Spanned<String>>,
}
