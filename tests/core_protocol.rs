//! The rotation core, phase by phase, through its public API: each test drives one rule of
//! the protocol in DESIGN.md and checks the record, the actions and the verdict.

#[path = "support/plan.rs"]
mod support_plan;

use chrono::{DateTime, Duration, Utc};
use keyrelay::core::{
    self, Action, AckState, Event, GuardFacts, OperatorCommand, Outcome, Phase, Plan, ProviderResult,
    Rotation, Trigger, Verdict,
};
use keyrelay::domain::{ConsumerId, HumanDuration, RotationId, SecretValue, SecretVersion, Slot, Wave};
use keyrelay::ports::{KeyAuthStatus, UsageEvidence};
use keyrelay::protocol::{Ack, Step};

fn t0() -> DateTime<Utc> {
    "2026-03-01T12:00:00Z".parse().unwrap()
}

fn plan(consumers: &[(&str, u32)]) -> Plan {
    support_plan::plan("cache", consumers)
}

fn facts(tag: Option<Slot>) -> GuardFacts {
    GuardFacts {
        key_auth: KeyAuthStatus::Enabled,
        current_version: Some(SecretVersion::parse("v1").unwrap()),
        current_slot_tag: tag,
        current_slot_by_value: tag,
        heartbeats: vec![],
        standby_usage: UsageEvidence::default(),
    }
}

fn started(p: Plan) -> Outcome {
    core::start(RotationId::parse("rot-1").unwrap(), p, Trigger::Schedule, "seed".into(), t0())
}

fn at(mins: i64) -> DateTime<Utc> {
    t0() + Duration::minutes(mins)
}

fn stall_reason(r: &Rotation) -> String {
    assert!(r.is_stalled(), "expected a stall, phase is {}", r.phase.name());
    r.stall.as_ref().unwrap().reason.clone()
}

/// Runs guard → regenerate → publish v2, returning the rotation in Reload of the first wave.
fn published(p: Plan) -> (Rotation, Vec<Step>) {
    let o = started(p);
    let o = core::handle(&o.rotation, Event::Guard(facts(Some(Slot::Primary))), at(0));
    assert_eq!(o.actions, vec![Action::Regenerate { slot: Slot::Secondary, force: false, not_after: at(2) }]);
    let o = core::handle(&o.rotation, Event::Regenerated { slot: Slot::Secondary, result: ProviderResult::Done }, at(0));
    assert_eq!(o.actions, vec![Action::Publish { slot: Slot::Secondary, not_after: at(2) }]);
    let o = core::handle(&o.rotation, Event::Published { slot: Slot::Secondary, result: Ok(SecretVersion::parse("v2").unwrap()) }, at(0));
    let steps = steps_of(&o.actions);
    (o.rotation, steps)
}

fn steps_of(actions: &[Action]) -> Vec<Step> {
    actions.iter().filter_map(|a| if let Action::SendStep(s) = a { Some(s.clone()) } else { None }).collect()
}

fn key(v: &str) -> SecretValue {
    SecretValue::new(format!("value-of-{v}"))
}

fn ack_for(step: &Step, healthy: bool, key_value: &SecretValue) -> Ack {
    Ack::answering(step, key_value, healthy, if healthy { "ok" } else { "PING failed" }, None)
}

fn ack(r: &Rotation, step: &Step, mins: i64) -> Outcome {
    let k = key(step.secret_id.version.as_str());
    core::handle(r, Event::Ack { ack: ack_for(step, true, &k), key: Some(k) }, at(mins))
}

#[test]
fn start_claims_and_asks_for_the_guard() {
    let o = started(plan(&[("a", 1)]));
    assert_eq!(o.rotation.phase, Phase::Guard);
    assert_eq!(o.actions, vec![Action::EvaluateGuards]);
    assert_eq!(o.rotation.retry_at, Some(at(2)));
    assert_eq!(o.rotation.timeline[0].what, "claimed (schedule)");
    assert_eq!(o.rotation.consumers[&ConsumerId::parse("a").unwrap()].ack, AckState::NotSent);
    assert_eq!(o.verdict, Verdict::Accepted);
}

