//! The plan of a rotation, without performing it: what the API's `dryRun` answers.

use super::{Driver, DriverError};
use crate::core::{self, Event, Phase, Plan, Trigger};
use crate::domain::{ConsumerId, HumanDuration, RotationId, Slot, Wave};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DryRun {
    pub credential: String,
    /// The slot consumers use now, and the slot that would be regenerated and published.
    pub active_slot: Option<Slot>,
    pub regenerate_slot: Option<Slot>,
    pub current_version: Option<String>,
    pub waves: Vec<DryRunWave>,
    /// Guards that passed.
    pub guards: Vec<String>,
    /// Why the rotation would stall at the guard, if it would.
    pub blocked_by: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DryRunWave {
    pub wave: Wave,
    pub consumers: Vec<DryRunConsumer>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DryRunConsumer {
    pub id: ConsumerId,
    pub ack_deadline: HumanDuration,
}

impl Driver {
    /// Evaluates the guards (read-only calls only) and runs the core's guard decision on a
    /// record that is never stored.
    pub async fn dry_run(&self, plan: &Plan) -> Result<DryRun, DriverError> {
        let now = self.clock.now();
        let id = RotationId::parse("dry-run").expect("valid id");
        let draft = core::start(id, plan.clone(), Trigger::Manual { operator: "dry-run".into() }, String::new(), now).rotation;
        let provider = self.providers.provider(plan)?;
        let facts = match self.gather_guard_facts(&draft, provider.as_ref()).await {
            Event::Guard(facts) => facts,
            Event::GuardFailed { detail, .. } => return Err(DriverError::Transient(detail)),
            _ => unreachable!("gather_guard_facts answers Guard or GuardFailed"),
        };
        let current_version = facts.current_version.as_ref().map(|v| v.to_string());
        let decided = core::handle(&draft, Event::Guard(facts), now).rotation;
        let blocked_by = match &decided.phase {
            Phase::Stalled { .. } => decided.stall.as_ref().map(|s| s.reason.clone()),
            _ => None,
        };
        let waves = plan
            .waves()
            .into_iter()
            .map(|(wave, consumers)| DryRunWave {
                wave,
                consumers: consumers.into_iter().map(|c| DryRunConsumer { id: c.id.clone(), ack_deadline: c.ack_deadline }).collect(),
            })
            .collect();
        Ok(DryRun {
            credential: plan.credential.to_string(),
            active_slot: decided.old_slot,
            regenerate_slot: decided.new_slot(),
            current_version,
            waves,
            guards: decided.guards,
            blocked_by,
        })
    }
}
