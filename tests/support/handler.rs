//! A world for the handler tests: the real axum router and the real driver on the memory
//! adapters, a Service Bus command queue that records messages and drops duplicate
//! MessageIds as Service Bus does, a settable clock, and the host's envelope shapes.

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use keyrelay::adapters::memory::{MemoryBus, MemoryProvider, MemorySecrets, MemoryStore};
use keyrelay::core::{Plan, Rotation};
use keyrelay::domain::{HumanDuration, Slot};
use keyrelay::driver::{Driver, DriverError, SingleProvider};
use keyrelay::ports::{BusError, Clock, CommandQueue, QueuedCommand, RotationStore, SecretRef, SecretStore};
use keyrelay::protocol::{Ack, Step};
use keyrelay::shells::handler::{router, CatalogEntry, Handler, HandlerOptions, Orchestrator, StaticCatalog};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tower::ServiceExt;

pub const VAULT: &str = "sample-kv.vault.azure.net";
pub const SECRET: &str = "redis-primary-key";
/// The version the fixtures' events name; the world's current version is another one.
pub const FIXTURE_VERSION: &str = "ee059b2bb5bc48398a53b168c6cdcb10";

#[allow(unused_imports)]
pub use super::twin::{fixture, fixtures_dir};
pub use super::doubles::TestClock;
use super::doubles::Counter;

pub fn fixture_json(rel: &str) -> Value {
    serde_json::from_str(&fixture(rel)).unwrap_or_else(|e| panic!("fixture {rel} is not JSON: {e}"))
}


/// Records every send; keeps only the first message per MessageId (duplicate detection).
#[derive(Default)]
pub struct RecordingQueue {
    pub accepted: Mutex<Vec<QueuedCommand>>,
    pub sends: Mutex<usize>,
    seen: Mutex<HashSet<String>>,
    pub failing: AtomicBool,
}

#[async_trait]
impl CommandQueue for RecordingQueue {
    async fn enqueue(&self, command: &QueuedCommand) -> Result<(), BusError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(BusError::Failed { detail: "Service Bus unavailable (test)".into(), transient: true });
        }
        *self.sends.lock().unwrap() += 1;
        if self.seen.lock().unwrap().insert(command.message_id.clone()) {
            self.accepted.lock().unwrap().push(command.clone());
        }
        Ok(())
    }
}

impl RecordingQueue {
    pub fn take(&self) -> Vec<QueuedCommand> {
        std::mem::take(&mut *self.accepted.lock().unwrap())
    }
}

/// An orchestrator whose every call fails transiently (the state store is down).
pub struct DownOrchestrator;

#[async_trait]
impl Orchestrator for DownOrchestrator {
    async fn start(&self, _: Plan, _: keyrelay::core::Trigger) -> Result<keyrelay::driver::Started, DriverError> {
        Err(DriverError::Transient("state store unavailable (test)".into()))
    }
    async fn handle(&self, _: &keyrelay::domain::RotationId, _: keyrelay::core::Event) -> Result<keyrelay::driver::Handled, DriverError> {
        Err(DriverError::Transient("state store unavailable (test)".into()))
    }
    async fn ack(&self, _: Ack) -> Result<keyrelay::driver::Handled, DriverError> {
        Err(DriverError::Transient("state store unavailable (test)".into()))
    }
    async fn heartbeat(&self, _: &keyrelay::protocol::Heartbeat) -> Result<(), DriverError> {
        Err(DriverError::Transient("state store unavailable (test)".into()))
    }
    async fn sweep(&self) -> Result<Vec<keyrelay::driver::Handled>, DriverError> {
        Err(DriverError::Transient("state store unavailable (test)".into()))
    }
    async fn dry_run(&self, _: &Plan) -> Result<keyrelay::driver::DryRun, DriverError> {
        Err(DriverError::Transient("state store unavailable (test)".into()))
    }
}