#[test]
fn guard_refusals_stall_with_a_reason_and_touch_nothing() {
    let base = started(plan(&[("a", 1)])).rotation;
    let cases: Vec<(GuardFacts, &str)> = vec![
        (GuardFacts { key_auth: KeyAuthStatus::Disabled { switch: "disableLocalAuth".into() }, ..facts(Some(Slot::Primary)) }, "disableLocalAuth"),
        (GuardFacts { current_version: None, ..facts(Some(Slot::Primary)) }, "no current version"),
        (GuardFacts { current_slot_by_value: Some(Slot::Secondary), ..facts(Some(Slot::Primary)) }, "tagged primary but its value is the secondary key"),
        (facts(None), "set initial_active_slot"),
        (
            GuardFacts {
                heartbeats: vec![(ConsumerId::parse("a").unwrap(), SecretVersion::parse("v0").unwrap(), Some(Slot::Secondary))],
                ..facts(Some(Slot::Primary))
            },
            "consumer a reports it uses version v0",
        ),
        (
            GuardFacts {
                standby_usage: UsageEvidence { last_used: Some(at(-60)), source: "cosmos".into() },
                ..facts(Some(Slot::Primary))
            },
            "cosmos says the secondary key was used",
        ),
    ];
    for (f, expected) in cases {
        let o = core::handle(&base, Event::Guard(f), at(0));
        assert!(stall_reason(&o.rotation).contains(expected), "{} lacks {expected:?}", stall_reason(&o.rotation));
        assert!(matches!(o.actions.as_slice(), [Action::Alert { .. }]));
        assert!(o.rotation.old_slot.is_none());
        assert_eq!(o.rotation.wake_at(), None, "a stalled rotation waits for an operator");
    }
    // Old usage of the standby is fine; an untagged secret falls back to the policy's slot.
    let old_use = GuardFacts { standby_usage: UsageEvidence { last_used: Some(at(-60 * 25)), source: "x".into() }, ..facts(Some(Slot::Primary)) };
    assert_eq!(core::handle(&base, Event::Guard(old_use), at(0)).rotation.phase, Phase::RegenerateStandby);
    let mut p = plan(&[("a", 1)]);
    p.initial_active_slot = Some(Slot::Secondary);
    let o = core::handle(&started(p).rotation, Event::Guard(facts(None)), at(0));
    assert_eq!(o.rotation.old_slot, Some(Slot::Secondary));
    assert!(matches!(o.actions[0], Action::Regenerate { slot: Slot::Primary, .. }));
    // A value match decides when there is no tag.
    let by_value = GuardFacts { current_slot_tag: None, ..facts(Some(Slot::Secondary)) };
    assert_eq!(core::handle(&base, Event::Guard(by_value), at(0)).rotation.old_slot, Some(Slot::Secondary));
}

