use crate::core::Rotation;
use crate::domain::{ConsumerId, CredentialName, RotationId, SecretVersion};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// The version of a stored record: a counter in SQLite, an ETag in Blob Storage. Every write
/// names the version it read, and a write against a stale version is refused.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Version(pub String);

#[derive(Debug, Clone)]
pub struct StoredRotation {
    pub rotation: Rotation,
    pub version: Version,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// Conditional create refused: this credential already has a rotation in flight.
    #[error("credential {credential} already has rotation {existing} in flight")]
    InFlight { credential: CredentialName, existing: RotationId },
    /// Conditional create refused: a rotation with this id exists.
    #[error("rotation {0} already exists")]
    Exists(RotationId),
    /// Compare-and-swap refused: someone else wrote the record since it was read.
    #[error("rotation {0} was changed by another writer")]
    Stale(RotationId),
    #[error("rotation {0} not found")]
    NotFound(RotationId),
    #[error("rotation store: {0}")]
    Backend(String),
}

#[derive(Debug, Clone, Default)]
pub struct RotationFilter {
    pub credential: Option<CredentialName>,
    /// Only rotations whose phase name is one of these (`completed`, `stalled`, ...).
    pub phases: Vec<String>,
    pub in_flight_only: bool,
    pub limit: Option<usize>,
}

/// A consumer's last heartbeat: who holds which version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatRecord {
    pub consumer: ConsumerId,
    pub credential: CredentialName,
    pub version: SecretVersion,
    pub at: DateTime<Utc>,
}

/// Durable rotation records with compare-and-swap.
///
/// The contract (tested against every implementation by the same suite):
/// - `create` is conditional: it fails with `InFlight` when the credential has an unfinished
///   rotation, and with `Exists` when the id is taken. This is the Claim phase and I3.
/// - `update` succeeds only if `expected` is the stored version, and returns the new version.
/// - once a record is finished (Completed/RolledBack) the credential is free for a new
///   rotation, and the finished record stays readable as history.
#[async_trait]
pub trait RotationStore: Send + Sync {
    async fn create(&self, rotation: &Rotation) -> Result<Version, StoreError>;
    async fn load(&self, id: &RotationId) -> Result<Option<StoredRotation>, StoreError>;
    async fn update(&self, rotation: &Rotation, expected: &Version) -> Result<Version, StoreError>;
    async fn in_flight(&self, credential: &CredentialName) -> Result<Option<StoredRotation>, StoreError>;
    async fn list(&self, filter: &RotationFilter) -> Result<Vec<StoredRotation>, StoreError>;
    async fn record_heartbeat(&self, heartbeat: &HeartbeatRecord) -> Result<(), StoreError>;
    async fn heartbeats(&self, credential: &CredentialName) -> Result<Vec<HeartbeatRecord>, StoreError>;
}
