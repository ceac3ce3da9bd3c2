use crate::domain::{RotationId, SecretId, SecretValue, SecretVersion, Slot};
use crate::ports::{PublishRequest, SecretRef, SecretStore, SecretStoreError, VersionInfo};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// Secret versions in memory, newest last, tagged like the Key Vault adapter tags them.
#[derive(Default)]
pub struct MemorySecrets {
    inner: Mutex<BTreeMap<SecretRef, Vec<(VersionInfo, SecretValue)>>>,
}

impl MemorySecrets {
    pub fn new() -> Self {
        Self::default()
    }

    /// Seeds a version (what an operator does before the first rotation).
    pub fn seed(&self, secret: &SecretRef, value: SecretValue, slot: Option<Slot>, now: DateTime<Utc>) -> SecretVersion {
        let mut inner = self.inner.lock().unwrap();
        let versions = inner.entry(secret.clone()).or_default();
        let version = SecretVersion::parse(&format!("v{:04}", versions.len() + 1)).expect("valid version");
        let mut tags = BTreeMap::new();
        if let Some(slot) = slot {
            tags.insert("keyrelay-slot".to_string(), slot.to_string());
        }
        let info = VersionInfo {
            id: secret.id_of(&version),
            slot,
            rotation: None,
            tags,
            content_type: None,
            created: Some(now),
            expires: None,
            enabled: true,
        };
        versions.push((info, value));
        version
    }

    /// The value of the current version (the simulator's "what consumers should load").
    pub fn current_value(&self, secret: &SecretRef) -> Option<(VersionInfo, SecretValue)> {
        self.inner.lock().unwrap().get(secret).and_then(|v| v.last().cloned())
    }

    /// Every value ever stored, for leak searches.
    pub fn all_values(&self) -> Vec<SecretValue> {
        self.inner.lock().unwrap().values().flatten().map(|(_, v)| v.clone()).collect()
    }
}

#[async_trait]
impl SecretStore for MemorySecrets {
    async fn current(&self, secret: &SecretRef) -> Result<Option<VersionInfo>, SecretStoreError> {
        Ok(self.inner.lock().unwrap().get(secret).and_then(|v| v.last().map(|(i, _)| i.clone())))
    }

    async fn version_info(&self, id: &SecretId) -> Result<VersionInfo, SecretStoreError> {
        let secret = SecretRef { vault: id.vault.clone(), name: id.name.clone() };
        let inner = self.inner.lock().unwrap();
        inner
            .get(&secret)
            .and_then(|v| v.iter().find(|(i, _)| i.id == *id).map(|(i, _)| i.clone()))
            .ok_or_else(|| SecretStoreError::NotFound(id.to_string()))
    }

    async fn find_by_rotation(
        &self,
        secret: &SecretRef,
        rotation: &RotationId,
        slot: Slot,
    ) -> Result<Option<VersionInfo>, SecretStoreError> {
        let inner = self.inner.lock().unwrap();
        Ok(inner.get(secret).and_then(|v| {
            v.iter().find(|(i, _)| i.rotation.as_ref() == Some(rotation) && i.slot == Some(slot)).map(|(i, _)| i.clone())
        }))
    }

    async fn publish(
        &self,
        secret: &SecretRef,
        value: &SecretValue,
        request: &PublishRequest,
    ) -> Result<VersionInfo, SecretStoreError> {
        let mut inner = self.inner.lock().unwrap();
        let versions = inner.entry(secret.clone()).or_default();
        let version = SecretVersion::parse(&format!("v{:04}", versions.len() + 1)).expect("valid version");
        let tags = BTreeMap::from([
            ("keyrelay-slot".to_string(), request.slot.to_string()),
            ("keyrelay-rotation".to_string(), request.rotation.to_string()),
            ("keyrelay-resource".to_string(), request.resource_id.clone()),
        ]);
        let info = VersionInfo {
            id: secret.id_of(&version),
            slot: Some(request.slot),
            rotation: Some(request.rotation.clone()),
            tags,
            content_type: Some(request.content_type.clone()),
            created: None,
            expires: request.expires,
            enabled: true,
        };
        versions.push((info.clone(), value.clone()));
        Ok(info)
    }

    async fn read(&self, id: &SecretId) -> Result<SecretValue, SecretStoreError> {
        let secret = SecretRef { vault: id.vault.clone(), name: id.name.clone() };
        let inner = self.inner.lock().unwrap();
        inner
            .get(&secret)
            .and_then(|v| v.iter().find(|(i, _)| i.id == *id).map(|(_, value)| value.clone()))
            .ok_or_else(|| SecretStoreError::NotFound(id.to_string()))
    }
}
