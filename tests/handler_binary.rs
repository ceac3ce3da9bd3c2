//! The Functions host simulator against the real binary: the whole twin stack runs
//! `keyrelay serve` as a child process on a random port, and this test posts to that port over
//! HTTP every fixture request plus variations (missing fields, wrong types, a 10 MB body, an
//! unknown event type, batches, CloudEvents and Event Grid schemas, duplicate delivery, a
//! transient failure). It checks every response and that rotation state (the SQLite store the
//! child writes, the ARM regenerate calls, the Key Vault versions) is unchanged wherever it
//! must be — and that a near-expiry event delivered many times rotates exactly once.

mod support;

use keyrelay::core::{Phase, Trigger};
use keyrelay::shells::handler::Command;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use support::handler::*;
use support::stack::{regenerated, E2e};

/// Everything bad input must leave alone: every stored rotation (as JSON), the successful
/// regenerate calls ARM saw, and the Key Vault secret's versions.
async fn state(e: &E2e) -> (Vec<String>, Vec<String>, usize) {
    let s = &e.stack;
    let rotations = s.rotations().await.unwrap().iter().map(|r| serde_json::to_string(r).unwrap()).collect();
    (rotations, regenerated(s), s.vault.versions(keyrelay::twin::stack::policy::SECRET).len())
}

/// Posts to the serve child; asserts the custom handler's response shape.
async fn post(e: &E2e, function: &str, body: impl Into<reqwest::Body>) -> (u16, Value) {
    let (status, answer) = post_http(&reqwest::Client::new(), &e.stack.serve.base_url(), function, body).await;
    assert!(is_invocation_response(&answer), "{function} -> {status}: {answer}\n{}", e.serve_log());
    (status, answer)
}

/// Posts and expects 200 with a log line containing `expected`.
async fn post_ok(e: &E2e, function: &str, body: impl Into<reqwest::Body>, expected: &str) -> Value {
    let (status, answer) = post(e, function, body).await;
    assert_eq!(status, 200, "{function}: {answer}");
    assert!(logs(&answer).contains(expected), "{function}: expected {expected:?} in {}", logs(&answer));
    answer
}

