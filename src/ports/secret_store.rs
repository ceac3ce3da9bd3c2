use crate::domain::{RotationId, SecretId, SecretValue, SecretVersion, Slot};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// Which secret: the vault host (`myvault.vault.azure.net`) and the secret name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct SecretRef {
    pub vault: String,
    pub name: String,
}

impl SecretRef {
    /// The secret a version id belongs to.
    pub fn of(id: &SecretId) -> SecretRef {
        SecretRef { vault: id.vault.clone(), name: id.name.clone() }
    }

    pub fn id_of(&self, version: &SecretVersion) -> SecretId {
        SecretId { vault: self.vault.clone(), name: self.name.clone(), version: version.clone() }
    }
}

/// What keyrelay knows about one version, without its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionInfo {
    pub id: SecretId,
    /// The slot this version holds: keyrelay's `slot` tag, or the Azure samples' `CredentialId`.
    pub slot: Option<Slot>,
    /// keyrelay's `rotation` tag, if keyrelay wrote this version.
    pub rotation: Option<RotationId>,
    pub tags: BTreeMap<String, String>,
    pub content_type: Option<String>,
    pub created: Option<DateTime<Utc>>,
    pub expires: Option<DateTime<Utc>>,
    pub enabled: bool,
}

impl VersionInfo {
    /// Whether this is the version `rotation` published for `slot` (how a crashed Publish
    /// finds its own earlier write instead of writing a second version).
    pub fn written_by(&self, rotation: &RotationId, slot: Slot) -> bool {
        self.rotation.as_ref() == Some(rotation) && self.slot == Some(slot)
    }
}

/// A new version to write.
#[derive(Debug, Clone)]
pub struct PublishRequest {
    pub slot: Slot,
    pub rotation: RotationId,
    pub resource_id: String,
    pub content_type: String,
    pub not_before: Option<DateTime<Utc>>,
    pub expires: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretStoreError {
    #[error("secret {0} not found")]
    NotFound(String),
    #[error("throttled by the secret store")]
    Throttled,
    #[error("{detail}")]
    Failed { detail: String, transient: bool },
}

/// Key Vault secrets, or a stand-in.
#[async_trait]
pub trait SecretStore: Send + Sync {
    /// The current (latest enabled) version's metadata.
    async fn current(&self, secret: &SecretRef) -> Result<Option<VersionInfo>, SecretStoreError>;

    /// Metadata of one version.
    async fn version_info(&self, id: &SecretId) -> Result<VersionInfo, SecretStoreError>;

    /// A version written by the given rotation, so a repeated publish reuses it.
    async fn find_by_rotation(
        &self,
        secret: &SecretRef,
        rotation: &RotationId,
        slot: Slot,
    ) -> Result<Option<VersionInfo>, SecretStoreError>;

    /// Writes a new version.
    async fn publish(
        &self,
        secret: &SecretRef,
        value: &SecretValue,
        request: &PublishRequest,
    ) -> Result<VersionInfo, SecretStoreError>;

    /// The value of exactly one version.
    async fn read(&self, id: &SecretId) -> Result<SecretValue, SecretStoreError>;
}
