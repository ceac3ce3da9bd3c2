//! The simulated world: provider keys, long-running operations, consumers, the message
//! channels in flight, the clock and the one random number generator everything draws from.
//! The simulated ports and the scheduler share it behind one mutex (one schedule runs on one
//! thread, so the lock is never contended).

use super::consumer::Consumer;
use crate::core::Plan;
use crate::domain::{RotationId, SecretValue, Slot};
use crate::protocol::{Ack, Heartbeat, Step};
use chrono::{DateTime, Utc};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Prefix of every key value the simulated providers mint. No store, message, evidence or
/// error may ever contain it (I5); one substring search checks that.
pub const SECRET_MARK: &str = "kr5ecret";

/// Fault probabilities. The chaos phase of a schedule uses random ones; the calm phase that
/// follows uses none, so every rotation has to reach an end (I6).
#[derive(Debug, Clone, Default)]
pub struct Chaos {
    pub throttle: f64,
    pub transient: f64,
    /// A call that took effect although its caller saw a failure (a lost response).
    pub ambiguous: f64,
    pub lose: f64,
    pub duplicate: f64,
    /// Largest extra delay of a message, in seconds.
    pub max_delay: i64,
}

impl Chaos {
    pub fn random(rng: &mut ChaCha8Rng) -> Chaos {
        let mut p = |max: f64| if rng.gen_bool(0.3) { 0.0 } else { rng.gen_range(0.0..max) };
        Chaos {
            throttle: p(0.15),
            transient: p(0.15),
            ambiguous: p(0.1),
            lose: p(0.2),
            duplicate: p(0.2),
            max_delay: *[5, 60, 900].get(rng.gen_range(0..3)).expect("in range"),
        }
    }
}

/// A long-running regenerate at the provider: its key change lands when it completes.
#[derive(Debug, Clone)]
pub struct Operation {
    pub id: String,
    pub slot: Slot,
    pub completes_at: DateTime<Utc>,
    pub forced: bool,
    pub landed: bool,
}

/// What the checker knows of a credential's rotation in flight, refreshed on every write of
/// its record (so no record is cloned for the checks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationView {
    pub id: RotationId,
    pub stalled: bool,
    pub old_slot: Option<Slot>,
    pub published: bool,
    pub rolling_back: bool,
    pub all_healthy: bool,
    pub forced: bool,
    pub wake_at: Option<DateTime<Utc>>,
}

/// One managed credential: its provider's two keys (as generation numbers), its Key Vault
/// secret's current value, and its rotation in flight.
pub struct Cred {
    pub plan: Plan,
    pub slots: [u32; 2],
    pub next_gen: u32,
    pub ops: Vec<Operation>,
    /// Long-running regenerates (Cosmos DB, Managed Redis) or immediate ones (Cache for Redis).
    pub long_running: bool,
    /// A second regenerate of a slot with one in flight joins it (true) or is refused (false).
    pub joins_operations: bool,
    /// The provider reports key usage (Cosmos DB last usage time, Storage logs).
    pub usage_signal: bool,
    /// The generation the current Key Vault version holds.
    pub kv_gen: u32,
    pub kv_slot: Option<Slot>,
    /// Keys cut off by an operator's recorded force: consumers holding them are exempt.
    pub forced_dead: Vec<u32>,
    pub view: Option<RotationView>,
    pub rotations: Vec<RotationId>,
}

impl Cred {
    pub fn index(slot: Slot) -> usize {
        match slot {
            Slot::Primary => 0,
            Slot::Secondary => 1,
        }
    }

    pub fn gen_of(&self, slot: Slot) -> u32 {
        self.slots[Self::index(slot)]
    }

    pub fn is_live(&self, gen: u32) -> bool {
        self.slots.contains(&gen)
    }
}

/// A message on its way, delivered at `at` (if not lost).
pub struct InFlight<T> {
    pub at: DateTime<Utc>,
    pub msg: T,
}

pub struct World {
    pub now: DateTime<Utc>,
    pub rng: ChaCha8Rng,
    pub chaos: Chaos,
    pub creds: Vec<Cred>,
    pub consumers: Vec<Consumer>,
    pub steps: Vec<InFlight<Step>>,
    pub acks: Vec<InFlight<Ack>>,
    pub heartbeats: Vec<InFlight<Heartbeat>>,
    pub sent_message_ids: std::collections::HashSet<String>,
    pub next_entropy: u64,
    pub next_op: u64,
    pub violations: Vec<String>,
    pub trace: Option<Vec<String>>,
    pub stats: Stats,
}

/// What a schedule exercised, summed over a run to show the faults really happen.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub rotations: u64,
    pub completed: u64,
    pub rolled_back: u64,
    pub stalled: u64,
    pub crashes: u64,
    pub regenerations: u64,
    pub long_running: u64,
    pub acks: u64,
    pub operator_commands: u64,
    pub steps_run: u64,
}

