//! End to end on the whole local stack: the Azure twin over HTTPS, a real redis-server as the
//! cache's data plane, `keyrelay serve` as a child process driven by the Functions host
//! simulator, and consumers under live traffic with embedded agents. keyrelay's promise is
//! checked where it matters: no consumer request fails, and the old key really stops working.

mod support;

use keyrelay::core::Phase;
use keyrelay::twin::stack::Behaviour;
use support::stack::regenerated;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_near_expiry_event_rotates_with_zero_failed_requests_and_the_old_key_stops_working() {
    let e = support::stack::start(|_| {}).await;
    let s = &e.stack;
    let old = s.fleet.consumers[0].key();
    s.near_expiry().await.unwrap();
    let done = e.settle(Duration::from_secs(60)).await;
    assert_eq!(done.phase, Phase::Completed, "{:#?}\n{}", done.timeline, e.serve_log());
    // A little more traffic on the new key after the old one is gone.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(e.failures(), vec![], "consumer requests failed");
    let secs = (done.finished_at.unwrap() - done.started_at).num_milliseconds() as f64 / 1000.0;
    eprintln!("rotation {} completed in {secs:.2}s; {} consumer requests, 0 failed", done.id, s.fleet.requests());
    for entry in &done.timeline {
        eprintln!("  {} {:<18} {}", entry.at.format("%H:%M:%S%.3f"), entry.phase, entry.what);
    }
    assert!(s.fleet.requests() > 100, "too little traffic to prove anything: {}", s.fleet.requests());
    let new = keyrelay::domain::SecretValue::new(s.vault.versions("orders-cache-key").last().unwrap().value.clone());
    assert!(!s.redis.can_login("default", &old).await, "the retired key still signs in");
    assert!(s.redis.can_login("default", &new).await, "the published key does not sign in");
    for c in &s.fleet.consumers {
        assert_eq!(c.key().expose(), new.expose(), "{} is not on the new key", c.id);
    }
}

