use crate::core::Rotation;
use crate::domain::{ConsumerId, CredentialName, RotationId};
use crate::ports::{HeartbeatRecord, RotationFilter, RotationStore, StoreError, StoredRotation, Version};
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// Rotation records in a map, versioned by a counter.
#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

#[derive(Default, Clone)]
struct Inner {
    rotations: BTreeMap<RotationId, (Rotation, u64)>,
    heartbeats: BTreeMap<(CredentialName, ConsumerId), HeartbeatRecord>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every record, for invariant checks.
    pub fn all(&self) -> Vec<Rotation> {
        self.inner.lock().unwrap().rotations.values().map(|(r, _)| r.clone()).collect()
    }
}

fn stored(r: &Rotation, v: u64) -> StoredRotation {
    StoredRotation { rotation: r.clone(), version: Version(v.to_string()) }
}

#[async_trait]
impl RotationStore for MemoryStore {
    async fn create(&self, rotation: &Rotation) -> Result<Version, StoreError> {
        let mut inner = self.inner.lock().unwrap();
        if inner.rotations.contains_key(&rotation.id) {
            return Err(StoreError::Exists(rotation.id.clone()));
        }
        if let Some((existing, _)) =
            inner.rotations.values().find(|(r, _)| r.plan.credential == rotation.plan.credential && !r.is_finished())
        {
            return Err(StoreError::InFlight { credential: rotation.plan.credential.clone(), existing: existing.id.clone() });
        }
        inner.rotations.insert(rotation.id.clone(), (rotation.clone(), 1));
        Ok(Version("1".into()))
    }

    async fn load(&self, id: &RotationId) -> Result<Option<StoredRotation>, StoreError> {
        Ok(self.inner.lock().unwrap().rotations.get(id).map(|(r, v)| stored(r, *v)))
    }

    async fn update(&self, rotation: &Rotation, expected: &Version) -> Result<Version, StoreError> {
        let mut inner = self.inner.lock().unwrap();
        let entry = inner.rotations.get_mut(&rotation.id).ok_or_else(|| StoreError::NotFound(rotation.id.clone()))?;
        if entry.1.to_string() != expected.0 {
            return Err(StoreError::Stale(rotation.id.clone()));
        }
        *entry = (rotation.clone(), entry.1 + 1);
        Ok(Version(entry.1.to_string()))
    }

    async fn in_flight(&self, credential: &CredentialName) -> Result<Option<StoredRotation>, StoreError> {
        let inner = self.inner.lock().unwrap();
        Ok(inner
            .rotations
            .values()
            .find(|(r, _)| &r.plan.credential == credential && !r.is_finished())
            .map(|(r, v)| stored(r, *v)))
    }

    async fn list(&self, filter: &RotationFilter) -> Result<Vec<StoredRotation>, StoreError> {
        let inner = self.inner.lock().unwrap();
        let mut out: Vec<StoredRotation> = inner
            .rotations
            .values()
            .filter(|(r, _)| filter.credential.as_ref().map_or(true, |c| &r.plan.credential == c))
            .filter(|(r, _)| filter.phases.is_empty() || filter.phases.iter().any(|p| p == r.phase.name()))
            .filter(|(r, _)| !filter.in_flight_only || !r.is_finished())
            .map(|(r, v)| stored(r, *v))
            .collect();
        out.sort_by(|a, b| b.rotation.started_at.cmp(&a.rotation.started_at));
        if let Some(limit) = filter.limit {
            out.truncate(limit);
        }
        Ok(out)
    }

    async fn record_heartbeat(&self, hb: &HeartbeatRecord) -> Result<(), StoreError> {
        let mut inner = self.inner.lock().unwrap();
        let key = (hb.credential.clone(), hb.consumer.clone());
        let newer = inner.heartbeats.get(&key).map_or(true, |old| old.at <= hb.at);
        if newer {
            inner.heartbeats.insert(key, hb.clone());
        }
        Ok(())
    }

    async fn heartbeats(&self, credential: &CredentialName) -> Result<Vec<HeartbeatRecord>, StoreError> {
        let inner = self.inner.lock().unwrap();
        Ok(inner.heartbeats.values().filter(|h| &h.credential == credential).cloned().collect())
    }
}
