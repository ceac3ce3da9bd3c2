//! Every message keyrelay and the agent emit validates against the published JSON Schemas in
//! `schemas/`, and the schemas are strict enough to refuse what the parsers refuse.

mod support;

use chrono::{DateTime, Utc};
use keyrelay::adapters::memory::{MemoryProvider, MemorySecrets};
use keyrelay::domain::Slot;
use keyrelay::ports::{SecretRef, SystemClock};
use keyrelay::protocol::{Ack, Heartbeat, Step};
use keyrelay::shells::agent::{self, Agent, AgentConfig, Transport};
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;
use support::redis::{plan, Harness};

fn schema(name: &str) -> jsonschema::Validator {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let value: Value = serde_json::from_str(&text).unwrap();
    jsonschema::meta::validate(&value).unwrap_or_else(|e| panic!("{name} is not a valid JSON Schema: {e}"));
    jsonschema::options().should_validate_formats(true).build(&value).unwrap()
}

fn assert_valid(validator: &jsonschema::Validator, message: &Value) {
    let errors: Vec<String> = validator.iter_errors(message).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "{message} does not validate: {errors:?}");
}

/// Steps as the real driver and core emit them for a rotation with two consumers.
async fn steps_from_the_driver() -> (Vec<Step>, Arc<MemorySecrets>) {
    let secret = SecretRef { vault: "kv.vault.azure.net".into(), name: "orders-cache-key".into() };
    let provider = Arc::new(MemoryProvider::new("cache"));
    let secrets = Arc::new(MemorySecrets::new());
    secrets.seed(&secret, provider.value(Slot::Primary), Some(Slot::Primary), Utc::now());
    let harness = Harness::new(secrets.clone(), provider);
    harness.start(plan("orders-cache", "memory", &secret, &[("web", 1), ("api", 1)])).await;
    (harness.bus.drain(), secrets)
}

#[tokio::test]
async fn every_emitted_step_ack_and_heartbeat_validates() {
    let (step_v, ack_v, hb_v) = (schema("step.v1.schema.json"), schema("ack.v1.schema.json"), schema("heartbeat.v1.schema.json"));
    let (steps, secrets) = steps_from_the_driver().await;
    assert_eq!(steps.len(), 2);
    for step in &steps {
        assert_valid(&step_v, &serde_json::to_value(step).unwrap());
    }

    // The agent answers them: one healthy (file hook), then unhealthy ones (a missing version,
    // a failing hook), and heartbeats.
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "consumer = \"web\"\n[service_bus]\nnamespace = \"ns.servicebus.windows.net\"\n[[credential]]\nname = \"orders-cache\"\n\
         vault = \"kv.vault.azure.net\"\nsecret = \"orders-cache-key\"\n[[credential.reload]]\nkind = \"file\"\npath = \"{}/key\"\n",
        dir.path().display()
    );
    let config = AgentConfig::parse(&text, "agent.toml").unwrap();
    let source = Arc::new(support::agent::MemorySteps::default());
    let acks = Arc::new(support::agent::MemoryAcks::default());
    let transport = Transport { steps: source.clone(), secrets: secrets.clone(), acks: acks.clone() };
    let context = agent::reload::HookContext {
        http: keyrelay::adapters::azure::http::HttpOptions::default().client().unwrap(),
        arm: None,
        arm_endpoint: "https://management.azure.com".into(),
    };
    let reloader = Arc::new(agent::HookReloader::new(&config.credentials, context));
    let agent = Agent::new(config.identity(), transport, reloader, Arc::new(SystemClock), config.tuning());
    let web = steps.iter().find(|s| s.consumer.as_str() == "web").unwrap().clone();
    source.push_step(&web);
    let mut missing = web.clone();
    missing.attempt = 2;
    missing.secret_id.version = keyrelay::domain::SecretVersion::parse("0000ffff").unwrap();
    source.push_step(&missing);
    while agent.process_one().await.unwrap().is_some() {}
    std::fs::remove_dir_all(dir.path()).unwrap();
    let mut broken = web.clone();
    broken.attempt = 3;
    source.push_step(&broken);
    while agent.process_one().await.unwrap().is_some() {}
    agent.heartbeat().await.unwrap();

    let sent = acks.acks();
    assert_eq!(sent.iter().map(|a| a.healthy).collect::<Vec<_>>(), [true, false, false]);
    for ack in &sent {
        assert_valid(&ack_v, &serde_json::to_value(ack).unwrap());
    }
    let beats: Vec<Heartbeat> = acks.heartbeats.lock().unwrap().iter().map(|(_, h)| h.clone()).collect();
    assert_eq!(beats.len(), 1);
    for hb in &beats {
        assert_valid(&hb_v, &serde_json::to_value(hb).unwrap());
    }
    let other = agent::messages::heartbeat_for(&web.consumer, &web.credential, &web.secret_id.version, None, Utc::now());
    assert_valid(&hb_v, &serde_json::to_value(&other).unwrap());
}

