//! The transition function. Read it top to bottom as the protocol in DESIGN.md: each phase's
//! entry actions, then how each event moves a phase on.

use super::plan::{Plan, Trigger};
use super::record::{AckState, ConsumerProgress, ForceRecord, PendingOperation, Phase, Regeneration, Rotation, Stall, TimelineEntry};
use super::{Action, Event, GuardFacts, OperatorCommand, ProviderResult};
use crate::domain::{ConsumerId, RotationId, SecretValue, Slot, SecretVersion};
use crate::ports::KeyAuthStatus;
use crate::protocol::{verify_proof, Ack, Step, STEP_SCHEMA};
use chrono::{DateTime, Duration, Utc};

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

/// How recent a use of the standby slot blocks the guard: a provider that saw the standby key
/// in use within this window means somebody depends on the key we are about to regenerate.
const STANDBY_USE_WINDOW_HOURS: i64 = 24;

/// The Claim phase's record: the driver creates it with a conditional create, and performs the
/// returned actions only if the create won (I3).
pub fn start(id: RotationId, plan: Plan, trigger: Trigger, nonce_seed: String, now: DateTime<Utc>) -> Outcome {
    let consumers = plan
        .consumers
        .iter()
        .map(|c| {
            let progress = ConsumerProgress {
                wave: c.wave,
                attempt: 0,
                first_sent_at: None,
                last_sent_at: None,
                deadline: None,
                ack: AckState::NotSent,
            };
            (c.id.clone(), progress)
        })
        .collect();
    let what = format!("claimed ({})", describe_trigger(&trigger));
    let rotation = Rotation {
        id,
        plan,
        trigger,
        started_at: now,
        updated_at: now,
        finished_at: None,
        phase: Phase::Guard,
        nonce_seed,
        old_slot: None,
        old_version: None,
        new_version: None,
        rollback_version: None,
        consumers,
        operation: None,
        retry_at: None,
        transient_failures: 0,
        stall: None,
        force: None,
        rollback: None,
        regenerated: Vec::new(),
        guards: Vec::new(),
        timeline: vec![TimelineEntry { at: now, phase: "claim".into(), what }],
    };
    let mut t = Transition::new(&rotation, now);
    t.enter(Phase::Guard);
    t.finish(Verdict::Accepted)
}

/// Applies one event. Never fails: input that does not fit is `Rejected` or `Ignored` with a
/// reason, and the record changes only as the protocol says.
pub fn handle(rotation: &Rotation, event: Event, now: DateTime<Utc>) -> Outcome {
    let mut t = Transition::new(rotation, now);
    let verdict = match event {
        Event::Tick => t.tick(),
        Event::Guard(facts) => t.on_guard(facts),
        Event::GuardFailed { detail, transient } => t.on_phase_failure(&[Phase::Guard], &detail, transient),
        Event::Regenerated { slot, result } => t.on_regenerated(slot, result),
        Event::Published { slot, result } => t.on_published(slot, result),
        Event::Ack { ack, key } => t.on_ack(ack, key),
        Event::Heartbeat(_) => Verdict::Ignored("heartbeats feed the inventory, not the rotation".into()),
        Event::Usage { slot, result } => t.on_usage(slot, result),
        Event::StepSendFailed { consumer, detail } => {
            t.note(format!("sending the step to {consumer} failed: {detail}; it is re-sent on the next tick"));
            Verdict::Accepted
        }
        Event::Operator(cmd) => t.on_operator(cmd),
    };
    t.finish(verdict)
}

fn describe_trigger(trigger: &Trigger) -> String {
    match trigger {
        Trigger::Schedule => "schedule".into(),
        Trigger::KeyVaultEvent { event_type, version } => format!("{event_type} for version {version}"),
        Trigger::Manual { operator } => format!("manual, by {operator}"),
    }
}

/// One transition in progress: the record being changed and the actions collected.
struct Transition {
    r: Rotation,
    now: DateTime<Utc>,
    actions: Vec<Action>,
}

impl Transition {
    fn new(rotation: &Rotation, now: DateTime<Utc>) -> Self {
        Transition { r: rotation.clone(), now, actions: Vec::new() }
    }

