//! One schedule: a seeded world, a chaos phase of random steps, then a calm phase in which
//! every rotation must reach an end. Invariants are checked after every step.

use super::check;
use super::consumer::{deliver_step, Behavior, Consumer};
use super::exec::{poll_once, TaskFuture};
use super::ports::{lock, Shared, SimBus, SimClock, SimEntropy, SimProvider, SimProviders, SimSecrets, SimStore};
use super::world::{trace, Chaos, Cred, Stats, World};
use crate::adapters::memory::{MemorySecrets, MemoryStore};
use crate::core::{Event, OperatorCommand, Plan, PlannedConsumer, Timing, Trigger};
use crate::domain::{ConsumerId, CredentialName, HumanDuration, RotationId, Slot, Wave};
use crate::driver::Driver;
use crate::ports::SecretRef;
use chrono::{DateTime, Duration, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::future::Future;
use std::sync::{Arc, Mutex};

/// A task whose last port call is older than this is dead: the simulator's model of the
/// call timeouts the driver's lease margin relies on (see `Timing::action_time_limit`).
const CALL_TIMEOUT_SECS: i64 = 10;
/// Steps of the calm phase after which a rotation still in flight counts as hanging (I6).
const CALM_LIMIT: usize = 20_000;

/// What one schedule found.
pub struct Report {
    pub seed: u64,
    pub violations: Vec<String>,
    pub trace: Vec<String>,
    pub stats: Stats,
}

struct Task {
    instance: u8,
    last_op: DateTime<Utc>,
    fut: TaskFuture,
}

pub(super) struct Sim {
    pub world: Shared,
    pub store: Arc<SimStore>,
    pub secrets: Arc<MemorySecrets>,
    driver: Arc<Driver>,
    tasks: Vec<Task>,
    rng: ChaCha8Rng,
}

/// Runs schedule `seed`; with `trace`, keeps a line for everything that happened.
pub fn run(seed: u64, trace: bool) -> Report {
    let mut sim = Sim::new(seed, trace);
    let chaos_steps = sim.rng.gen_range(100..400);
    for _ in 0..chaos_steps {
        sim.chaos_step();
        check::after_step(&mut sim.world());
    }
    sim.calm();
    check::at_end(&mut sim);
    let mut w = sim.world();
    Report { seed, violations: std::mem::take(&mut w.violations), trace: w.trace.take().unwrap_or_default(), stats: w.stats.clone() }
}

impl Sim {
    fn new(seed: u64, trace: bool) -> Sim {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let now: DateTime<Utc> = DateTime::from_timestamp(1_767_225_600, 0).expect("valid time");
        let secrets = Arc::new(MemorySecrets::new());
        let mut creds = Vec::new();
        let mut consumers = Vec::new();
        for i in 0..rng.gen_range(1..=3usize) {
            let active = if rng.gen_bool(0.5) { Slot::Primary } else { Slot::Secondary };
            let plan = random_plan(&mut rng, i);
            let kv_slot = rng.gen_bool(0.8).then_some(active);
            let slots = [1, 2];
            let kv_gen = slots[Cred::index(active)];
            let version = secrets.seed(&plan.secret, World::value(i, kv_gen), kv_slot, now);
            for pc in &plan.consumers {
                consumers.push(Consumer::new(pc.id.clone(), i, Behavior::random(&mut rng), kv_gen, version.clone()));
            }
            creds.push(Cred {
                plan,
                slots,
                next_gen: 3,
                ops: Vec::new(),
                long_running: rng.gen_bool(0.4),
                joins_operations: rng.gen_bool(0.5),
                usage_signal: rng.gen_bool(0.3),
                kv_gen,
                kv_slot,
                forced_dead: Vec::new(),
                view: None,
                rotations: Vec::new(),
            });
        }
        let world = World {
            now,
            rng: ChaCha8Rng::seed_from_u64(rng.gen()),
            chaos: Chaos::random(&mut rng),
            creds,
            consumers,
            steps: Vec::new(),
            acks: Vec::new(),
            heartbeats: Vec::new(),
            sent_message_ids: Default::default(),
            next_entropy: 0,
            next_op: 0,
            violations: Vec::new(),
            trace: trace.then(Vec::new),
            stats: Stats::default(),
        };
        let world: Shared = Arc::new(Mutex::new(world));
        let providers = {
            let w = world.lock().expect("fresh lock");
            (0..w.creds.len())
                .map(|i| (w.creds[i].plan.credential.clone(), Arc::new(SimProvider { world: world.clone(), cred: i })))
                .collect()
        };
        let store = Arc::new(SimStore { inner: MemoryStore::new(), world: world.clone() });
        let driver = Arc::new(Driver {
            store: store.clone(),
            secrets: Arc::new(SimSecrets { inner: secrets.clone(), world: world.clone() }),
            steps: Arc::new(SimBus(world.clone())),
            providers: Arc::new(SimProviders(providers)),
            clock: Arc::new(SimClock(world.clone())),
            entropy: Arc::new(SimEntropy(world.clone())),
        });
        let mut sim = Sim { world, store, secrets, driver, tasks: Vec::new(), rng };
        let creds = sim.world().creds.len();
        for i in 0..creds {
            sim.trigger(i, 0);
        }
        sim
    }

    pub fn world(&self) -> std::sync::MutexGuard<'_, World> {
        self.world.lock().expect("the world lock is never poisoned")
    }

    fn spawn<F: Future<Output = String> + 'static>(&mut self, instance: u8, f: F) {
        let now = self.world().now;
        self.tasks.push(Task { instance, last_op: now, fut: Box::pin(f) });
    }

    // ---- the things that can happen --------------------------------------------------------

    fn trigger(&mut self, cred: usize, instance: u8) {
        let plan = self.world().creds[cred].plan.clone();
        let d = self.driver.clone();
        self.spawn(instance, async move {
            match d.start(plan, Trigger::Schedule).await {
                Ok(s) => format!("{:?}", s.rotation().phase.name()),
                Err(e) => e.to_string(),
            }
        });
    }

    fn sweep(&mut self, instance: u8) {
        let d = self.driver.clone();
        self.spawn(instance, async move {
            match d.sweep().await {
                Ok(handled) => handled.iter().map(|h| format!("{:?}", h.verdict)).collect::<Vec<_>>().join("; "),
                Err(e) => e.to_string(),
            }
        });
    }

    fn handle(&mut self, instance: u8, id: RotationId, event: Event) {
        let d = self.driver.clone();
        self.spawn(instance, async move {
            match d.handle(&id, event).await {
                Ok(h) => format!("{:?}", h.verdict),
                Err(e) => e.to_string(),
            }
        });
    }

    /// Polls one task: it performs its next port call. A task that waited longer than a
    /// call may take is dead (its instance timed out), and is dropped instead.
    fn poll_task(&mut self, i: usize) {
        let now = self.world().now;
        if now - self.tasks[i].last_op > Duration::seconds(CALL_TIMEOUT_SECS) {
            self.tasks.swap_remove(i);
            self.world().stats.crashes += 1;
            return;
        }
        self.tasks[i].last_op = now;
        if let Some(text) = poll_once(&mut self.tasks[i].fut) {
            self.tasks.swap_remove(i);
            check::text(&mut self.world(), &text);
        }
    }

    fn crash(&mut self, instance: u8) {
        let before = self.tasks.len();
        self.tasks.retain(|t| t.instance != instance);
        let mut w = self.world();
        trace!(w, "instance {instance} crashed ({} calls in flight dropped)", before - self.tasks.len());
        w.stats.crashes += 1;
    }

    /// Delivers one due message, picked at random among the due ones (reordering).
    fn deliver(&mut self) -> bool {
        let mut w = self.world();
        let now = w.now;
        let due = |at: &DateTime<Utc>| *at <= now;
        let counts = [
            w.steps.iter().filter(|m| due(&m.at)).count(),
            w.acks.iter().filter(|m| due(&m.at)).count(),
            w.heartbeats.iter().filter(|m| due(&m.at)).count(),
        ];
        let total: usize = counts.iter().sum();
        if total == 0 {
            return false;
        }
        let mut pick = w.rng.gen_range(0..total);
        let instance = w.rng.gen_range(0..2);
        if pick < counts[0] {
            let idx = nth_due(w.steps.iter().map(|m| m.at), now, pick);
            let step = w.steps.swap_remove(idx).msg;
            if let Some(c) = w.consumers.iter().position(|c| c.id == step.consumer && w.creds[c.cred].plan.credential == step.credential) {
                deliver_step(&mut w, &self.secrets, c, &step);
            }
            return true;
        }
        pick -= counts[0];
        if pick < counts[1] {
            let idx = nth_due(w.acks.iter().map(|m| m.at), now, pick);
            let ack = w.acks.swap_remove(idx).msg;
            trace!(w, "ack from {} for {} (healthy: {}) delivered", ack.consumer, ack.version, ack.healthy);
            w.stats.acks += 1;
            drop(w);
            let d = self.driver.clone();
            self.spawn(instance, async move {
                match d.ack(ack).await {
                    Ok(h) => format!("{:?}", h.verdict),
                    Err(e) => e.to_string(),
                }
            });
            return true;
        }
        pick -= counts[1];
        let idx = nth_due(w.heartbeats.iter().map(|m| m.at), now, pick);
        let hb = w.heartbeats.swap_remove(idx).msg;
        drop(w);
        let d = self.driver.clone();
        self.spawn(instance, async move { d.heartbeat(&hb).await.err().map(|e| e.to_string()).unwrap_or_default() });
        true
    }

    fn operator(&mut self) {
        let mut w = self.world();
        let stalled: Vec<RotationId> =
            w.creds.iter().filter_map(|c| c.view.as_ref().filter(|v| v.stalled).map(|v| v.id.clone())).collect();
        if stalled.is_empty() {
            return;
        }
        let id = stalled[w.rng.gen_range(0..stalled.len())].clone();
        let (operator, reason) = ("sim-operator".to_string(), "simulated operator decision".to_string());
        let cmd = match w.rng.gen_range(0..10) {
            0..=4 => OperatorCommand::Retry { operator },
            5..=7 => OperatorCommand::Rollback { operator, reason },
            _ => OperatorCommand::Force { operator, reason },
        };
        trace!(w, "operator: {cmd:?} on {id}");
        w.stats.operator_commands += 1;
        let instance = w.rng.gen_range(0..2);
        drop(w);
        self.handle(instance, id, Event::Operator(cmd));
    }

    fn chaos_step(&mut self) {
        self.world().stats.steps_run += 1;
        let roll = self.rng.gen_range(0..100);
        let instance = self.rng.gen_range(0..2u8);
        match roll {
            0..=49 if !self.tasks.is_empty() => {
                let i = self.rng.gen_range(0..self.tasks.len());
                self.poll_task(i);
            }
            0..=64 => {
                self.deliver();
            }
            65..=76 => {
                let mut w = lock(&self.world);
                let t = w.now + Duration::seconds(self.rng.gen_range(1..=4));
                w.advance_to(t);
            }
            77..=81 if self.tasks.is_empty() => {
                let mut w = lock(&self.world);
                let next = w.next_event().unwrap_or(w.now).max(w.now + Duration::seconds(1));
                let t = if self.rng.gen_bool(0.7) { next } else { w.now + Duration::seconds(self.rng.gen_range(1..600)) };
                w.advance_to(t);
            }
            82..=87 => self.sweep(instance),
            88..=90 => {
                let creds = self.world().creds.len();
                let cred = self.rng.gen_range(0..creds);
                self.trigger(cred, instance);
                if self.rng.gen_bool(0.5) {
                    self.trigger(cred, 1 - instance);
                }
            }
            91..=92 => {
                let ids: Vec<RotationId> = self.world().creds.iter().filter_map(|c| c.view.as_ref().map(|v| v.id.clone())).collect();
                if !ids.is_empty() {
                    let id = ids[self.rng.gen_range(0..ids.len())].clone();
                    self.handle(instance, id, Event::Tick);
                }
            }
            93 => self.crash(instance),
            94..=97 => self.operator(),
            _ => {}
        }
    }

    /// No more faults, crashes, triggers or operators: the sweeper and the messages must bring
    /// every rotation to Completed, RolledBack or Stalled (I6).
    fn calm(&mut self) {
        self.world().chaos = Chaos::default();
        for _ in 0..CALM_LIMIT {
            if !self.tasks.is_empty() {
                self.poll_task(0);
            } else if self.deliver() {
            } else {
                let mut w = self.world();
                let busy = w.creds.iter().any(|c| c.view.as_ref().is_some_and(|v| !v.stalled));
                let pending = !(w.steps.is_empty() && w.acks.is_empty() && w.heartbeats.is_empty());
                let ops = w.creds.iter().any(|c| c.ops.iter().any(|o| !o.landed));
                if !busy && !pending && !ops {
                    return;
                }
                let next = w.next_event().unwrap_or(w.now + Duration::seconds(60)).max(w.now + Duration::seconds(1));
                w.advance_to(next);
                drop(w);
                self.sweep(0);
            }
            check::after_step(&mut self.world());
        }
        let mut w = self.world();
        let hanging: Vec<String> = w
            .creds
            .iter()
            .filter_map(|c| c.view.as_ref().filter(|v| !v.stalled).map(|v| v.id.to_string()))
            .collect();
        for id in hanging {
            w.violation(format!("I6: rotation {id} is still in flight after the calm phase"));
        }
    }
}

