//! Reading the current value of a Key Vault secret through the SecretStore port: the Redis
//! adapters keep every credential they need there (admin user, API keys, the value in use),
//! never in plain settings.

use crate::domain::SecretValue;
use crate::ports::{SecretRef, SecretStore, SecretStoreError, VersionInfo};

/// The current version's metadata and value, or `None` if the secret has no version.
pub async fn current_value(
    store: &dyn SecretStore,
    secret: &SecretRef,
) -> Result<Option<(VersionInfo, SecretValue)>, SecretStoreError> {
    let Some(info) = store.current(secret).await? else { return Ok(None) };
    let value = store.read(&info.id).await?;
    Ok(Some((info, value)))
}

/// The current value, required: a missing secret is an error naming the vault and secret.
pub async fn required_value(store: &dyn SecretStore, secret: &SecretRef, what: &str) -> Result<SecretValue, String> {
    match current_value(store, secret).await {
        Ok(Some((_, value))) => Ok(value),
        Ok(None) => Err(format!("{what}: Key Vault secret {}/{} has no enabled version", secret.vault, secret.name)),
        Err(e) => Err(format!("{what}: Key Vault secret {}/{}: {e}", secret.vault, secret.name)),
    }
}

/// A provider failure (the Redis adapters' errors all carry their explanation as text).
pub fn failed(detail: impl Into<String>, transient: bool) -> crate::ports::ProviderError {
    crate::ports::ProviderError::Failed { detail: detail.into(), transient }
}

/// The value consumers use now: the slot its version is tagged with, the parsed value, and the
/// raw value as stored (returned unchanged by `read`, so the guard's byte comparison sees
/// exactly what Key Vault holds).
pub struct InUse<T> {
    pub slot: Option<crate::domain::Slot>,
    pub value: T,
    pub raw: SecretValue,
}

/// Reads and parses the current version of `secret`; `None` if it has no version yet.
pub async fn in_use<T>(
    store: &dyn SecretStore,
    secret: &SecretRef,
    parse: impl Fn(&SecretValue) -> Result<T, String>,
) -> Result<Option<InUse<T>>, crate::ports::ProviderError> {
    let current = current_value(store, secret).await.map_err(|e| failed(format!("{}: {e}", secret.name), true))?;
    let Some((info, raw)) = current else { return Ok(None) };
    let value = parse(&raw).map_err(|e| failed(format!("Key Vault secret {}: {e}", secret.name), false))?;
    Ok(Some(InUse { slot: info.slot, value, raw }))
}
