//! Self-hosted Redis 6+ (VMs, AKS): one ACL user with two passwords.
//!
//! Redis 6 lets an ACL user have several passwords at once, which is exactly a two-key
//! credential under one name: the two slots are the user's two passwords. Regenerating a slot
//! replaces every password of the user except the one the current Key Vault version holds
//! (`ACL SETUSER user resetpass #<hash of the password in use> >new`), in one atomic command
//! that leaves signed-in connections alone. Keeping "the password in use" by its hash, rather
//! than a remembered slot label, is what makes it safe: Redis does not label passwords, and the
//! value consumers run on is the one thing that must survive — I1 says the slot being
//! regenerated is never the one Key Vault holds.
//!
//! The admin credentials come from a Key Vault secret (`{"username","password"}` JSON), never
//! from settings. A `requirepass` server (one password for the `default` user) cannot hold two
//! passwords for a zero-downtime switch, so it is refused with the alternative named.

use super::acl::{flags_field, password_hash, passwords_field};
use super::connect::{describe_error, RedisEndpoint};
use super::credential::UserPassword;
use super::password::strong_password;
use super::staging::{Keep, Staging};
use super::vault::{failed, in_use, required_value, InUse};
use crate::domain::{SecretValue, Slot};
use crate::ports::{KeyAuthStatus, KeyProvider, ProviderError, RegenerateOutcome, SecretRef, SecretStore};
use async_trait::async_trait;
use std::sync::Arc;

/// What the policy says about one self-hosted credential.
#[derive(Debug, Clone)]
pub struct SelfHostedConfig {
    pub endpoint: RedisEndpoint,
    /// The application's ACL user (its two passwords are the two slots).
    pub user: String,
    /// Key Vault secret with the admin ACL user that may run `ACL SETUSER`.
    pub admin_secret: SecretRef,
    /// The credential's own secret (the one consumers read).
    pub secret: SecretRef,
    /// Where new values wait for Publish ([`Staging::default_ref`] unless set).
    pub staging: SecretRef,
}

/// Why a configuration is refused, before any command is sent.
pub fn refuse_requirepass(user: &str) -> Result<(), String> {
    if user.trim().is_empty() || user == "default" {
        return Err(format!(
            "ACL user {user:?} is the `default` user of a requirepass-style setup: `requirepass` holds one password, so \
             a new one cannot be added before the old one is removed, and every client would fail until it reloads. \
             Use an ACL user with two passwords (Redis 6+: `ACL SETUSER app on >pw1 >pw2 ~* &* +@all`) or two ACL users \
             alternating (app-a, app-b), and point keyrelay at that user"
        ));
    }
    Ok(())
}

pub struct SelfHostedProvider {
    config: SelfHostedConfig,
    secrets: Arc<dyn SecretStore>,
    staging: Staging,
}

impl SelfHostedProvider {
    pub fn new(config: SelfHostedConfig, secrets: Arc<dyn SecretStore>) -> Result<Self, String> {
        refuse_requirepass(&config.user)?;
        let staging = Staging::new(secrets.clone(), config.staging.clone(), &config.endpoint.display());
        Ok(SelfHostedProvider { config, secrets, staging })
    }

    async fn admin(&self) -> Result<::redis::aio::MultiplexedConnection, ProviderError> {
        let value = required_value(self.secrets.as_ref(), &self.config.admin_secret, "Redis admin credentials")
            .await
            .map_err(|e| failed(e, true))?;
        let admin = UserPassword::parse(&value).map_err(|e| failed(format!("{}: {e}", self.config.admin_secret.name), false))?;
        self.config
            .endpoint
            .connect(&admin.username, &admin.password)
            .await
            .map_err(|e| failed(describe_error(&self.config.endpoint, &admin.username, &e), true))
    }

    /// The user's password hashes; refuses a missing user, `nopass`, or a pre-6 server.
    async fn user_hashes(&self, conn: &mut ::redis::aio::MultiplexedConnection) -> Result<Vec<String>, ProviderError> {
        let user = &self.config.user;
        let reply: ::redis::Value = ::redis::cmd("ACL").arg("GETUSER").arg(user).query_async(conn).await.map_err(|e| {
            let text = e.to_string();
            if text.to_ascii_lowercase().contains("unknown command") {
                failed(format!("{}: the server has no ACL command; Redis 6 or later is required", self.config.endpoint.display()), false)
            } else {
                failed(format!("ACL GETUSER {user} on {}: {text}", self.config.endpoint.display()), true)
            }
        })?;
        let hashes = passwords_field(&reply)
            .ok_or_else(|| failed(format!("ACL user {user:?} does not exist on {}", self.config.endpoint.display()), false))?;
        let flags = flags_field(&reply).unwrap_or_default();
        if flags.iter().any(|f| f == "nopass") {
            return Err(failed(format!("ACL user {user:?} is `nopass`: it has no password to rotate"), false));
        }
        if flags.iter().any(|f| f == "off") {
            return Err(failed(format!("ACL user {user:?} is disabled (`off`)"), false));
        }
        Ok(hashes)
    }

