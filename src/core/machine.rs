use super::{Action, Event, Plan, Rotation, Trigger};
use crate::domain::RotationId;
use chrono::{DateTime, Utc};

/// What the core made of an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Accepted,
    /// Nothing to do (duplicate, late, or irrelevant in this phase); the reason is logged.
    Ignored(String),
    /// Refused input (forged or wrong ack, operator command not allowed now).
    Rejected(String),
}

#[derive(Debug, Clone)]
pub struct Outcome {
    pub rotation: Rotation,
    pub actions: Vec<Action>,
    pub verdict: Verdict,
}

pub fn start(id: RotationId, plan: Plan, trigger: Trigger, nonce_seed: String, now: DateTime<Utc>) -> Outcome {
    let _ = (id, plan, trigger, nonce_seed, now);
    unimplemented!("written next")
}

pub fn handle(rotation: &Rotation, event: Event, now: DateTime<Utc>) -> Outcome {
    let _ = (rotation, event, now);
    unimplemented!("written next")
}
