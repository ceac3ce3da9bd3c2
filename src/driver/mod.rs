//! The driver runs the rotation core against the ports.
//!
//! Its one rule is the design's: *persist, then act*. Every transition the core returns is
//! written with compare-and-swap before any of its actions is performed; every action's result
//! goes back into the core as an event, whose transition is again persisted first. A crash at
//! any point leaves a record from which the next `Tick` re-derives the unfinished work, and
//! every action is safe to repeat (I4). A stale write (another instance got there first) is
//! answered by reloading and re-applying the same event to the fresh record (I3).

mod dry_run;
mod guard;
mod perform;

pub use dry_run::{DryRun, DryRunConsumer, DryRunWave};

use crate::core::{self, Event, Outcome, Plan, Rotation, Trigger, Verdict};
use crate::domain::{RotationId, SecretValue};
use crate::ports::{
    Clock, HeartbeatRecord, KeyProvider, RotationFilter, RotationStore, SecretStore, SecretStoreError, StepBus,
    StoreError, StoredRotation,
};
use crate::protocol::{Ack, Heartbeat};
use std::collections::VecDeque;
use std::sync::Arc;

/// Builds the key provider a plan names. The handler builds ARM, Redis Cloud or self-hosted
/// providers from the policy; the simulator and the embedded demo build in-memory ones.
pub trait ProviderFactory: Send + Sync {
    fn provider(&self, plan: &Plan) -> Result<Arc<dyn KeyProvider>, DriverError>;
}

/// The same provider for every plan: the embedded demo and tests, which manage one credential.
pub struct SingleProvider(pub Arc<dyn KeyProvider>);

impl ProviderFactory for SingleProvider {
    fn provider(&self, _plan: &Plan) -> Result<Arc<dyn KeyProvider>, DriverError> {
        Ok(self.0.clone())
    }
}

/// Where the driver gets randomness: rotation-id suffixes and nonce seeds. Injected so the
/// simulator stays deterministic.
pub trait Entropy: Send + Sync {
    fn hex(&self, bytes: usize) -> String;
}

/// Operating-system randomness.
pub struct OsEntropy;

impl Entropy for OsEntropy {
    fn hex(&self, bytes: usize) -> String {
        use rand::RngCore;
        let mut buf = vec![0u8; bytes];
        rand::thread_rng().fill_bytes(&mut buf);
        hex::encode(buf)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DriverError {
    /// Worth retrying (the Functions host redelivers when the handler answers non-2xx).
    #[error("temporary failure: {0}")]
    Transient(String),
    /// Bad input; retrying cannot help.
    #[error("invalid: {0}")]
    Invalid(String),
    #[error("not found: {0}")]
    NotFound(String),
}

impl From<StoreError> for DriverError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(id) => DriverError::NotFound(format!("rotation {id}")),
            other => DriverError::Transient(other.to_string()),
        }
    }
}

/// The result of starting a rotation: a new one, or the one already in flight (I3).
#[derive(Debug, Clone)]
pub enum Started {
    New(Rotation),
    Joined(Rotation),
}

impl Started {
    pub fn rotation(&self) -> &Rotation {
        match self {
            Started::New(r) | Started::Joined(r) => r,
        }
    }
}

/// A handled event: the record as it is now, and what the core said.
#[derive(Debug, Clone)]
pub struct Handled {
    pub rotation: Rotation,
    pub verdict: Verdict,
}

/// How many times one event is re-applied after losing a compare-and-swap race before the
/// caller is told to retry later.
const MAX_CAS_ATTEMPTS: usize = 16;

pub struct Driver {
    pub store: Arc<dyn RotationStore>,
    pub secrets: Arc<dyn SecretStore>,
    pub steps: Arc<dyn StepBus>,
    pub providers: Arc<dyn ProviderFactory>,
    pub clock: Arc<dyn Clock>,
    pub entropy: Arc<dyn Entropy>,
}

