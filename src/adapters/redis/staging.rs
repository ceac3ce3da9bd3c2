//! Where a freshly regenerated Redis password waits until the Publish phase reads it.
//!
//! Redis (self-hosted or Cloud) never returns a password, so "read the new standby value" —
//! which the driver does in Publish, possibly after a crash and on another instance — needs
//! the value kept somewhere durable between Regenerate and Publish. The only store trusted with
//! secret values is Key Vault: a companion secret (by default `<secret>-keyrelay-staging`) whose
//! latest version, tagged with the slot, holds the last value keyrelay set. The provider writes
//! it *before* changing Redis, so a crash in between leaves a staged value that never became a
//! password — harmless, because the core repeats the regenerate (and the self-hosted provider
//! checks the staged value against the user's password hashes before using it).
//!
//! Only standby values are staged: the driver calls `KeyProvider::retire` for the old slot at
//! the end of a rotation, and that value is kept nowhere (DESIGN, Retire).

use crate::domain::{RotationId, Slot};
use crate::ports::{PublishRequest, SecretRef, SecretStore};
use std::sync::Arc;

use super::credential::{UserPassword, CONTENT_TYPE};

/// Where a new password goes besides Redis: a standby value is staged for Publish; a retired
/// one is kept nowhere.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Keep {
    Staged,
    Nowhere,
}

/// The staging secret of one credential.
#[derive(Clone)]
pub struct Staging {
    store: Arc<dyn SecretStore>,
    secret: SecretRef,
    resource_id: String,
}

impl Staging {
    pub fn new(store: Arc<dyn SecretStore>, secret: SecretRef, resource_id: &str) -> Self {
        Staging { store, secret, resource_id: resource_id.to_string() }
    }

    /// The default companion of a credential's secret: same vault, `<name>-keyrelay-staging`.
    pub fn default_ref(secret: &SecretRef) -> SecretRef {
        SecretRef { vault: secret.vault.clone(), name: format!("{}-keyrelay-staging", secret.name) }
    }

    /// Stores the value about to be set on `slot`.
    pub async fn put(&self, slot: Slot, value: &UserPassword) -> Result<(), String> {
        let rotation = RotationId::parse(&format!("staged-{}", uuid::Uuid::new_v4().simple())).map_err(|e| e.to_string())?;
        let request = PublishRequest {
            slot,
            rotation,
            resource_id: self.resource_id.clone(),
            content_type: CONTENT_TYPE.into(),
            not_before: None,
            expires: None,
        };
        self.store
            .publish(&self.secret, &value.to_secret(), &request)
            .await
            .map(|_| ())
            .map_err(|e| format!("staging the new value of slot {slot} in {}: {e}", self.secret.name))
    }

    /// The last value staged for `slot`, if the latest staged version is for that slot.
    pub async fn get(&self, slot: Slot) -> Result<Option<UserPassword>, String> {
        let current = self.store.current(&self.secret).await.map_err(|e| format!("reading {}: {e}", self.secret.name))?;
        let Some(info) = current.filter(|i| i.slot == Some(slot)) else { return Ok(None) };
        let value = self.store.read(&info.id).await.map_err(|e| format!("reading {}: {e}", self.secret.name))?;
        UserPassword::parse(&value).map(Some).map_err(|e| format!("{}: {e}", self.secret.name))
    }
}