#[test]
fn long_running_regenerate_is_polled_then_times_out() {
    let o = started(plan(&[("a", 1)]));
    let r = core::handle(&o.rotation, Event::Guard(facts(Some(Slot::Primary))), at(0)).rotation;
    let pending = ProviderResult::Pending { operation: "https://op/1".into(), retry_after: std::time::Duration::from_secs(30) };
    let o = core::handle(&r, Event::Regenerated { slot: Slot::Secondary, result: pending.clone() }, at(0));
    let r = o.rotation;
    assert_eq!(r.operation.as_ref().unwrap().poll_at, t0() + Duration::seconds(30));
    assert_eq!(r.wake_at(), Some(t0() + Duration::seconds(30)));
    assert!(matches!(core::handle(&r, Event::Tick, t0() + Duration::seconds(10)).verdict, Verdict::Ignored(_)));
    let o = core::handle(&r, Event::Tick, t0() + Duration::seconds(31));
    assert_eq!(
        o.actions,
        vec![Action::PollOperation { slot: Slot::Secondary, operation: "https://op/1".into(), not_after: t0() + Duration::seconds(151) }]
    );
    // Still pending: the start time is kept, so the timeout counts from the first answer.
    let r = core::handle(&o.rotation, Event::Regenerated { slot: Slot::Secondary, result: pending }, at(1)).rotation;
    assert_eq!(r.operation.as_ref().unwrap().started_at, t0());
    let o = core::handle(&r, Event::Tick, at(31));
    assert!(stall_reason(&o.rotation).contains("did not finish within 30m"));
    // A result for the wrong slot or phase is ignored.
    assert!(matches!(
        core::handle(&r, Event::Regenerated { slot: Slot::Primary, result: ProviderResult::Done }, at(1)).verdict,
        Verdict::Ignored(_)
    ));
}

#[test]
fn throttling_and_transient_failures_back_off_then_stall() {
    let o = started(plan(&[("a", 1)]));
    let mut r = core::handle(&o.rotation, Event::Guard(facts(Some(Slot::Primary))), at(0)).rotation;
    let throttled = ProviderResult::Throttled { retry_after: std::time::Duration::from_secs(7) };
    let o = core::handle(&r, Event::Regenerated { slot: Slot::Secondary, result: throttled }, at(0));
    assert_eq!(o.rotation.retry_at, Some(t0() + Duration::seconds(7)));
    assert_eq!(o.rotation.transient_failures, 1);
    let fail = || ProviderResult::Failed { detail: "503".into(), transient: true };
    let mut backoffs = vec![];
    for _ in 0..8 {
        r = core::handle(&r, Event::Regenerated { slot: Slot::Secondary, result: fail() }, at(0)).rotation;
        if let Some(t) = r.retry_at {
            backoffs.push((t - t0()).num_seconds());
        }
    }
    assert_eq!(backoffs, vec![5, 10, 20, 40, 80, 120, 120, 120]);
    let o = core::handle(&r, Event::Regenerated { slot: Slot::Secondary, result: fail() }, at(0));
    assert!(stall_reason(&o.rotation).contains("failed 9 times; last: 503"));
    let hard = core::handle(&started(plan(&[("a", 1)])).rotation, Event::GuardFailed { detail: "403 forbidden".into(), transient: false }, at(0));
    assert!(stall_reason(&hard.rotation).contains("guard failed: 403 forbidden"));
}

#[test]
fn waves_go_in_order_and_retire_waits_for_every_ack() {
    let (r, steps) = published(plan(&[("a", 1), ("b", 2), ("c", 2)]));
    assert_eq!(r.phase, Phase::Reload { wave: Wave::parse(1).unwrap() });
    assert_eq!(steps.len(), 1);
    let step = &steps[0];
    assert_eq!((step.consumer.as_str(), step.slot, step.attempt), ("a", Slot::Secondary, 1));
    assert_eq!(step.secret_id.to_string(), "https://kv.vault.azure.net/secrets/cache-key/v2");
    assert_eq!(step.deadline, at(10));
    assert_eq!(step.nonce, r.nonce(&step.consumer, 1));
    assert_ne!(r.nonce(&step.consumer, 1), r.nonce(&step.consumer, 2));
    assert_eq!(step.message_id(), "rot-1/a/1");

    let o = ack(&r, step, 1);
    assert_eq!(o.rotation.phase, Phase::Reload { wave: Wave::parse(2).unwrap() });
    let wave2 = steps_of(&o.actions);
    assert_eq!(wave2.iter().map(|s| s.consumer.as_str()).collect::<Vec<_>>(), vec!["b", "c"]);
    let o2 = ack(&o.rotation, &wave2[0], 2);
    assert!(o2.actions.is_empty(), "no retire before every consumer acked");
    assert!(matches!(ack(&o2.rotation, &wave2[0], 2).verdict, Verdict::Ignored(_)), "duplicate ack");
    let o3 = ack(&o2.rotation, &wave2[1], 3);
    assert_eq!(o3.rotation.phase, Phase::Retire);
    assert_eq!(o3.actions, vec![Action::Regenerate { slot: Slot::Primary, force: false, not_after: at(5) }]);
    let done = core::handle(&o3.rotation, Event::Regenerated { slot: Slot::Primary, result: ProviderResult::Done }, at(4)).rotation;
    assert_eq!(done.phase, Phase::Completed);
    assert_eq!(done.finished_at, Some(at(4)));
    assert_eq!(done.regenerated.iter().map(|g| g.slot).collect::<Vec<_>>(), vec![Slot::Secondary, Slot::Primary]);
    assert_eq!(done.wake_at(), None);
}

