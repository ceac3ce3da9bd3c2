//! Redis Cloud API user keys, rotated with an operator's help.
//!
//! An API user key cannot be created or deleted through the API — only in the console, which
//! shows the new key once. So the "provider" here does what the API cannot through the
//! operator, and the rotation core does the rest unchanged:
//!
//! - **regenerate standby** = the operator has created a new user key in the console and stored
//!   it as a new version of the *incoming* Key Vault secret (`{"accountKey", "userKey",
//!   "userKeyName"}`). keyrelay checks the name rules (10–50 characters, letters, digits,
//!   hyphens, underscores), that it is a different key from the one in use, and that the API
//!   accepts it. If nothing new is staged the rotation stalls, saying what to do; a `retry`
//!   after staging continues it.
//! - **publish, waves, acks** = as for any credential.
//! - **retire** = the old key must be deleted in the console; keyrelay cannot do it. The
//!   rotation stalls in Retire with that instruction (it is in the stall reason, hence in the
//!   evidence and the alert) until the operator confirms with `force` — recorded in the
//!   evidence with their name and reason, like every force.
//!
//! The core has no phase for "an operator performs this side effect"; a stall that names the
//! action, followed by a recorded `force`, is how it records one today.

use super::client::CloudClient;
use super::keys::{validate_key_name, ApiKeys};
use crate::adapters::redis::vault::{failed, in_use, InUse};
use crate::domain::{SecretValue, Slot};
use crate::ports::{KeyAuthStatus, KeyProvider, ProviderError, RegenerateOutcome, SecretRef, SecretStore};
use async_trait::async_trait;
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct ApiKeyRotationConfig {
    /// The secret consumers (keyrelay's own Redis Cloud providers among them) read the API
    /// keys from.
    pub secret: SecretRef,
    /// Where the operator stores the new key (default `<secret>-incoming`).
    pub incoming: SecretRef,
}

impl ApiKeyRotationConfig {
    pub fn default_incoming(secret: &SecretRef) -> SecretRef {
        SecretRef { vault: secret.vault.clone(), name: format!("{}-incoming", secret.name) }
    }
}

pub struct ApiKeyRotation {
    client: CloudClient,
    config: ApiKeyRotationConfig,
    secrets: Arc<dyn SecretStore>,
}

type Held = InUse<ApiKeys>;

impl ApiKeyRotation {
    pub fn new(client: CloudClient, config: ApiKeyRotationConfig, secrets: Arc<dyn SecretStore>) -> Self {
        ApiKeyRotation { client, config, secrets }
    }

    async fn held(&self, secret: &SecretRef) -> Result<Option<Held>, ProviderError> {
        in_use(self.secrets.as_ref(), secret, ApiKeys::parse).await
    }

    fn key_name(keys: &ApiKeys) -> &str {
        keys.user_key_name.as_deref().unwrap_or("")
    }

    /// The staged key, if it is new: named by the rules and different from the key in use.
    async fn new_staged(&self, in_use: Option<&Held>) -> Result<Option<Held>, ProviderError> {
        let Some(staged) = self.held(&self.config.incoming).await? else { return Ok(None) };
        let name = Self::key_name(&staged.value);
        if name.is_empty() {
            return Err(failed(format!("Key Vault secret {}: userKeyName is missing; record the key's name as the console shows it", self.config.incoming.name), false));
        }
        validate_key_name(name).map_err(|e| failed(format!("Key Vault secret {}: {e}", self.config.incoming.name), false))?;
        let same = in_use.is_some_and(|h| Self::key_name(&h.value) == name || h.value.user_key == staged.value.user_key);
        Ok((!same).then_some(staged))
    }

    fn instructions(&self, in_use: &str) -> String {
        format!(
            "no new API user key is staged: Key Vault secret {} holds the key already in use ({in_use:?}). If this rotation \
             has published that key and every consumer acked, the previous API user key must now be deleted in the Redis \
             Cloud console (Access Management > API Keys) — keyrelay cannot delete API keys; once it is deleted, confirm \
             with `force` (recorded with your name and reason). If a new rotation is starting, first create a new API user \
             key in the console and store it as a new version of {} as {{\"accountKey\", \"userKey\", \"userKeyName\"}}, \
             then `retry`",
            self.config.incoming.name, self.config.incoming.name
        )
    }
}

#[async_trait]
impl KeyProvider for ApiKeyRotation {
    fn describe(&self) -> String {
        format!("Redis Cloud API user key in {} (assisted: created and deleted by an operator)", self.config.secret.name)
    }

    async fn key_auth(&self) -> Result<KeyAuthStatus, ProviderError> {
        Ok(KeyAuthStatus::Enabled)
    }

    /// The key in use for its slot (an untagged first version counts as primary); the staged
    /// new key for the other slot; an empty value if there is none.
    async fn read(&self, slot: Slot) -> Result<SecretValue, ProviderError> {
        let in_use = self.held(&self.config.secret).await?;
        if let Some(h) = &in_use {
            if h.slot.unwrap_or(Slot::Primary) == slot {
                return Ok(h.raw.clone());
            }
        }
        Ok(self.new_staged(in_use.as_ref()).await?.map(|s| s.raw).unwrap_or_else(|| SecretValue::new("")))
    }

    async fn regenerate(&self, slot: Slot, force: bool) -> Result<RegenerateOutcome, ProviderError> {
        let in_use = self.held(&self.config.secret).await?;
        if let Some(staged) = self.new_staged(in_use.as_ref()).await? {
            // The new key must work before anyone is asked to load it.
            self.client.with_keys(staged.value.clone()).get("/acl/users").await.map_err(|e| {
                failed(format!("the staged API user key {:?} does not work: {e}", Self::key_name(&staged.value)), false)
            })?;
            tracing::info!(%slot, key = Self::key_name(&staged.value), "staged API user key accepted");
            return Ok(RegenerateOutcome::Done);
        }
        let in_use_name = in_use.as_ref().map(|h| Self::key_name(&h.value).to_string()).unwrap_or_default();
        if force {
            tracing::warn!(%slot, in_use = %in_use_name, "operator confirmed the old API user key is deleted in the console");
            return Ok(RegenerateOutcome::Done);
        }
        Err(failed(self.instructions(&in_use_name), false))
    }

    async fn poll(&self, _operation: &str) -> Result<RegenerateOutcome, ProviderError> {
        Ok(RegenerateOutcome::Done)
    }
}
