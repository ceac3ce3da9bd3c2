//! The `api` function against its OpenAPI document: every documented operation is served,
//! answers only documented status codes, and its JSON bodies validate against the documented
//! schemas. Plus the operator flows and input validation.

mod support;

use axum::http::StatusCode;
use serde_json::{json, Value};
use support::handler::*;

fn openapi() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/keyrelay-api.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// OpenAPI 3.0's `nullable: true` as JSON Schema: `type` gains `"null"`.
fn to_json_schema(v: &mut Value) {
    match v {
        Value::Object(m) => {
            if m.remove("nullable") == Some(Value::Bool(true)) {
                if let Some(Value::String(t)) = m.get("type").cloned() {
                    m.insert("type".into(), json!([t, "null"]));
                }
            }
            m.values_mut().for_each(to_json_schema);
        }
        Value::Array(a) => a.iter_mut().for_each(to_json_schema),
        _ => {}
    }
}

/// Checks a response against the operation's documented responses.
fn check(doc: &Value, path: &str, method: &str, status: u16, body: &Value) {
    let op = &doc["paths"][path][method];
    assert!(op.is_object(), "{method} {path} is not documented");
    let response = &op["responses"][status.to_string()];
    assert!(!response.is_null(), "{method} {path} answered undocumented status {status}: {body}");
    let response = match response.get("$ref").and_then(Value::as_str) {
        Some(r) => doc.pointer(&r[1..]).unwrap().clone(),
        None => response.clone(),
    };
    let Some(schema) = response.pointer("/content/application~1json/schema") else { return };
    let mut root = json!({ "components": doc["components"].clone() });
    to_json_schema(&mut root);
    let mut schema = schema.clone();
    to_json_schema(&mut schema);
    root.as_object_mut().unwrap().extend(schema.as_object().unwrap().clone());
    let validator = jsonschema::validator_for(&root).unwrap();
    let errors: Vec<String> = validator.iter_errors(body).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "{method} {path} {status} does not match the document: {errors:?}\n{body}");
}

async fn call(w: &World, method: &str, path: &str, query: Value, body: Option<&str>) -> (u16, Value) {
    let (status, envelope) = w.post("api", api_invocation(method, path, query, body)).await;
    assert_eq!(status, StatusCode::OK, "the API answers errors inside the http output");
    http_output(&envelope)
}

