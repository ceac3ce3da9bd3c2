//! Regressions the simulator found in the core and the driver, one test each, plus the rules
//! mutation testing showed were not pinned down by `core_protocol.rs`.

#[path = "support/plan.rs"]
mod support_plan;

use chrono::{DateTime, Duration, Utc};
use keyrelay::adapters::memory::{MemoryBus, MemoryProvider, MemorySecrets, MemoryStore};
use keyrelay::core::{
    self, Action, Event, GuardFacts, OperatorCommand, Phase, Plan, ProviderResult, Rotation, Timing,
    Trigger, Verdict,
};
use keyrelay::domain::{RotationId, SecretVersion, Slot};
use keyrelay::driver::{Driver, Entropy, SingleProvider};
use keyrelay::ports::{Clock, KeyAuthStatus, UsageEvidence};
use std::sync::{Arc, Mutex};

fn t0() -> DateTime<Utc> {
    "2026-05-01T08:00:00Z".parse().unwrap()
}

fn mins(m: i64) -> DateTime<Utc> {
    t0() + Duration::minutes(m)
}

fn one_consumer_plan() -> Plan {
    support_plan::plan("db", &[("app", 1)])
}

fn primary_active() -> GuardFacts {
    GuardFacts {
        key_auth: KeyAuthStatus::Enabled,
        current_version: Some(SecretVersion::parse("v1").unwrap()),
        current_slot_tag: Some(Slot::Primary),
        current_slot_by_value: Some(Slot::Primary),
        heartbeats: vec![],
        standby_usage: UsageEvidence::default(),
    }
}

fn guarded() -> Rotation {
    let r = core::start(RotationId::parse("rot-9").unwrap(), one_consumer_plan(), Trigger::Schedule, "s".into(), t0()).rotation;
    core::handle(&r, Event::Guard(primary_active()), t0()).rotation
}

fn pending(op: &str) -> ProviderResult {
    ProviderResult::Pending { operation: op.into(), retry_after: std::time::Duration::from_secs(30) }
}

fn operator(r: &Rotation, cmd: OperatorCommand, at: DateTime<Utc>) -> core::Outcome {
    core::handle(r, Event::Operator(cmd), at)
}

fn retry() -> OperatorCommand {
    OperatorCommand::Retry { operator: "ops".into() }
}

/// Regression: a long-running standby regenerate timed out, the operator retried, and the core
/// started a second regenerate, forgetting the first. Its key change could land after Publish
/// read the key: the published version then held a dead key (I1).
#[test]
fn retrying_a_timed_out_regenerate_polls_the_same_operation() {
    let r = core::handle(&guarded(), Event::Regenerated { slot: Slot::Secondary, result: pending("op-1") }, t0()).rotation;
    let stalled = core::handle(&r, Event::Tick, mins(31)).rotation;
    assert!(stalled.is_stalled());
    assert!(stalled.operation.is_some(), "the operation is kept for a retry");
    assert_eq!(stalled.wake_at(), None, "a stalled rotation waits for an operator (I6), even with an operation to poll");
    let o = operator(&stalled, retry(), mins(40));
    assert_eq!(o.rotation.phase, Phase::RegenerateStandby);
    assert!(
        matches!(o.actions.as_slice(), [Action::PollOperation { slot: Slot::Secondary, operation, .. }] if operation == "op-1"),
        "{:?}",
        o.actions
    );
    let op = o.rotation.operation.as_ref().expect("the operation is kept");
    assert_eq!((op.started_at, op.poll_at), (mins(40), mins(40)), "a fresh timeout window");
    let o = core::handle(&o.rotation, Event::Tick, mins(45));
    assert!(!o.rotation.is_stalled(), "the retried operation gets a new timeout");
    let o = core::handle(&o.rotation, Event::Regenerated { slot: Slot::Secondary, result: ProviderResult::Done }, mins(46));
    assert_eq!(o.rotation.phase, Phase::Publish, "Publish only after the operation is terminal");
}

