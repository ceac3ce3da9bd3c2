use super::BusError;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// A message keyrelay sends to itself (the rotation-commands queue): a rotate command from a
/// trigger, or a wake-up the orchestrator schedules instead of sleeping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedCommand {
    /// Deterministic, so Service Bus duplicate detection drops redeliveries:
    /// `rotate:{vault}:{secret}:{version}`, `wake:{rotation}:{unix seconds}`, ...
    pub message_id: String,
    /// JSON body.
    pub body: serde_json::Value,
    /// Deliver no earlier than this (`ScheduledEnqueueTimeUtc`).
    pub not_before: Option<DateTime<Utc>>,
    pub correlation_id: Option<String>,
    pub properties: BTreeMap<String, String>,
}

/// The queue that carries commands to the orchestrator.
#[async_trait]
pub trait CommandQueue: Send + Sync {
    async fn enqueue(&self, command: &QueuedCommand) -> Result<(), BusError>;
}
