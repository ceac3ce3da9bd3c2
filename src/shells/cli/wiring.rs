//! Builds the production handler from app settings: the policy, the rotation store, Key Vault,
//! Service Bus and the key providers, all from one [`Settings`].
//!
//! `serve` never falls back to in-memory adapters: a piece this build cannot construct is a
//! start-up error that names it, so a misconfigured or incomplete deployment fails loudly in
//! the host's log instead of rotating against nothing.

use crate::adapters::azure::http::HttpOptions;
use crate::adapters::azure::identity::IdentitySettings;
use crate::shells::handler::Handler;
use crate::shells::settings::{self, Settings, StateStoreSetting};

/// The production adapters this build does not contain yet, for the given settings.
pub fn missing_pieces(settings: &Settings) -> Vec<&'static str> {
    let mut missing = vec!["the policy loader (src/policy)"];
    missing.push(match settings.state_store {
        StateStoreSetting::Sqlite(_) => "the SQLite rotation store (src/adapters/sqlite_store.rs)",
        StateStoreSetting::Blob(_) => "the Blob rotation store (src/adapters/azure/blob_store.rs)",
    });
    missing.push("the Key Vault secret store (src/adapters/azure/keyvault.rs)");
    missing.push("the Service Bus step and command senders (src/adapters/azure/servicebus/)");
    missing.push("the key providers (src/adapters/azure/providers/, src/adapters/redis/)");
    missing
}

/// The identity settings from the parsed app settings; the `AZURE_*` variables that
/// azure_identity's credentials read by convention (tenant, client secret) come from the
/// environment as they are.
pub fn identity_settings(settings: &Settings) -> anyhow::Result<IdentitySettings> {
    IdentitySettings::from_lookup(|name| match name {
        settings::CREDENTIAL => Some(settings.credential.as_str().to_string()),
        settings::CLIENT_ID => settings.client_id.clone(),
        settings::CLOUD => Some(settings.cloud.as_str().to_string()),
        other => std::env::var(other).ok(),
    })
}

pub async fn build(settings: &Settings) -> anyhow::Result<Handler> {
    settings.require_servicebus()?;
    let http = HttpOptions::from_env()?;
    let identity = identity_settings(settings)?;
    // Built now so a misconfigured credential fails at start-up; it fetches no token yet.
    let _credential = identity
        .credential(&http)
        .map_err(|e| anyhow::anyhow!("the Azure credential {}: {e}", identity.identity_description()))?;
    let missing = missing_pieces(settings);
    anyhow::bail!(
        "keyrelay serve cannot start: this build lacks {}. Build from a branch that has them merged.",
        missing.join(", ")
    )
}