impl Driver {
    /// Claim: creates the rotation record with a conditional create. If the credential has a
    /// rotation in flight, joins it instead (no side effect is performed).
    pub async fn start(&self, plan: Plan, trigger: Trigger) -> Result<Started, DriverError> {
        if let Some(existing) = self.store.in_flight(&plan.credential).await? {
            return Ok(Started::Joined(existing.rotation));
        }
        let now = self.clock.now();
        let id = RotationId::parse(&format!(
            "{}-{}-{}",
            plan.credential,
            now.format("%Y%m%dT%H%M%SZ"),
            self.entropy.hex(3)
        ))
        .map_err(|e| DriverError::Invalid(e.to_string()))?;
        let outcome = core::start(id, plan, trigger, self.entropy.hex(16), now);
        let credential = outcome.rotation.plan.credential.clone();
        match self.store.create(&outcome.rotation).await {
            Ok(version) => {
                tracing::info!(rotation = %outcome.rotation.id, credential = %credential, "rotation claimed");
                let stored = StoredRotation { rotation: outcome.rotation, version };
                let rotation = self.run(stored, outcome.actions).await?;
                Ok(Started::New(rotation))
            }
            Err(StoreError::InFlight { existing, .. }) => {
                let stored = self.store.load(&existing).await?.ok_or_else(|| DriverError::NotFound(existing.to_string()))?;
                Ok(Started::Joined(stored.rotation))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Applies one event to a rotation and performs what follows from it.
    pub async fn handle(&self, id: &RotationId, event: Event) -> Result<Handled, DriverError> {
        let (stored, outcome) = self.apply(id, event).await?;
        let verdict = outcome.verdict.clone();
        let rotation = self.run(stored, outcome.actions).await?;
        Ok(Handled { rotation, verdict })
    }

    /// A consumer's ack: looks up the value of the version it names (the core recomputes the
    /// proof with it and forgets it), then applies it.
    pub async fn ack(&self, ack: Ack) -> Result<Handled, DriverError> {
        let stored = self
            .store
            .load(&ack.rotation_id)
            .await?
            .ok_or_else(|| DriverError::NotFound(format!("rotation {}", ack.rotation_id)))?;
        let id = stored.rotation.plan.secret.id_of(&ack.version);
        let key: Option<SecretValue> = match self.secrets.read(&id).await {
            Ok(value) => Some(value),
            Err(SecretStoreError::NotFound(_)) => None,
            Err(e) => return Err(DriverError::Transient(e.to_string())),
        };
        let rotation = ack.rotation_id.clone();
        self.handle(&rotation, Event::Ack { ack, key }).await
    }

    /// Records a heartbeat in the inventory.
    pub async fn heartbeat(&self, hb: &Heartbeat) -> Result<(), DriverError> {
        let record = HeartbeatRecord {
            consumer: hb.consumer.clone(),
            credential: hb.credential.clone(),
            version: hb.version.clone(),
            at: hb.at,
        };
        Ok(self.store.record_heartbeat(&record).await?)
    }

    /// The sweeper: ticks every in-flight rotation that is due. A failure on one rotation is
    /// logged and does not stop the others.
    pub async fn sweep(&self) -> Result<Vec<Handled>, DriverError> {
        let now = self.clock.now();
        let filter = RotationFilter { in_flight_only: true, ..RotationFilter::default() };
        let mut handled = Vec::new();
        for stored in self.store.list(&filter).await? {
            if stored.rotation.wake_at().is_some_and(|t| t <= now) {
                match self.handle(&stored.rotation.id, Event::Tick).await {
                    Ok(h) => handled.push(h),
                    Err(e) => tracing::warn!(rotation = %stored.rotation.id, error = %e, "sweeper could not advance rotation"),
                }
            }
        }
        Ok(handled)
    }

    /// Load, apply, compare-and-swap; on a lost race, again with the fresh record.
    async fn apply(&self, id: &RotationId, event: Event) -> Result<(StoredRotation, Outcome), DriverError> {
        for _ in 0..MAX_CAS_ATTEMPTS {
            let stored = self.store.load(id).await?.ok_or_else(|| DriverError::NotFound(format!("rotation {id}")))?;
            let outcome = core::handle(&stored.rotation, event.clone(), self.clock.now());
            if outcome.rotation == stored.rotation {
                return Ok((stored, outcome));
            }
            match self.store.update(&outcome.rotation, &stored.version).await {
                Ok(version) => {
                    log_verdict(&outcome);
                    let stored = StoredRotation { rotation: outcome.rotation.clone(), version };
                    return Ok((stored, outcome));
                }
                Err(StoreError::Stale(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(DriverError::Transient(format!("rotation {id} is being changed by other instances; try again")))
    }

    /// Performs actions in order; each result is applied (persisted) before the next action.
    async fn run(&self, mut stored: StoredRotation, actions: Vec<core::Action>) -> Result<Rotation, DriverError> {
        let mut queue: VecDeque<core::Action> = actions.into();
        while let Some(action) = queue.pop_front() {
            let Some(event) = self.perform(&stored.rotation, action).await? else { continue };
            let (next, outcome) = self.apply(&stored.rotation.id, event).await?;
            stored = next;
            queue.extend(outcome.actions);
        }
        Ok(stored.rotation)
    }
}

fn log_verdict(outcome: &Outcome) {
    let r = &outcome.rotation;
    match &outcome.verdict {
        Verdict::Rejected(why) => tracing::warn!(rotation = %r.id, phase = r.phase.name(), reason = %why, "input rejected"),
        _ => tracing::debug!(rotation = %r.id, phase = r.phase.name(), "rotation advanced"),
    }
}