    fn finish(mut self, verdict: Verdict) -> Outcome {
        if !matches!(verdict, Verdict::Ignored(_)) {
            self.r.updated_at = self.now;
        }
        Outcome { rotation: self.r, actions: self.actions, verdict }
    }

    fn plan(&self) -> &Plan {
        &self.r.plan
    }

    fn note(&mut self, what: impl Into<String>) {
        let phase = self.r.phase.name().to_string();
        self.r.timeline.push(TimelineEntry { at: self.now, phase, what: what.into() });
    }

    fn lease_end(&self) -> DateTime<Utc> {
        self.now + self.plan().timing.action_lease.to_chrono()
    }

    /// Standby = the slot this rotation regenerates and publishes; old = the slot it retires.
    fn slots(&self) -> Option<(Slot, Slot)> {
        self.r.old_slot.map(|old| (old.other(), old))
    }

    // ---- phase entry -------------------------------------------------------------------

    /// Moves to `phase` and emits what the phase does first.
    fn enter(&mut self, phase: Phase) {
        self.r.phase = phase.clone();
        self.r.transient_failures = 0;
        self.r.retry_at = None;
        self.keep_or_forget_operation(&phase);
        match &phase {
            Phase::Reload { wave } => self.note(format!("entered reload of wave {wave}")),
            other => self.note(format!("entered {}", other.name())),
        }
        match phase {
            Phase::Guard => self.emit_leased(Action::EvaluateGuards),
            Phase::RegenerateStandby | Phase::Retire | Phase::Publish | Phase::RollbackPublish | Phase::UsageGuard { .. } => {
                self.emit_phase_action()
            }
            Phase::Reload { wave } => {
                let ids = self.consumers_in_wave(wave);
                for id in ids {
                    self.send_new_attempt(&id);
                }
                self.advance_if_reloaded();
            }
            Phase::RollbackReload => {
                let ids: Vec<ConsumerId> =
                    self.r.consumers.iter().filter(|(_, c)| c.attempt > 0).map(|(id, _)| id.clone()).collect();
                for id in ids {
                    self.send_new_attempt(&id);
                }
                self.advance_if_reloaded();
            }
            Phase::Soak { .. } => {}
            Phase::Completed | Phase::RolledBack => {
                self.r.finished_at = Some(self.now);
            }
            Phase::Stalled { .. } => {}
        }
    }

    /// A long-running regenerate that never reported a terminal status is never forgotten:
    /// re-entering its phase (an operator's retry or force after a stall) polls it again, with
    /// a fresh timeout, instead of starting another regenerate. Otherwise a provider that runs
    /// two operations would land the forgotten one after Publish read the key — publishing a
    /// value the provider no longer has (I1).
    fn keep_or_forget_operation(&mut self, phase: &Phase) {
        let regenerates = match (phase, self.slots()) {
            (Phase::RegenerateStandby, Some((standby, _))) => Some(standby),
            (Phase::Retire, Some((_, old))) => Some(old),
            _ => None,
        };
        match &mut self.r.operation {
            Some(op) if Some(op.slot) == regenerates => {
                op.started_at = self.now;
                op.poll_at = self.now;
            }
            _ => self.r.operation = None,
        }
    }

    /// The side effect of the current single-action phase, under a fresh lease. (Guard, which
    /// has no slots yet, emits its action in `enter` and `tick`.)
    fn emit_phase_action(&mut self) {
        let Some((standby, old)) = self.slots() else { return };
        let action = match &self.r.phase {
            Phase::RegenerateStandby => match &self.r.operation {
                Some(op) => Action::PollOperation { slot: standby, operation: op.url.clone(), not_after: self.lease_end() },
                None => Action::Regenerate { slot: standby, force: false, not_after: self.lease_end() },
            },
            Phase::Retire => match &self.r.operation {
                Some(op) => Action::PollOperation { slot: old, operation: op.url.clone(), not_after: self.lease_end() },
                None => Action::Regenerate { slot: old, force: self.r.force.is_some(), not_after: self.lease_end() },
            },
            Phase::Publish => Action::Publish { slot: standby, not_after: self.lease_end() },
            Phase::RollbackPublish => Action::Publish { slot: old, not_after: self.lease_end() },
            Phase::UsageGuard { .. } => Action::CheckUsage { slot: old },
            _ => return,
        };
        self.emit_leased(action);
    }

