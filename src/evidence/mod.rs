//! Evidence: what auditors ask about a rotation, rendered from its record — timestamps of every
//! phase, which slot was regenerated when, secret versions, each consumer's step and ack with
//! its health detail, the guards evaluated, and who forced or rolled back what and why.
//!
//! It is built from the rotation record alone, which holds no secret value (I5), so nothing
//! here can leak a key.

mod markdown;

pub use markdown::render_markdown;

use crate::core::{AckState, Rotation};
use serde_json::{json, Value};

/// The JSON evidence record (`keyrelay.evidence/v1`).
pub fn render_json(r: &Rotation) -> Value {
    let consumers: Vec<Value> = r
        .consumers
        .iter()
        .map(|(id, c)| {
            let (state, at, detail) = match &c.ack {
                AckState::NotSent => ("not-sent", None, None),
                AckState::Waiting => ("waiting", None, None),
                AckState::Healthy { at, detail } => ("healthy", Some(*at), Some(detail.clone())),
                AckState::Unhealthy { at, detail } => ("unhealthy", Some(*at), Some(detail.clone())),
                AckState::Rejected { at, reason } => ("rejected", Some(*at), Some(reason.clone())),
            };
            json!({
                "consumer": id,
                "wave": c.wave,
                "attempts": c.attempt,
                "firstStepAt": c.first_sent_at,
                "lastStepAt": c.last_sent_at,
                "deadline": c.deadline,
                "ack": state,
                "ackAt": at,
                "detail": detail,
            })
        })
        .collect();
    json!({
        "schema": "keyrelay.evidence/v1",
        "rotation": r.id,
        "credential": r.plan.credential,
        "provider": r.plan.provider,
        "resourceId": r.plan.resource_id,
        "secret": { "vault": r.plan.secret.vault, "name": r.plan.secret.name },
        "trigger": r.trigger,
        "outcome": r.phase.name(),
        "startedAt": r.started_at,
        "finishedAt": r.finished_at,
        "oldSlot": r.old_slot,
        "newSlot": r.new_slot(),
        "oldVersion": r.old_version,
        "newVersion": r.new_version,
        "rollbackVersion": r.rollback_version,
        "regenerated": r.regenerated,
        "guards": r.guards,
        "consumers": consumers,
        "stall": r.stall,
        "force": r.force,
        "rollback": r.rollback,
        "timeline": r.timeline,
    })
}