/// The schemas refuse what the Rust parsers refuse, so a consumer validating its messages
/// against them learns the same thing keyrelay would tell it.
#[tokio::test]
async fn schemas_and_parsers_agree_on_broken_messages() {
    let (step_v, ack_v, hb_v) = (schema("step.v1.schema.json"), schema("ack.v1.schema.json"), schema("heartbeat.v1.schema.json"));
    let (steps, _) = steps_from_the_driver().await;
    let step = serde_json::to_value(&steps[0]).unwrap();
    let at: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
    let ack = serde_json::json!({
        "schema": "keyrelay.ack/v1", "rotationId": "r-1", "consumer": "web", "version": "abc123",
        "healthy": true, "detail": "ok", "proof": "875e49c71693cdd0c695b7202614fedb1cb08743d149b26e024ddc45f28c2d39",
        "nonce": "00ff", "at": at
    });
    let hb = serde_json::json!({"schema": "keyrelay.heartbeat/v1", "consumer": "web", "credential": "orders-cache", "version": "abc123", "slot": "primary", "at": at});
    assert_valid(&ack_v, &ack);
    assert_valid(&hb_v, &hb);
    assert!(Ack::from_json(ack.to_string().as_bytes()).is_ok());
    assert!(Heartbeat::from_json(hb.to_string().as_bytes()).is_ok());

    let mutations: Vec<(&str, Box<dyn Fn(&mut Value)>)> = vec![
        ("unknown field", Box::new(|v| { v["extra"] = Value::from(1); })),
        ("other schema", Box::new(|v| { v["schema"] = Value::from("keyrelay.x/v9"); })),
        ("bad consumer", Box::new(|v| { v["consumer"] = Value::from("web app"); })),
        ("no consumer", Box::new(|v| { v.as_object_mut().unwrap().remove("consumer"); })),
    ];
    for (what, mutate) in &mutations {
        for (validator, original, parses) in [
            (&step_v, &step, (|b: &[u8]| Step::from_json(b).is_ok()) as fn(&[u8]) -> bool),
            (&ack_v, &ack, |b: &[u8]| Ack::from_json(b).is_ok()),
            (&hb_v, &hb, |b: &[u8]| Heartbeat::from_json(b).is_ok()),
        ] {
            let mut broken = original.clone();
            mutate(&mut broken);
            assert!(!validator.is_valid(&broken), "{what}: the schema accepts {broken}");
            assert!(!parses(broken.to_string().as_bytes()), "{what}: the parser accepts {broken}");
        }
    }
    let mut bad_secret = step.clone();
    bad_secret["secretId"] = Value::from("http://kv/secrets/x/1");
    assert!(!step_v.is_valid(&bad_secret) && Step::from_json(bad_secret.to_string().as_bytes()).is_err());
    let mut bad_slot = hb.clone();
    bad_slot["slot"] = Value::from("tertiary");
    assert!(!hb_v.is_valid(&bad_slot) && Heartbeat::from_json(bad_slot.to_string().as_bytes()).is_err());
}
