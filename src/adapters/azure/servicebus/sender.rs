//! Sending: reload steps to the steps topic ([`StepBus`]) and commands to keyrelay's own queue
//! ([`CommandQueue`]).

use super::error::bus_error;
use super::namespace::ServiceBusNamespace;
use crate::ports::{BusError, CommandQueue, QueuedCommand, StepBus};
use crate::protocol::Step;
use async_trait::async_trait;
use azure_messaging_servicebus::service_bus::{QueueClient, SendMessageOptions, SettableBrokerProperties, TopicSender};
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// The application property a per-consumer subscription filters on (`consumer = '<id>'`).
pub const CONSUMER_PROPERTY: &str = "consumer";

/// A step that is still undelivered after its deadline is useless; it expires a little later
/// so a consumer that comes back just after the deadline still sees why it was asked.
const STEP_TTL_GRACE: Duration = Duration::from_secs(3_600);

enum Target {
    Queue(QueueClient),
    Topic(TopicSender),
}

impl Target {
    async fn send(&self, body: &str, options: SendMessageOptions) -> azure_core_021::Result<()> {
        match self {
            Target::Queue(q) => q.send_message(body, Some(options)).await,
            Target::Topic(t) => t.send_message(body, Some(options)).await,
        }
    }
}

/// Custom properties go out as headers; a double-quoted value is a string to Service Bus (an
/// unquoted one would be read as a number or boolean, or rejected).
fn quoted(properties: impl IntoIterator<Item = (String, String)>) -> HashMap<String, String> {
    properties.into_iter().map(|(k, v)| (k, format!("\"{}\"", v.replace('"', "")))).collect()
}

fn to_offset(t: DateTime<Utc>) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::from_unix_timestamp(t.timestamp()).ok()
}

/// Steps to the steps topic, one message per consumer.
pub struct ServiceBusStepBus {
    topic: Target,
}

impl ServiceBusStepBus {
    pub fn new(namespace: &ServiceBusNamespace, topic: &str) -> anyhow::Result<Self> {
        Ok(ServiceBusStepBus { topic: Target::Topic(namespace.topic(topic)?.topic_sender()) })
    }
}

/// The broker properties and routing property of a step (pure, so the shape is testable).
pub fn step_message(step: &Step, now: DateTime<Utc>) -> SendMessageOptions {
    let until_deadline = (step.deadline - now).to_std().unwrap_or_default();
    SendMessageOptions {
        content_type: Some("application/json".into()),
        broker_properties: Some(SettableBrokerProperties {
            message_id: Some(step.message_id()),
            correlation_id: Some(step.rotation_id.to_string()),
            label: Some(step.schema.clone()),
            time_to_live: Some(until_deadline + STEP_TTL_GRACE),
            ..Default::default()
        }),
        custom_properties: Some(quoted([
            (CONSUMER_PROPERTY.to_string(), step.consumer.to_string()),
            ("rotationId".to_string(), step.rotation_id.to_string()),
        ])),
    }
}

#[async_trait]
impl StepBus for ServiceBusStepBus {
    async fn send_step(&self, step: &Step) -> Result<(), BusError> {
        let body = serde_json::to_string(step).map_err(|e| BusError::Failed { detail: format!("step JSON: {e}"), transient: false })?;
        self.topic.send(&body, step_message(step, Utc::now())).await.map_err(|e| bus_error("sending a step", e))
    }
}

/// Commands to keyrelay's own queue; a command with `not_before` is a scheduled message.
pub struct ServiceBusCommandQueue {
    queue: Target,
}

impl ServiceBusCommandQueue {
    pub fn new(namespace: &ServiceBusNamespace, queue: &str) -> anyhow::Result<Self> {
        Ok(ServiceBusCommandQueue { queue: Target::Queue(namespace.queue(queue)?) })
    }
}

pub fn command_message(command: &QueuedCommand) -> SendMessageOptions {
    let properties: BTreeMap<String, String> = command.properties.clone();
    SendMessageOptions {
        content_type: Some("application/json".into()),
        broker_properties: Some(SettableBrokerProperties {
            message_id: Some(command.message_id.clone()),
            correlation_id: command.correlation_id.clone(),
            scheduled_enqueue_time_utc: command.not_before.and_then(to_offset),
            ..Default::default()
        }),
        custom_properties: Some(quoted(properties)),
    }
}

#[async_trait]
impl CommandQueue for ServiceBusCommandQueue {
    async fn enqueue(&self, command: &QueuedCommand) -> Result<(), BusError> {
        self.queue
            .send(&command.body.to_string(), command_message(command))
            .await
            .map_err(|e| bus_error("enqueueing a command", e))
    }
}