/// The same for a retirement: a force after a timed-out long-running retire polls it.
#[test]
fn forcing_a_timed_out_retirement_polls_the_same_operation() {
    let (r, step) = reloading();
    let r = ack_healthy(&r, &step, mins(1));
    assert_eq!(r.phase, Phase::Retire);
    let r = core::handle(&r, Event::Regenerated { slot: Slot::Primary, result: pending("op-7") }, mins(1)).rotation;
    let stalled = core::handle(&r, Event::Tick, mins(40)).rotation;
    assert!(stalled.is_stalled());
    let o = operator(&stalled, OperatorCommand::Force { operator: "alice".into(), reason: "slow provider".into() }, mins(41));
    assert!(matches!(o.actions.as_slice(), [Action::PollOperation { slot: Slot::Primary, operation, .. }] if operation == "op-7"));
    // Entering another phase forgets an operation of another slot.
    let other = core::handle(&guarded(), Event::Regenerated { slot: Slot::Secondary, result: pending("op-2") }, t0()).rotation;
    let rolled = operator(&core::handle(&other, Event::Tick, mins(31)).rotation, rollback(), mins(32)).rotation;
    assert_eq!(rolled.phase, Phase::RolledBack);
    assert_eq!(rolled.operation, None);
}

fn rollback() -> OperatorCommand {
    OperatorCommand::Rollback { operator: "bob".into(), reason: "give up".into() }
}

fn reloading() -> (Rotation, keyrelay::protocol::Step) {
    let r = core::handle(&guarded(), Event::Regenerated { slot: Slot::Secondary, result: ProviderResult::Done }, t0()).rotation;
    let o = core::handle(&r, Event::Published { slot: Slot::Secondary, result: Ok(SecretVersion::parse("v2").unwrap()) }, t0());
    let step = o.actions.iter().find_map(|a| if let Action::SendStep(s) = a { Some(s.clone()) } else { None }).unwrap();
    (o.rotation, step)
}

fn ack_healthy(r: &Rotation, step: &keyrelay::protocol::Step, at: DateTime<Utc>) -> Rotation {
    let key = keyrelay::domain::SecretValue::new("the-new-key");
    let ack = keyrelay::protocol::Ack::answering(step, &key, true, "ok", None);
    core::handle(r, Event::Ack { ack, key: Some(key) }, at).rotation
}

/// Regression: rolling back a stalled Retire published the old slot again, although its key
/// may already have been regenerated (a failure reported after the change, or a long-running
/// operation still landing).
#[test]
fn a_stalled_retirement_cannot_be_rolled_back() {
    let (r, step) = reloading();
    let r = ack_healthy(&r, &step, mins(1));
    let failed = ProviderResult::Failed { detail: "500 after the change".into(), transient: false };
    let stalled = core::handle(&r, Event::Regenerated { slot: Slot::Primary, result: failed }, mins(2)).rotation;
    assert!(stalled.is_stalled());
    let o = operator(&stalled, rollback(), mins(3));
    assert!(matches!(o.verdict, Verdict::Rejected(ref why) if why.contains("stalled retirement")), "{:?}", o.verdict);
    assert_eq!((&o.rotation.phase, &o.rotation.rollback), (&stalled.phase, &None), "a refused rollback changes nothing");
    assert!(o.actions.is_empty());
    // Retry and force stay possible.
    assert_eq!(operator(&stalled, retry(), mins(3)).rotation.phase, Phase::Retire);
}

// ---- the driver's lease margin ----------------------------------------------------------------

/// A clock that moves on by `step` every time it is read: the driver is slow between
/// persisting a phase and performing its action.
struct SlowClock(Mutex<DateTime<Utc>>, Duration);
impl Clock for SlowClock {
    fn now(&self) -> DateTime<Utc> {
        let mut t = self.0.lock().unwrap();
        *t += self.1;
        *t
    }
}
struct Fixed;
impl Entropy for Fixed {
    fn hex(&self, bytes: usize) -> String {
        "ab".repeat(bytes)
    }
}