/// The stack's near-expiry event in the CloudEvents 1.0 schema.
fn as_cloud_event(event: &Value) -> Value {
    json!({
        "specversion": "1.0",
        "id": event["id"],
        "source": event["topic"],
        "subject": event["subject"],
        "type": event["eventType"],
        "time": event["eventTime"],
        "data": event["data"],
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_binary_answers_every_fixture_and_variation_and_a_duplicated_event_rotates_once() {
    let started = Instant::now();
    let e = support::stack::start(|_| {}).await;
    let before = state(&e).await;
    assert!(before.0.is_empty() && before.1.is_empty(), "the stack started with rotation state: {before:?}");

    // Every fixture request: foreign or illustrative payloads, answered, nothing changes.
    let mut posted = 0;
    for FixtureRequest { file, body, functions } in fixture_requests() {
        for function in functions {
            let (status, answer) = post(&e, function, body.clone()).await;
            assert_eq!(status, 200, "{file} -> {function}: {answer}");
            if function == "api" {
                let (status, _) = http_output(&answer);
                assert!(status == 200 || status == 404, "{file}: {status}");
            }
            posted += 1;
        }
    }
    // The fixtures' own Key Vault events are about a secret in another vault: ignored, logged.
    let answer = post_ok(&e, "keyvault-events", fixture("functions/requests/eventGridTrigger.RotateOnNearExpiry.request.ASSEMBLED.json"), "no credential in the policy uses this secret").await;
    assert!(!logs(&answer).contains("rotate command"), "{}", logs(&answer));

    // Missing fields and wrong types: poison, answered 200 with a `rejected` line.
    for (function, envelope, expected) in malformed_invocations() {
        let answer = post_ok(&e, function, envelope.to_string(), expected).await;
        posted += 1;
        if function != "keyvault-events" {
            assert!(logs(&answer).contains("rejected"), "{function} {envelope}: {}", logs(&answer));
        }
    }
    // Poison commands, among them a 10 MB body (over the 1 MiB limit): refused, not retried.
    let huge = "x".repeat(10 * 1024 * 1024);
    for (body, expected) in poison_commands(&huge) {
        let answer = post_ok(&e, "rotation-commands", body, expected).await;
        assert!(logs(&answer).contains("rejected"), "{expected}: {}", logs(&answer));
        posted += 1;
    }
    post_ok(&e, "reload-acks", format!(r#"{{"Data":{{"message":"{huge}"}}}}"#), "exceeds").await;
    // The API answers an oversized or non-object request in its http output.
    let (_, answer) = post(&e, "api", format!(r#"{{"Data":{{"req":{{"Body":"{huge}"}}}}}}"#)).await;
    assert_eq!(http_output(&answer).0, 413, "{answer}");
    let (_, answer) = post(&e, "api", json!({"Data": {"req": []}}).to_string()).await;
    assert_eq!(http_output(&answer).0, 400, "{answer}");
    // A timer value of the wrong shape still runs the schedule; nothing is due (20-day cadence).
    post_ok(&e, "schedule", json!({"Data": {"timer": "garbage"}}).to_string(), "0 rotation(s) enqueued").await;
    // An unknown event type and a batch of events none of which is about the current version.
    let unknown = json!({"id": "u", "eventType": "Microsoft.KeyVault.VaultAccessPolicyChanged", "subject": "x", "data": {}});
    post_ok(&e, "keyvault-events", event_invocation(unknown.clone()), "ignored Microsoft.KeyVault.VaultAccessPolicyChanged").await;
    let mut stale = fixture_json("eventgrid/keyvault.SecretNearExpiry.cloudevents-schema.ASSEMBLED.json");
    stale.as_array_mut().unwrap().extend([unknown.clone(), json!({"id": "bad", "eventType": "Microsoft.KeyVault.SecretExpired", "data": {"Id": 5}})]);
    let answer = post_ok(&e, "keyvault-events", event_invocation(stale), "rejected event").await;
    assert!(logs(&answer).contains("ignored Microsoft.KeyVault.VaultAccessPolicyChanged"), "{}", logs(&answer));
    posted += 9;
    assert_eq!(state(&e).await, before, "bad input changed rotation state");

    // The current version's near-expiry event, delivered in both schemas, alone and batched,
    // and again (Event Grid delivers at least once), while the state store is locked by
    // another writer: every delivery enqueues the same rotate command (one MessageId), and
    // the command itself — posted directly as Service Bus would — is a transient failure,
    // answered 500 so the host redelivers it, with nothing recorded.
    let event = e.stack.near_expiry_event();
    let old_version = e.stack.current_version();
    let cloud = as_cloud_event(&event);
    let lock = rusqlite::Connection::open(e.dir.path().join("state.db")).unwrap();
    lock.execute_batch("BEGIN EXCLUSIVE").unwrap();
    for delivery in [event.clone(), cloud.clone(), json!([event, unknown]), json!([cloud]), event.clone()] {
        post_ok(&e, "keyvault-events", event_invocation(delivery), "rotate command").await;
        posted += 1;
    }
    let rotate = Command::Rotate { credential: e.stack.credential.clone(), trigger: Trigger::Schedule, expected_version: None };
    let (status, answer) = post(&e, "rotation-commands", service_bus_invocation("command", &rotate.to_json().to_string(), "transient-1", 1)).await;
    assert_eq!(status, 500, "{answer}");
    assert!(logs(&answer).contains("will be retried"), "{}", logs(&answer));
    assert_eq!(state(&e).await, before, "a failed invocation changed rotation state");
    lock.execute_batch("ROLLBACK").unwrap();
    drop(lock);
    let done = e.settle(Duration::from_secs(60)).await;
    assert_eq!(done.phase, Phase::Completed, "{:#?}\n{}", done.timeline, e.serve_log());
    // Redelivered after the rotation: it names a version that is no longer current.
    post_ok(&e, "keyvault-events", event_invocation(event.clone()), "not the current one").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = state(&e).await;
    assert_eq!(after.0.len(), 1, "duplicate deliveries started more than one rotation");
    assert_eq!(after.1, vec!["\"Secondary\"".to_string(), "\"Primary\"".to_string()], "one standby and one retire regenerate");
    assert_ne!(e.stack.current_version(), old_version);
    // Only scheduled wake-ups may be left; no rotate command waits to start another rotation.
    let left: Vec<String> = e.stack.bus.peek(keyrelay::twin::stack::COMMANDS_QUEUE).unwrap().into_iter().map(|m| m.message_id).collect();
    assert!(left.iter().all(|id| id.starts_with("wake:")), "commands left over: {left:?}");
    eprintln!("{posted} invocations posted to keyrelay serve on port {}; one rotation; {} wake-up(s) left; {:.1}s", e.stack.serve.port, left.len(), started.elapsed().as_secs_f64());
}
