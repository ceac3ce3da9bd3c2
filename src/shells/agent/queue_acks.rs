//! Acks and heartbeats onto a queue through the [`CommandQueue`] port: the Service Bus queue
//! adapter keyrelay already uses for its own commands sends them with their MessageId (for
//! duplicate detection), the rotation id as CorrelationId and the consumer as a property.

use super::ports::{AckSink, TransportError};
use crate::ports::{BusError, CommandQueue, QueuedCommand};
use crate::protocol::{Ack, Heartbeat};
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::sync::Arc;

pub struct QueueAckSink {
    queue: Arc<dyn CommandQueue>,
}

impl QueueAckSink {
    pub fn new(queue: Arc<dyn CommandQueue>) -> Self {
        QueueAckSink { queue }
    }

    async fn send(&self, message_id: &str, body: serde_json::Value, correlation: Option<String>, consumer: &str, schema: &str) -> Result<(), TransportError> {
        let properties = BTreeMap::from([("consumer".to_string(), consumer.to_string()), ("schema".to_string(), schema.to_string())]);
        let command = QueuedCommand { message_id: message_id.to_string(), body, not_before: None, correlation_id: correlation, properties };
        self.queue.enqueue(&command).await.map_err(|BusError::Failed { detail, transient }| TransportError { detail, transient })
    }
}

fn json(value: &impl serde::Serialize) -> Result<serde_json::Value, TransportError> {
    serde_json::to_value(value).map_err(|e| TransportError::permanent(format!("message JSON: {e}")))
}

#[async_trait]
impl AckSink for QueueAckSink {
    async fn send_ack(&self, ack: &Ack, message_id: &str) -> Result<(), TransportError> {
        self.send(message_id, json(ack)?, Some(ack.rotation_id.to_string()), ack.consumer.as_str(), &ack.schema).await
    }

    async fn send_heartbeat(&self, hb: &Heartbeat, message_id: &str) -> Result<(), TransportError> {
        self.send(message_id, json(hb)?, None, hb.consumer.as_str(), &hb.schema).await
    }
}
