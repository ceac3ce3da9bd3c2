use crate::ports::{BusError, StepBus};
use crate::protocol::Step;
use async_trait::async_trait;
use std::collections::HashSet;
use std::sync::Mutex;

/// Steps in a list, with duplicate detection by MessageId as Service Bus does it.
#[derive(Default)]
pub struct MemoryBus {
    inner: Mutex<(Vec<Step>, HashSet<String>)>,
}

impl MemoryBus {
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes the steps delivered since the last call.
    pub fn drain(&self) -> Vec<Step> {
        std::mem::take(&mut self.inner.lock().unwrap().0)
    }
}

#[async_trait]
impl StepBus for MemoryBus {
    async fn send_step(&self, step: &Step) -> Result<(), BusError> {
        let mut inner = self.inner.lock().unwrap();
        if inner.1.insert(step.message_id()) {
            inner.0.push(step.clone());
        }
        Ok(())
    }
}
