//! The ports as the simulator implements them. The rotation store and the secret store are
//! the in-memory adapters, wrapped; the key provider and the step bus are models with faults,
//! long-running operations, delays, duplicates and losses. Every call first yields to the
//! scheduler ([`yield_now`]), so calls of concurrent tasks interleave in any order.

use super::exec::{now, yield_now};
use super::world::{trace, Operation, RotationView, World};
use crate::adapters::memory::{MemorySecrets, MemoryStore};
use crate::core::{AckState, Plan, Rotation};
use crate::domain::{CredentialName, RotationId, SecretId, SecretValue, Slot};
use crate::driver::{DriverError, Entropy, ProviderFactory};
use crate::ports::{
    BusError, Clock, HeartbeatRecord, KeyAuthStatus, KeyProvider, ProviderError, PublishRequest, RegenerateOutcome,
    RotationFilter, RotationStore, SecretRef, SecretStore, SecretStoreError, StepBus, StoreError, StoredRotation,
    UsageEvidence, Version, VersionInfo,
};
use crate::protocol::Step;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rand::Rng;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

pub type Shared = Arc<Mutex<World>>;

pub(crate) fn lock(w: &Shared) -> MutexGuard<'_, World> {
    w.lock().expect("the world lock is never poisoned: a panic ends the schedule")
}

// ---- clock and entropy -----------------------------------------------------------------

pub struct SimClock(pub Shared);

impl Clock for SimClock {
    fn now(&self) -> DateTime<Utc> {
        lock(&self.0).now
    }
}

pub struct SimEntropy(pub Shared);

impl Entropy for SimEntropy {
    fn hex(&self, bytes: usize) -> String {
        let mut w = lock(&self.0);
        w.next_entropy += 1;
        format!("{:0width$x}", w.next_entropy, width = bytes * 2)
    }
}

// ---- rotation store --------------------------------------------------------------------

/// The in-memory store; every successful write refreshes the credential's [`RotationView`]
/// and checks what a single write can break: two rotations in flight (I3), a rotation in
/// flight with nothing to wake it or a stall without a reason (I6).
pub struct SimStore {
    pub inner: MemoryStore,
    pub world: Shared,
}

impl SimStore {
    fn written(&self, r: &Rotation) {
        let mut w = lock(&self.world);
        let Some(cred) = w.creds.iter().position(|c| c.plan.credential == r.plan.credential) else { return };
        let in_flight = !r.is_finished();
        if in_flight && !r.is_stalled() && r.wake_at().is_none() {
            w.violation(format!("I6: rotation {} in phase {} is in flight with nothing to wake it", r.id, r.phase.name()));
        }
        if r.is_stalled() && r.stall.is_none() {
            w.violation(format!("I6: rotation {} stalled without a reason", r.id));
        }
        let c = &mut w.creds[cred];
        if !c.rotations.contains(&r.id) {
            c.rotations.push(r.id.clone());
        }
        match (&c.view, in_flight) {
            (Some(v), true) if v.id != r.id => {
                let other = v.id.clone();
                w.violation(format!("I3: rotations {other} and {} are in flight for one credential", r.id));
            }
            (_, true) => c.view = Some(view_of(r)),
            (Some(v), false) if v.id == r.id => c.view = None,
            _ => {}
        }
    }
}

fn view_of(r: &Rotation) -> RotationView {
    RotationView {
        id: r.id.clone(),
        stalled: r.is_stalled(),
        old_slot: r.old_slot,
        published: r.new_version.is_some(),
        rolling_back: r.rollback.is_some(),
        all_healthy: r.consumers.values().all(|c| matches!(c.ack, AckState::Healthy { .. })),
        forced: r.force.is_some(),
        wake_at: r.wake_at(),
    }
}

#[async_trait]
impl RotationStore for SimStore {
    async fn create(&self, rotation: &Rotation) -> Result<Version, StoreError> {
        yield_now().await;
        let v = self.inner.create(rotation).await?;
        self.written(rotation);
        Ok(v)
    }
    async fn load(&self, id: &RotationId) -> Result<Option<StoredRotation>, StoreError> {
        yield_now().await;
        self.inner.load(id).await
    }
    async fn update(&self, rotation: &Rotation, expected: &Version) -> Result<Version, StoreError> {
        yield_now().await;
        let v = self.inner.update(rotation, expected).await?;
        self.written(rotation);
        Ok(v)
    }
    async fn in_flight(&self, credential: &CredentialName) -> Result<Option<StoredRotation>, StoreError> {
        yield_now().await;
        self.inner.in_flight(credential).await
    }
    async fn list(&self, filter: &RotationFilter) -> Result<Vec<StoredRotation>, StoreError> {
        yield_now().await;
        self.inner.list(filter).await
    }
    async fn record_heartbeat(&self, hb: &HeartbeatRecord) -> Result<(), StoreError> {
        yield_now().await;
        self.inner.record_heartbeat(hb).await
    }
    async fn heartbeats(&self, credential: &CredentialName) -> Result<Vec<HeartbeatRecord>, StoreError> {
        yield_now().await;
        self.inner.heartbeats(credential).await
    }
}