    fn emit_leased(&mut self, action: Action) {
        self.r.retry_at = Some(self.lease_end());
        self.actions.push(action);
    }

    fn stall(&mut self, reason: impl Into<String>) {
        let reason = reason.into();
        let from = match &self.r.phase {
            Phase::Stalled { from } => from.clone(),
            other => Box::new(other.clone()),
        };
        self.r.phase = Phase::Stalled { from };
        self.r.retry_at = None;
        self.r.stall = Some(Stall { at: self.now, reason: reason.clone() });
        self.note(format!("stalled: {reason}"));
        self.actions.push(Action::Alert { reason });
    }

    // ---- time ----------------------------------------------------------------------------

    fn tick(&mut self) -> Verdict {
        let due = |t: Option<DateTime<Utc>>, now| t.map_or(true, |t| now >= t);
        match self.r.phase.clone() {
            Phase::Completed | Phase::RolledBack => Verdict::Ignored("rotation is finished".into()),
            Phase::Stalled { .. } => Verdict::Ignored("rotation is stalled and waits for an operator".into()),
            Phase::Soak { until } => {
                if self.now >= until {
                    self.note("soak time over");
                    self.after_soak();
                    Verdict::Accepted
                } else {
                    Verdict::Ignored("soaking".into())
                }
            }
            Phase::Reload { .. } | Phase::RollbackReload => self.tick_reload(),
            Phase::RegenerateStandby | Phase::Retire if self.r.operation.is_some() => {
                let op = self.r.operation.clone().expect("checked");
                if self.now - op.started_at > self.plan().timing.operation_timeout.to_chrono() {
                    self.stall(format!(
                        "the provider's long-running regenerate of the {} slot did not finish within {}",
                        op.slot,
                        self.plan().timing.operation_timeout
                    ));
                    Verdict::Accepted
                } else if self.now >= op.poll_at && due(self.r.retry_at, self.now) {
                    self.emit_phase_action();
                    Verdict::Accepted
                } else {
                    Verdict::Ignored("long-running operation not due for polling".into())
                }
            }
            _ => {
                if due(self.r.retry_at, self.now) {
                    self.note("re-issuing the phase's action");
                    if matches!(self.r.phase, Phase::Guard) {
                        self.emit_leased(Action::EvaluateGuards);
                    } else {
                        self.emit_phase_action();
                    }
                    Verdict::Accepted
                } else {
                    Verdict::Ignored("the phase's action is still within its lease".into())
                }
            }
        }
    }

    /// Reload phases on a tick: stall on a passed deadline, re-send unacked steps whose last
    /// send is older than `resend_every` (a lost message must not stall a healthy fleet).
    fn tick_reload(&mut self) -> Verdict {
        let resend = self.plan().timing.resend_every.to_chrono();
        let targets = self.reload_targets();
        let mut changed = false;
        for id in targets {
            let c = self.r.consumers[&id].clone();
            match c.ack {
                AckState::Waiting => {
                    if c.deadline.is_some_and(|d| self.now >= d) {
                        self.stall(format!(
                            "consumer {id} did not acknowledge version {} before its deadline",
                            self.reload_version().map(|v| v.to_string()).unwrap_or_default()
                        ));
                        return Verdict::Accepted;
                    }
                    if c.last_sent_at.map_or(true, |t| self.now - t >= resend) {
                        self.send_current_attempt(&id);
                        changed = true;
                    }
                }
                AckState::NotSent => {
                    self.send_new_attempt(&id);
                    changed = true;
                }
                _ => {}
            }
        }
        if changed {
            Verdict::Accepted
        } else {
            Verdict::Ignored("waiting for acks".into())
        }
    }

    // ---- guard ---------------------------------------------------------------------------