#[test]
fn bad_acks_are_rejected_and_a_wrong_proof_stalls() {
    let (r, steps) = published(plan(&[("a", 1), ("b", 1)]));
    let step = &steps[0];
    let k = key("v2");
    let mut other_rotation = ack_for(step, true, &k);
    other_rotation.rotation_id = RotationId::parse("rot-2").unwrap();
    assert!(matches!(core::handle(&r, Event::Ack { ack: other_rotation, key: Some(k.clone()) }, at(1)).verdict, Verdict::Rejected(_)));
    let mut stranger = ack_for(step, true, &k);
    stranger.consumer = ConsumerId::parse("zed").unwrap();
    assert!(matches!(core::handle(&r, Event::Ack { ack: stranger, key: Some(k.clone()) }, at(1)).verdict, Verdict::Rejected(_)));
    let mut wrong_version = ack_for(step, true, &k);
    wrong_version.version = SecretVersion::parse("v1").unwrap();
    let o = core::handle(&r, Event::Ack { ack: wrong_version, key: Some(k.clone()) }, at(1));
    assert!(matches!(o.verdict, Verdict::Rejected(ref why) if why.contains("names version v1")));
    assert!(!o.rotation.is_stalled(), "a stale ack is refused but does not stall");

    let forged = ack_for(step, true, &SecretValue::new("guess"));
    let o = core::handle(&r, Event::Ack { ack: forged, key: Some(k.clone()) }, at(1));
    assert!(matches!(o.verdict, Verdict::Rejected(_)));
    assert!(stall_reason(&o.rotation).contains("proof of possession that does not verify"));
    assert!(matches!(o.rotation.consumers[&step.consumer].ack, AckState::Rejected { .. }));
    let missing_key = core::handle(&r, Event::Ack { ack: ack_for(step, true, &k), key: None }, at(1));
    assert!(missing_key.rotation.is_stalled());

    let o = core::handle(&r, Event::Ack { ack: ack_for(step, false, &k), key: Some(k) }, at(1));
    assert!(stall_reason(&o.rotation).contains("reports unhealthy: PING failed"));
    assert!(o.actions.iter().all(|a| !matches!(a, Action::Regenerate { .. })));
}

#[test]
fn lost_steps_are_resent_and_a_missed_deadline_stalls() {
    let (r, steps) = published(plan(&[("a", 1)]));
    assert_eq!(r.wake_at(), Some(at(1)), "next resend");
    assert!(matches!(core::handle(&r, Event::Tick, t0() + Duration::seconds(30)).verdict, Verdict::Ignored(_)));
    let o = core::handle(&r, Event::Tick, at(1));
    let resent = steps_of(&o.actions);
    assert_eq!(resent, steps, "same attempt, same MessageId, same nonce");
    let o = core::handle(&o.rotation, Event::Tick, at(10));
    assert!(stall_reason(&o.rotation).contains("consumer a did not acknowledge version v2 before its deadline"));

    // Retry: a new attempt with a new nonce and deadline; an ack for the old attempt still counts.
    let o = core::handle(&o.rotation, Event::Operator(OperatorCommand::Retry { operator: "ops".into() }), at(11));
    let retried = steps_of(&o.actions);
    assert_eq!(retried[0].attempt, 2);
    assert_eq!(retried[0].deadline, at(21));
    assert_eq!(o.rotation.phase, Phase::Reload { wave: Wave::parse(1).unwrap() });
    assert_eq!(ack(&o.rotation, &steps[0], 12).rotation.phase, Phase::Retire);
}

