//! The invariant checks that look at the whole world. I1 and I2 are checked where a key
//! changes ([`super::world::World::land`]), I3 and the per-record I6 checks where a record is
//! written ([`super::ports::SimStore`]); this module checks the rest after every step and at
//! the end of a schedule.

use super::exec::now;
use super::schedule::Sim;
use super::world::{World, SECRET_MARK};
use crate::core::Phase;
use crate::ports::{RotationFilter, RotationStore, SecretStore};

/// After every step: each Key Vault current value still works, and no consumer holds a key
/// that no longer works unless an operator's recorded force cut it off.
pub fn after_step(w: &mut World) {
    let mut broken = Vec::new();
    for c in &w.creds {
        if !c.is_live(c.kv_gen) {
            broken.push(format!(
                "I1: the current Key Vault version of {} holds a key the provider no longer has (gen {})",
                c.plan.credential, c.kv_gen
            ));
        }
        if let Some(slot) = c.kv_slot {
            if c.gen_of(slot) != c.kv_gen && c.is_live(c.kv_gen) {
                broken.push(format!("the current Key Vault version of {} is tagged {slot} but holds the other key", c.plan.credential));
            }
        }
    }
    for k in &w.consumers {
        let c = &w.creds[k.cred];
        if !c.is_live(k.held) && !c.forced_dead.contains(&k.held) {
            broken.push(format!(
                "consumer {} ({:?}) holds version {} whose key no longer works, without a recorded force",
                k.id, k.behavior, k.held_version
            ));
        }
    }
    if !broken.is_empty() {
        // Report each broken state once: the world stays broken after the first sighting.
        for b in broken {
            if !w.violations.contains(&b) {
                w.violation(b);
            }
        }
    }
}

/// Text that came out of the driver (verdicts, errors) never carries a key (I5).
pub fn text(w: &mut World, text: &str) {
    if text.contains(SECRET_MARK) {
        w.violation("I5: a verdict or error names a key value".into());
    }
}

/// At the end: nothing in flight but stalls (I6); no record holds a key (I5); the newest
/// rotation of each credential left the world as its outcome says (I4: no lost side effect).
pub fn at_end(sim: &mut Sim) {
    let records = now(sim.store.inner.list(&RotationFilter::default())).expect("memory store lists");
    let mut w = sim.world();
    for stored in &records {
        let r = &stored.rotation;
        let json = serde_json::to_string(r).expect("records serialize");
        if json.contains(SECRET_MARK) {
            w.violation(format!("I5: rotation record {} contains a key value", r.id));
        }
        match r.phase {
            Phase::Completed => w.stats.completed += 1,
            Phase::RolledBack => w.stats.rolled_back += 1,
            Phase::Stalled { .. } => w.stats.stalled += 1,
            _ => w.violation(format!("I6: rotation {} ended the schedule in phase {}", r.id, r.phase.name())),
        }
        w.stats.rotations += 1;
    }
    for cred in 0..w.creds.len() {
        let Some(newest) = w.creds[cred].rotations.last().cloned() else { continue };
        let Some(r) = records.iter().map(|s| &s.rotation).find(|r| r.id == newest) else { continue };
        let gen_of = |v: &Option<crate::domain::SecretVersion>| {
            v.as_ref().and_then(|v| now(sim.secrets.read(&r.plan.secret.id_of(v))).ok()).and_then(|v| World::gen_of_value(&v))
        };
        let (old, new) = (gen_of(&r.old_version), gen_of(&r.new_version));
        let c = &w.creds[cred];
        let lost = match r.phase {
            Phase::Completed => {
                old.is_some_and(|g| c.is_live(g)) || new.is_none_or(|g| !c.is_live(g) || g != c.kv_gen)
            }
            Phase::RolledBack => !c.is_live(c.kv_gen) || old.is_some_and(|g| !c.is_live(g)),
            _ => false,
        };
        if lost {
            w.violation(format!("I4: rotation {} ended {} but the keys and the vault do not show it", r.id, r.phase.name()));
        }
    }
}