// ---- secret store ------------------------------------------------------------------------

/// The in-memory Key Vault, with throttling, failures and lost responses to writes; it keeps
/// the world's idea of each credential's current value up to date.
pub struct SimSecrets {
    pub inner: Arc<MemorySecrets>,
    pub world: Shared,
}

impl SimSecrets {
    fn fault(&self) -> Result<(), SecretStoreError> {
        let mut w = lock(&self.world);
        let (throttle, transient) = (w.chaos.throttle, w.chaos.transient);
        if w.chance(throttle) {
            return Err(SecretStoreError::Throttled);
        }
        if w.chance(transient) {
            return Err(SecretStoreError::Failed { detail: "key vault answered 503".into(), transient: true });
        }
        Ok(())
    }
}

#[async_trait]
impl SecretStore for SimSecrets {
    async fn current(&self, secret: &SecretRef) -> Result<Option<VersionInfo>, SecretStoreError> {
        yield_now().await;
        self.fault()?;
        self.inner.current(secret).await
    }
    async fn version_info(&self, id: &SecretId) -> Result<VersionInfo, SecretStoreError> {
        yield_now().await;
        self.fault()?;
        self.inner.version_info(id).await
    }
    async fn find_by_rotation(&self, s: &SecretRef, r: &RotationId, slot: Slot) -> Result<Option<VersionInfo>, SecretStoreError> {
        yield_now().await;
        self.fault()?;
        self.inner.find_by_rotation(s, r, slot).await
    }
    async fn publish(&self, secret: &SecretRef, value: &SecretValue, request: &PublishRequest) -> Result<VersionInfo, SecretStoreError> {
        yield_now().await;
        self.fault()?;
        let info = self.inner.publish(secret, value, request).await?;
        let mut w = lock(&self.world);
        if let (Some(cred), Some(gen)) = (w.cred_by_secret(&secret.name), World::gen_of_value(value)) {
            w.creds[cred].kv_gen = gen;
            w.creds[cred].kv_slot = Some(request.slot);
            trace!(w, "key vault: {} published as {} ({} slot, gen {gen})", secret.name, info.id.version, request.slot);
        }
        let ambiguous = w.chaos.ambiguous;
        if w.chance(ambiguous) {
            return Err(SecretStoreError::Failed { detail: "response lost after the write".into(), transient: true });
        }
        Ok(info)
    }
    async fn read(&self, id: &SecretId) -> Result<SecretValue, SecretStoreError> {
        yield_now().await;
        self.fault()?;
        self.inner.read(id).await
    }
}

// ---- step bus ----------------------------------------------------------------------------

/// Service Bus as consumers see it: duplicate detection on MessageId at the sender, then
/// delivery after a delay, maybe twice, maybe never.
pub struct SimBus(pub Shared);

#[async_trait]
impl StepBus for SimBus {
    async fn send_step(&self, step: &Step) -> Result<(), BusError> {
        yield_now().await;
        let mut w = lock(&self.0);
        let transient = w.chaos.transient;
        if w.chance(transient) {
            return Err(BusError::Failed { detail: "service bus answered 503".into(), transient: true });
        }
        if !w.sent_message_ids.insert(step.message_id()) {
            return Ok(());
        }
        let (lose, duplicate) = (w.chaos.lose, w.chaos.duplicate);
        let copies = if w.chance(lose) { 0 } else if w.chance(duplicate) { 2 } else { 1 };
        trace!(w, "bus: step {} ({} copies)", step.message_id(), copies);
        for _ in 0..copies {
            let at = w.delivery_time();
            w.steps.push(super::world::InFlight { at, msg: step.clone() });
        }
        Ok(())
    }
}

// ---- key provider ------------------------------------------------------------------------

/// A two-key resource. Regenerates are immediate or long-running (the key changes when the
/// operation completes, never before); a second regenerate of a slot with an operation in
/// flight joins it or is refused, as the port contract asks; calls are throttled, fail, or
/// take effect although the caller saw a failure.
pub struct SimProvider {
    pub world: Shared,
    pub cred: usize,
}

impl SimProvider {
    fn fault(w: &mut World) -> Result<(), ProviderError> {
        let (throttle, transient) = (w.chaos.throttle, w.chaos.transient);
        if w.chance(throttle) {
            let secs = w.rng.gen_range(1..90);
            return Err(ProviderError::Throttled { retry_after: Duration::from_secs(secs) });
        }
        if w.chance(transient) {
            return Err(ProviderError::Failed { detail: "provider answered 500".into(), transient: true });
        }
        Ok(())
    }

