//! Builds the production handler from app settings: the policy, the rotation store, Key Vault,
//! Service Bus and the key providers, all from one [`Settings`].
//!
//! `serve` never falls back to in-memory adapters: a piece that cannot be constructed (a bad
//! setting, a policy mistake, a provider kind this build has no adapter for) is a start-up
//! error that names it, so a misconfigured deployment fails loudly in the host's log instead
//! of rotating against nothing. Nothing here fetches a token or opens a connection: the host
//! wants the handler listening within 60 seconds.

use crate::adapters::azure::arm::client::ArmClient;
use crate::adapters::azure::blob_store::{BlobAuth, BlobStore};
use crate::adapters::azure::http::HttpOptions;
use crate::adapters::azure::identity::IdentitySettings;
use crate::adapters::azure::keyvault::KeyVaultSecrets;
use crate::adapters::azure::providers::{ArmKeyProvider, KINDS};
use crate::adapters::azure::servicebus::{ServiceBusAuth, ServiceBusCommandQueue, ServiceBusNamespace, ServiceBusStepBus};
use crate::adapters::sqlite_store::SqliteStore;
use crate::core::Plan;
use azure_core::credentials::TokenCredential;
use crate::driver::{Driver, DriverError, OsEntropy, ProviderFactory};
use crate::policy::{Policy, REDIS_KINDS};
use crate::ports::{Clock, KeyProvider, RotationStore, SecretStore, SystemClock};
use crate::shells::handler::{Handler, HandlerOptions};
use crate::shells::settings::{self, Settings, StateStoreSetting};
use crate::domain::CredentialName;
use std::collections::BTreeMap;
use std::sync::Arc;

pub use super::redis_wiring::{redis_providers, RedisProviders};

/// The identity settings from the parsed app settings; the `AZURE_*` variables that
/// azure_identity's credentials read by convention (tenant, client secret) come from the
/// environment as they are.
pub fn identity_settings(settings: &Settings) -> anyhow::Result<IdentitySettings> {
    IdentitySettings::from_lookup(|name| match name {
        settings::CREDENTIAL => Some(settings.credential.as_str().to_string()),
        settings::CLIENT_ID => settings.client_id.clone(),
        settings::CLOUD => Some(settings.cloud.as_str().to_string()),
        settings::ARM_ENDPOINT => settings.arm_endpoint.clone(),
        other => std::env::var(other).ok(),
    })
}

/// Key providers: the Redis ones built from the policy at start-up (by credential), the
/// Resource Manager kinds made per plan on one ARM client.
struct Providers {
    arm: Arc<ArmClient>,
    redis: RedisProviders,
    /// Each Redis credential's kind in the loaded policy: a rotation planned under an older
    /// policy with another kind gets no provider rather than the wrong one.
    redis_kinds: BTreeMap<CredentialName, String>,
}

impl ProviderFactory for Providers {
    fn provider(&self, plan: &Plan) -> Result<Arc<dyn KeyProvider>, DriverError> {
        if REDIS_KINDS.contains(&plan.provider.as_str()) {
            let same_kind = self.redis_kinds.get(&plan.credential) == Some(&plan.provider);
            return self.redis.get(&plan.credential).filter(|_| same_kind).cloned().ok_or_else(|| {
                DriverError::Invalid(format!("credential {}: no {} provider in the loaded policy (was the policy changed?)", plan.credential, plan.provider))
            });
        }
        ArmKeyProvider::new(&plan.provider, &plan.resource_id, self.arm.clone())
            .map(|p| Arc::new(p) as Arc<dyn KeyProvider>)
            .map_err(|e| DriverError::Invalid(format!("credential {}: {e}", plan.credential)))
    }
}

pub async fn build(settings: &Settings) -> anyhow::Result<Handler> {
    let namespace = settings.require_servicebus()?;
    // The policy is checked up front: a mistake in it is a start-up error with file:line, and
    // so is a provider kind this build has no adapter for.
    let policy = Policy::load(&settings.policy)?;
    let kinds: Vec<&str> = KINDS.iter().map(|k| k.name).chain(REDIS_KINDS.iter().copied()).collect();
    policy.check_kinds(&kinds)?;
    tracing::info!(credentials = policy.credentials.len(), policy = %settings.policy.display(), "policy loaded");

    let http = HttpOptions::from_env()?;
    let identity = identity_settings(settings)?;
    // Built now so a misconfigured credential fails at start-up; it fetches no token yet.
    let credential = identity
        .credential(&http)
        .map_err(|e| anyhow::anyhow!("the Azure credential {}: {e}", identity.identity_description()))?;
    let bus = ServiceBusNamespace::new(namespace, ServiceBusAuth::Entra(credential.clone()), &http)?;
    let steps = Arc::new(ServiceBusStepBus::new(&bus, &settings.steps_topic)?);
    let commands = Arc::new(ServiceBusCommandQueue::new(&bus, &settings.commands_queue)?);
    let secrets: Arc<dyn SecretStore> = Arc::new(KeyVaultSecrets::from_http(credential.clone(), &http)?);
    let store = rotation_store(settings, credential.clone(), &http)?;
    let redis = redis_providers(&policy, secrets.clone(), &http)?;
    let redis_kinds = policy.credentials.iter().map(|c| (c.name.clone(), c.provider.to_string())).collect();
    let arm = ArmClient::new(&identity.arm_endpoint, identity.cloud.arm_audience(), identity.identity_description(), credential, http.client()?)?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let driver = Driver {
        store: store.clone(),
        secrets: secrets.clone(),
        steps,
        providers: Arc::new(Providers { arm: Arc::new(arm), redis, redis_kinds }),
        clock: clock.clone(),
        entropy: Arc::new(OsEntropy),
    };
    Ok(Handler {
        orchestrator: Arc::new(driver),
        catalog: Arc::new(policy),
        commands,
        store,
        secrets,
        clock,
        options: HandlerOptions { expiry_lead: settings.expiry_lead },
    })
}

/// The rotation store the settings name: SQLite (the embedded default) or a Blob container reached with the app's identity.
pub(crate) fn rotation_store(settings: &Settings, credential: Arc<dyn TokenCredential>, http: &HttpOptions) -> anyhow::Result<Arc<dyn RotationStore>> {
    match &settings.state_store {
        StateStoreSetting::Sqlite(path) => {
            let store = SqliteStore::open(path).map_err(|e| anyhow::anyhow!("{}={}: {e}", settings::STATE_STORE, path.display()))?;
            Ok(Arc::new(store))
        }
        StateStoreSetting::Blob(url) => Ok(Arc::new(BlobStore::new(url.as_str(), BlobAuth::Identity(credential), http)?)),
    }
}