#[test]
fn operator_commands_are_checked_and_recorded() {
    let (r, steps) = published(plan(&[("a", 1)]));
    let retry = OperatorCommand::Retry { operator: "ops".into() };
    assert!(matches!(core::handle(&r, Event::Operator(retry), at(1)).verdict, Verdict::Rejected(_)));
    let force = |who: &str, why: &str| Event::Operator(OperatorCommand::Force { operator: who.into(), reason: why.into() });
    assert!(matches!(core::handle(&r, force("ops", "x"), at(1)).verdict, Verdict::Rejected(_)), "not stalled");
    let stalled = core::handle(&r, Event::Tick, at(10)).rotation;
    assert!(matches!(core::handle(&stalled, force("", "x"), at(11)).verdict, Verdict::Rejected(_)));
    let o = core::handle(&stalled, force("alice", "consumer decommissioned"), at(11));
    assert_eq!(o.actions, vec![Action::Regenerate { slot: Slot::Primary, force: true, not_after: at(13) }]);
    let f = o.rotation.force.clone().unwrap();
    assert_eq!((f.operator.as_str(), f.reason.as_str()), ("alice", "consumer decommissioned"));
    let done = core::handle(&o.rotation, Event::Regenerated { slot: Slot::Primary, result: ProviderResult::Done }, at(12)).rotation;
    assert!(done.regenerated[1].forced);

    // Force before anything was published is refused: it would cut every consumer off.
    let early = core::handle(&started(plan(&[("a", 1)])).rotation, Event::GuardFailed { detail: "x".into(), transient: false }, at(0)).rotation;
    assert!(matches!(core::handle(&early, force("alice", "why"), at(1)).verdict, Verdict::Rejected(ref w) if w.contains("never published")));
    let rb = |r: &Rotation| core::handle(r, Event::Operator(OperatorCommand::Rollback { operator: "bob".into(), reason: "bad key".into() }), at(1));
    assert_eq!(rb(&early).rotation.phase, Phase::RolledBack, "nothing published: nothing to undo");
    let _ = steps;
}

#[test]
fn rollback_publishes_the_old_slot_and_reloads_everyone_back() {
    let (r, steps) = published(plan(&[("a", 1), ("b", 2)]));
    // Wave 1 (a) has its step, wave 2 (b) has been sent nothing yet.
    let o = core::handle(&r, Event::Operator(OperatorCommand::Rollback { operator: "bob".into(), reason: "b fails".into() }), at(2));
    assert_eq!(o.rotation.phase, Phase::RollbackPublish);
    assert_eq!(o.actions, vec![Action::Publish { slot: Slot::Primary, not_after: at(4) }]);
    // A forward publish result is now late and ignored.
    assert!(matches!(
        core::handle(&o.rotation, Event::Published { slot: Slot::Secondary, result: Ok(SecretVersion::parse("v9").unwrap()) }, at(2)).verdict,
        Verdict::Ignored(_)
    ));
    let o = core::handle(&o.rotation, Event::Published { slot: Slot::Primary, result: Ok(SecretVersion::parse("v3").unwrap()) }, at(2));
    assert_eq!(o.rotation.phase, Phase::RollbackReload);
    let back = steps_of(&o.actions);
    assert_eq!(back.len(), 1, "only consumers that were sent the new version reload back");
    assert_eq!((back[0].consumer.as_str(), back[0].slot, back[0].secret_id.version.as_str()), ("a", Slot::Primary, "v3"));
    // The forward ack replayed during the rollback is refused.
    assert!(matches!(ack(&o.rotation, &steps[0], 3).verdict, Verdict::Rejected(_)));
    let done = ack(&o.rotation, &back[0], 3).rotation;
    assert_eq!(done.phase, Phase::RolledBack);
    assert_eq!(done.regenerated.len(), 1, "the old slot was never regenerated");
    assert_eq!(done.rollback.as_ref().unwrap().operator, "bob");
    // Rolling back while a key call may be in flight is refused.
    let guard = core::handle(&started(plan(&[("a", 1)])).rotation, Event::Guard(facts(Some(Slot::Primary))), at(0)).rotation;
    let o = core::handle(&guard, Event::Operator(OperatorCommand::Rollback { operator: "bob".into(), reason: "x".into() }), at(0));
    assert!(matches!(o.verdict, Verdict::Rejected(_)));
}