    fn on_guard(&mut self, facts: GuardFacts) -> Verdict {
        if self.r.phase != Phase::Guard {
            return Verdict::Ignored(format!("guard facts arrived in phase {}", self.r.phase.name()));
        }
        if let KeyAuthStatus::Disabled { switch } = &facts.key_auth {
            self.stall(format!(
                "key authentication is disabled on the resource ({switch}); its keys are unused, nothing was rotated"
            ));
            return Verdict::Accepted;
        }
        let Some(current_version) = facts.current_version.clone() else {
            self.stall(format!(
                "Key Vault secret {}/{} has no current version; seed it with the key consumers use",
                self.plan().secret.vault,
                self.plan().secret.name
            ));
            return Verdict::Accepted;
        };
        let active = match (facts.current_slot_tag, facts.current_slot_by_value) {
            (Some(tag), Some(by_value)) if tag != by_value => {
                self.stall(format!(
                    "the current Key Vault version is tagged {tag} but its value is the {by_value} key; fix the tag before rotating"
                ));
                return Verdict::Accepted;
            }
            (Some(tag), _) => tag,
            (None, Some(by_value)) => by_value,
            (None, None) => match self.plan().initial_active_slot {
                Some(slot) => slot,
                None => {
                    self.stall(
                        "cannot tell which slot the current Key Vault version holds (no slot tag, no matching key); \
                         set initial_active_slot in the policy",
                    );
                    return Verdict::Accepted;
                }
            },
        };
        let standby = active.other();
        if let Some((consumer, version, _)) = facts.heartbeats.iter().find(|(_, _, slot)| *slot == Some(standby)) {
            self.stall(format!(
                "consumer {consumer} reports it uses version {version}, which holds the {standby} slot this rotation would regenerate"
            ));
            return Verdict::Accepted;
        }
        if let Some(used) = facts.standby_usage.last_used {
            if self.now - used < Duration::hours(STANDBY_USE_WINDOW_HOURS) {
                self.stall(format!(
                    "{} says the {standby} key was used at {used}; somebody still depends on it",
                    facts.standby_usage.source
                ));
                return Verdict::Accepted;
            }
        }
        self.r.old_slot = Some(active);
        self.r.old_version = Some(current_version.clone());
        self.r.guards = vec![
            "key authentication enabled".into(),
            format!("current version {current_version} holds the {active} slot"),
            format!("no consumer heartbeat names the {standby} slot"),
        ];
        self.note(format!("guards passed: {active} is active, {standby} will be regenerated"));
        self.enter(Phase::RegenerateStandby);
        Verdict::Accepted
    }

    // ---- provider results ----------------------------------------------------------------

    fn on_regenerated(&mut self, slot: Slot, result: ProviderResult) -> Verdict {
        let expected = match (&self.r.phase, self.slots()) {
            (Phase::RegenerateStandby, Some((standby, _))) => standby,
            (Phase::Retire, Some((_, old))) => old,
            _ => return Verdict::Ignored(format!("regenerate result for {slot} arrived in phase {}", self.r.phase.name())),
        };
        if slot != expected {
            return Verdict::Ignored(format!("regenerate result for {slot}, but this phase regenerates {expected}"));
        }
        let retiring = matches!(self.r.phase, Phase::Retire);
        match result {
            ProviderResult::Done => {
                let forced = retiring && self.r.force.is_some();
                self.r.regenerated.push(Regeneration { slot, at: self.now, forced });
                self.note(format!("regenerated the {slot} key{}", if forced { " (forced)" } else { "" }));
                self.enter(if retiring { Phase::Completed } else { Phase::Publish });
            }
            ProviderResult::Pending { operation, retry_after } => {
                let started_at = self.r.operation.as_ref().map_or(self.now, |op| op.started_at);
                let poll_at = self.now + Duration::from_std(retry_after).unwrap_or(Duration::seconds(10));
                self.r.operation = Some(PendingOperation { slot, url: operation, started_at, poll_at });
                self.r.retry_at = Some(poll_at);
                self.note(format!("regenerate of {slot} is running; polling at {poll_at}"));
            }
            ProviderResult::Throttled { retry_after } => {
                return self.on_throttled(retry_after);
            }
            ProviderResult::KeyUsedRecently { detail } => {
                if retiring {
                    self.stall(format!(
                        "the provider refused to regenerate the old {slot} key because it was used recently ({detail}); \
                         find who still uses it, or force with a reason"
                    ));
                } else {
                    self.stall(format!("the provider says the standby {slot} key was used recently ({detail})"));
                }
            }
            ProviderResult::KeyAuthDisabled { switch } => {
                self.stall(format!("key authentication was disabled on the resource ({switch})"));
            }
            ProviderResult::Failed { detail, transient } => {
                return self.on_phase_failure(&[Phase::RegenerateStandby, Phase::Retire], &detail, transient);
            }
        }
        Verdict::Accepted
    }

