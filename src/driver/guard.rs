//! Gathering what the Guard phase decides on. Everything here is read-only.

use super::Driver;
use crate::core::{Event, GuardFacts, Rotation};
use crate::domain::Slot;
use crate::ports::{KeyAuthStatus, KeyProvider, UsageEvidence};
use std::collections::HashMap;
use subtle::ConstantTimeEq;

impl Driver {
    pub(super) async fn gather_guard_facts(&self, rotation: &Rotation, provider: &dyn KeyProvider) -> Event {
        match self.try_gather(rotation, provider).await {
            Ok(facts) => Event::Guard(facts),
            Err((detail, transient)) => Event::GuardFailed { detail, transient },
        }
    }

    async fn try_gather(&self, rotation: &Rotation, provider: &dyn KeyProvider) -> Result<GuardFacts, (String, bool)> {
        let plan = &rotation.plan;
        let fail = |e: &dyn std::fmt::Display| (e.to_string(), true);
        let key_auth = provider.key_auth().await.map_err(|e| fail(&e))?;
        if matches!(key_auth, KeyAuthStatus::Disabled { .. }) {
            // Refuse before touching anything else.
            return Ok(GuardFacts {
                key_auth,
                current_version: None,
                current_slot_tag: None,
                current_slot_by_value: None,
                heartbeats: Vec::new(),
                standby_usage: UsageEvidence::default(),
            });
        }
        let current = self.secrets.current(&plan.secret).await.map_err(|e| fail(&e))?;
        // Which slot does the current value belong to? Compared in constant time and dropped.
        let mut by_value = None;
        if let Some(info) = &current {
            let value = self.secrets.read(&info.id).await.map_err(|e| fail(&e))?;
            for slot in Slot::BOTH {
                let key = provider.read(slot).await.map_err(|e| fail(&e))?;
                if bool::from(key.expose().as_bytes().ct_eq(value.expose().as_bytes())) {
                    by_value = Some(slot);
                }
            }
        }
        let tag = current.as_ref().and_then(|c| c.slot);
        let active = tag.or(by_value).or(plan.initial_active_slot);

        let mut slots_of_versions = HashMap::new();
        let mut heartbeats = Vec::new();
        for hb in self.store.heartbeats(&plan.credential).await.map_err(|e| fail(&e))? {
            if !slots_of_versions.contains_key(&hb.version) {
                let slot = match self.secrets.version_info(&plan.secret.id_of(&hb.version)).await {
                    Ok(info) => info.slot,
                    Err(_) => None,
                };
                slots_of_versions.insert(hb.version.clone(), slot);
            }
            heartbeats.push((hb.consumer, hb.version.clone(), slots_of_versions[&hb.version]));
        }
        let standby_usage = match active {
            Some(active) => provider.usage(active.other()).await.map_err(|e| fail(&e))?,
            None => UsageEvidence::default(),
        };
        Ok(GuardFacts {
            key_auth,
            current_version: current.map(|c| c.id.version),
            current_slot_tag: tag,
            current_slot_by_value: by_value,
            heartbeats,
            standby_usage,
        })
    }
}