fn nth_due(ats: impl Iterator<Item = DateTime<Utc>>, now: DateTime<Utc>, n: usize) -> usize {
    ats.enumerate().filter(|(_, at)| *at <= now).nth(n).map(|(i, _)| i).expect("n < number of due messages")
}

fn random_plan(rng: &mut ChaCha8Rng, i: usize) -> Plan {
    let consumers = (0..rng.gen_range(1..=4))
        .map(|j| PlannedConsumer {
            id: ConsumerId::parse(&format!("c{i}-{j}")).expect("valid id"),
            wave: Wave::parse(rng.gen_range(1..=3)).expect("valid wave"),
            ack_deadline: HumanDuration::from_secs(*[300, 600, 900].get(rng.gen_range(0..3)).expect("in range")),
        })
        .collect();
    Plan {
        credential: CredentialName::parse(&format!("cred{i}")).expect("valid name"),
        provider: "simulated".into(),
        resource_id: format!("/simulated/cred{i}"),
        secret: SecretRef { vault: "sim.vault.azure.net".into(), name: format!("cred{i}-key") },
        content_type: "text/plain".into(),
        validity: HumanDuration::from_secs(60 * 86_400),
        consumers,
        soak: if rng.gen_bool(0.3) { HumanDuration::from_secs(600) } else { HumanDuration::ZERO },
        usage_guard: rng.gen_bool(0.3),
        initial_active_slot: None,
        timing: Timing::default(),
    }
}