#[tokio::test]
async fn every_documented_operation_behaves_as_documented() {
    let doc = openapi();
    let w = World::new(10);
    let id = w.driver.start(w.plan.clone(), keyrelay::core::Trigger::Schedule).await.unwrap().rotation().id.to_string();
    let mut covered = std::collections::BTreeSet::new();
    let cases: Vec<(&str, &str, String, Value, Option<&str>, u16)> = vec![
        ("get", "/credentials", "credentials".into(), json!({}), None, 200),
        ("post", "/credentials/{name}/rotate", format!("credentials/{SECRET}/rotate"), json!({"dryRun": "true"}), None, 200),
        ("post", "/credentials/{name}/rotate", format!("credentials/{SECRET}/rotate"), json!({}), Some(r#"{"operator":"alice","reason":"quarterly"}"#), 202),
        ("post", "/credentials/{name}/rotate", "credentials/unknown/rotate".into(), json!({}), Some(r#"{"operator":"alice"}"#), 404),
        ("post", "/credentials/{name}/rotate", format!("credentials/{SECRET}/rotate"), json!({}), Some(r#"{"operator":"alice","surprise":1}"#), 400),
        ("get", "/rotations", "rotations".into(), json!({}), None, 200),
        ("get", "/rotations", "rotations".into(), json!({"state": "reload,stalled", "credential": SECRET, "limit": "5"}), None, 200),
        ("get", "/rotations", "rotations".into(), json!({"state": "sleeping"}), None, 400),
        ("get", "/rotations/{id}", format!("rotations/{id}"), json!({}), None, 200),
        ("get", "/rotations/{id}", "rotations/none-such".into(), json!({}), None, 404),
        ("get", "/rotations/{id}/evidence", format!("rotations/{id}/evidence"), json!({}), None, 200),
        ("get", "/rotations/{id}/evidence", format!("rotations/{id}/evidence"), json!({"format": "pdf"}), None, 400),
        // Retry is for stalled rotations: refused while reloading.
        ("post", "/rotations/{id}/retry", format!("rotations/{id}/retry"), json!({}), Some(r#"{"operator":"alice"}"#), 409),
        ("post", "/rotations/{id}/retry", format!("rotations/{id}/retry"), json!({}), None, 400),
        ("post", "/rotations/{id}/force", format!("rotations/{id}/force"), json!({}), Some(r#"{"operator":"alice"}"#), 400),
        ("post", "/rotations/{id}/rollback", format!("rotations/{id}/rollback"), json!({}), Some(r#"{"operator":"alice","reason":"canary failed"}"#), 200),
        ("post", "/rotations/{id}/force", format!("rotations/{id}/force"), json!({}), Some(r#"{"operator":"alice","reason":"late"}"#), 409),
        ("post", "/rotations/{id}/rollback", "rotations/none-such/rollback".into(), json!({}), Some(r#"{"operator":"a","reason":"b"}"#), 404),
    ];
    for (method, template, path, query, body, expected) in cases {
        let (status, answer) = call(&w, &method.to_ascii_uppercase(), &path, query, body).await;
        assert_eq!(status, expected, "{method} {path}: {answer}");
        check(&doc, template, method, status, &answer);
        covered.insert((template, method));
    }
    // Every documented operation was exercised.
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            assert!(covered.contains(&(path.as_str(), method.as_str())), "{method} {path} untested");
        }
    }
}

#[tokio::test]
async fn dry_run_plans_without_side_effects_and_start_enqueues() {
    let w = World::new(10);
    // The ASSEMBLED HTTP fixture shape (route param, Query object, string Body) on our route.
    let mut envelope = fixture_json("functions/requests/httpTrigger.RotateHttp.request.ASSEMBLED.json");
    envelope["Data"]["req"]["Params"] = json!({ "path": format!("credentials/{SECRET}/rotate") });
    envelope["Data"]["req"]["Body"] = json!("{\"reason\":\"manual\"}");
    let (status, answer) = w.post("api", envelope.to_string()).await;
    assert_eq!(status, StatusCode::OK);
    let (code, body) = http_output(&answer);
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["plan"]["activeSlot"], "primary");
    assert_eq!(body["plan"]["regenerateSlot"], "secondary");
    assert_eq!(body["plan"]["waves"].as_array().unwrap().len(), 2);
    assert_eq!(body["plan"]["blockedBy"], Value::Null);
    assert!(w.rotations().is_empty() && w.provider.regenerations().is_empty() && w.queue.take().is_empty());

    let (code, body) = call(&w, "POST", &format!("credentials/{SECRET}/rotate"), json!({}), Some(r#"{"operator":"alice"}"#)).await;
    assert_eq!(code, 202);
    assert_eq!(body["messageId"], format!("rotate:{VAULT}:{SECRET}:{}", w.version));
    let sent = w.queue.take();
    assert_eq!(sent.len(), 1);
    assert!(sent[0].body.to_string().contains("alice"));
    assert!(w.rotations().is_empty(), "the API only enqueues");
}

#[tokio::test]
async fn operator_flows_and_refusals() {
    let w = World::new(10);
    let id = w.driver.start(w.plan.clone(), keyrelay::core::Trigger::Schedule).await.unwrap().rotation().id.to_string();
    let before = w.snapshot();
    let long = "x".repeat(2000);
    for (path, body) in [
        (format!("rotations/{id}/force"), r#"{"reason":"no operator"}"#.to_string()),
        (format!("rotations/{id}/force"), format!(r#"{{"operator":"a","reason":"{long}"}}"#)),
        (format!("rotations/{id}/rollback"), r#"{"operator":"a\u0007","reason":"bell"}"#.to_string()),
        (format!("rotations/{id}/retry"), "not json".to_string()),
        (format!("rotations/{id}/retry"), format!(r#"{{"operator":"{}"}}"#, "y".repeat(70 * 1024))),
    ] {
        let (code, answer) = call(&w, "POST", &path, json!({}), Some(&body)).await;
        assert!(code == 400 || code == 413, "{path}: {code} {answer}");
        assert!(answer["error"].is_string());
    }
    let (code, _) = call(&w, "DELETE", &format!("rotations/{id}"), json!({}), None).await;
    assert_eq!(code, 405);
    let (code, _) = call(&w, "GET", "secrets", json!({}), None).await;
    assert_eq!(code, 404);
    assert_eq!(w.snapshot(), before, "refused requests changed nothing");

    // Stall it (deadline), then force with a reason: recorded, old slot retired.
    w.clock.advance(11 * 60);
    w.driver.sweep().await.unwrap();
    let (code, body) = call(&w, "POST", &format!("rotations/{id}/force"), json!({}), Some(r#"{"operator":"bob","reason":"consumer decommissioned"}"#)).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["verdict"], "accepted");
    let record = &w.rotations()[0];
    assert_eq!(record.force.as_ref().unwrap().operator, "bob");
    let (code, evidence) = call(&w, "GET", &format!("rotations/{id}/evidence"), json!({"format": "markdown"}), None).await;
    assert_eq!(code, 200);
    assert!(evidence.as_str().unwrap().contains("bob"));
    // Evidence and records never carry a key.
    let (_, shown) = call(&w, "GET", &format!("rotations/{id}"), json!({}), None).await;
    for slot in keyrelay::domain::Slot::BOTH {
        let key = w.provider.value(slot);
        assert!(!shown.to_string().contains(key.expose()) && !evidence.to_string().contains(key.expose()));
    }
}