    fn on_throttled(&mut self, retry_after: std::time::Duration) -> Verdict {
        self.r.transient_failures += 1;
        if self.r.transient_failures > self.plan().timing.max_transient_failures {
            self.stall(format!("the provider kept throttling ({} times)", self.r.transient_failures));
        } else {
            let at = self.now + Duration::from_std(retry_after).unwrap_or(Duration::seconds(10));
            self.r.retry_at = Some(at);
            self.note(format!("throttled; retrying at {at}"));
        }
        Verdict::Accepted
    }

    /// A failure of the current phase's action: transient ones are retried with exponential
    /// backoff (capped at the lease) until `max_transient_failures`; others stall.
    fn on_phase_failure(&mut self, phases: &[Phase], detail: &str, transient: bool) -> Verdict {
        if !phases.iter().any(|p| p == &self.r.phase) {
            return Verdict::Ignored(format!("failure report for another phase: {detail}"));
        }
        if !transient {
            self.stall(format!("{} failed: {detail}", self.r.phase.name()));
            return Verdict::Accepted;
        }
        self.r.transient_failures += 1;
        let timing = &self.r.plan.timing;
        if self.r.transient_failures > timing.max_transient_failures {
            let n = self.r.transient_failures;
            self.stall(format!("{} failed {n} times; last: {detail}", self.r.phase.name()));
            return Verdict::Accepted;
        }
        let exp = 1u64 << (self.r.transient_failures - 1).min(16);
        let backoff = (timing.backoff.as_secs().saturating_mul(exp)).min(timing.action_lease.as_secs());
        let at = self.now + Duration::seconds(backoff as i64);
        self.r.retry_at = Some(at);
        self.note(format!("{} failed ({detail}); retrying at {at}", self.r.phase.name()));
        Verdict::Accepted
    }

    fn on_published(&mut self, slot: Slot, result: Result<SecretVersion, (String, bool)>) -> Verdict {
        let (standby, old) = match self.slots() {
            Some(s) => s,
            None => return Verdict::Ignored("publish result before the guard chose slots".into()),
        };
        let rolling_back = match &self.r.phase {
            Phase::Publish if slot == standby => false,
            Phase::RollbackPublish if slot == old => true,
            _ => return Verdict::Ignored(format!("publish result for {slot} arrived in phase {}", self.r.phase.name())),
        };
        match result {
            Ok(version) => {
                self.note(format!("published version {version} holding the {slot} key"));
                if rolling_back {
                    self.r.rollback_version = Some(version);
                    self.enter(Phase::RollbackReload);
                } else {
                    self.r.new_version = Some(version);
                    self.enter_first_wave();
                }
                Verdict::Accepted
            }
            Err((detail, transient)) => {
                self.on_phase_failure(&[Phase::Publish, Phase::RollbackPublish], &detail, transient)
            }
        }
    }

    fn on_usage(&mut self, slot: Slot, result: Result<crate::ports::UsageEvidence, String>) -> Verdict {
        let Phase::UsageGuard { since } = self.r.phase else {
            return Verdict::Ignored(format!("usage report arrived in phase {}", self.r.phase.name()));
        };
        if Some(slot) != self.r.old_slot {
            return Verdict::Ignored(format!("usage report for {slot}, not the old slot"));
        }
        match result {
            Err(detail) => self.on_phase_failure(&[self.r.phase.clone()], &detail, true),
            Ok(evidence) => match evidence.last_used {
                Some(used) if used >= since => {
                    if self.now - since > self.plan().timing.usage_guard_timeout.to_chrono() {
                        self.stall(format!(
                            "{} still saw the old {slot} key in use at {used}, after every consumer acked",
                            evidence.source
                        ));
                    } else {
                        self.r.retry_at = Some(self.lease_end());
                        self.note(format!("{} saw the old {slot} key in use at {used}; checking again later", evidence.source));
                    }
                    Verdict::Accepted
                }
                _ => {
                    self.r.guards.push(format!("usage guard: old {slot} key unused since every consumer acked"));
                    self.enter(Phase::Retire);
                    Verdict::Accepted
                }
            },
        }
    }

