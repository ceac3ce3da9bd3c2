//! Redis Cloud databases: two ACL users with the same role, alternating.
//!
//! A Redis Cloud ACL user has one password, so one user cannot hold old and new at once; two
//! users with the same role can. They are the two slots (`users[0]` primary, `users[1]`
//! secondary). Regenerating a slot sets a new strong password on that user
//! (`PUT /acl/users/{id} {"password": ...}`), then the core polls the task and the user until it
//! is `active` again. The Key Vault value names the user with its password, so consumers switch
//! user and password together.
//!
//! The database must have `enableDefaultUser: false`: otherwise the `default` user's password
//! opens the database too, outside any rotation, and keyrelay says so instead of rotating.

use super::client::CloudClient;
use super::task::{next_poll_delay, poll_once, Operation, PollResult, TaskState, TaskStateUpdate};
use crate::adapters::redis::credential::UserPassword;
use crate::adapters::redis::password::strong_password;
use crate::adapters::redis::staging::{Keep, Staging};
use crate::adapters::redis::vault::{failed, in_use, InUse};
use crate::domain::{SecretValue, Slot};
use crate::ports::{KeyAuthStatus, KeyProvider, ProviderError, RegenerateOutcome, SecretRef, SecretStore};
use async_trait::async_trait;
use serde_json::{json, Value};
use std::sync::Arc;

/// Which database, which users.
#[derive(Debug, Clone)]
pub struct AlternatingConfig {
    pub subscription_id: i64,
    pub database_id: i64,
    /// Essentials ("fixed") plans live under `/fixed/subscriptions/...`.
    pub essentials: bool,
    /// The primary and secondary ACL users, e.g. `["app-a", "app-b"]`.
    pub users: [String; 2],
    /// The credential's own secret (the one consumers read).
    pub secret: SecretRef,
    pub staging: SecretRef,
}

impl AlternatingConfig {
    fn database_path(&self) -> String {
        let prefix = if self.essentials { "/fixed" } else { "" };
        format!("{prefix}/subscriptions/{}/databases/{}", self.subscription_id, self.database_id)
    }

    fn user_of(&self, slot: Slot) -> &str {
        match slot {
            Slot::Primary => &self.users[0],
            Slot::Secondary => &self.users[1],
        }
    }
}

/// An ACL user as `GET /acl/users` lists it.
#[derive(Debug, Clone, serde::Deserialize)]
struct AclUser {
    id: i64,
    name: String,
    #[serde(default)]
    role: Option<String>,
}

pub struct AlternatingUsersProvider {
    client: CloudClient,
    config: AlternatingConfig,
    secrets: Arc<dyn SecretStore>,
    staging: Staging,
}

impl AlternatingUsersProvider {
    pub fn new(client: CloudClient, config: AlternatingConfig, secrets: Arc<dyn SecretStore>) -> Result<Self, String> {
        if config.users[0] == config.users[1] || config.users.iter().any(|u| u.trim().is_empty()) {
            return Err(format!("alternating users need two different ACL user names, got {:?}", config.users));
        }
        let resource = format!("rediscloud{}", config.database_path());
        let staging = Staging::new(secrets.clone(), config.staging.clone(), &resource);
        Ok(AlternatingUsersProvider { client, config, secrets, staging })
    }

    /// Refuses a database whose `default` user is enabled.
    async fn check_default_user_off(&self) -> Result<(), ProviderError> {
        let db = self.client.get(&self.config.database_path()).await?;
        let enabled = db
            .pointer("/security/enableDefaultUser")
            .or_else(|| db.get("enableDefaultUser"))
            .and_then(Value::as_bool);
        match enabled {
            Some(false) => Ok(()),
            Some(true) => Err(failed(
                format!(
                    "database {} has enableDefaultUser: true, so its `default` user's password opens it outside any \
                     rotation; alternating ACL users only protect a database where only ACL users can connect. Set it to \
                     false (PUT {} {{\"enableDefaultUser\": false}}, or the console's Security > Default user switch) once \
                     no client uses the default user",
                    self.config.database_id,
                    self.config.database_path()
                ),
                false,
            )),
            None => Err(failed(
                format!("database {} did not say whether its default user is enabled (security.enableDefaultUser)", self.config.database_id),
                false,
            )),
        }
    }