    async fn in_use(&self) -> Result<Option<InUse<UserPassword>>, ProviderError> {
        in_use(self.secrets.as_ref(), &self.config.secret, UserPassword::parse).await
    }
}

#[async_trait]
impl KeyProvider for SelfHostedProvider {
    fn describe(&self) -> String {
        format!("self-hosted Redis {} ACL user {}", self.config.endpoint.display(), self.config.user)
    }

    async fn key_auth(&self) -> Result<KeyAuthStatus, ProviderError> {
        refuse_requirepass(&self.config.user).map_err(|e| failed(e, false))?;
        let mut conn = self.admin().await?;
        self.user_hashes(&mut conn).await?;
        Ok(KeyAuthStatus::Enabled)
    }

    /// A slot's value: the current Key Vault version if it holds that slot (an untagged first
    /// version counts as primary), else the staged value if it is really one of the user's
    /// passwords. A slot whose value keyrelay never set is unknown — Redis cannot say — and
    /// reads as an empty value, which matches nothing (the driver only publishes slots it has
    /// just regenerated, whose value is staged).
    async fn read(&self, slot: Slot) -> Result<SecretValue, ProviderError> {
        if let Some(current) = self.in_use().await? {
            if current.slot.unwrap_or(Slot::Primary) == slot {
                return Ok(current.raw);
            }
        }
        if let Some(staged) = self.staging.get(slot).await.map_err(|e| failed(e, true))? {
            let mut conn = self.admin().await?;
            let hashes = self.user_hashes(&mut conn).await?;
            if staged.username == self.config.user && hashes.contains(&password_hash(&staged.password)) {
                return Ok(staged.to_secret());
            }
        }
        Ok(SecretValue::new(""))
    }

    async fn regenerate(&self, slot: Slot, _force: bool) -> Result<RegenerateOutcome, ProviderError> {
        self.replace_password(slot, Keep::Staged).await
    }

    async fn retire(&self, slot: Slot, _force: bool) -> Result<RegenerateOutcome, ProviderError> {
        self.replace_password(slot, Keep::Nowhere).await
    }

    async fn poll(&self, _operation: &str) -> Result<RegenerateOutcome, ProviderError> {
        Ok(RegenerateOutcome::Done)
    }
}

impl SelfHostedProvider {
    /// Replaces the password that is not in use (the one Key Vault's current version does not
    /// hold) with a new strong one, in one atomic `ACL SETUSER`.
    async fn replace_password(&self, slot: Slot, keep_new: Keep) -> Result<RegenerateOutcome, ProviderError> {
        let user = &self.config.user;
        let mut conn = self.admin().await?;
        let hashes = self.user_hashes(&mut conn).await?;
        let keep = match self.in_use().await? {
            Some(InUse { value: cred, .. }) => {
                if cred.username != *user {
                    return Err(failed(
                        format!("the current version of {} names ACL user {:?}, not {user:?}", self.config.secret.name, cred.username),
                        false,
                    ));
                }
                let hash = password_hash(&cred.password);
                if !hashes.contains(&hash) {
                    return Err(failed(
                        format!(
                            "the password in the current version of {} is not one of ACL user {user:?}'s passwords; refusing to \
                             change anything (was it changed outside keyrelay?)",
                            self.config.secret.name
                        ),
                        false,
                    ));
                }
                Some(hash)
            }
            None => None,
        };
        let new = UserPassword::new(user, strong_password());
        if keep_new == Keep::Staged {
            self.staging.put(slot, &new).await.map_err(|e| failed(e, true))?;
        }
        let mut cmd = ::redis::cmd("ACL");
        cmd.arg("SETUSER").arg(user).arg("resetpass");
        if let Some(hash) = &keep {
            cmd.arg(format!("#{hash}"));
        }
        cmd.arg(format!(">{}", new.password.expose()));
        let _: () = cmd
            .query_async(&mut conn)
            .await
            .map_err(|e| failed(format!("ACL SETUSER {user} on {}: {e}", self.config.endpoint.display()), true))?;
        tracing::info!(provider = %self.describe(), %slot, kept_password_in_use = keep.is_some(), "ACL user password replaced");
        Ok(RegenerateOutcome::Done)
    }
}