    // ---- reload waves ----------------------------------------------------------------------

    fn consumers_in_wave(&self, wave: crate::domain::Wave) -> Vec<ConsumerId> {
        self.r.consumers.iter().filter(|(_, c)| c.wave == wave).map(|(id, _)| id.clone()).collect()
    }

    /// Consumers the current reload phase waits for.
    fn reload_targets(&self) -> Vec<ConsumerId> {
        match &self.r.phase {
            Phase::Reload { wave } => self.consumers_in_wave(*wave),
            Phase::RollbackReload => {
                self.r.consumers.iter().filter(|(_, c)| c.attempt > 0).map(|(id, _)| id.clone()).collect()
            }
            _ => Vec::new(),
        }
    }

    /// The version the current reload phase asks consumers to load, and its slot.
    fn reload_version(&self) -> Option<SecretVersion> {
        match self.phase_for_reload() {
            Some(Phase::RollbackReload) => self.r.rollback_version.clone(),
            Some(_) => self.r.new_version.clone(),
            None => None,
        }
    }

    /// The reload phase in effect, looking through a stall.
    fn phase_for_reload(&self) -> Option<Phase> {
        let phase = match &self.r.phase {
            Phase::Stalled { from } => (**from).clone(),
            other => other.clone(),
        };
        matches!(phase, Phase::Reload { .. } | Phase::RollbackReload).then_some(phase)
    }

    fn reload_slot(&self) -> Option<Slot> {
        match self.phase_for_reload() {
            Some(Phase::RollbackReload) => self.r.old_slot,
            Some(_) => self.r.new_slot(),
            None => None,
        }
    }

    fn enter_first_wave(&mut self) {
        match self.plan().waves().first() {
            Some((wave, _)) => self.enter(Phase::Reload { wave: *wave }),
            None => self.after_reload(),
        }
    }

    fn send_new_attempt(&mut self, id: &ConsumerId) {
        let deadline = self.plan().consumer(id).map(|c| c.ack_deadline.to_chrono()).unwrap_or(Duration::minutes(10));
        let now = self.now;
        let c = self.r.consumers.get_mut(id).expect("consumer is in the plan");
        c.attempt += 1;
        c.first_sent_at.get_or_insert(now);
        c.deadline = Some(now + deadline);
        c.ack = AckState::Waiting;
        self.send_current_attempt(id);
    }

    fn send_current_attempt(&mut self, id: &ConsumerId) {
        let (Some(version), Some(slot)) = (self.reload_version(), self.reload_slot()) else { return };
        let now = self.now;
        let c = self.r.consumers.get_mut(id).expect("consumer is in the plan");
        c.last_sent_at = Some(now);
        let (attempt, deadline) = (c.attempt, c.deadline.unwrap_or(now));
        let step = Step {
            schema: STEP_SCHEMA.to_string(),
            rotation_id: self.r.id.clone(),
            credential: self.r.plan.credential.clone(),
            consumer: id.clone(),
            secret_id: self.r.plan.secret.id_of(&version),
            slot,
            attempt,
            deadline,
            nonce: self.r.nonce(id, attempt),
        };
        self.actions.push(Action::SendStep(step));
    }

    fn all_targets_healthy(&self) -> bool {
        self.reload_targets()
            .iter()
            .all(|id| matches!(self.r.consumers[id].ack, AckState::Healthy { .. }))
    }

