//! The agent's loop: one peek-locked step at a time, turned into a reloaded, probed consumer
//! and an ack keyrelay can verify; heartbeats in between.
//!
//! Settlement rules, so no step is lost and none is applied twice:
//! - the step is completed only after its ack was sent (a crash before that redelivers it);
//! - a failure that a retry can fix (Key Vault or the acks queue unreachable) abandons it;
//! - a step already acked (same MessageId) is completed without reloading again;
//! - a step for another consumer is completed without being applied, and logged.

use super::dedup::SeenSteps;
use super::messages::{ack_for, ack_message_id, heartbeat_for, heartbeat_message_id};
use super::ports::{AckSink, Delivery, SecretFetcher, StepSource, TransportError};
use super::reloader::Reloader;
use crate::domain::{ConsumerId, CredentialName, SecretValue, SecretVersion, Slot};
use crate::ports::{Clock, SecretRef, SecretStoreError};
use crate::protocol::Step;
use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Who the agent is and which secrets it accepts steps for.
#[derive(Debug, Clone)]
pub struct Identity {
    pub consumer: ConsumerId,
    /// Each credential the consumer holds and the one Key Vault secret it comes from.
    pub credentials: BTreeMap<CredentialName, SecretRef>,
}

/// The transport: steps in, secrets, acks out.
#[derive(Clone)]
pub struct Transport {
    pub steps: Arc<dyn StepSource>,
    pub secrets: Arc<dyn SecretFetcher>,
    pub acks: Arc<dyn AckSink>,
}

#[derive(Debug, Clone)]
pub struct Tuning {
    pub receive_wait: Duration,
    pub lock_renew_every: Duration,
    /// Zero turns heartbeats off.
    pub heartbeat_every: Duration,
    /// Where the versions in use are remembered across restarts (for heartbeats).
    pub state_file: Option<PathBuf>,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            receive_wait: Duration::from_secs(20),
            lock_renew_every: Duration::from_secs(20),
            heartbeat_every: Duration::from_secs(300),
            state_file: None,
        }
    }
}

/// What became of one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Processed {
    /// Acked (healthy or not) and completed.
    Acked { message_id: String, healthy: bool, detail: String },
    /// Already acked earlier: completed, not reloaded again.
    Duplicate { message_id: String },
    /// Addressed to another consumer: completed, not applied.
    OtherConsumer { consumer: ConsumerId },
    /// Not a step this agent can read: abandoned (Service Bus dead-letters it after the
    /// subscription's max delivery count, where an operator can look at it).
    Invalid { reason: String },
    /// A failure a retry can fix: abandoned, so it is delivered again.
    Retry { reason: String },
    /// Names a version that is no longer the secret's current one (a step of an earlier
    /// rotation delivered late): completed, not applied, not acked.
    Stale { message_id: String },
}

/// What fetching, reloading and probing a step came to.
enum Applied {
    /// Ack healthy or not, with a detail, proving possession of the key when there is one.
    Ack(bool, String, Option<SecretValue>),
    /// The step names a version that is no longer the secret's current one.
    Stale { current: SecretVersion },
}

/// The version of each credential the consumer runs on.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InUse {
    pub version: SecretVersion,
    pub slot: Option<Slot>,
}

pub struct Agent {
    identity: Identity,
    transport: Transport,
    reloader: Arc<dyn Reloader>,
    clock: Arc<dyn Clock>,
    tuning: Tuning,
    seen: Mutex<SeenSteps>,
    in_use: Mutex<BTreeMap<CredentialName, InUse>>,
}

impl Agent {
    pub fn new(identity: Identity, transport: Transport, reloader: Arc<dyn Reloader>, clock: Arc<dyn Clock>, tuning: Tuning) -> Agent {
        let in_use = tuning.state_file.as_deref().map(load_state).unwrap_or_default();
        Agent { identity, transport, reloader, clock, tuning, seen: Mutex::new(SeenSteps::new(1_024)), in_use: Mutex::new(in_use) }
    }

    pub fn consumer(&self) -> &ConsumerId {
        &self.identity.consumer
    }

    /// The version of `credential` the consumer runs on, as far as the agent knows.
    pub fn in_use(&self, credential: &CredentialName) -> Option<InUse> {
        self.in_use.lock().unwrap().get(credential).cloned()
    }

    /// Tells the agent which version the application started with (an embedding application
    /// that read the secret itself), so heartbeats report it before the first rotation.
    pub fn set_in_use(&self, credential: &CredentialName, in_use: InUse) {
        self.in_use.lock().unwrap().insert(credential.clone(), in_use);
        self.save_state();
    }

