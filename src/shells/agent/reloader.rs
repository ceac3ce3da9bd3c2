//! What "reload" means for a consumer: the configured hooks and probes of `keyrelay agent`,
//! or an application's own callback when it embeds the agent as a library.

use super::config::CredentialConfig;
use super::probe::run_probe;
use super::reload::{run_hook, HookContext};
use crate::domain::{CredentialName, SecretValue};
use crate::protocol::Step;
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

/// The consumer's verdict on a new key: `Ok(detail)` when it runs on it and is healthy,
/// `Err(detail)` saying what failed. The detail goes into the ack (with the key redacted).
pub type ReloadResult = Result<String, String>;

#[async_trait]
pub trait Reloader: Send + Sync {
    async fn reload(&self, credential: &CredentialName, step: &Step, key: &SecretValue) -> ReloadResult;
}

/// The configured hooks, then the configured probes, per credential.
pub struct HookReloader {
    credentials: BTreeMap<CredentialName, CredentialConfig>,
    context: HookContext,
}

impl HookReloader {
    pub fn new(credentials: &[CredentialConfig], context: HookContext) -> Self {
        HookReloader { credentials: credentials.iter().map(|c| (c.name().clone(), c.clone())).collect(), context }
    }
}

#[async_trait]
impl Reloader for HookReloader {
    async fn reload(&self, credential: &CredentialName, _step: &Step, key: &SecretValue) -> ReloadResult {
        let config = self.credentials.get(credential).ok_or_else(|| format!("credential {credential} has no hooks here"))?;
        let mut done = Vec::new();
        for hook in &config.reload {
            let what = run_hook(hook, key, &self.context).await.map_err(|e| format!("reload failed: {e}"))?;
            done.push(what);
        }
        for probe in &config.probe {
            let what = run_probe(probe, key, &self.context.http).await.map_err(|e| {
                format!("reloaded ({}) but the probe failed: {e}", done.join("; "))
            })?;
            done.push(what);
        }
        Ok(done.join("; "))
    }
}

/// An application's callback as a [`Reloader`]: it receives the credential and the new key,
/// starts using it, checks itself and answers.
pub struct CallbackReloader<F>(pub F);

#[async_trait]
impl<F, Fut> Reloader for CallbackReloader<F>
where
    F: Fn(CredentialName, SecretValue) -> Fut + Send + Sync,
    Fut: Future<Output = ReloadResult> + Send,
{
    async fn reload(&self, credential: &CredentialName, _step: &Step, key: &SecretValue) -> ReloadResult {
        (self.0)(credential.clone(), key.clone()).await
    }
}

/// Wraps a closure: `agent::callback(|credential, key| async move { ...; Ok("pool reconnected".into()) })`.
pub fn callback<F, Fut>(f: F) -> Arc<dyn Reloader>
where
    F: Fn(CredentialName, SecretValue) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ReloadResult> + Send + 'static,
{
    Arc::new(CallbackReloader(f))
}
