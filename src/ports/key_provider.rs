use crate::domain::{SecretValue, Slot};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::time::Duration;

/// Whether the resource still accepts key authentication. A resource that has turned keys off
/// (`disableLocalAuth`, `allowSharedKeyAccess: false`, ...) must not be rotated: its keys are
/// useless, and regenerating them only produces noise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyAuthStatus {
    Enabled,
    Disabled { switch: String },
}

/// What a provider can tell about recent use of a slot (Cosmos DB `approximateLastUsageTime`,
/// Storage `AuthenticationHash` logs). `None` means the provider has no such signal.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UsageEvidence {
    pub last_used: Option<DateTime<Utc>>,
    pub source: String,
}

/// The result of asking a provider to regenerate a slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegenerateOutcome {
    /// The slot has a new value now.
    Done,
    /// A long-running operation is under way; poll `operation` after `retry_after`.
    Pending { operation: String, retry_after: Duration },
}

/// Failures the rotation core tells apart, because it reacts to each differently.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// 429 or equivalent: try again after the given time.
    #[error("throttled; retry after {retry_after:?}")]
    Throttled { retry_after: Duration },
    /// The provider refused because the key was used recently (Cosmos DB safe key rotation).
    #[error("the provider refused: the key was used recently ({detail})")]
    KeyUsedRecently { detail: String },
    /// Key authentication is turned off on the resource.
    #[error("key authentication is disabled on the resource ({switch})")]
    KeyAuthDisabled { switch: String },
    /// Anything else. `transient` failures are retried with backoff; others stall the rotation.
    #[error("{detail}")]
    Failed { detail: String, transient: bool },
}

/// A two-key credential's provider: Azure Resource Manager resources, Redis Cloud, self-hosted
/// Redis. Implementations must make `regenerate` safe to repeat for the same slot.
#[async_trait]
pub trait KeyProvider: Send + Sync {
    /// Human description for logs and evidence, e.g. "Microsoft.Cache/redis cache1".
    fn describe(&self) -> String;

    /// Reads the resource and reports whether key authentication is on.
    async fn key_auth(&self) -> Result<KeyAuthStatus, ProviderError>;

    /// The current value of a slot, formatted as consumers expect it in Key Vault.
    async fn read(&self, slot: Slot) -> Result<SecretValue, ProviderError>;

    /// Regenerates one slot. `force` is set only for a recorded operator force: it lets the
    /// provider skip its own safety check (Cosmos DB `SkipAccountKeysLastUsageCheck`).
    async fn regenerate(&self, slot: Slot, force: bool) -> Result<RegenerateOutcome, ProviderError>;

    /// Regenerates the old active slot at the end of a rotation (phase Retire). Its new value
    /// is never read, published or kept (DESIGN, Retire): a provider that keeps new values
    /// somewhere until Publish reads them (Redis, whose passwords cannot be read back)
    /// overrides this to skip that. Safe to repeat, like `regenerate`.
    async fn retire(&self, slot: Slot, force: bool) -> Result<RegenerateOutcome, ProviderError> {
        self.regenerate(slot, force).await
    }

    /// Polls a long-running regenerate started earlier.
    async fn poll(&self, operation: &str) -> Result<RegenerateOutcome, ProviderError>;

    /// Usage evidence for a slot, where the provider has any.
    async fn usage(&self, slot: Slot) -> Result<UsageEvidence, ProviderError> {
        let _ = slot;
        Ok(UsageEvidence::default())
    }
}
