use crate::protocol::Step;
use async_trait::async_trait;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BusError {
    #[error("{detail}")]
    Failed { detail: String, transient: bool },
}

/// Delivers reload steps to consumers. Sending the same step twice must be harmless: the
/// MessageId (`rotation/consumer/attempt`) lets Service Bus and the consumer drop the copy.
#[async_trait]
pub trait StepBus: Send + Sync {
    async fn send_step(&self, step: &Step) -> Result<(), BusError>;
}
