//! Builds the production handler from app settings: the policy, the rotation store, Key Vault,
//! Service Bus and the key providers, all from one [`Settings`].
//!
//! `serve` never falls back to in-memory adapters: a piece this build cannot construct is a
//! start-up error that names it, so a misconfigured or incomplete deployment fails loudly in
//! the host's log instead of rotating against nothing.

use crate::shells::handler::Handler;
use crate::shells::settings::{Settings, StateStoreSetting};

/// The production adapters this build does not contain yet, for the given settings.
pub fn missing_pieces(settings: &Settings) -> Vec<&'static str> {
    let mut missing = vec!["the policy loader (src/policy)"];
    missing.push(match settings.state_store {
        StateStoreSetting::Sqlite(_) => "the SQLite rotation store (src/adapters/sqlite_store.rs)",
        StateStoreSetting::Blob(_) => "the Blob rotation store (src/adapters/azure/blob_store.rs)",
    });
    missing.push("the Azure credential chain (src/adapters/azure/identity.rs)");
    missing.push("the Key Vault secret store (src/adapters/azure/keyvault.rs)");
    missing.push("the Service Bus step and command senders (src/adapters/azure/servicebus/)");
    missing.push("the key providers (src/adapters/azure/providers/, src/adapters/redis/)");
    missing
}

pub async fn build(settings: &Settings) -> anyhow::Result<Handler> {
    settings.require_servicebus()?;
    let missing = missing_pieces(settings);
    anyhow::bail!(
        "keyrelay serve cannot start: this build lacks {}. Build from a branch that has them merged.",
        missing.join(", ")
    )
}
