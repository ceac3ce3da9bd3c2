//! In-memory transport for agent tests: a peek-lock step source that records how each
//! delivery was settled, an ack sink that records (or refuses) what is sent, and a builder
//! for steps as keyrelay sends them.

#![allow(dead_code)]

use async_trait::async_trait;
use chrono::{Duration as ChronoDuration, Utc};
use keyrelay::domain::{ConsumerId, CredentialName, Nonce, RotationId, SecretId, Slot};
use keyrelay::protocol::{Ack, Heartbeat, Step, STEP_SCHEMA};
use keyrelay::shells::agent::{AckSink, Delivery, StepSource, TransportError};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

#[derive(Default)]
pub struct MemorySteps {
    queue: Mutex<VecDeque<Delivery>>,
    pub completed: Mutex<Vec<String>>,
    pub abandoned: Mutex<Vec<String>>,
    pub renewed: AtomicUsize,
    next_lock: AtomicUsize,
}

impl MemorySteps {
    /// Delivers a step the way the Service Bus subscription would: MessageId and routing
    /// property from the step.
    pub fn push_step(&self, step: &Step) {
        self.push(Some(step.message_id()), Some(step.consumer.to_string()), serde_json::to_vec(step).unwrap());
    }

    pub fn push(&self, message_id: Option<String>, consumer: Option<String>, body: Vec<u8>) {
        let lock = format!("lock-{}", self.next_lock.fetch_add(1, Ordering::SeqCst));
        self.queue.lock().unwrap().push_back(Delivery { message_id, consumer_property: consumer, delivery_count: 1, body, lock });
    }

    pub fn completed(&self) -> usize {
        self.completed.lock().unwrap().len()
    }

    pub fn abandoned(&self) -> usize {
        self.abandoned.lock().unwrap().len()
    }
}

#[async_trait]
impl StepSource for MemorySteps {
    async fn receive(&self, _wait: Duration) -> Result<Option<Delivery>, TransportError> {
        Ok(self.queue.lock().unwrap().pop_front())
    }
    async fn complete(&self, d: &Delivery) -> Result<(), TransportError> {
        self.completed.lock().unwrap().push(d.lock.clone());
        Ok(())
    }
    async fn abandon(&self, d: &Delivery) -> Result<(), TransportError> {
        self.abandoned.lock().unwrap().push(d.lock.clone());
        let mut again = d.clone();
        again.delivery_count += 1;
        self.queue.lock().unwrap().push_back(again);
        Ok(())
    }
    async fn renew(&self, _d: &Delivery) -> Result<(), TransportError> {
        self.renewed.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

#[derive(Default)]
pub struct MemoryAcks {
    pub acks: Mutex<Vec<(String, Ack)>>,
    pub heartbeats: Mutex<Vec<(String, Heartbeat)>>,
    pub refuse: AtomicBool,
}

impl MemoryAcks {
    pub fn acks(&self) -> Vec<Ack> {
        self.acks.lock().unwrap().iter().map(|(_, a)| a.clone()).collect()
    }
}

#[async_trait]
impl AckSink for MemoryAcks {
    async fn send_ack(&self, ack: &Ack, message_id: &str) -> Result<(), TransportError> {
        if self.refuse.load(Ordering::SeqCst) {
            return Err(TransportError::transient("acks queue unreachable"));
        }
        self.acks.lock().unwrap().push((message_id.to_string(), ack.clone()));
        Ok(())
    }
    async fn send_heartbeat(&self, hb: &Heartbeat, message_id: &str) -> Result<(), TransportError> {
        self.heartbeats.lock().unwrap().push((message_id.to_string(), hb.clone()));
        Ok(())
    }
}

/// A step as keyrelay's core emits it.
pub fn step(consumer: &str, credential: &str, secret_id: &SecretId, attempt: u32) -> Step {
    Step {
        schema: STEP_SCHEMA.into(),
        rotation_id: RotationId::parse("orders-cache-20260101T000000Z-abc123").unwrap(),
        credential: CredentialName::parse(credential).unwrap(),
        consumer: ConsumerId::parse(consumer).unwrap(),
        secret_id: secret_id.clone(),
        slot: Slot::Secondary,
        attempt,
        deadline: Utc::now() + ChronoDuration::minutes(10),
        nonce: Nonce::parse(&format!("00ff{attempt:04x}")).unwrap(),
    }
}