pub struct World {
    pub handler: Arc<Handler>,
    pub driver: Arc<Driver>,
    pub store: Arc<MemoryStore>,
    pub secrets: Arc<MemorySecrets>,
    pub provider: Arc<MemoryProvider>,
    pub bus: Arc<MemoryBus>,
    pub queue: Arc<RecordingQueue>,
    pub clock: Arc<TestClock>,
    pub plan: Plan,
    /// The current Key Vault version when the world was made.
    pub version: String,
}

pub fn plan() -> Plan {
    Plan {
        resource_id: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Cache/redis/contoso-cache".into(),
        secret: SecretRef { vault: VAULT.into(), name: SECRET.into() },
        ..super::plan::plan(SECRET, &[("orders-api", 1), ("billing-worker", 2)])
    }
}

impl World {
    /// The secret's current version was created `age_days` ago.
    pub fn new(age_days: i64) -> World {
        let clock = Arc::new(TestClock::at("2025-06-01T06:00:00Z"));
        let now = clock.now();
        let provider = Arc::new(MemoryProvider::new("contoso-cache"));
        let secrets = Arc::new(MemorySecrets::new());
        let store = Arc::new(MemoryStore::new());
        let bus = Arc::new(MemoryBus::new());
        let queue = Arc::new(RecordingQueue::default());
        let plan = plan();
        let version = secrets.seed(&plan.secret, provider.value(Slot::Primary), Some(Slot::Primary), now - chrono::Duration::days(age_days));
        let driver = Arc::new(Driver {
            store: store.clone(),
            secrets: secrets.clone(),
            steps: bus.clone(),
            providers: Arc::new(SingleProvider(provider.clone())),
            clock: clock.clone(),
            entropy: Arc::new(Counter::default()),
        });
        let catalog = StaticCatalog(vec![CatalogEntry { plan: plan.clone(), cadence: Some(HumanDuration::parse("90d").unwrap()) }]);
        let handler = Arc::new(Handler {
            orchestrator: driver.clone(),
            catalog: Arc::new(catalog),
            commands: queue.clone(),
            store: store.clone(),
            secrets: secrets.clone(),
            clock: clock.clone(),
            options: HandlerOptions::default(),
        });
        World { handler, driver, store, secrets, provider, bus, queue, clock, plan, version: version.to_string() }
    }

    /// The same world with another orchestrator.
    pub fn with_orchestrator(&self, orchestrator: Arc<dyn Orchestrator>) -> Arc<Handler> {
        Arc::new(Handler {
            orchestrator,
            catalog: self.handler.catalog.clone(),
            commands: self.queue.clone(),
            store: self.store.clone(),
            secrets: self.secrets.clone(),
            clock: self.clock.clone(),
            options: HandlerOptions::default(),
        })
    }

    pub async fn post(&self, function: &str, body: impl Into<Vec<u8>>) -> (StatusCode, Value) {
        post_to(&self.handler, function, body).await
    }

    pub fn rotations(&self) -> Vec<Rotation> {
        self.store.all()
    }

    /// A snapshot of everything the handler must not change on bad input.
    pub fn snapshot(&self) -> String {
        let mut r: Vec<String> = self.rotations().iter().map(|r| serde_json::to_string(r).unwrap()).collect();
        r.sort();
        r.join("\n")
    }

    /// A valid ack for a step, signed with the version's real value.
    pub async fn ack_for(&self, step: &Step, healthy: bool) -> Value {
        let key = self.secrets.read(&step.secret_id).await.unwrap();
        serde_json::to_value(Ack::answering(step, &key, healthy, "PING ok", Some(self.clock.now()))).unwrap()
    }

    pub async fn in_flight(&self) -> Option<Rotation> {
        self.store.in_flight(&self.plan.credential).await.unwrap().map(|s| s.rotation)
    }
}