#[test]
fn soak_and_usage_guard_hold_the_retirement() {
    let mut p = plan(&[("a", 1)]);
    p.soak = HumanDuration::parse("30m").unwrap();
    p.usage_guard = true;
    let (r, steps) = published(p);
    let r = ack(&r, &steps[0], 1).rotation;
    assert_eq!(r.phase, Phase::Soak { until: at(31) });
    assert_eq!(r.wake_at(), Some(at(31)));
    assert!(matches!(core::handle(&r, Event::Tick, at(30)).verdict, Verdict::Ignored(_)));
    let o = core::handle(&r, Event::Tick, at(31));
    assert_eq!(o.rotation.phase, Phase::UsageGuard { since: at(31) });
    assert_eq!(o.actions, vec![Action::CheckUsage { slot: Slot::Primary }]);
    let used = |t| Event::Usage { slot: Slot::Primary, result: Ok(UsageEvidence { last_used: Some(t), source: "storage logs".into() }) };
    let o = core::handle(&o.rotation, used(at(32)), at(33));
    assert_eq!(o.rotation.phase, Phase::UsageGuard { since: at(31) });
    assert_eq!(o.rotation.retry_at, Some(at(35)));
    // The usage guard gives up only once its timeout (24 h by default) has fully passed.
    let at_limit = core::handle(&o.rotation, used(at(40)), at(31 + 24 * 60));
    assert_eq!(at_limit.rotation.phase, Phase::UsageGuard { since: at(31) }, "at the limit it still waits");
    let late = core::handle(&o.rotation, used(at(40)), at(31 + 24 * 60 + 1));
    assert!(stall_reason(&late.rotation).contains("storage logs still saw the old primary key in use"));
    let o = core::handle(&o.rotation, used(at(20)), at(36));
    assert_eq!(o.rotation.phase, Phase::Retire);
}

#[test]
fn results_in_the_wrong_phase_are_ignored() {
    let r = started(plan(&[("a", 1)])).rotation;
    for e in [
        Event::Published { slot: Slot::Secondary, result: Ok(SecretVersion::parse("v2").unwrap()) },
        Event::Regenerated { slot: Slot::Secondary, result: ProviderResult::Done },
        Event::Usage { slot: Slot::Primary, result: Ok(UsageEvidence::default()) },
    ] {
        let o = core::handle(&r, e, at(0));
        assert!(matches!(o.verdict, Verdict::Ignored(_)));
        assert_eq!(o.rotation, r, "an ignored event changes nothing");
    }
    let tick = core::handle(&r, Event::Tick, at(1));
    assert!(matches!(tick.verdict, Verdict::Ignored(_)), "guard still within its lease");
    let tick = core::handle(&r, Event::Tick, at(2));
    assert_eq!(tick.actions, vec![Action::EvaluateGuards], "lease over: re-issued after a crash");
}
