//! From policy to rotations: which credential a Key Vault event is about, whether the
//! schedule should rotate it, and the frozen [`Plan`] a rotation runs with.

use super::{CredentialPolicy, Policy};
use crate::core::{Plan, PlannedConsumer, Timing};
use crate::domain::CredentialName;
use chrono::{DateTime, Utc};

impl CredentialPolicy {
    /// The plan a rotation of this credential runs with.
    pub fn plan(&self, timing: &Timing) -> Plan {
        Plan {
            credential: self.name.clone(),
            provider: self.provider.to_string(),
            resource_id: self.target.as_str().to_string(),
            secret: self.secret.clone(),
            content_type: self.content_type.clone(),
            validity: self.validity,
            consumers: self
                .consumers
                .iter()
                .map(|c| PlannedConsumer { id: c.id.clone(), wave: c.wave, ack_deadline: c.ack_deadline })
                .collect(),
            soak: self.soak,
            usage_guard: self.usage_guard,
            initial_active_slot: self.initial_slot,
            timing: timing.clone(),
        }
    }

    /// Whether the schedule should rotate this credential now. `last_rotation` is when its
    /// last rotation completed (or, with no history, when the current Key Vault version was
    /// created); `None` means never, which is due. Without `rotate_every` the schedule never
    /// rotates it: Key Vault expiry events and operators do.
    pub fn due(&self, last_rotation: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
        match (self.rotate_every, last_rotation) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(every), Some(last)) => now - last >= every.to_chrono(),
        }
    }
}

impl Policy {
    pub fn credential(&self, name: &CredentialName) -> Option<&CredentialPolicy> {
        self.credentials.iter().find(|c| &c.name == name)
    }

    /// The plan for a rotation of `credential`, with the policy's timing.
    pub fn plan_for(&self, credential: &CredentialName) -> Option<Plan> {
        self.credential(credential).map(|c| c.plan(&self.timing))
    }

    /// The credential whose Key Vault secret this is. `vault` is the vault's host
    /// (`kv.vault.azure.net`), its URL, or its bare name as Event Grid's `VaultName` gives it;
    /// secret names compare case-insensitively, as Key Vault treats them.
    pub fn credential_for_secret(&self, vault: &str, name: &str) -> Option<&CredentialPolicy> {
        let given = vault.trim().trim_start_matches("https://").trim_end_matches('/').to_ascii_lowercase();
        self.credentials.iter().find(|c| {
            let host = c.secret.vault.as_str();
            let vault_matches = if given.contains('.') {
                host == given
            } else {
                host.split('.').next() == Some(given.as_str())
            };
            vault_matches && c.secret.name.eq_ignore_ascii_case(name.trim())
        })
    }
}