    fn someone_holds(w: &World, cred: usize, gen: u32) -> bool {
        w.consumers.iter().any(|c| c.cred == cred && c.held == gen)
    }
}

#[async_trait]
impl KeyProvider for SimProvider {
    fn describe(&self) -> String {
        format!("simulated two-key resource {}", self.cred)
    }

    async fn key_auth(&self) -> Result<KeyAuthStatus, ProviderError> {
        yield_now().await;
        Self::fault(&mut lock(&self.world))?;
        Ok(KeyAuthStatus::Enabled)
    }

    async fn read(&self, slot: Slot) -> Result<SecretValue, ProviderError> {
        yield_now().await;
        let mut w = lock(&self.world);
        Self::fault(&mut w)?;
        Ok(World::value(self.cred, w.creds[self.cred].gen_of(slot)))
    }

    async fn regenerate(&self, slot: Slot, force: bool) -> Result<RegenerateOutcome, ProviderError> {
        yield_now().await;
        let mut w = lock(&self.world);
        Self::fault(&mut w)?;
        let cred = self.cred;
        let c = &w.creds[cred];
        let gen = c.gen_of(slot);
        if c.usage_signal && !force && Self::someone_holds(&w, cred, gen) && w.rng.gen_bool(0.5) {
            return Err(ProviderError::KeyUsedRecently { detail: "the key was used in the last minutes".into() });
        }
        if let Some(op) = w.creds[cred].ops.iter().find(|o| o.slot == slot && !o.landed) {
            let op = op.id.clone();
            if w.creds[cred].joins_operations {
                return Ok(RegenerateOutcome::Pending { operation: op, retry_after: Duration::from_secs(10) });
            }
            return Err(ProviderError::Failed { detail: format!("operation {op} on this key is in progress (409)"), transient: true });
        }
        if w.creds[cred].long_running {
            w.next_op += 1;
            let id = format!("https://management.example/operations/{}", w.next_op);
            let secs = if w.rng.gen_bool(0.05) { w.rng.gen_range(1_500..2_400) } else { w.rng.gen_range(1..300) };
            let completes_at = w.now + chrono::Duration::seconds(secs);
            w.creds[cred].ops.push(Operation { id: id.clone(), slot, completes_at, forced: force, landed: false });
            w.stats.long_running += 1;
            trace!(w, "provider {cred}: regenerate {slot} started as operation {id}, completes in {secs}s");
            let retry_after = Duration::from_secs(w.rng.gen_range(1..60));
            return Ok(RegenerateOutcome::Pending { operation: id, retry_after });
        }
        w.land(cred, slot, force);
        let ambiguous = w.chaos.ambiguous;
        if w.chance(ambiguous) {
            return Err(ProviderError::Failed { detail: "gateway timeout after the change".into(), transient: true });
        }
        Ok(RegenerateOutcome::Done)
    }

    async fn poll(&self, operation: &str) -> Result<RegenerateOutcome, ProviderError> {
        yield_now().await;
        let mut w = lock(&self.world);
        Self::fault(&mut w)?;
        let Some(op) = w.creds[self.cred].ops.iter().find(|o| o.id == operation) else {
            return Err(ProviderError::Failed { detail: "no such operation".into(), transient: false });
        };
        if op.landed {
            return Ok(RegenerateOutcome::Done);
        }
        let retry_after = Duration::from_secs(w.rng.gen_range(1..120));
        Ok(RegenerateOutcome::Pending { operation: operation.to_string(), retry_after })
    }

    async fn usage(&self, slot: Slot) -> Result<UsageEvidence, ProviderError> {
        yield_now().await;
        let mut w = lock(&self.world);
        Self::fault(&mut w)?;
        let c = &w.creds[self.cred];
        let used = c.usage_signal && Self::someone_holds(&w, self.cred, c.gen_of(slot));
        Ok(UsageEvidence { last_used: used.then_some(w.now), source: "simulated usage log".into() })
    }
}

/// Maps a plan to its credential's simulated provider.
pub struct SimProviders(pub Vec<(CredentialName, Arc<SimProvider>)>);

impl ProviderFactory for SimProviders {
    fn provider(&self, plan: &Plan) -> Result<Arc<dyn KeyProvider>, DriverError> {
        self.0
            .iter()
            .find(|(name, _)| name == &plan.credential)
            .map(|(_, p)| p.clone() as Arc<dyn KeyProvider>)
            .ok_or_else(|| DriverError::NotFound(format!("provider for {}", plan.credential)))
    }
}

/// Reads a version's value straight from the in-memory vault (a consumer fetching its step's
/// version: not part of the orchestrator, so no faults and no yield).
pub fn read_version(secrets: &MemorySecrets, id: &SecretId) -> Option<SecretValue> {
    now(secrets.read(id)).ok()
}
