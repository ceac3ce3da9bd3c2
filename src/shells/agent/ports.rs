//! The three things the agent needs from the outside world, as small traits of its own.
//!
//! The agent's logic (filter, de-duplicate, fetch, reload, probe, ack, settle) is tested
//! against in-memory implementations; the `keyrelay agent` command plugs in the Service Bus
//! receiver and sender and the Key Vault secret store. An application embedding the agent can
//! plug in whatever transport it already has.

use crate::domain::{SecretId, SecretValue};
use crate::ports::{SecretRef, SecretStore, SecretStoreError};
use crate::protocol::{Ack, Heartbeat};
use async_trait::async_trait;
use std::time::Duration;

/// One peek-locked message: its body and the broker properties the agent looks at. `lock` is
/// the transport's handle for settling it (the Service Bus `Location` URL, a test counter).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub message_id: Option<String>,
    /// The routing property `consumer` the per-consumer subscription filters on.
    pub consumer_property: Option<String>,
    pub delivery_count: u32,
    pub body: Vec<u8>,
    pub lock: String,
}

/// Why a transport call failed. `transient` failures are retried by the loop.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub struct TransportError {
    pub detail: String,
    pub transient: bool,
}

impl TransportError {
    pub fn transient(detail: impl Into<String>) -> Self {
        TransportError { detail: detail.into(), transient: true }
    }

    pub fn permanent(detail: impl Into<String>) -> Self {
        TransportError { detail: detail.into(), transient: false }
    }
}

/// Where steps come from: a peek-lock receiver. A message is settled exactly once, by
/// `complete` (done, delete it) or `abandon` (put it back for another try).
#[async_trait]
pub trait StepSource: Send + Sync {
    /// Waits up to `wait` for the next message; `None` when there was none.
    async fn receive(&self, wait: Duration) -> Result<Option<Delivery>, TransportError>;
    async fn complete(&self, delivery: &Delivery) -> Result<(), TransportError>;
    async fn abandon(&self, delivery: &Delivery) -> Result<(), TransportError>;
    /// Extends the lock while a slow reload or probe runs.
    async fn renew(&self, delivery: &Delivery) -> Result<(), TransportError>;
}

/// Where the agent reads exactly the secret version a step names.
#[async_trait]
pub trait SecretFetcher: Send + Sync {
    async fn fetch(&self, id: &SecretId) -> Result<SecretValue, SecretStoreError>;

    /// The secret's current version: a step naming any other is stale (see the runner).
    async fn current_version(&self, secret: &SecretRef) -> Result<Option<SecretId>, SecretStoreError>;
}

/// Every secret store keyrelay has (Key Vault, memory) can serve the agent.
#[async_trait]
impl<T: SecretStore + ?Sized> SecretFetcher for T {
    async fn fetch(&self, id: &SecretId) -> Result<SecretValue, SecretStoreError> {
        self.read(id).await
    }

    async fn current_version(&self, secret: &SecretRef) -> Result<Option<SecretId>, SecretStoreError> {
        Ok(self.current(secret).await?.map(|info| info.id))
    }
}

/// Where acks and heartbeats go: the acks queue.
#[async_trait]
pub trait AckSink: Send + Sync {
    async fn send_ack(&self, ack: &Ack, message_id: &str) -> Result<(), TransportError>;
    async fn send_heartbeat(&self, heartbeat: &Heartbeat, message_id: &str) -> Result<(), TransportError>;
}