pub async fn post_to(handler: &Arc<Handler>, function: &str, body: impl Into<Vec<u8>>) -> (StatusCode, Value) {
    let request = Request::post(format!("/{function}"))
        .header("content-type", "application/json")
        .header("x-azure-functions-invocationid", "11111111-2222-3333-4444-555555555555")
        .body(Body::from(body.into()))
        .unwrap();
    let response = router(handler.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    let value = serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (status, value)
}

/// A Service Bus trigger envelope in the host's observed shapes (KarlGW fixture), carrying
/// `body` as the single-encoded JSON string the host sends.
pub fn service_bus_invocation(binding: &str, body: &str, message_id: &str, delivery: u32) -> Vec<u8> {
    let mut env = fixture_json("functions/requests/serviceBusTrigger.request.observed-KarlGW-azfunc.json");
    env["Data"] = json!({ binding: body });
    env["Metadata"]["MessageId"] = json!(format!("\"{message_id}\""));
    env["Metadata"]["DeliveryCount"] = json!(delivery.to_string());
    env.to_string().into_bytes()
}

/// An Event Grid trigger envelope around one event (or an array).
pub fn event_invocation(event: Value) -> Vec<u8> {
    let data = event.get("data").cloned().unwrap_or(Value::Null);
    json!({ "Data": { "event": event }, "Metadata": { "data": data, "sys": { "MethodName": "keyvault-events", "UtcNow": "2025-06-01T06:00:13Z", "RandGuid": "9b2c7d4e-5f60-4718-9a2b-3c4d5e6f7a8b" } } })
        .to_string()
        .into_bytes()
}

pub fn logs(v: &Value) -> String {
    v["Logs"].as_array().map(|l| l.iter().filter_map(|x| x.as_str()).collect::<Vec<_>>().join("\n")).unwrap_or_default()
}

/// The `api` function's envelope for one request.
pub fn api_invocation(method: &str, path: &str, query: Value, body: Option<&str>) -> Vec<u8> {
    json!({
        "Data": { "req": {
            "Url": format!("https://keyrelay.azurewebsites.net/api/keyrelay/{path}"),
            "Method": method,
            "Query": query,
            "Headers": { "Content-Type": ["application/json"] },
            "Params": { "path": path },
            "Body": body.unwrap_or(""),
            "Identities": []
        }},
        "Metadata": { "path": format!("\"{path}\""), "sys": { "MethodName": "api", "UtcNow": "2025-06-01T07:00:00Z", "RandGuid": "aa11bb22-cc33-4dd4-8ee5-ff66aa77bb88" } }
    })
    .to_string()
    .into_bytes()
}

/// Unpacks the api function's http output: (statusCode, parsed body or text).
pub fn http_output(v: &Value) -> (u16, Value) {
    let res = &v["Outputs"]["res"];
    let status = res["statusCode"].as_u64().expect("res.statusCode") as u16;
    let body = res["body"].as_str().expect("res.body is a string");
    (status, serde_json::from_str(body).unwrap_or_else(|_| Value::String(body.to_string())))
}

/// The function a fixture request is for, by its trigger.
pub fn function_for(file: &str) -> &'static str {
    match file {
        f if f.starts_with("eventGridTrigger") => "keyvault-events",
        f if f.starts_with("httpTrigger") => "api",
        f if f.starts_with("serviceBusTrigger.ConsumerAck") => "reload-acks",
        f if f.starts_with("serviceBusTrigger") || f.starts_with("queueTrigger") => "rotation-commands",
        _ => "schedule",
    }
}

/// One fixture request as the host would post it, and the functions it is replayed to.
pub struct FixtureRequest {
    pub file: String,
    pub body: String,
    pub functions: Vec<&'static str>,
}