    /// After an ack (or on entering a wave with nobody in it): next wave, or the end of reload.
    fn advance_if_reloaded(&mut self) {
        if !self.all_targets_healthy() {
            return;
        }
        match self.r.phase.clone() {
            Phase::Reload { wave } => {
                self.note(format!("wave {wave} reloaded and healthy"));
                let next = self.plan().waves().into_iter().map(|(w, _)| w).find(|w| *w > wave);
                match next {
                    Some(w) => self.enter(Phase::Reload { wave: w }),
                    None => self.after_reload(),
                }
            }
            Phase::RollbackReload => {
                self.note("every consumer is back on the old slot");
                self.enter(Phase::RolledBack);
            }
            _ => {}
        }
    }

    fn after_reload(&mut self) {
        let soak = self.plan().soak;
        if soak.as_secs() > 0 {
            self.enter(Phase::Soak { until: self.now + soak.to_chrono() });
        } else {
            self.after_soak();
        }
    }

    fn after_soak(&mut self) {
        if self.plan().usage_guard {
            self.enter(Phase::UsageGuard { since: self.now });
        } else {
            self.enter(Phase::Retire);
        }
    }

    fn on_ack(&mut self, ack: Ack, key: Option<SecretValue>) -> Verdict {
        if ack.rotation_id != self.r.id {
            return Verdict::Rejected(format!("ack names rotation {}, not {}", ack.rotation_id, self.r.id));
        }
        let Some(reload_phase) = self.phase_for_reload() else {
            return Verdict::Ignored(format!(
                "ack from {} arrived in phase {}; no reload is waiting",
                ack.consumer,
                self.r.phase.name()
            ));
        };
        let Some(progress) = self.r.consumers.get(&ack.consumer).cloned() else {
            return Verdict::Rejected(format!("{} is not a consumer of credential {}", ack.consumer, self.r.plan.credential));
        };
        if progress.attempt == 0 {
            return Verdict::Rejected(format!("no step was sent to {} yet", ack.consumer));
        }
        let expected = self.reload_version();
        if expected.as_ref() != Some(&ack.version) {
            return Verdict::Rejected(format!(
                "ack from {} names version {}, but the {} asks for {}",
                ack.consumer,
                ack.version,
                if reload_phase == Phase::RollbackReload { "rollback" } else { "rotation" },
                expected.map(|v| v.to_string()).unwrap_or_else(|| "nothing".into())
            ));
        }
        if matches!(progress.ack, AckState::Healthy { .. }) {
            return Verdict::Ignored(format!("duplicate ack from {}", ack.consumer));
        }
        let proof_ok = key.as_ref().is_some_and(|key| {
            (1..=progress.attempt).any(|attempt| {
                verify_proof(key, &self.r.id, &ack.consumer, &ack.version, &self.r.nonce(&ack.consumer, attempt), &ack.proof)
            })
        });
        let now = self.now;
        if !proof_ok {
            let reason = format!(
                "ack from {} carries a proof of possession that does not verify for version {}: \
                 the consumer did not load that key, or the ack is forged",
                ack.consumer, ack.version
            );
            self.r.consumers.get_mut(&ack.consumer).expect("present").ack = AckState::Rejected { at: now, reason: reason.clone() };
            self.stall(reason.clone());
            return Verdict::Rejected(reason);
        }
        let detail = ack.bounded_detail();
        if !ack.healthy {
            self.r.consumers.get_mut(&ack.consumer).expect("present").ack = AckState::Unhealthy { at: now, detail: detail.clone() };
            self.stall(format!("consumer {} reloaded version {} but reports unhealthy: {detail}", ack.consumer, ack.version));
            return Verdict::Accepted;
        }
        self.r.consumers.get_mut(&ack.consumer).expect("present").ack = AckState::Healthy { at: now, detail };
        self.note(format!("{} acked version {} healthy", ack.consumer, ack.version));
        if !self.r.is_stalled() {
            self.advance_if_reloaded();
        }
        Verdict::Accepted
    }

    // ---- operators -------------------------------------------------------------------------

    fn on_operator(&mut self, cmd: OperatorCommand) -> Verdict {
        match cmd {
            OperatorCommand::Retry { operator } => self.retry(operator),
            OperatorCommand::Force { operator, reason } => self.force(operator, reason),
            OperatorCommand::Rollback { operator, reason } => self.roll_back(operator, reason),
        }
    }