    /// Both users, by slot; they must exist and share a role.
    async fn users(&self) -> Result<[AclUser; 2], ProviderError> {
        let body = self.client.get("/acl/users").await?;
        let list: Vec<AclUser> = serde_json::from_value(body.get("users").cloned().unwrap_or(Value::Array(vec![])))
            .map_err(|e| failed(format!("GET /acl/users: unexpected shape ({e})"), false))?;
        let find = |name: &str| {
            list.iter().find(|u| u.name == name).cloned().ok_or_else(|| {
                failed(format!("ACL user {name:?} does not exist in the account; create it with the same role as its twin"), false)
            })
        };
        let (a, b) = (find(&self.config.users[0])?, find(&self.config.users[1])?);
        if a.role != b.role {
            return Err(failed(
                format!(
                    "ACL users {:?} (role {:?}) and {:?} (role {:?}) must have the same role, or consumers lose rights when \
                     they switch",
                    a.name, a.role, b.name, b.role
                ),
                false,
            ));
        }
        Ok([a, b])
    }

    async fn in_use(&self) -> Result<Option<InUse<UserPassword>>, ProviderError> {
        in_use(self.secrets.as_ref(), &self.config.secret, UserPassword::parse).await
    }

    fn pending(&self, op: Operation) -> RegenerateOutcome {
        RegenerateOutcome::Pending { retry_after: next_poll_delay(&self.client, &op), operation: op.encode() }
    }
}

#[async_trait]
impl KeyProvider for AlternatingUsersProvider {
    fn describe(&self) -> String {
        format!(
            "Redis Cloud database {}/{} ACL users {} / {}",
            self.config.subscription_id, self.config.database_id, self.config.users[0], self.config.users[1]
        )
    }

    async fn key_auth(&self) -> Result<KeyAuthStatus, ProviderError> {
        self.check_default_user_off().await?;
        self.users().await?;
        Ok(KeyAuthStatus::Enabled)
    }

    /// The slot's user and password: from the current Key Vault version when it names that
    /// user, else from the staged value of the last regenerate. Redis Cloud never returns a
    /// password, so a slot keyrelay has not set reads as an empty value that matches nothing.
    async fn read(&self, slot: Slot) -> Result<SecretValue, ProviderError> {
        let user = self.config.user_of(slot);
        if let Some(current) = self.in_use().await? {
            if current.value.username == user {
                return Ok(current.raw);
            }
        }
        match self.staging.get(slot).await.map_err(|e| failed(e, true))? {
            Some(staged) if staged.username == user => Ok(staged.to_secret()),
            _ => Ok(SecretValue::new("")),
        }
    }

    async fn regenerate(&self, slot: Slot, _force: bool) -> Result<RegenerateOutcome, ProviderError> {
        self.replace_password(slot, Keep::Staged).await
    }

    async fn retire(&self, slot: Slot, _force: bool) -> Result<RegenerateOutcome, ProviderError> {
        self.replace_password(slot, Keep::Nowhere).await
    }

    async fn poll(&self, operation: &str) -> Result<RegenerateOutcome, ProviderError> {
        let op = Operation::decode(operation).map_err(|e| failed(e, false))?;
        match poll_once(&self.client, &op).await {
            Ok(PollResult::Done) => Ok(RegenerateOutcome::Done),
            Ok(PollResult::Pending(next)) => Ok(self.pending(next)),
            Err(e) => Err(e.into()),
        }
    }
}

impl AlternatingUsersProvider {
    /// Sets a new strong password on the slot's ACL user (never the user Key Vault's current
    /// version names), staging it for Publish when it is a standby value.
    async fn replace_password(&self, slot: Slot, keep_new: Keep) -> Result<RegenerateOutcome, ProviderError> {
        self.check_default_user_off().await?;
        let users = self.users().await?;
        let target = match slot {
            Slot::Primary => &users[0],
            Slot::Secondary => &users[1],
        };
        if let Some(current) = self.in_use().await? {
            if current.value.username == target.name {
                // I1 from the provider's side too: never change the password consumers hold.
                return Err(failed(
                    format!("refusing to change the password of {:?}: the current Key Vault version holds it", target.name),
                    false,
                ));
            }
        }
        let new = UserPassword::new(&target.name, strong_password());
        if keep_new == Keep::Staged {
            self.staging.put(slot, &new).await.map_err(|e| failed(e, true))?;
        }
        let body = self.client.put(&format!("/acl/users/{}", target.id), &json!({ "password": new.password.expose() })).await?;
        let task = TaskStateUpdate::parse(&body)?;
        tracing::info!(provider = %self.describe(), %slot, task = %task.task_id, "ACL user password change submitted");
        match task.state() {
            TaskState::Failed(detail) => Err(failed(detail, false)),
            _ => Ok(self.pending(Operation::Task { task: task.task_id, user: target.id, not_found: 0, polls: 0 })),
        }
    }
}