/// Every request in fixtures/functions/requests, sorted by file name. Timer payloads go to
/// both timer functions; the documented TimerInfo alone is wrapped as the host wraps a
/// trigger value.
pub fn fixture_requests() -> Vec<FixtureRequest> {
    let dir = fixtures_dir().join("functions/requests");
    let mut files: Vec<String> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    files.sort();
    assert!(files.len() >= 11, "{files:?}");
    files
        .into_iter()
        .map(|file| {
            let mut body = fixture(&format!("functions/requests/{file}"));
            if file == "timer.TimerInfo.doc.json" {
                body = format!(r#"{{"Data":{{"timer":{body}}},"Metadata":{{}}}}"#);
            }
            let function = function_for(&file);
            let functions = if file.starts_with("timer") { vec![function, "sweeper"] } else { vec![function] };
            FixtureRequest { file, body, functions }
        })
        .collect()
}

/// Posts one invocation to a handler listening at `base` (e.g. `http://127.0.0.1:port`) over
/// real HTTP: (HTTP status, parsed body or text).
pub async fn post_http(client: &reqwest::Client, base: &str, function: &str, body: impl Into<reqwest::Body>) -> (u16, Value) {
    let response = client
        .post(format!("{base}/{function}"))
        .header("Content-Type", "application/json")
        .header("X-Azure-Functions-InvocationId", "0f8fad5b-d9cb-469f-a165-70867728950e")
        .body(body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST /{function}: {e}"));
    let status = response.status().as_u16();
    let bytes = response.bytes().await.unwrap();
    let value = serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (status, value)
}

/// True if `v` is the custom handler's `{Outputs, Logs, ReturnValue}` response.
pub fn is_invocation_response(v: &Value) -> bool {
    v["Outputs"].is_object() && v["Logs"].is_array() && v.get("ReturnValue").is_some()
}

/// Poison for `rotation-commands` (bad JSON, unknown schema, missing schema, unknown
/// credential or rotation, unknown field, no command, a body over the limit built from
/// `huge`) and the words the `rejected` log line must contain.
pub fn poison_commands(huge: &str) -> Vec<(Vec<u8>, &'static str)> {
    vec![
        (service_bus_invocation("command", "not json at all", "p1", 1), "not JSON"),
        (service_bus_invocation("command", r#"{"schema":"keyrelay.command/v9","command":"wake"}"#, "p2", 1), "unknown message schema"),
        (service_bus_invocation("command", r#"{"command":"wake","rotation":"x"}"#, "p3", 1), "no \"schema\""),
        (service_bus_invocation("command", r#"{"schema":"keyrelay.command/v1","command":"rotate","credential":"nobody","trigger":{"kind":"schedule"}}"#, "p4", 1), "not in the policy"),
        (service_bus_invocation("command", r#"{"schema":"keyrelay.command/v1","command":"wake","rotation":"missing-1"}"#, "p5", 1), "not found"),
        (service_bus_invocation("command", r#"{"schema":"keyrelay.command/v1","command":"wake","rotation":"r","extra":true}"#, "p6", 1), "unknown field"),
        (br#"{"Data":{},"Metadata":{}}"#.to_vec(), "no Data.command"),
        (b"{not an envelope".to_vec(), "not JSON"),
        (format!(r#"{{"Data":{{"command":"{huge}"}},"Metadata":{{}}}}"#).into_bytes(), "exceeds"),
    ]
}

/// Trigger invocations with fields missing or of the wrong type (Data and Metadata alike):
/// (function, envelope, what its log must say).
pub fn malformed_invocations() -> Vec<(&'static str, Value, &'static str)> {
    let weird_meta = json!({"DeliveryCount": {}, "MessageId": 7, "EnqueuedTimeUtc": "yesterday", "sys": "nope"});
    [
        ("rotation-commands", json!({"command": 42}), "must be a JSON object"),
        ("rotation-commands", json!({"command": [1, 2]}), "must be a JSON object"),
        ("reload-acks", json!({"message": true}), "rejected ack"),
        ("reload-acks", json!({"message": {"schema": "keyrelay.ack/v1", "rotationId": 5}}), "not a valid keyrelay.ack/v1"),
        ("reload-acks", json!({"message": {"schema": "keyrelay.heartbeat/v1"}}), "rejected heartbeat"),
        ("keyvault-events", json!({"event": 5}), "must be a JSON object"),
        ("keyvault-events", json!({"event": {"eventType": "Microsoft.KeyVault.SecretNearExpiry", "data": "x"}}), "data must be an object"),
        ("keyvault-events", json!({}), "no Data.event"),
    ]
    .into_iter()
    .map(|(function, data, expected)| (function, json!({"Data": data, "Metadata": weird_meta}), expected))
    .collect()
}
