//! The ARM twin's resources, faults and long-running operations.

use super::shapes::Shape;
use crate::domain::{SecretValue, Slot};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Told about every key value the twin hands out: at registration and after each regenerate
/// (for a long-running regenerate, when the operation completes, before it reports success).
/// The demo mirrors Azure Cache for Redis keys into a real redis-server's ACL through it.
#[async_trait::async_trait]
pub trait KeyListener: Send + Sync {
    async fn key_changed(&self, change: &KeyChange);
}

/// One key's new value.
#[derive(Debug, Clone)]
pub struct KeyChange {
    pub resource_id: String,
    /// The list-response name (`primaryKey`, `key1`, `secondaryReadonlyMasterKey`, ...).
    pub key_name: String,
    /// Position in the resource's keys: 0/1 the primary/secondary pair, 2/3 Cosmos read-only.
    pub index: usize,
    pub value: SecretValue,
}

impl KeyChange {
    /// The slot of a two-key pair (Cosmos read-only keys map to their own pair).
    pub fn slot(&self) -> Slot {
        if self.index.is_multiple_of(2) {
            Slot::Primary
        } else {
            Slot::Secondary
        }
    }
}

/// Which headers a long-running regenerate answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LroHeaders {
    Both,
    AsyncOperationOnly,
    LocationOnly,
}

/// Switchable misbehaviour, shared by every resource.
#[derive(Debug, Clone)]
pub struct Faults {
    /// The next N requests answer 429 with `Retry-After: throttle_retry_after` seconds.
    pub throttle_next: u32,
    pub throttle_retry_after: u64,
    /// The next N requests answer this 5xx.
    pub fail_next: u32,
    pub fail_status: u16,
    /// The next N regenerate calls answer 409 "another operation is in progress".
    pub conflict_next: u32,
    /// How long a long-running regenerate runs, and the Retry-After its polls suggest.
    pub lro_duration: Duration,
    pub lro_retry_after: u64,
    pub lro_headers: LroHeaders,
    /// The next long-running regenerate ends `Failed`.
    pub lro_fail_next: bool,
    /// Kinds that are synchronous by spec answer 202 anyway (Cognitive Services' example).
    pub lro_everywhere: bool,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            throttle_next: 0,
            throttle_retry_after: 1,
            fail_next: 0,
            fail_status: 503,
            conflict_next: 0,
            lro_duration: Duration::from_millis(300),
            lro_retry_after: 1,
            lro_headers: LroHeaders::Both,
            lro_fail_next: false,
            lro_everywhere: false,
        }
    }
}

pub struct TwinResource {
    pub id: String,
    pub shape: Shape,
    pub keys: Vec<String>,
    /// RFC 3339 time each key was last generated.
    pub generated: Vec<String>,
    pub key_auth_disabled: bool,
    /// Cosmos DB: approximate last use of each key, and whether safe key rotation is on.
    pub last_used: Vec<Option<DateTime<Utc>>>,
    pub usage_check: bool,
    /// The identity lacks every permission on this resource (403 on every call).
    pub denied: bool,
}

pub struct Operation {
    pub resource_id: String,
    pub namespace: &'static str,
    pub status: OperationStatus,
    pub started: DateTime<Utc>,
    pub ended: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperationStatus {
    InProgress,
    Succeeded,
    Failed,
}

/// One request as the twin saw it: method, path, api-version, body (bodies of regenerate
/// requests hold no secrets; list responses are not recorded).
#[derive(Debug, Clone)]
pub struct SeenRequest {
    pub method: String,
    pub path: String,
    pub api_version: Option<String>,
    pub body: Option<serde_json::Value>,
    pub status: u16,
}

#[derive(Default)]
pub struct State {
    pub resources: HashMap<String, TwinResource>,
    pub operations: HashMap<String, Operation>,
    pub faults: Faults,
    pub seen: Vec<SeenRequest>,
    pub listeners: Vec<Arc<dyn KeyListener>>,
    pub generation: u64,
    /// The state's own handle, for long-running operations that complete later.
    pub self_ref: Option<std::sync::Weak<std::sync::Mutex<State>>>,
}

impl State {
    /// A fresh key value: 32 random bytes, base64, like most Azure keys.
    pub fn new_key(&mut self) -> String {
        use base64::Engine;
        use rand::RngCore;
        self.generation += 1;
        let mut bytes = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut bytes);
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    pub fn resource(&self, id: &str) -> Option<&TwinResource> {
        self.resources.get(&id.to_ascii_lowercase())
    }

    pub fn resource_mut(&mut self, id: &str) -> Option<&mut TwinResource> {
        self.resources.get_mut(&id.to_ascii_lowercase())
    }

    /// Regenerates key `index` and returns the change for the listeners.
    pub fn regenerate(&mut self, id: &str, index: usize) -> Option<KeyChange> {
        let value = self.new_key();
        let resource = self.resource_mut(id)?;
        resource.keys[index] = value.clone();
        resource.generated[index] = Utc::now().to_rfc3339();
        resource.last_used[index] = None;
        Some(KeyChange {
            resource_id: resource.id.clone(),
            key_name: resource.shape.key_names()[index].to_string(),
            index,
            value: SecretValue::new(value),
        })
    }
}
