//! Every function through the real axum router, with the fixture payloads and their
//! variations, on the real driver and the memory adapters.

mod support;

use axum::http::StatusCode;
use keyrelay::core::Phase;
use keyrelay::domain::Slot;
use keyrelay::ports::{Clock, PublishRequest, SecretStore};
use keyrelay::shells::handler::Command;
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use support::handler::*;

#[tokio::test]
async fn readiness_probe_and_unknown_functions() {
    let w = World::new(10);
    let response = tower::ServiceExt::oneshot(
        keyrelay::shells::handler::router(w.handler.clone()),
        axum::http::Request::get("/").body(axum::body::Body::empty()).unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let (status, _) = w.post("RotateTimer", "{}").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// Replaces the fixtures' event version with the world's current version.
fn current(text: &str, w: &World) -> Value {
    serde_json::from_str(&text.replace(FIXTURE_VERSION, &w.version)).unwrap()
}

#[tokio::test]
async fn near_expiry_for_the_current_version_enqueues_one_rotate_command() {
    let w = World::new(10);
    let envelope = current(&fixture("functions/requests/eventGridTrigger.RotateOnNearExpiry.request.ASSEMBLED.json"), &w);
    let (status, body) = w.post("keyvault-events", envelope.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let sent = w.queue.take();
    assert_eq!(sent.len(), 1, "{}", logs(&body));
    let expected_id = format!("rotate:{VAULT}:{SECRET}:{}", w.version);
    assert_eq!(sent[0].message_id, expected_id);
    let command = Command::from_json(sent[0].body.to_string().as_bytes()).unwrap();
    assert!(matches!(command, Command::Rotate { ref credential, .. } if credential.as_str() == SECRET));
    // No rotation work happened in the Event Grid function.
    assert!(w.rotations().is_empty());
    assert!(w.provider.regenerations().is_empty());
    // Duplicate delivery: the same MessageId, dropped by duplicate detection.
    let (status, _) = w.post("keyvault-events", envelope.to_string()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(w.queue.take().is_empty());
    assert_eq!(*w.queue.sends.lock().unwrap(), 2);
}

#[tokio::test]
async fn every_event_grid_fixture_in_both_schemas_single_and_batched() {
    let w = World::new(10);
    // The pristine fixture names an older version: dropped with a log line.
    let (status, body) = w.post("keyvault-events", fixture("functions/requests/eventGridTrigger.RotateOnNearExpiry.request.ASSEMBLED.json")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(logs(&body).contains("not the current one"), "{}", logs(&body));
    assert!(w.queue.take().is_empty());

    for name in [
        "keyvault.SecretNearExpiry.eventgrid-schema.ASSEMBLED.json",
        "keyvault.SecretNearExpiry.cloudevents-schema.ASSEMBLED.json",
        "keyvault.SecretExpired.eventgrid-schema.ASSEMBLED.json",
        "keyvault.SecretExpired.cloudevents-schema.ASSEMBLED.json",
    ] {
        let events = current(&fixture(&format!("eventgrid/{name}")), &w);
        // As delivered (an array), and as the runtime hands one element to the function.
        for event in [events.clone(), events[0].clone()] {
            let (status, body) = w.post("keyvault-events", event_invocation(event)).await;
            assert_eq!(status, StatusCode::OK, "{name}");
            assert!(logs(&body).contains("rotate command"), "{name}: {}", logs(&body));
        }
    }
    // One MessageId for the version, whatever the event type or schema.
    let sent = w.queue.take();
    assert_eq!(sent.len(), 1);

    // Events for secrets keyrelay does not manage, third-party shapes, the validation
    // handshake and an unknown event type: acknowledged, nothing enqueued.
    for rel in [
        "eventgrid/keyvault.SecretNewVersionCreated.eventgrid-schema.docs.json",
        "eventgrid/keyvault.SecretNewVersionCreated.cloudevents-schema.docs.json",
        "eventgrid/keyvault.SecretNewVersionCreated.eventgrid-schema.spec-example.json",
        "eventgrid/keyvault.SecretNewVersionCreated.cloudevents-schema.spec-example.json",
        "eventgrid/subscriptionValidation.eventgrid-schema.ASSEMBLED.json",
    ] {
        let (status, body) = w.post("keyvault-events", event_invocation(fixture_json(rel))).await;
        assert_eq!(status, StatusCode::OK, "{rel}");
        assert!(logs(&body).contains("ignored"), "{rel}: {}", logs(&body));
    }
    for rel in [
        "functions/requests/eventGridTrigger.cloudevent.request.observed-KarlGW-azfunc.json",
        "functions/requests/eventGridTrigger.eventgridschema.request.observed-KarlGW-azfunc.json",
    ] {
        let (status, body) = w.post("keyvault-events", fixture(rel)).await;
        assert_eq!(status, StatusCode::OK, "{rel}");
        assert!(logs(&body).contains("ignored created event"), "{rel}: {}", logs(&body));
    }
    let mut batch = fixture_json("eventgrid/keyvault.SecretNearExpiry.eventgrid-schema.ASSEMBLED.json");
    batch.as_array_mut().unwrap().push(json!({"id": "u", "eventType": "Microsoft.KeyVault.VaultAccessPolicyChanged", "data": {}}));
    batch.as_array_mut().unwrap().push(json!({"id": "bad", "eventType": "Microsoft.KeyVault.SecretExpired", "data": {"Id": 5}}));
    let (status, body) = w.post("keyvault-events", event_invocation(batch)).await;
    assert_eq!(status, StatusCode::OK);
    let l = logs(&body);
    assert!(l.contains("not the current one") && l.contains("ignored Microsoft.KeyVault.VaultAccessPolicyChanged") && l.contains("rejected event"), "{l}");
    assert!(w.queue.take().is_empty());
    assert!(w.rotations().is_empty());
}

#[tokio::test]
async fn a_secret_version_written_by_hand_is_a_warning() {
    let w = World::new(10);
    let mut event = fixture_json("eventgrid/keyvault.SecretNewVersionCreated.eventgrid-schema.spec-example.json");
    event["data"]["Id"] = json!(format!("https://{VAULT}/secrets/{SECRET}/{}", w.version));
    event["data"]["ObjectName"] = json!(SECRET);
    event["data"]["Version"] = json!(w.version);
    let (status, body) = w.post("keyvault-events", event_invocation(event)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(logs(&body).contains("was not written by keyrelay"), "{}", logs(&body));
    assert!(w.queue.take().is_empty());
}

#[tokio::test]
async fn a_broken_queue_makes_the_event_retried() {
    let w = World::new(10);
    w.queue.failing.store(true, Ordering::SeqCst);
    let envelope = current(&fixture("functions/requests/eventGridTrigger.RotateOnNearExpiry.request.ASSEMBLED.json"), &w);
    let (status, body) = w.post("keyvault-events", envelope.to_string()).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(logs(&body).contains("will be retried"));
}

/// Delivers every queued command to rotation-commands, as Service Bus would.
async fn deliver_commands(w: &World) -> Vec<Value> {
    let mut answers = Vec::new();
    for message in w.queue.take() {
        let body = message.body.to_string();
        let (status, answer) = w.post("rotation-commands", service_bus_invocation("command", &body, &message.message_id, 1)).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        answers.push(answer);
    }
    answers
}

#[tokio::test]
async fn a_full_rotation_through_the_functions() {
    let w = World::new(10);
    let envelope = current(&fixture("functions/requests/eventGridTrigger.RotateOnNearExpiry.request.ASSEMBLED.json"), &w);
    w.post("keyvault-events", envelope.to_string()).await;
    let answers = deliver_commands(&w).await;
    assert!(logs(&answers[0]).contains("started"), "{}", logs(&answers[0]));
    let rotation = w.in_flight().await.expect("rotation started");
    assert_eq!(rotation.phase.name(), "reload");
    assert_eq!(w.provider.regenerations(), vec![Slot::Secondary]);
    // The wait for acks is a scheduled wake command, not a sleep.
    let wakes = w.queue.take();
    assert_eq!(wakes.len(), 1);
    assert!(wakes[0].message_id.starts_with(&format!("wake:{}:", rotation.id)));
    assert!(wakes[0].not_before.unwrap() > w.clock.now());

    // Duplicate delivery of the rotate command (after the dedup window): joins, no new side effect.
    let rotate = Command::Rotate { credential: w.plan.credential.clone(), trigger: keyrelay::core::Trigger::Schedule, expected_version: None };
    let (status, answer) = w.post("rotation-commands", service_bus_invocation("command", &rotate.to_json().to_string(), "dup", 2)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(logs(&answer).contains("joined"), "{}", logs(&answer));
    assert_eq!(w.rotations().len(), 1);
    assert_eq!(w.provider.regenerations(), vec![Slot::Secondary]);

    // The wake command delivered: a tick, nothing due yet.
    let wake_body = wakes[0].body.to_string();
    let (status, _) = w.post("rotation-commands", service_bus_invocation("command", &wake_body, &wakes[0].message_id, 1)).await;
    assert_eq!(status, StatusCode::OK);

    // Consumers ack wave by wave through reload-acks, in the host's metadata shapes.
    for _ in 0..2 {
        for step in w.bus.drain() {
            let ack = w.ack_for(&step, true).await.to_string();
            let (status, answer) = w.post("reload-acks", service_bus_invocation("message", &ack, &format!("ack:{}:{}", step.rotation_id, step.consumer), 1)).await;
            assert_eq!(status, StatusCode::OK);
            assert!(logs(&answer).contains("accepted"), "{}", logs(&answer));
        }
    }
    let done = &w.rotations()[0];
    assert_eq!(done.phase, Phase::Completed, "{:?}", done.phase);
    assert_eq!(w.provider.regenerations(), vec![Slot::Secondary, Slot::Primary]);
}

#[tokio::test]
async fn acks_and_heartbeats_in_every_shape() {
    let w = World::new(10);
    w.driver.start(w.plan.clone(), keyrelay::core::Trigger::Schedule).await.unwrap();
    let steps = w.bus.drain();
    let before = w.snapshot();

    // The illustrative ConsumerAck fixture has no schema: poison, rejected once, no change.
    let (status, answer) = w.post("reload-acks", fixture("functions/requests/serviceBusTrigger.ConsumerAck.request.ASSEMBLED.json")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(logs(&answer).contains("rejected") && logs(&answer).contains("schema"), "{}", logs(&answer));
    // The observed third-party message: poison too.
    let (status, answer) = w.post("reload-acks", fixture("functions/requests/serviceBusTrigger.request.observed-KarlGW-azfunc.json")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(logs(&answer).contains("rejected"));
    assert_eq!(w.snapshot(), before);

    // A forged proof is rejected by the core (recorded on the consumer), answered 200.
    let mut forged = w.ack_for(&steps[0], true).await;
    forged["proof"] = json!("00".repeat(32));
    let (status, answer) = w.post("reload-acks", service_bus_invocation("message", &forged.to_string(), "f", 1)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(logs(&answer).contains("REJECTED"), "{}", logs(&answer));

    // An ack for a rotation that does not exist: poison.
    let mut unknown = w.ack_for(&steps[0], true).await;
    unknown["rotationId"] = json!("nope-1");
    let (_, answer) = w.post("reload-acks", service_bus_invocation("message", &unknown.to_string(), "u", 1)).await;
    assert!(logs(&answer).contains("rejected"), "{}", logs(&answer));

    // A valid ack as native JSON, as base64 and doubly quoted: all accepted (then duplicates).
    let ack = w.ack_for(&steps[0], true).await;
    use base64::Engine as _;
    for data in [ack.clone(), json!(base64::engine::general_purpose::STANDARD.encode(ack.to_string())), json!(serde_json::to_string(&ack.to_string()).unwrap())] {
        let envelope = json!({"Data": {"message": data}, "Metadata": {"DeliveryCount": 1, "MessageId": "native"}});
        let (status, answer) = w.post("reload-acks", envelope.to_string()).await;
        assert_eq!(status, StatusCode::OK);
        assert!(logs(&answer).contains(&format!("ack from {}", steps[0].consumer)), "{}", logs(&answer));
    }

    // A heartbeat feeds the inventory.
    let hb = json!({"schema": "keyrelay.heartbeat/v1", "consumer": "orders-api", "credential": SECRET, "version": w.version, "at": "2025-06-01T06:00:00Z"});
    let (status, answer) = w.post("reload-acks", service_bus_invocation("message", &hb.to_string(), "hb", 1)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(logs(&answer).contains("heartbeat"));
    assert_eq!(w.driver.store.heartbeats(&w.plan.credential).await.unwrap().len(), 1);
}

#[tokio::test]
async fn poison_commands_are_rejected_once_and_change_nothing() {
    let w = World::new(10);
    w.driver.start(w.plan.clone(), keyrelay::core::Trigger::Schedule).await.unwrap();
    let before = w.snapshot();
    let huge = "x".repeat(10 * 1024 * 1024);
    let cases = poison_commands(&huge);
    for (body, expected) in cases {
        let (status, answer) = w.post("rotation-commands", body).await;
        assert_eq!(status, StatusCode::OK, "{expected}");
        let l = logs(&answer);
        assert!(l.contains("rejected") && l.contains(expected), "{expected}: {l}");
    }
    let (status, answer) = w.post("reload-acks", format!(r#"{{"Data":{{"message":"{huge}"}}}}"#)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(logs(&answer).contains("exceeds"));
    assert_eq!(w.snapshot(), before);
    assert!(w.queue.take().is_empty());
}

#[tokio::test]
async fn transient_failures_answer_500_and_change_nothing() {
    let w = World::new(10);
    let down = w.with_orchestrator(Arc::new(DownOrchestrator));
    let rotate = Command::Rotate { credential: w.plan.credential.clone(), trigger: keyrelay::core::Trigger::Schedule, expected_version: None };
    let (status, answer) = post_to(&down, "rotation-commands", service_bus_invocation("command", &rotate.to_json().to_string(), "t1", 3)).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(logs(&answer).contains("state store unavailable"));
    let (status, _) = post_to(&down, "sweeper", fixture("functions/requests/timerTrigger.RotateTimer.request.ASSEMBLED.json")).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(w.rotations().is_empty());
    // After Service Bus gave up (dead-letter), the same command later still works.
    let (status, _) = w.post("rotation-commands", service_bus_invocation("command", &rotate.to_json().to_string(), "t1", 1)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(w.rotations().len(), 1);
}

#[tokio::test]
async fn schedule_enqueues_only_what_is_due() {
    // Rotated 100 days ago, cadence 90 days: due. Both timer fixtures (past due; first run).
    let w = World::new(100);
    for rel in ["functions/requests/timerTrigger.RotateTimer.request.ASSEMBLED.json", "functions/requests/timerTrigger.request.observed-blog.json"] {
        let (status, answer) = w.post("schedule", fixture(rel)).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert!(logs(&answer).contains("due (last rotated"), "{}", logs(&answer));
    }
    let (_, answer) = w.post("schedule", fixture("functions/requests/timerTrigger.request.observed-blog.json")).await;
    assert!(logs(&answer).contains("first run"));
    let sent = w.queue.take();
    assert_eq!(sent.len(), 1, "one MessageId per current version");
    assert_eq!(sent[0].message_id, format!("rotate:{VAULT}:{SECRET}:{}", w.version));
    let (_, answer) = w.post("schedule", fixture("functions/requests/timerTrigger.RotateTimer.request.ASSEMBLED.json")).await;
    assert!(logs(&answer).contains("past due"));

    // Rotated 10 days ago and not expiring: nothing.
    let fresh = World::new(10);
    let (_, answer) = fresh.post("schedule", fixture("functions/requests/timerTrigger.RotateTimer.request.ASSEMBLED.json")).await;
    assert!(logs(&answer).contains("0 rotation(s) enqueued"), "{}", logs(&answer));
    assert!(fresh.queue.take().is_empty());

    // A version expiring within the lead (7 days): due.
    let now = fresh.clock.now();
    let request = PublishRequest {
        slot: Slot::Primary,
        rotation: keyrelay::domain::RotationId::parse("manual").unwrap(),
        resource_id: "r".into(),
        content_type: "text/plain".into(),
        not_before: None,
        expires: Some(now + chrono::Duration::days(3)),
    };
    fresh.secrets.publish(&fresh.plan.secret, &fresh.provider.value(Slot::Primary), &request).await.unwrap();
    let (_, answer) = fresh.post("schedule", fixture("functions/requests/timerTrigger.RotateTimer.request.ASSEMBLED.json")).await;
    assert!(logs(&answer).contains("secret expires at"), "{}", logs(&answer));
    assert_eq!(fresh.queue.take().len(), 1);

    // A rotation in flight: not enqueued again.
    fresh.driver.start(fresh.plan.clone(), keyrelay::core::Trigger::Schedule).await.unwrap();
    let (_, answer) = fresh.post("schedule", fixture("functions/requests/timerTrigger.RotateTimer.request.ASSEMBLED.json")).await;
    assert!(logs(&answer).contains("0 rotation(s) enqueued"));
}

#[tokio::test]
async fn sweeper_stalls_a_rotation_whose_deadline_passed() {
    let w = World::new(10);
    w.driver.start(w.plan.clone(), keyrelay::core::Trigger::Schedule).await.unwrap();
    let (status, answer) = w.post("sweeper", fixture("functions/requests/timerTrigger.request.observed-blog.json")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(logs(&answer).contains("0 due rotation(s)"), "{}", logs(&answer));
    w.clock.advance(11 * 60);
    let (status, answer) = w.post("sweeper", fixture("functions/requests/timerTrigger.request.observed-blog.json")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(logs(&answer).contains("is stalled"), "{}", logs(&answer));
    assert!(w.rotations()[0].is_stalled());
    // The old key is still valid: only the standby was regenerated.
    assert_eq!(w.provider.regenerations(), vec![Slot::Secondary]);
}

/// A host simulator over real TCP: the handler served on a random port, probed with `GET /`
/// until it answers, then every request in fixtures/functions/requests posted as the host
/// would. Each answer is 2xx with the `{Outputs, Logs, ReturnValue}` envelope, and none of
/// them (all foreign or illustrative payloads) changes rotation state.
#[tokio::test]
async fn host_simulator_replays_every_fixture_request_over_tcp() {
    let w = World::new(10);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(keyrelay::shells::cli::serve::run(w.handler.clone(), listener));
    let client = reqwest::Client::new();
    let mut ready = false;
    for _ in 0..50 {
        if client.get(format!("http://{addr}/")).send().await.is_ok_and(|r| r.status().is_success()) {
            ready = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(ready, "GET / never answered");
    let before = w.snapshot();
    let base = format!("http://{addr}");
    for FixtureRequest { file, body, functions } in fixture_requests() {
        for function in functions {
            let (status, answer) = post_http(&client, &base, function, body.clone()).await;
            assert!((200..300).contains(&status), "{file} -> {function}: {status}");
            assert!(is_invocation_response(&answer), "{file}: {answer}");
            if function == "api" {
                let (status, _) = http_output(&answer);
                assert!(status == 200 || status == 404, "{file}: {status}");
            }
        }
    }
    assert_eq!(w.snapshot(), before);
    assert!(w.provider.regenerations().is_empty());
    server.abort();
}

/// Fields of the wrong type or missing: answered 2xx with a clear log (or an HTTP 400 for the
/// API), never retried, nothing changed.
#[tokio::test]
async fn wrong_types_and_missing_fields() {
    let w = World::new(10);
    w.driver.start(w.plan.clone(), keyrelay::core::Trigger::Schedule).await.unwrap();
    let before = w.snapshot();
    for (function, envelope, expected) in malformed_invocations() {
        let (status, answer) = w.post(function, envelope.to_string()).await;
        assert_eq!(status, StatusCode::OK, "{function} {envelope}");
        assert!(logs(&answer).contains(expected), "{function} {envelope}: {}", logs(&answer));
    }
    // A timer value of the wrong shape still runs the schedule (the timer info is advisory).
    let (status, _) = w.post("schedule", json!({"Data": {"timer": "garbage"}}).to_string()).await;
    assert_eq!(status, StatusCode::OK);
    // The API refuses a non-object request with a 400 in its http output.
    let (status, answer) = w.post("api", json!({"Data": {"req": []}}).to_string()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(http_output(&answer).0, 400);
    assert_eq!(w.snapshot(), before);
}