/// Everything the run wrote or sent, as text: serve's TRACE log, the SQLite state (database and
/// write-ahead log bytes, and every record), every invocation and response the host exchanged
/// (commands, acks, events), every step the agents received, whatever is left in the queues,
/// subscriptions and dead-letter queues, and the evidence.
async fn everything_written(e: &support::stack::E2e) -> Vec<(String, String)> {
    let s = &e.stack;
    let mut out = vec![("serve log".to_string(), e.serve_log())];
    for file in ["state.db", "state.db-wal", "policy.toml"] {
        let bytes = std::fs::read(e.dir.path().join(file)).unwrap_or_default();
        out.push((file.to_string(), String::from_utf8_lossy(&bytes).into_owned()));
    }
    for r in s.rotations().await.unwrap() {
        out.push((format!("record {}", r.id), format!("{r:?}")));
        out.push((format!("evidence {}", r.id), keyrelay::evidence::render_json(&r).to_string()));
        out.push((format!("evidence md {}", r.id), keyrelay::evidence::render_markdown(&r)));
    }
    for body in s.host.log.exchanged.lock().unwrap().iter() {
        out.push(("host invocation".into(), body.clone()));
    }
    for body in s.fleet.steps_seen.lock().unwrap().iter() {
        out.push(("step".into(), String::from_utf8_lossy(body).into_owned()));
    }
    let mut paths = vec!["rotation-commands".to_string(), "reload-acks".to_string()];
    paths.extend(s.fleet.consumers.iter().map(|c| format!("reload-steps/subscriptions/{}", c.id)));
    for path in paths {
        for m in s.bus.peek(&path).unwrap().into_iter().chain(s.bus.dead_letters(&path).unwrap()) {
            out.push((format!("message in {path}"), format!("{} {:?} {}", m.body_text(), m.properties, m.message_id)));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_trace_level_no_key_value_appears_in_logs_state_messages_or_evidence() {
    let e = support::stack::start(|o| o.log_level = "trace".into()).await;
    let s = &e.stack;
    s.near_expiry().await.unwrap();
    let done = e.settle(Duration::from_secs(60)).await;
    assert_eq!(done.phase, Phase::Completed, "{:#?}", done.timeline);
    let keys: Vec<String> = s.keys_seen.lock().unwrap().iter().map(|k| k.expose().to_string()).collect();
    assert!(keys.len() >= 4, "expected the initial two keys and two regenerated ones, saw {}", keys.len());
    assert!(keys.iter().all(|k| k.len() >= 20), "keys too short to search for meaningfully");
    let written = everything_written(&e).await;
    let log = &written[0].1;
    assert!(log.contains("TRACE") && log.len() > 10_000, "serve did not log at trace level ({} bytes)", log.len());
    assert!(written.iter().any(|(what, _)| what == "step"), "no step was captured");
    let mut hits = Vec::new();
    for (what, text) in &written {
        for (i, key) in keys.iter().enumerate() {
            if text.contains(key.as_str()) {
                hits.push(format!("key #{i} in {what}"));
            }
        }
    }
    assert_eq!(hits, Vec::<String>::new(), "key values leaked");
    eprintln!("scanned {} sources ({} bytes) for {} key values: 0 hits", written.len(), written.iter().map(|(_, t)| t.len()).sum::<usize>(), keys.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_that_never_reloads_stalls_the_rotation_keeps_working_and_rollback_brings_everyone_back() {
    // consumer-1 is in wave 1 and runs no agent: it never reloads and never acks.
    let e = support::stack::start_with(0, Behaviour::NeverReloads).await;
    let s = &e.stack;
    let old = s.fleet.consumers[0].key();
    let stalled = e.rotate_until_stalled().await;
    let why = stalled.stall.as_ref().unwrap().reason.clone();
    assert!(why.contains("consumer-1"), "the stall does not name the silent consumer: {why}");
    // Only the standby slot was regenerated: the key the silent consumer holds still works.
    assert_eq!(regenerated(s), vec!["\"Secondary\"".to_string()], "the old key was regenerated");
    assert!(s.redis.can_login("default", &old).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(e.failures(), vec![], "consumer requests failed while stalled");

    let body = serde_json::json!({ "operator": "e2e-operator", "reason": "consumer-1 does not reload" });
    let (status, answer) = s.host.api("POST", &format!("rotations/{}/rollback", stalled.id), Some(&body)).await.unwrap();
    assert_eq!(status, 200, "{answer}");
    // The silent consumer's agent comes back and works through its subscription.
    s.fleet.start_agent(&s.fleet.consumers[0]).unwrap();
    let done = s.watch(Duration::from_secs(60), |r| r.is_finished(), |_| {}).await.unwrap();
    assert_eq!(done.phase, Phase::RolledBack, "{:#?}", done.timeline);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(e.failures(), vec![], "consumer requests failed during the rollback");
    for c in &s.fleet.consumers {
        assert_eq!(c.key().expose(), old.expose(), "{} is not back on the old key", c.id);
    }
    assert!(s.redis.can_login("default", &old).await);
    assert_eq!(regenerated(s).len(), 1, "rollback regenerated a key");
    let rollback = done.rollback.as_ref().expect("the rollback is recorded");
    assert!(format!("{rollback:?}").contains("e2e-operator"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ack_with_a_wrong_proof_is_rejected_and_the_rotation_stalls_saying_why() {
    let e = support::stack::start_with(1, Behaviour::WrongProof).await;
    let s = &e.stack;
    let old = s.fleet.consumers[1].key();
    let stalled = e.rotate_until_stalled().await;
    let consumer = stalled.consumers.iter().find(|(id, _)| id.as_str() == "consumer-2").unwrap().1;
    let record = format!("{:?}", consumer.ack);
    assert!(record.contains("Rejected") && record.contains("does not verify"), "{record}");
    let why = &stalled.stall.as_ref().unwrap().reason;
    assert!(why.contains("consumer-2"), "the stall does not say who: {why}");
    assert_eq!(regenerated(s).len(), 1, "the old key was regenerated");
    assert!(s.redis.can_login("default", &old).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(e.failures(), vec![]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_event_grid_deliveries_and_a_timer_together_start_exactly_one_rotation() {
    let e = support::stack::start(|o| o.rotate_every = "1s".into()).await;
    let s = &e.stack;
    // The seeded version is older than the cadence: the schedule finds it due.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let event = s.near_expiry_event();
    let (a, b, t) = tokio::join!(s.host.deliver_event(&event), s.host.deliver_event(&event), s.host.fire_timer("schedule"));
    assert!(a && b && t, "an invocation failed");
    let lines = s.host.log.lines.lock().unwrap().clone();
    let enqueued = lines.iter().filter(|l| l.contains("rotate command") && l.ends_with("enqueued")).count();
    assert!(enqueued >= 2, "the deliveries did not all ask for a rotation: {lines:#?}");
    let done = e.settle(Duration::from_secs(60)).await;
    assert_eq!(done.phase, Phase::Completed, "{:#?}", done.timeline);
    // Late redeliveries of the same event find the version rotated away.
    assert!(s.host.deliver_event(&event).await);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let all = s.rotations().await.unwrap();
    assert_eq!(all.len(), 1, "{:#?}", all.iter().map(|r| (&r.id, r.phase.name(), &r.trigger)).collect::<Vec<_>>());
    assert_eq!(regenerated(s).len(), 2, "one standby and one retire regenerate");
    assert_eq!(e.failures(), vec![]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_bursts_and_a_long_running_regenerate_still_complete_with_zero_failures() {
    let e = support::stack::start(|_| {}).await;
    let s = &e.stack;
    s.arm.faults(|f| {
        f.throttle_next = 3;
        f.throttle_retry_after = 1;
        f.lro_everywhere = true;
        f.lro_duration = Duration::from_secs(2);
        f.lro_retry_after = 1;
    });
    s.near_expiry().await.unwrap();
    let done = e.settle(Duration::from_secs(90)).await;
    assert_eq!(done.phase, Phase::Completed, "{:#?}\n{}", done.timeline, e.serve_log());
    let seen = s.arm.seen();
    assert!(seen.iter().filter(|r| r.status == 429).count() >= 3, "no throttling was seen");
    assert!(seen.iter().any(|r| r.status == 202), "no long-running operation was seen");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(e.failures(), vec![]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_killed_with_sigkill_at_every_phase_boundary_and_restarted_completes_every_rotation() {
    let mut e = support::stack::start(|o| o.reload_delay = Duration::from_millis(300)).await;
    // Regenerates are long-running, so the kill can land while one is in flight.
    e.stack.arm.faults(|f| {
        f.lro_everywhere = true;
        f.lro_duration = Duration::from_secs(1);
        f.lro_retry_after = 1;
    });
    let boundaries = [
        "entered guard",
        "entered regenerate-standby",
        "entered publish",
        "entered reload of wave 1",
        "entered reload of wave 2",
        "entered retire",
    ];
    let mut previous = Vec::new();
    let mut killed_in_phases = std::collections::BTreeSet::new();
    for boundary in boundaries {
        let old = e.stack.fleet.consumers[0].key();
        if boundary == "entered guard" {
            // The guard's first Resource Manager call is throttled for a second: the kill lands
            // while the guard is being evaluated.
            e.stack.arm.faults(|f| {
                f.throttle_next = 1;
                f.throttle_retry_after = 1;
            });
        }
        e.stack.near_expiry().await.unwrap();
        let seen = |r: &keyrelay::core::Rotation| !previous.contains(&r.id);
        let at = e
            .stack
            .watch(Duration::from_secs(30), |r| seen(r) && (r.timeline.iter().any(|t| t.what == boundary) || r.is_finished()), |_| {})
            .await
            .unwrap();
        e.stack.serve.kill();
        let killed_in = at.phase.name();
        killed_in_phases.insert(killed_in);
        tokio::time::sleep(Duration::from_millis(300)).await;
        e.stack.serve.start().await.unwrap();
        let done = match e.stack.watch(Duration::from_secs(30), |r| seen(r) && (r.is_finished() || r.is_stalled()), |_| {}).await {
            Ok(done) => done,
            Err(err) => {
                let now = e.stack.rotations().await.unwrap();
                let log = e.serve_log();
                panic!("killed at {boundary} (in {killed_in}): {err}\n{:#?}\n{}", now.first().map(|r| &r.timeline), &log[log.len().saturating_sub(6000)..]);
            }
        };
        assert_eq!(done.phase, Phase::Completed, "killed at {boundary} (in {killed_in}): {:#?}\n{}", done.timeline, e.serve_log());
        eprintln!("killed serve at '{boundary}' (phase {killed_in}); rotation {} completed", done.id);
        let slots: Vec<String> = done.regenerated.iter().map(|g| format!("{:?}", g.slot)).collect();
        assert_eq!(slots.len(), 2, "killed at {boundary}: regenerated {slots:?}");
        assert!(!e.stack.redis.can_login("default", &old).await, "killed at {boundary}: the retired key still works");
        previous.push(done.id);
    }
    // Publish is one fast Key Vault call: a kill "at" it may land in the first wave instead.
    for phase in ["guard", "regenerate-standby", "reload", "retire"] {
        assert!(killed_in_phases.contains(phase), "no kill landed in {phase}: {killed_in_phases:?}");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(e.failures(), vec![], "consumer requests failed");
    assert_eq!(e.stack.serve.starts, 1 + boundaries.len() as u32);
    // A kill while a regenerate is in flight may repeat that call after the restart (the
    // operation was not recorded yet). That is harmless only because no consumer holds the
    // slot being regenerated — which the zero failures above prove; at most one per kill.
    let regenerates = regenerated(&e.stack);
    eprintln!("{} regenerate calls for {} rotations: {regenerates:?}", regenerates.len(), boundaries.len());
    assert!((2 * boundaries.len()..=3 * boundaries.len()).contains(&regenerates.len()), "{regenerates:?}");
}

/// The README's main job as a user runs it: `keyrelay demo` ends with zero failed requests and
/// exit 0, writes its evidence, and `keyrelay evidence <rotation>` reads it back from the
/// state store.
#[test]
fn keyrelay_demo_exits_zero_with_zero_failures_and_keyrelay_evidence_reads_the_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_keyrelay"))
        .args(["demo", "--consumers", "4", "--waves", "2", "--evidence-dir"])
        .arg(dir.path().join("evidence"))
        .arg("--work-dir")
        .arg(&work)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("failed consumer requests:   0") && stdout.contains("outcome:                    completed"), "{stdout}");
    assert!(stdout.contains("wave 2 reloaded and healthy"), "{stdout}");
    assert!(!stdout.contains('\r'), "piped output must be plain lines");
    let id = stdout.lines().find_map(|l| l.strip_prefix("rotation:")).unwrap().trim().to_string();
    assert!(dir.path().join("evidence").join(format!("{id}.json")).exists());

    let evidence = std::process::Command::new(env!("CARGO_BIN_EXE_keyrelay"))
        .args(["evidence", &id, "--format", "json"])
        .env("KEYRELAY_STATE_STORE", format!("sqlite:{}", work.join("state.db").display()))
        .output()
        .unwrap();
    assert!(evidence.status.success(), "{}", String::from_utf8_lossy(&evidence.stderr));
    let json: serde_json::Value = serde_json::from_slice(&evidence.stdout).unwrap();
    assert_eq!(json["rotation"], id.as_str());
    assert_eq!(json["outcome"], "completed");
    let missing = std::process::Command::new(env!("CARGO_BIN_EXE_keyrelay"))
        .args(["evidence", "orders-cache-20200101T000000Z-000000"])
        .env("KEYRELAY_STATE_STORE", format!("sqlite:{}", work.join("state.db").display()))
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no rotation orders-cache-20200101T000000Z-000000"));
}