impl Stats {
    pub fn add(&mut self, o: &Stats) {
        self.rotations += o.rotations;
        self.completed += o.completed;
        self.rolled_back += o.rolled_back;
        self.stalled += o.stalled;
        self.crashes += o.crashes;
        self.regenerations += o.regenerations;
        self.long_running += o.long_running;
        self.acks += o.acks;
        self.operator_commands += o.operator_commands;
        self.steps_run += o.steps_run;
    }
}

/// Formats a trace line only when the schedule is being replayed.
macro_rules! trace {
    ($world:expr, $($arg:tt)*) => {
        if $world.trace.is_some() {
            let line = format!("{} {}", $world.now.format("%H:%M:%S"), format!($($arg)*));
            if let Some(t) = $world.trace.as_mut() {
                t.push(line);
            }
        }
    };
}
pub(crate) use trace;

impl World {
    /// The key value of a generation: recognisable, unique, and marked for leak searches.
    pub fn value(cred: usize, gen: u32) -> SecretValue {
        SecretValue::new(format!("{SECRET_MARK}-{cred}-{gen}"))
    }

    /// The generation a value holds (the inverse of [`World::value`]).
    pub fn gen_of_value(value: &SecretValue) -> Option<u32> {
        value.expose().rsplit('-').next()?.parse().ok()
    }

    pub fn cred_by_secret(&self, name: &str) -> Option<usize> {
        self.creds.iter().position(|c| c.plan.secret.name == name)
    }

    pub fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.rng.gen_bool(p.min(1.0))
    }

    pub fn violation(&mut self, what: String) {
        trace!(self, "VIOLATION {what}");
        self.violations.push(what);
    }

    /// A message's delivery time under the current chaos.
    pub fn delivery_time(&mut self) -> DateTime<Utc> {
        let max = self.chaos.max_delay.max(1);
        self.now + chrono::Duration::seconds(self.rng.gen_range(0..=max))
    }

    /// A regeneration takes effect at the provider. This is the only moment I1 and I2 can be
    /// broken, so they are checked here, against the Key Vault's current value and the
    /// rotation record as last written.
    pub fn land(&mut self, cred: usize, slot: Slot, forced: bool) {
        let c = &self.creds[cred];
        // An operation started before an operator's force, joined by the forced call.
        let forced = forced || c.view.as_ref().is_some_and(|v| v.forced && v.old_slot == Some(slot));
        let old = c.gen_of(slot);
        let mut broken = Vec::new();
        if !forced && old == c.kv_gen {
            broken.push(format!(
                "I1: credential {} regenerated its {slot} key, which the current Key Vault version holds",
                c.plan.credential
            ));
        }
        if let Some(v) = &c.view {
            let retiring_old = v.old_slot == Some(slot) && v.published;
            if retiring_old && !forced && !(v.all_healthy && !v.rolling_back) {
                broken.push(format!(
                    "I2: rotation {} regenerated the old {slot} key before every consumer acked the new version",
                    v.id
                ));
            }
        }
        for b in broken {
            self.violation(b);
        }
        let c = &mut self.creds[cred];
        let gen = c.next_gen;
        c.next_gen += 1;
        c.slots[Cred::index(slot)] = gen;
        if forced {
            c.forced_dead.push(old);
        }
        self.stats.regenerations += 1;
        trace!(self, "provider {cred}: {slot} key regenerated (gen {old} -> {gen}){}", if forced { ", forced" } else { "" });
    }

    /// Moves the clock; long-running operations whose time came land now.
    pub fn advance_to(&mut self, t: DateTime<Utc>) {
        if t <= self.now {
            return;
        }
        self.now = t;
        for cred in 0..self.creds.len() {
            while let Some(i) = self.creds[cred].ops.iter().position(|o| !o.landed && o.completes_at <= t) {
                let op = &mut self.creds[cred].ops[i];
                op.landed = true;
                let (slot, forced, id) = (op.slot, op.forced, op.id.clone());
                trace!(self, "provider {cred}: operation {id} completes");
                self.land(cred, slot, forced);
            }
        }
    }

    /// The earliest future time something happens on its own: a message arrives, an operation
    /// completes, a rotation wants its sweeper.
    pub fn next_event(&self) -> Option<DateTime<Utc>> {
        let msgs = self.steps.iter().map(|m| m.at).chain(self.acks.iter().map(|m| m.at)).chain(self.heartbeats.iter().map(|m| m.at));
        let ops = self.creds.iter().flat_map(|c| c.ops.iter().filter(|o| !o.landed).map(|o| o.completes_at));
        let wakes = self.creds.iter().filter_map(|c| c.view.as_ref().filter(|v| !v.stalled).and_then(|v| v.wake_at));
        msgs.chain(ops).chain(wakes).min()
    }
}
