//! Simulated consumers. A good one does what `docs/consumer-protocol.md` asks: drop duplicate
//! MessageIds and steps older than the newest attempt it saw of that rotation, fetch exactly
//! the version its step names, check its health with it, switch only if healthy, and ack
//! with the proof of possession. The others break the protocol in one way each.

use super::ports::read_version;
use super::world::{trace, InFlight, World};
use crate::adapters::memory::MemorySecrets;
use crate::domain::{ConsumerId, RotationId, SecretVersion};
use crate::protocol::{proof_for, Ack, Heartbeat, Step, HEARTBEAT_SCHEMA};
use chrono::Duration;
use rand::Rng;
use std::collections::HashSet;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behavior {
    Good,
    /// Reloads but never acks.
    Silent,
    /// Its health check fails: keeps its old key and acks unhealthy.
    Nack,
    /// Reloads, acks after the deadline.
    Late,
    /// Claims healthy with a proof made with its old key (it did not load the new one).
    WrongProof,
    /// Acks the version it already holds instead of the one the step names.
    WrongVersion,
    /// Never reads its steps.
    Deaf,
}

impl Behavior {
    pub fn random(rng: &mut rand_chacha::ChaCha8Rng) -> Behavior {
        if rng.gen_bool(0.8) {
            return Behavior::Good;
        }
        [Behavior::Silent, Behavior::Nack, Behavior::Late, Behavior::WrongProof, Behavior::WrongVersion, Behavior::Deaf]
            [rng.gen_range(0..6)]
    }
}

pub struct Consumer {
    pub id: ConsumerId,
    pub cred: usize,
    pub behavior: Behavior,
    /// The key generation it uses now, and the version it came from.
    pub held: u32,
    pub held_version: SecretVersion,
    seen: HashSet<String>,
    newest: Vec<(RotationId, u32)>,
}

impl Consumer {
    pub fn new(id: ConsumerId, cred: usize, behavior: Behavior, held: u32, held_version: SecretVersion) -> Self {
        Consumer { id, cred, behavior, held, held_version, seen: HashSet::new(), newest: Vec::new() }
    }

    /// True if the step is new and not older than an attempt already seen.
    fn fresh(&mut self, step: &Step) -> bool {
        if !self.seen.insert(step.message_id()) {
            return false;
        }
        match self.newest.iter_mut().find(|(r, _)| r == &step.rotation_id) {
            Some((_, newest)) if *newest > step.attempt => false,
            Some((_, newest)) => {
                *newest = step.attempt;
                true
            }
            None => {
                self.newest.push((step.rotation_id.clone(), step.attempt));
                true
            }
        }
    }
}

/// A step reaches consumer `i`.
pub fn deliver_step(w: &mut World, secrets: &MemorySecrets, i: usize, step: &Step) {
    let behavior = w.consumers[i].behavior;
    if behavior == Behavior::Deaf || !w.consumers[i].fresh(step) {
        return;
    }
    let cred = w.consumers[i].cred;
    // A consumer that follows the protocol applies only a step naming the secret's current
    // version (docs/consumer-protocol.md): a late step of an earlier rotation is dropped.
    let current = secrets.current_value(&w.creds[cred].plan.secret).map(|(info, _)| info.id.version);
    if current.as_ref() != Some(&step.secret_id.version) && behavior != Behavior::WrongVersion {
        trace!(w, "consumer {} dropped stale step {} (version {})", w.consumers[i].id, step.message_id(), step.secret_id.version);
        return;
    }
    let Some(value) = read_version(secrets, &step.secret_id) else { return };
    let Some(gen) = World::gen_of_value(&value) else { return };
    let healthy = w.creds[cred].is_live(gen);
    let c = &w.consumers[i];
    let old_value = World::value(cred, c.held);
    let detail = if healthy { "probe ok" } else { "probe failed: authentication refused" };
    let mut ack = Ack::answering(step, &value, healthy, detail, Some(w.now));
    let mut at = None;
    let switches = healthy && matches!(behavior, Behavior::Good | Behavior::Silent | Behavior::Late);
    match behavior {
        Behavior::Silent | Behavior::Deaf => {}
        Behavior::Good => at = Some(w.delivery_time()),
        Behavior::Late => at = Some(step.deadline + Duration::seconds(w.rng.gen_range(1..600))),
        Behavior::Nack => {
            ack.healthy = false;
            ack.detail = "probe failed: timeout".into();
            at = Some(w.delivery_time());
        }
        Behavior::WrongProof => {
            ack.proof = proof_for(&old_value, &step.rotation_id, &c.id, &step.secret_id.version, &step.nonce);
            at = Some(w.delivery_time());
        }
        Behavior::WrongVersion => {
            ack.version = c.held_version.clone();
            ack.proof = proof_for(&old_value, &step.rotation_id, &c.id, &c.held_version, &step.nonce);
            at = Some(w.delivery_time());
        }
    }
    trace!(
        w,
        "consumer {} got step {} (version {}, gen {gen}, {}){}",
        w.consumers[i].id,
        step.message_id(),
        step.secret_id.version,
        if healthy { "works" } else { "does not work" },
        if switches { ", switched" } else { "" }
    );
    if switches {
        let c = &mut w.consumers[i];
        c.held = gen;
        c.held_version = step.secret_id.version.clone();
        let hb = Heartbeat {
            schema: HEARTBEAT_SCHEMA.into(),
            consumer: c.id.clone(),
            credential: w.creds[cred].plan.credential.clone(),
            version: step.secret_id.version.clone(),
            slot: None,
            at: w.now,
        };
        let lose = w.chaos.lose;
        if !w.chance(lose) {
            let at = w.delivery_time();
            w.heartbeats.push(InFlight { at, msg: hb });
        }
    }
    if let Some(at) = at {
        let (lose, duplicate) = (w.chaos.lose, w.chaos.duplicate);
        if w.chance(lose) {
            return;
        }
        if w.chance(duplicate) {
            let again = w.delivery_time().max(at);
            w.acks.push(InFlight { at: again, msg: ack.clone() });
        }
        w.acks.push(InFlight { at, msg: ack });
    }
}
