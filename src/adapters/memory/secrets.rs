use crate::adapters::azure::keyvault::tags;
use crate::domain::{RotationId, SecretId, SecretValue, SecretVersion, Slot};
use crate::ports::{PublishRequest, SecretRef, SecretStore, SecretStoreError, VersionInfo};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::sync::Mutex;

type Versions = Vec<(VersionInfo, SecretValue)>;

/// Secret versions in memory, newest last, tagged with the Key Vault adapter's own tag set
/// (`keyvault::tags`), so the core reads both the same way.
#[derive(Default)]
pub struct MemorySecrets {
    inner: Mutex<BTreeMap<SecretRef, Versions>>,
}

impl MemorySecrets {
    pub fn new() -> Self {
        Self::default()
    }

    /// Seeds a version (what an operator does before the first rotation).
    pub fn seed(&self, secret: &SecretRef, value: SecretValue, slot: Option<Slot>, now: DateTime<Utc>) -> SecretVersion {
        let tags = slot.map(|s| BTreeMap::from([(tags::SLOT_TAG.to_string(), s.to_string())])).unwrap_or_default();
        let info = self.push(secret, value, |id| VersionInfo {
            id,
            slot,
            rotation: None,
            tags,
            content_type: None,
            created: Some(now),
            expires: None,
            enabled: true,
        });
        info.id.version
    }

    /// The value of the current version (the simulator's "what consumers should load").
    pub fn current_value(&self, secret: &SecretRef) -> Option<(VersionInfo, SecretValue)> {
        self.inner.lock().unwrap().get(secret).and_then(|v| v.last().cloned())
    }

    /// Every value ever stored, for leak searches.
    pub fn all_values(&self) -> Vec<SecretValue> {
        self.inner.lock().unwrap().values().flatten().map(|(_, v)| v.clone()).collect()
    }

    /// Appends a version numbered after the ones before it (`v0001`, `v0002`, ...).
    fn push(&self, secret: &SecretRef, value: SecretValue, info: impl FnOnce(SecretId) -> VersionInfo) -> VersionInfo {
        let mut inner = self.inner.lock().unwrap();
        let versions = inner.entry(secret.clone()).or_default();
        let version = SecretVersion::parse(&format!("v{:04}", versions.len() + 1)).expect("valid version");
        let info = info(secret.id_of(&version));
        versions.push((info.clone(), value));
        info
    }

    fn find(&self, id: &SecretId) -> Result<(VersionInfo, SecretValue), SecretStoreError> {
        let inner = self.inner.lock().unwrap();
        inner
            .get(&SecretRef::of(id))
            .and_then(|v| v.iter().find(|(i, _)| i.id == *id).cloned())
            .ok_or_else(|| SecretStoreError::NotFound(id.to_string()))
    }
}

#[async_trait]
impl SecretStore for MemorySecrets {
    async fn current(&self, secret: &SecretRef) -> Result<Option<VersionInfo>, SecretStoreError> {
        Ok(self.current_value(secret).map(|(info, _)| info))
    }

    async fn version_info(&self, id: &SecretId) -> Result<VersionInfo, SecretStoreError> {
        self.find(id).map(|(info, _)| info)
    }

    async fn find_by_rotation(
        &self,
        secret: &SecretRef,
        rotation: &RotationId,
        slot: Slot,
    ) -> Result<Option<VersionInfo>, SecretStoreError> {
        let inner = self.inner.lock().unwrap();
        Ok(inner.get(secret).and_then(|v| v.iter().map(|(i, _)| i).find(|i| i.written_by(rotation, slot)).cloned()))
    }

    async fn publish(
        &self,
        secret: &SecretRef,
        value: &SecretValue,
        request: &PublishRequest,
    ) -> Result<VersionInfo, SecretStoreError> {
        let previous = self.current_value(secret).map(|(info, _)| info.tags);
        Ok(self.push(secret, value.clone(), |id| VersionInfo {
            id,
            slot: Some(request.slot),
            rotation: Some(request.rotation.clone()),
            tags: tags::publish_tags(request, previous.as_ref()),
            content_type: Some(request.content_type.clone()),
            created: None,
            expires: request.expires,
            enabled: true,
        }))
    }

    async fn read(&self, id: &SecretId) -> Result<SecretValue, SecretStoreError> {
        self.find(id).map(|(_, value)| value)
    }
}
