//! The one way tests build a rotation plan. Every field a test does not care about gets the
//! value production would use (`Timing::default()`, no soak, no usage guard); a test that
//! cares about one field overrides it with struct-update syntax, so what a test is about
//! stays visible at the call site.
//!
//! Standalone on purpose: the core's own tests include it by `#[path]` without the heavier
//! helpers in `support/mod.rs`.
#![allow(dead_code)]

use keyrelay::core::{Plan, PlannedConsumer, Timing};
use keyrelay::domain::{ConsumerId, CredentialName, HumanDuration, Wave};
use keyrelay::ports::SecretRef;

/// The vault every memory-adapter plan names unless a test gives its own secret.
pub const VAULT: &str = "kv.vault.azure.net";

/// A plan for `credential` on the memory provider, secret `{credential}-key`, with the given
/// `(consumer, wave)` list, each allowed 10 minutes to ack.
pub fn plan(credential: &str, consumer_waves: &[(&str, u32)]) -> Plan {
    Plan {
        credential: CredentialName::parse(credential).unwrap(),
        provider: "memory".into(),
        resource_id: format!("/r/{credential}"),
        secret: SecretRef { vault: VAULT.into(), name: format!("{credential}-key") },
        content_type: "text/plain".into(),
        validity: HumanDuration::parse("60d").unwrap(),
        consumers: consumers(consumer_waves, "10m"),
        soak: HumanDuration::ZERO,
        usage_guard: false,
        initial_active_slot: None,
        timing: Timing::default(),
    }
}

/// `(consumer, wave)` pairs, each with the same ack deadline.
pub fn consumers(consumer_waves: &[(&str, u32)], ack_deadline: &str) -> Vec<PlannedConsumer> {
    consumer_waves
        .iter()
        .map(|(id, wave)| PlannedConsumer {
            id: ConsumerId::parse(id).unwrap(),
            wave: Wave::parse(*wave).unwrap(),
            ack_deadline: HumanDuration::parse(ack_deadline).unwrap(),
        })
        .collect()
}