    fn retry(&mut self, operator: String) -> Verdict {
        let Phase::Stalled { from } = self.r.phase.clone() else {
            return Verdict::Rejected(format!("only a stalled rotation can be retried; this one is in {}", self.r.phase.name()));
        };
        self.note(format!("retry by {operator}"));
        self.r.stall = None;
        match *from {
            Phase::Reload { wave } => {
                self.r.phase = Phase::Reload { wave };
                self.resend_to_unhealthy();
            }
            Phase::RollbackReload => {
                self.r.phase = Phase::RollbackReload;
                self.resend_to_unhealthy();
            }
            Phase::Soak { .. } | Phase::UsageGuard { .. } => self.after_soak(),
            other => self.enter(other),
        }
        Verdict::Accepted
    }

    fn resend_to_unhealthy(&mut self) {
        let pending: Vec<ConsumerId> = self
            .reload_targets()
            .into_iter()
            .filter(|id| !matches!(self.r.consumers[id].ack, AckState::Healthy { .. }))
            .collect();
        for id in pending {
            self.send_new_attempt(&id);
        }
        self.advance_if_reloaded();
    }

    fn force(&mut self, operator: String, reason: String) -> Verdict {
        if operator.trim().is_empty() || reason.trim().is_empty() {
            return Verdict::Rejected("force needs an operator name and a reason".into());
        }
        let Phase::Stalled { from } = self.r.phase.clone() else {
            return Verdict::Rejected(format!("only a stalled rotation can be forced; this one is in {}", self.r.phase.name()));
        };
        if matches!(*from, Phase::RollbackPublish | Phase::RollbackReload) {
            return Verdict::Rejected("a rollback is in progress; retry it instead of forcing the retirement".into());
        }
        if self.r.new_version.is_none() {
            return Verdict::Rejected(
                "nothing to force: the new key was never published, so retiring the old one would cut every consumer off; \
                 retry or roll back"
                    .into(),
            );
        }
        self.r.force = Some(ForceRecord { at: self.now, operator: operator.clone(), reason: reason.clone() });
        self.r.stall = None;
        self.note(format!("retirement forced by {operator}: {reason}"));
        self.enter(Phase::Retire);
        Verdict::Accepted
    }

    /// Rollback is allowed from a stall (any forward phase but Retire) or while waiting on
    /// consumers or soaking — never while a key- or secret-changing call of this rotation may
    /// be in flight.
    /// Once the rotation reached Publish, the old slot's value is published again even if no
    /// publish was recorded, so the current Key Vault version surely holds the old slot.
    fn roll_back(&mut self, operator: String, reason: String) -> Verdict {
        if operator.trim().is_empty() || reason.trim().is_empty() {
            return Verdict::Rejected("roll back needs an operator name and a reason".into());
        }
        let (phase, stalled) = match &self.r.phase {
            Phase::Stalled { from } => ((**from).clone(), true),
            other => (other.clone(), false),
        };
        let allowed = match phase {
            Phase::Reload { .. } | Phase::Soak { .. } | Phase::UsageGuard { .. } => true,
            Phase::Guard | Phase::RegenerateStandby | Phase::Publish => stalled,
            // A stalled retirement may already have regenerated the old key (a failure after
            // the change, or a long-running operation still landing): publishing it again
            // would hand consumers a dead key. Retry or force instead.
            Phase::Retire => {
                return Verdict::Rejected(
                    "cannot roll back a stalled retirement: the old key may already be regenerated; retry or force".into(),
                )
            }
            _ => false,
        };
        if !allowed {
            return Verdict::Rejected(format!("cannot roll back a rotation in phase {}", self.r.phase.name()));
        }
        self.r.rollback = Some(ForceRecord { at: self.now, operator: operator.clone(), reason: reason.clone() });
        self.r.stall = None;
        self.note(format!("roll back by {operator}: {reason}"));
        if matches!(phase, Phase::Guard | Phase::RegenerateStandby) {
            self.note("nothing was published; the old key stays active");
            self.enter(Phase::RolledBack);
        } else {
            self.enter(Phase::RollbackPublish);
        }
        Verdict::Accepted
    }
}