    /// Receives and handles at most one step.
    pub async fn process_one(&self) -> Result<Option<Processed>, TransportError> {
        match self.transport.steps.receive(self.tuning.receive_wait).await? {
            Some(delivery) => Ok(Some(self.handle(delivery).await)),
            None => Ok(None),
        }
    }

    /// Runs until `shutdown` resolves: steps as they come, heartbeats every `heartbeat_every`.
    /// A receive error is logged and retried after a pause; it never ends the loop.
    pub async fn run(&self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let beat_every = self.tuning.heartbeat_every;
        let mut next_beat = tokio::time::Instant::now();
        tracing::info!(consumer = %self.identity.consumer, credentials = self.identity.credentials.len(), "agent started");
        loop {
            if !beat_every.is_zero() && tokio::time::Instant::now() >= next_beat {
                if let Err(e) = self.heartbeat().await {
                    tracing::warn!(error = %e, "heartbeat not sent");
                }
                next_beat = tokio::time::Instant::now() + beat_every;
            }
            tokio::select! {
                _ = &mut shutdown => break,
                result = self.process_one() => match result {
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "receiving steps failed; retrying");
                        tokio::time::sleep(Duration::from_secs(if e.transient { 2 } else { 10 })).await;
                    }
                },
            }
        }
        tracing::info!(consumer = %self.identity.consumer, "agent stopped");
    }

    /// Sends one heartbeat per credential whose version is known; returns how many.
    pub async fn heartbeat(&self) -> Result<usize, TransportError> {
        let in_use: Vec<(CredentialName, InUse)> = self.in_use.lock().unwrap().clone().into_iter().collect();
        for (credential, used) in &in_use {
            let hb = heartbeat_for(&self.identity.consumer, credential, &used.version, used.slot, self.clock.now());
            self.transport.acks.send_heartbeat(&hb, &heartbeat_message_id(&hb)).await?;
            tracing::debug!(credential = %credential, version = %used.version, "heartbeat sent");
        }
        Ok(in_use.len())
    }

    /// Handles one delivery and settles it (complete or abandon).
    pub async fn handle(&self, delivery: Delivery) -> Processed {
        let processed = self.decide(&delivery).await;
        let settle = match &processed {
            Processed::Invalid { .. } | Processed::Retry { .. } => self.transport.steps.abandon(&delivery).await,
            _ => self.transport.steps.complete(&delivery).await,
        };
        if let Err(e) = settle {
            // The step comes back; the MessageId de-duplication answers it without a reload.
            tracing::warn!(message_id = delivery.message_id.as_deref().unwrap_or("-"), error = %e, "could not settle the step");
        }
        processed
    }

    async fn decide(&self, delivery: &Delivery) -> Processed {
        let step = match Step::from_json(&delivery.body) {
            Ok(step) => step,
            Err(reason) => {
                tracing::warn!(message_id = delivery.message_id.as_deref().unwrap_or("-"), reason = %reason, "not a keyrelay step; abandoned");
                return Processed::Invalid { reason };
            }
        };
        let message_id = step.message_id();
        if step.consumer != self.identity.consumer {
            tracing::info!(
                message_id = %message_id,
                consumer = %step.consumer,
                routing_property = delivery.consumer_property.as_deref().unwrap_or("-"),
                me = %self.identity.consumer,
                "step for another consumer (check the subscription's filter); completed without applying it"
            );
            return Processed::OtherConsumer { consumer: step.consumer };
        }
        if let Some(id) = delivery.message_id.as_deref().filter(|id| *id != message_id) {
            tracing::warn!(broker_message_id = id, message_id = %message_id, "the broker MessageId differs from the step's; using the step's");
        }
        if self.seen.lock().unwrap().contains(&message_id) {
            tracing::info!(message_id = %message_id, "step already acked; completed without reloading again");
            return Processed::Duplicate { message_id };
        }
        if step.deadline < self.clock.now() {
            tracing::warn!(message_id = %message_id, deadline = %step.deadline, "step arrived after its deadline; handling it anyway");
        }
        tracing::info!(
            message_id = %message_id,
            rotation = %step.rotation_id,
            credential = %step.credential,
            version = %step.secret_id.version,
            delivery_count = delivery.delivery_count,
            "step received"
        );
        let (healthy, detail, key) = match self.apply(delivery, &step).await {
            Ok(Applied::Ack(healthy, detail, key)) => (healthy, detail, key),
            Ok(Applied::Stale { current }) => {
                tracing::warn!(
                    message_id = %message_id,
                    version = %step.secret_id.version,
                    current = %current,
                    "step names a version that is no longer current; completed without applying it"
                );
                return Processed::Stale { message_id };
            }
            Err(reason) => {
                tracing::warn!(message_id = %message_id, reason = %reason, "step will be retried");
                return Processed::Retry { reason };
            }
        };
        let ack = ack_for(&step, key.as_ref(), healthy, &detail, self.clock.now());
        if let Err(e) = self.transport.acks.send_ack(&ack, &ack_message_id(&step)).await {
            let reason = format!("the ack could not be sent: {e}");
            tracing::warn!(message_id = %message_id, reason = %reason, "step will be retried");
            return Processed::Retry { reason };
        }
        self.seen.lock().unwrap().insert(&message_id);
        if healthy {
            self.set_in_use(&step.credential, InUse { version: step.secret_id.version.clone(), slot: Some(step.slot) });
            tracing::info!(message_id = %message_id, version = %step.secret_id.version, detail = %ack.detail, "acked healthy");
        } else {
            tracing::warn!(message_id = %message_id, version = %step.secret_id.version, detail = %ack.detail, "acked unhealthy");
        }
        Processed::Acked { message_id, healthy, detail: ack.detail }
    }

    /// Fetch, reload and probe. `Err` only for failures worth a redelivery; everything else
    /// becomes an (un)healthy ack.
    async fn apply(&self, delivery: &Delivery, step: &Step) -> Result<Applied, String> {
        let Some(expected) = self.identity.credentials.get(&step.credential) else {
            return Ok(Applied::Ack(false, format!("credential {} is not held by consumer {}", step.credential, self.identity.consumer), None));
        };
        if step.secret_id.vault != expected.vault || step.secret_id.name != expected.name {
            return Ok(Applied::Ack(
                false,
                format!(
                    "the step names secret {}/{}, but credential {} comes from {}/{}; not loaded",
                    step.secret_id.vault, step.secret_id.name, step.credential, expected.vault, expected.name
                ),
                None,
            ));
        }
        let key = match self.transport.secrets.fetch(&step.secret_id).await {
            Ok(key) => key,
            Err(SecretStoreError::NotFound(_)) => {
                return Ok(Applied::Ack(false, format!("secret version {} does not exist in Key Vault", step.secret_id), None))
            }
            Err(e) => return Err(format!("reading {} from Key Vault failed: {e}", step.secret_id)),
        };
        // A late step of an earlier rotation must not move the consumer back to an older
        // version: a later rotation may already be regenerating that version's slot, which is
        // safe only because no consumer that follows the protocol still holds it.
        let secret = SecretRef::of(&step.secret_id);
        match self.transport.secrets.current_version(&secret).await {
            Ok(Some(current)) if current.version != step.secret_id.version => {
                return Ok(Applied::Stale { current: current.version });
            }
            Ok(_) => {}
            Err(e) => return Err(format!("reading the current version of {} from Key Vault failed: {e}", secret.name)),
        }
        let result = self.with_lock_renewal(delivery, self.reloader.reload(&step.credential, step, &key)).await;
        Ok(match result {
            Ok(detail) => Applied::Ack(true, detail, Some(key)),
            Err(detail) => Applied::Ack(false, detail, Some(key)),
        })
    }

    /// Runs `work` while renewing the step's lock, so a slow reload does not let the step be
    /// delivered to a second receiver halfway through.
    async fn with_lock_renewal<T>(&self, delivery: &Delivery, work: impl Future<Output = T>) -> T {
        tokio::pin!(work);
        let every = self.tuning.lock_renew_every.max(Duration::from_millis(100));
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        loop {
            tokio::select! {
                out = &mut work => return out,
                _ = ticker.tick() => {
                    if let Err(e) = self.transport.steps.renew(delivery).await {
                        tracing::warn!(error = %e, "could not renew the step's lock");
                    }
                }
            }
        }
    }

    fn save_state(&self) {
        let Some(path) = &self.tuning.state_file else { return };
        let snapshot = self.in_use.lock().unwrap().clone();
        let write = serde_json::to_vec_pretty(&snapshot)
            .map_err(|e| e.to_string())
            .and_then(|bytes| {
                let tmp = path.with_extension("tmp");
                std::fs::write(&tmp, bytes).and_then(|_| std::fs::rename(&tmp, path)).map_err(|e| e.to_string())
            });
        if let Err(e) = write {
            tracing::warn!(path = %path.display(), error = %e, "could not save the versions in use");
        }
    }
}

fn load_state(path: &std::path::Path) -> BTreeMap<CredentialName, InUse> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            tracing::warn!(path = %path.display(), error = %e, "ignoring an unreadable state file");
            BTreeMap::new()
        }),
        Err(_) => BTreeMap::new(),
    }
}