async fn start_with_clock_step(step: Duration) -> (Rotation, Vec<Slot>) {
    let provider = Arc::new(MemoryProvider::new("db"));
    let secrets = Arc::new(MemorySecrets::new());
    let plan = one_consumer_plan();
    secrets.seed(&plan.secret, provider.value(Slot::Primary), Some(Slot::Primary), t0());
    let driver = Driver {
        store: Arc::new(MemoryStore::new()),
        secrets,
        steps: Arc::new(MemoryBus::new()),
        providers: Arc::new(SingleProvider(provider.clone())),
        clock: Arc::new(SlowClock(Mutex::new(t0()), step)),
        entropy: Arc::new(Fixed),
    };
    let started = driver.start(plan, Trigger::Schedule).await.unwrap();
    (started.rotation().clone(), provider.regenerations())
}

/// Regression: the driver started a key-changing action with less of its lease left than an
/// action may take, so it could land after another instance re-issued it.
#[tokio::test]
async fn an_action_starts_only_with_time_left_to_finish_in_its_lease() {
    let lease = Timing::default().action_lease.to_chrono();
    let action_time_limit = Timing::default().action_time_limit.to_chrono();
    // Read at persist time t, then at t + (lease - action_time_limit): exactly too late.
    let (r, regenerated) = start_with_clock_step(lease - action_time_limit).await;
    assert!(regenerated.is_empty(), "a regenerate that may finish after its lease was started");
    assert_eq!(r.phase, Phase::RegenerateStandby, "the next tick after the lease re-issues it");
    // One second earlier, it runs.
    let (r, regenerated) = start_with_clock_step(lease - action_time_limit - Duration::seconds(1)).await;
    assert_eq!(regenerated, vec![Slot::Secondary]);
    assert_ne!(r.phase, Phase::RegenerateStandby);
}

// ---- what mutation testing found unpinned -------------------------------------------------------

/// The record says when it last changed — only for events it took — and what happened, in the
/// timeline the evidence is rendered from.
#[test]
fn accepted_events_are_stamped_and_narrated_ignored_ones_leave_no_trace() {
    let r = guarded();
    let late = Event::Published { slot: Slot::Secondary, result: Ok(SecretVersion::parse("v9").unwrap()) };
    let ignored = core::handle(&r, late, mins(5));
    assert!(matches!(ignored.verdict, Verdict::Ignored(_)));
    assert_eq!(ignored.rotation.updated_at, t0());
    assert_eq!(ignored.rotation.timeline.len(), r.timeline.len());
    let accepted = core::handle(&r, Event::Regenerated { slot: Slot::Secondary, result: ProviderResult::Done }, mins(5));
    assert_eq!(accepted.rotation.updated_at, mins(5));
    let added: Vec<_> =
        accepted.rotation.timeline[r.timeline.len()..].iter().map(|e| (e.at, e.phase.as_str(), e.what.as_str())).collect();
    assert_eq!(
        added,
        vec![(mins(5), "regenerate-standby", "regenerated the secondary key"), (mins(5), "publish", "entered publish")]
    );
}

/// Time alone moves neither a finished rotation nor a stalled one (it waits for an operator).
#[test]
fn ticks_leave_finished_and_stalled_rotations_alone() {
    let (r, step) = reloading();
    let stalled = core::handle(&r, Event::Tick, mins(10)).rotation;
    assert!(stalled.is_stalled());
    let retired = core::handle(&ack_healthy(&r, &step, mins(1)), Event::Regenerated { slot: Slot::Primary, result: ProviderResult::Done }, mins(2)).rotation;
    assert_eq!(retired.phase, Phase::Completed);
    let early = core::start(RotationId::parse("rot-8").unwrap(), one_consumer_plan(), Trigger::Schedule, "s".into(), t0()).rotation;
    let early = core::handle(&early, Event::GuardFailed { detail: "403".into(), transient: false }, t0()).rotation;
    let rolled_back = operator(&early, rollback(), mins(1)).rotation;
    assert_eq!(rolled_back.phase, Phase::RolledBack);
    for r in [stalled, retired, rolled_back] {
        let o = core::handle(&r, Event::Tick, mins(600));
        assert!(matches!(o.verdict, Verdict::Ignored(_)), "{:?}", o.verdict);
        assert_eq!(o.rotation, r);
        assert!(o.actions.is_empty());
    }
}

