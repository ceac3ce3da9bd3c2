//! The receive side (the consumer agent's): peek-lock one message, then complete, abandon or
//! renew its lock. An empty entity answers 204, which the 0.21 crate reports as success with
//! an empty body — the status is what tells "nothing there" from a message.

use super::error::{bus_error, status_error};
use super::namespace::ServiceBusNamespace;
use crate::ports::BusError;
use azure_core_021::headers::Headers;
use azure_messaging_servicebus::service_bus::{PeekLockResponse, QueueClient, SubscriptionReceiver};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// The `BrokerProperties` header of a received message (fields Service Bus may leave out are
/// optional).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReceivedProperties {
    pub message_id: String,
    pub sequence_number: i64,
    pub delivery_count: u32,
    #[serde(default)]
    pub lock_token: Option<String>,
    #[serde(default)]
    pub locked_until_utc: Option<String>,
    #[serde(default)]
    pub enqueued_time_utc: Option<String>,
    #[serde(default)]
    pub correlation_id: Option<String>,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub time_to_live: Option<f64>,
    #[serde(default)]
    pub state: Option<String>,
}

/// Response headers that are HTTP or Service Bus plumbing, not application properties.
const NOT_PROPERTIES: &[&str] = &[
    "brokerproperties", "content-type", "content-length", "location", "date", "server",
    "transfer-encoding", "strict-transport-security", "connection", "keep-alive", "vary",
];

/// Application properties from response headers, with the string quotes removed.
pub fn user_properties(headers: &Headers) -> BTreeMap<String, String> {
    headers
        .iter()
        .filter(|(name, _)| !NOT_PROPERTIES.contains(&name.as_str().to_ascii_lowercase().as_str()))
        .map(|(name, value)| {
            let v = value.as_str();
            let v = v.strip_prefix('"').and_then(|s| s.strip_suffix('"')).unwrap_or(v);
            (name.as_str().to_ascii_lowercase(), v.to_string())
        })
        .collect()
}

enum Source {
    Queue(QueueClient),
    Subscription(SubscriptionReceiver),
}

/// Receives from a queue or a topic subscription.
pub struct ServiceBusReceiver {
    source: Source,
}

/// A message under a peek-lock. Dropping it without settling lets the lock expire, after
/// which Service Bus redelivers it (and dead-letters it past the max delivery count).
pub struct LockedMessage {
    pub body: String,
    pub properties: ReceivedProperties,
    pub user_properties: BTreeMap<String, String>,
    lock: PeekLockResponse,
}

impl std::fmt::Debug for LockedMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LockedMessage").field("properties", &self.properties).finish_non_exhaustive()
    }
}

impl ServiceBusReceiver {
    pub fn queue(namespace: &ServiceBusNamespace, queue: &str) -> anyhow::Result<Self> {
        Ok(ServiceBusReceiver { source: Source::Queue(namespace.queue(queue)?) })
    }

    pub fn subscription(namespace: &ServiceBusNamespace, topic: &str, subscription: &str) -> anyhow::Result<Self> {
        Ok(ServiceBusReceiver { source: Source::Subscription(namespace.subscription(topic, subscription)?) })
    }

    /// Waits up to `wait` (whole seconds, as the REST API takes it) for a message and locks it.
    pub async fn receive(&self, wait: Duration) -> Result<Option<LockedMessage>, BusError> {
        let wait = Some(Duration::from_secs(wait.as_secs().max(1)));
        let response = match &self.source {
            Source::Queue(q) => q.peek_lock_message2(wait).await,
            Source::Subscription(s) => s.peek_lock_message2(wait).await,
        }
        .map_err(|e| bus_error("peek-lock", e))?;
        let status = *response.status() as u16;
        match status {
            204 => Ok(None),
            200 | 201 => {
                let headers: Headers = response.custom_properties().expect("headers convert to themselves");
                let raw = headers
                    .get_optional_str(&azure_core_021::headers::HeaderName::from_static("brokerproperties"))
                    .ok_or_else(|| status_error("peek-lock without BrokerProperties", status))?;
                let properties: ReceivedProperties = serde_json::from_str(raw).map_err(|e| BusError::Failed {
                    detail: format!("peek-lock: BrokerProperties header: {e}"),
                    transient: false,
                })?;
                Ok(Some(LockedMessage { body: response.body(), properties, user_properties: user_properties(&headers), lock: response }))
            }
            other => Err(status_error("peek-lock", other)),
        }
    }
}

impl LockedMessage {
    /// Done: the message is deleted.
    pub async fn complete(&self) -> Result<(), BusError> {
        self.lock.delete_message().await.map(|_| ()).map_err(|e| bus_error("complete", e))
    }

    /// Give it back now (delivery count stays incremented).
    pub async fn abandon(&self) -> Result<(), BusError> {
        self.lock.unlock_message().await.map_err(|e| bus_error("abandon", e))
    }

    /// Keep the lock while a long reload runs.
    pub async fn renew_lock(&self) -> Result<(), BusError> {
        self.lock.renew_message_lock().await.map_err(|e| bus_error("renew lock", e))
    }
}
