//! The traits the driver and the shells use to reach the outside world.
//!
//! Each port is one concept; adapters implement them for Azure, Redis, SQLite and memory.
//! The rotation core never sees these traits: it returns actions, and the driver turns
//! actions into port calls and their results back into events.

mod clock;
mod command_queue;
mod key_provider;
mod rotation_store;
mod secret_store;
mod step_bus;

pub use clock::{Clock, SystemClock};
pub use command_queue::{CommandQueue, QueuedCommand};
pub use key_provider::{KeyAuthStatus, KeyProvider, ProviderError, RegenerateOutcome, UsageEvidence};
pub use rotation_store::{HeartbeatRecord, RotationFilter, RotationStore, StoreError, StoredRotation, Version};
pub use secret_store::{PublishRequest, SecretRef, SecretStore, SecretStoreError, VersionInfo};
pub use step_bus::{BusError, StepBus};