/// A long-running regenerate stalls only once its full timeout has passed, not at the limit.
#[test]
fn an_operation_times_out_only_after_its_full_timeout() {
    let r = core::handle(&guarded(), Event::Regenerated { slot: Slot::Secondary, result: pending("op-3") }, t0()).rotation;
    let at_limit = core::handle(&r, Event::Tick, mins(30));
    assert!(!at_limit.rotation.is_stalled());
    assert!(matches!(at_limit.actions.as_slice(), [Action::PollOperation { .. }]));
    assert!(core::handle(&r, Event::Tick, mins(30) + Duration::seconds(1)).rotation.is_stalled());
}

/// A poll is re-issued only when both its poll time and its lease allow: a second sweep right
/// after the first does not poll twice.
#[test]
fn an_operation_is_polled_once_per_lease() {
    let r = core::handle(&guarded(), Event::Regenerated { slot: Slot::Secondary, result: pending("op-4") }, t0()).rotation;
    let polled = core::handle(&r, Event::Tick, mins(1));
    assert!(matches!(polled.actions.as_slice(), [Action::PollOperation { .. }]));
    let again = core::handle(&polled.rotation, Event::Tick, mins(2));
    assert!(again.actions.is_empty(), "polled again inside the lease: {:?}", again.actions);
    assert!(matches!(again.verdict, Verdict::Ignored(_)));
    let after_lease = core::handle(&polled.rotation, Event::Tick, mins(3));
    assert!(matches!(after_lease.actions.as_slice(), [Action::PollOperation { .. }]));
}

/// Throttling is retried `max_transient_failures` times; the next one stalls.
#[test]
fn throttling_stalls_only_past_the_limit() {
    let throttled = || Event::Regenerated { slot: Slot::Secondary, result: ProviderResult::Throttled { retry_after: std::time::Duration::from_secs(5) } };
    let mut r = guarded();
    for _ in 0..Timing::default().max_transient_failures {
        r = core::handle(&r, throttled(), t0()).rotation;
        assert!(!r.is_stalled(), "stalled after {} throttles", r.transient_failures);
    }
    let o = core::handle(&r, throttled(), t0());
    assert!(o.rotation.stall.unwrap().reason.contains("kept throttling (9 times)"));
}

/// The standby's last use blocks the guard for 24 hours, and not a second longer.
#[test]
fn standby_use_blocks_for_exactly_a_day() {
    let r = core::start(RotationId::parse("rot-7").unwrap(), one_consumer_plan(), Trigger::Schedule, "s".into(), t0()).rotation;
    let used = |ago: Duration| GuardFacts {
        standby_usage: UsageEvidence { last_used: Some(t0() - ago), source: "logs".into() },
        ..primary_active()
    };
    let day = Duration::hours(24);
    assert!(core::handle(&r, Event::Guard(used(day - Duration::seconds(1))), t0()).rotation.is_stalled());
    assert_eq!(core::handle(&r, Event::Guard(used(day)), t0()).rotation.phase, Phase::RegenerateStandby);
}

/// Only a recorded force marks a regeneration as forced.
#[test]
fn an_ordinary_retirement_is_not_recorded_as_forced() {
    let (r, step) = reloading();
    let done = core::handle(&ack_healthy(&r, &step, mins(1)), Event::Regenerated { slot: Slot::Primary, result: ProviderResult::Done }, mins(2)).rotation;
    assert_eq!(done.regenerated.iter().map(|g| (g.slot, g.forced)).collect::<Vec<_>>(), vec![(Slot::Secondary, false), (Slot::Primary, false)]);
    assert!(done.timeline.iter().all(|e| !e.what.contains("forced")));
}

/// A publish result for the other slot is not this phase's result.
#[test]
fn a_publish_result_for_the_wrong_slot_is_ignored() {
    let r = core::handle(&guarded(), Event::Regenerated { slot: Slot::Secondary, result: ProviderResult::Done }, t0()).rotation;
    assert_eq!(r.phase, Phase::Publish);
    let o = core::handle(&r, Event::Published { slot: Slot::Primary, result: Ok(SecretVersion::parse("v5").unwrap()) }, t0());
    assert!(matches!(o.verdict, Verdict::Ignored(_)));
    assert_eq!(o.rotation.new_version, None);
}

/// A record in a reload phase with a consumer never sent its step (entering a wave sends every
/// step in the same transition, so only a record written by another version or edited by hand
/// looks like this): the next tick sends it, with a fresh deadline, instead of waiting forever.
#[test]
fn a_tick_sends_a_step_that_was_never_sent() {
    let (mut r, _) = reloading();
    let app = keyrelay::domain::ConsumerId::parse("app").unwrap();
    let c = r.consumers.get_mut(&app).unwrap();
    (c.ack, c.attempt, c.first_sent_at, c.last_sent_at, c.deadline) = (keyrelay::core::AckState::NotSent, 0, None, None, None);
    let o = core::handle(&r, Event::Tick, mins(1));
    assert_eq!(o.verdict, Verdict::Accepted);
    assert!(
        matches!(o.actions.as_slice(), [Action::SendStep(step)] if step.consumer == app && step.attempt == 1),
        "{:?}",
        o.actions
    );
    let c = &o.rotation.consumers[&app];
    assert_eq!((c.ack.clone(), c.deadline), (keyrelay::core::AckState::Waiting, Some(mins(11))));
}

/// Rollback is an operator's decision on the record: who and why are both required, and a
/// command missing either is refused and leaves the rotation where it was.
#[test]
fn a_rollback_needs_both_an_operator_and_a_reason() {
    let (r, _) = reloading();
    for (who, why) in [("", "give up"), ("bob", ""), ("  ", "give up"), ("bob", " ")] {
        let o = operator(&r, OperatorCommand::Rollback { operator: who.into(), reason: why.into() }, mins(1));
        assert!(matches!(o.verdict, Verdict::Rejected(_)), "operator {who:?}, reason {why:?}: {:?}", o.verdict);
        assert_eq!(Rotation { updated_at: r.updated_at, ..o.rotation }, r, "a refused command changes nothing but the record's time");
    }
    assert_eq!(operator(&r, rollback(), mins(1)).verdict, Verdict::Accepted);
}

/// Each consumer is held to its own ack deadline from the plan, counted from its step.
#[test]
fn each_consumer_gets_its_own_ack_deadline() {
    let mut plan = support_plan::plan("db", &[("fast", 1), ("slow", 1)]);
    plan.consumers[0].ack_deadline = keyrelay::domain::HumanDuration::parse("3m").unwrap();
    plan.consumers[1].ack_deadline = keyrelay::domain::HumanDuration::parse("45m").unwrap();
    let r = core::start(RotationId::parse("rot-d").unwrap(), plan, Trigger::Schedule, "s".into(), t0()).rotation;
    let r = core::handle(&r, Event::Guard(primary_active()), t0()).rotation;
    let r = core::handle(&r, Event::Regenerated { slot: Slot::Secondary, result: ProviderResult::Done }, t0()).rotation;
    let o = core::handle(&r, Event::Published { slot: Slot::Secondary, result: Ok(SecretVersion::parse("v2").unwrap()) }, mins(2));
    let deadlines: Vec<_> = o
        .actions
        .iter()
        .filter_map(|a| if let Action::SendStep(s) = a { Some((s.consumer.to_string(), s.deadline)) } else { None })
        .collect();
    assert_eq!(deadlines, vec![("fast".to_string(), mins(5)), ("slow".to_string(), mins(47))]);
    let fast = keyrelay::domain::ConsumerId::parse("fast").unwrap();
    assert_eq!(o.rotation.consumers[&fast].deadline, Some(mins(5)));
}
