//! The agent's logic against an in-memory transport and the in-memory secret store: step
//! filtering and de-duplication, settlement, every reload hook and probe kind, acks with a
//! proof keyrelay can verify, heartbeats, configuration errors, and no key in the logs.

mod support;

use keyrelay::adapters::azure::http::HttpOptions;
use keyrelay::adapters::memory::MemorySecrets;
use keyrelay::domain::{CredentialName, SecretId, SecretValue, Slot};
use keyrelay::ports::{SecretRef, SystemClock};
use keyrelay::protocol::{verify_proof, Ack, Step};
use keyrelay::shells::agent::reload::HookContext;
use keyrelay::shells::agent::{self, Agent, AgentConfig, HookReloader, InUse, Processed, Transport};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use support::agent::{step, MemoryAcks, MemorySteps};

struct World {
    secrets: Arc<MemorySecrets>,
    steps: Arc<MemorySteps>,
    acks: Arc<MemoryAcks>,
    key: SecretValue,
    id: SecretId,
    agent: Agent,
    dir: tempfile::TempDir,
}

const BASE: &str = r#"
consumer = "web"
heartbeat_every = "1m"

[service_bus]
namespace = "contoso-keyrelay.servicebus.windows.net"

[[credential]]
name = "orders-cache"
vault = "kv.vault.azure.net"
secret = "orders-cache-key"
"#;

fn hook_context() -> HookContext {
    HookContext { http: HttpOptions::default().client().unwrap(), arm: None, arm_endpoint: "https://management.azure.com".into() }
}

/// An agent configured by `BASE` + `extra` (with `{dir}` replaced by a temporary directory),
/// and a Key Vault holding one version of the secret.
fn world(extra: &str) -> World {
    let dir = tempfile::tempdir().unwrap();
    let text = format!("{BASE}{}", extra.replace("{dir}", dir.path().to_str().unwrap()));
    let config = AgentConfig::parse(&text, "agent.toml").unwrap();
    let secrets = Arc::new(MemorySecrets::new());
    let key = SecretValue::new(format!("new-key-{}", uuid::Uuid::new_v4().simple()));
    let secret = SecretRef { vault: "kv.vault.azure.net".into(), name: "orders-cache-key".into() };
    let version = secrets.seed(&secret, key.clone(), Some(Slot::Secondary), chrono::Utc::now());
    let steps = Arc::new(MemorySteps::default());
    let acks = Arc::new(MemoryAcks::default());
    let transport = Transport { steps: steps.clone(), secrets: secrets.clone(), acks: acks.clone() };
    let reloader = Arc::new(HookReloader::new(&config.credentials, hook_context()));
    let mut tuning = config.tuning();
    tuning.lock_renew_every = std::time::Duration::from_millis(100);
    let agent = Agent::new(config.identity(), transport, reloader, Arc::new(SystemClock), tuning);
    World { secrets, steps, acks, key, id: secret.id_of(&version), agent, dir }
}

const FILE_HOOK: &str = "[[credential.reload]]\nkind = \"file\"\npath = \"{dir}/orders-cache.key\"\n";

fn proof_ok(ack: &Ack, key: &SecretValue, step: &Step) -> bool {
    verify_proof(key, &step.rotation_id, &step.consumer, &ack.version, &step.nonce, &ack.proof)
}

#[tokio::test]
async fn a_step_is_reloaded_probed_acked_with_a_valid_proof_then_completed() {
    let w = world(&format!("{FILE_HOOK}[[credential.probe]]\nkind = \"command\"\ncommand = [\"sh\", \"-c\", \"read -r k; test -n \\\"$k\\\"\"]\n"));
    let s = step("web", "orders-cache", &w.id, 1);
    w.steps.push_step(&s);
    let processed = w.agent.process_one().await.unwrap().unwrap();
    let Processed::Acked { healthy: true, detail, .. } = processed else { panic!("{processed:?}") };
    assert!(detail.contains("wrote") && detail.contains("exited 0"), "{detail}");

    let path = w.dir.path().join("orders-cache.key");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), w.key.expose());
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    let leftovers: Vec<_> = std::fs::read_dir(w.dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers.len(), 1, "temporary files left: {leftovers:?}");

    let sent = w.acks.acks.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    let (message_id, ack) = &sent[0];
    assert_eq!(message_id, &format!("ack:{}:web:1", s.rotation_id));
    assert!(ack.healthy);
    assert_eq!(ack.version, w.id.version);
    assert!(proof_ok(ack, &w.key, &s), "keyrelay would reject this proof");
    assert!(!proof_ok(ack, &SecretValue::new("old-key"), &s));
    assert_eq!((w.steps.completed(), w.steps.abandoned()), (1, 0));
    assert_eq!(w.agent.in_use(&s.credential), Some(InUse { version: w.id.version.clone(), slot: Some(Slot::Secondary) }));
}

#[tokio::test]
async fn a_duplicated_step_reloads_once_and_both_copies_are_completed() {
    let w = world(FILE_HOOK);
    let s = step("web", "orders-cache", &w.id, 1);
    w.steps.push_step(&s);
    w.steps.push_step(&s);
    assert!(matches!(w.agent.process_one().await.unwrap(), Some(Processed::Acked { healthy: true, .. })));
    std::fs::remove_file(w.dir.path().join("orders-cache.key")).unwrap();
    assert_eq!(w.agent.process_one().await.unwrap(), Some(Processed::Duplicate { message_id: s.message_id() }));
    assert!(!w.dir.path().join("orders-cache.key").exists(), "the duplicate reloaded again");
    assert_eq!(w.acks.acks().len(), 1);
    assert_eq!(w.steps.completed(), 2);
    // The next attempt is a new step: it reloads and acks again.
    w.steps.push_step(&step("web", "orders-cache", &w.id, 2));
    assert!(matches!(w.agent.process_one().await.unwrap(), Some(Processed::Acked { healthy: true, .. })));
    assert_eq!(w.acks.acks().len(), 2);
}

#[tokio::test]
async fn a_step_for_another_consumer_is_completed_without_being_applied() {
    let w = world(FILE_HOOK);
    w.steps.push_step(&step("api", "orders-cache", &w.id, 1));
    let processed = w.agent.process_one().await.unwrap().unwrap();
    assert!(matches!(processed, Processed::OtherConsumer { ref consumer } if consumer.as_str() == "api"), "{processed:?}");
    assert!(!w.dir.path().join("orders-cache.key").exists());
    assert!(w.acks.acks().is_empty());
    assert_eq!((w.steps.completed(), w.steps.abandoned()), (1, 0));
}

#[tokio::test]
async fn an_unwritable_path_acks_unhealthy_saying_what_failed() {
    let w = world("[[credential.reload]]\nkind = \"file\"\npath = \"{dir}/missing-dir/orders-cache.key\"\n");
    let s = step("web", "orders-cache", &w.id, 1);
    w.steps.push_step(&s);
    let processed = w.agent.process_one().await.unwrap().unwrap();
    let Processed::Acked { healthy: false, detail, .. } = processed else { panic!("{processed:?}") };
    assert!(detail.starts_with("reload failed: cannot write"), "{detail}");
    assert!(detail.contains("missing-dir/orders-cache.key") && detail.contains("No such file"), "{detail}");
    let ack = &w.acks.acks()[0];
    assert!(!ack.healthy && proof_ok(ack, &w.key, &s), "an unhealthy ack still proves who sent it");
    assert_eq!(w.steps.completed(), 1);
    assert_eq!(w.agent.in_use(&s.credential), None);
}

#[tokio::test]
async fn a_failing_probe_acks_unhealthy_after_its_retries() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let w = world(&format!(
        "{FILE_HOOK}[[credential.probe]]\nkind = \"tcp\"\naddress = \"127.0.0.1:{port}\"\ntimeout = \"2s\"\nretries = 1\nretry_delay = \"0s\"\n"
    ));
    w.steps.push_step(&step("web", "orders-cache", &w.id, 1));
    let Some(Processed::Acked { healthy: false, detail, .. }) = w.agent.process_one().await.unwrap() else { panic!() };
    assert!(detail.contains("the probe failed: tcp probe 127.0.0.1:"), "{detail}");
    assert!(detail.contains("after 2 tries") && detail.contains("refused"), "{detail}");
}

#[tokio::test]
async fn http_hook_posts_the_key_and_http_probe_checks_status_and_body() {
    use axum::routing::{get, post};
    let received: Arc<Mutex<Vec<String>>> = Arc::default();
    let r = received.clone();
    let app = axum::Router::new()
        .route("/reload", post(move |body: String| async move { r.lock().unwrap().push(body); "ok" }))
        .route("/healthz", get(|| async { "redis: connected" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let hooks = format!(
        "[[credential.reload]]\nkind = \"http\"\nurl = \"http://127.0.0.1:{port}/reload\"\n\
         [[credential.probe]]\nkind = \"http\"\nurl = \"http://127.0.0.1:{port}/healthz\"\nexpect_body = \"connected\"\n"
    );
    let w = world(&hooks);
    w.steps.push_step(&step("web", "orders-cache", &w.id, 1));
    let Some(Processed::Acked { healthy: true, detail, .. }) = w.agent.process_one().await.unwrap() else { panic!() };
    assert!(detail.contains("/reload answered 200") && detail.contains("/healthz answered 200"), "{detail}");
    assert_eq!(received.lock().unwrap().as_slice(), [w.key.expose().to_string()]);

    let bad = world(&format!(
        "[[credential.reload]]\nkind = \"http\"\nurl = \"http://127.0.0.1:{port}/reload\"\n\
         [[credential.probe]]\nkind = \"http\"\nurl = \"http://127.0.0.1:{port}/healthz\"\nexpect_body = \"degraded\"\nretries = 0\n"
    ));
    bad.steps.push_step(&step("web", "orders-cache", &bad.id, 1));
    let Some(Processed::Acked { healthy: false, detail, .. }) = bad.agent.process_one().await.unwrap() else { panic!() };
    assert!(detail.contains("does not contain \"degraded\""), "{detail}");
}

#[tokio::test]
async fn command_hook_gets_the_key_on_stdin_and_its_failure_is_reported_redacted() {
    let w = world("[[credential.reload]]\nkind = \"command\"\ncommand = [\"sh\", \"-c\", \"cat > \\\"$0\\\"\", \"{dir}/from-stdin\"]\n");
    w.steps.push_step(&step("web", "orders-cache", &w.id, 1));
    assert!(matches!(w.agent.process_one().await.unwrap(), Some(Processed::Acked { healthy: true, .. })));
    assert_eq!(std::fs::read_to_string(w.dir.path().join("from-stdin")).unwrap(), w.key.expose());

    // A script that echoes its input to stderr and fails: the detail says so without the key.
    let w = world("[[credential.reload]]\nkind = \"command\"\ncommand = [\"sh\", \"-c\", \"echo bad key: $(cat) >&2; exit 3\"]\n");
    w.steps.push_step(&step("web", "orders-cache", &w.id, 1));
    let Some(Processed::Acked { healthy: false, detail, .. }) = w.agent.process_one().await.unwrap() else { panic!() };
    assert!(detail.contains("exit status 3") && detail.contains("bad key: <redacted>"), "{detail}");
    assert!(!detail.contains(w.key.expose()));
    assert!(!w.acks.acks()[0].detail.contains(w.key.expose()));
}

#[tokio::test]
async fn file_hook_signals_the_process_in_the_pid_file() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("got-hup");
    let mut command = std::process::Command::new("sh");
    command.arg("-c").arg(format!("trap 'touch {}; exit 0' HUP; while :; do sleep 0.05; done", marker.display()));
    // A shell cannot trap a signal that was ignored when it started (POSIX), and a test run
    // under `nohup` hands SIGHUP down ignored: give the child the default disposition.
    // SAFETY: signal(2) is async-signal-safe, and nothing else runs in the forked child yet.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut command, || {
            libc::signal(libc::SIGHUP, libc::SIG_DFL);
            Ok(())
        });
    }
    let mut child = command.spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let pid_file = dir.path().join("app.pid");
    std::fs::write(&pid_file, child.id().to_string()).unwrap();
    let w = world(&format!("{FILE_HOOK}signal = \"SIGHUP\"\npid_file = \"{}\"\n", pid_file.display()));
    w.steps.push_step(&step("web", "orders-cache", &w.id, 1));
    let Some(Processed::Acked { healthy: true, detail, .. }) = w.agent.process_one().await.unwrap() else { panic!() };
    assert!(detail.contains(&format!("sent SIGHUP to pid {}", child.id())), "{detail}");
    // Bounded: a signal that never arrives fails the test instead of hanging it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert!(status.is_some_and(|s| s.success()) && marker.exists(), "the process did not get SIGHUP: {status:?}");
}

#[tokio::test]
async fn transient_failures_abandon_the_step_and_a_redelivery_succeeds() {
    let w = world(FILE_HOOK);
    let s = step("web", "orders-cache", &w.id, 1);
    w.steps.push_step(&s);
    w.acks.refuse.store(true, Ordering::SeqCst);
    let processed = w.agent.process_one().await.unwrap().unwrap();
    assert!(matches!(processed, Processed::Retry { ref reason } if reason.contains("acks queue unreachable")), "{processed:?}");
    assert_eq!((w.steps.completed(), w.steps.abandoned()), (0, 1));
    w.acks.refuse.store(false, Ordering::SeqCst);
    // The abandoned step comes back; it was not marked done, so it is applied and acked now.
    assert!(matches!(w.agent.process_one().await.unwrap(), Some(Processed::Acked { healthy: true, .. })));
    assert_eq!((w.steps.completed(), w.steps.abandoned()), (1, 1));
}

#[tokio::test]
async fn a_missing_version_or_a_foreign_secret_acks_unhealthy_without_loading_anything() {
    let w = world(FILE_HOOK);
    let missing = SecretId::parse("https://kv.vault.azure.net/secrets/orders-cache-key/ffffffff").unwrap();
    w.steps.push_step(&step("web", "orders-cache", &missing, 1));
    let Some(Processed::Acked { healthy: false, detail, .. }) = w.agent.process_one().await.unwrap() else { panic!() };
    assert!(detail.contains("does not exist in Key Vault"), "{detail}");
    assert!(w.acks.acks()[0].proof.is_empty());

    let foreign = SecretId::parse("https://other.vault.azure.net/secrets/payroll-db/0123abcd").unwrap();
    w.steps.push_step(&step("web", "orders-cache", &foreign, 2));
    let Some(Processed::Acked { healthy: false, detail, .. }) = w.agent.process_one().await.unwrap() else { panic!() };
    assert!(detail.contains("other.vault.azure.net/payroll-db") && detail.contains("not loaded"), "{detail}");

    w.steps.push_step(&step("web", "billing-db", &w.id, 3));
    let Some(Processed::Acked { healthy: false, detail, .. }) = w.agent.process_one().await.unwrap() else { panic!() };
    assert!(detail.contains("credential billing-db is not held by consumer web"), "{detail}");
    assert!(!w.dir.path().join("orders-cache.key").exists());
    assert_eq!(w.steps.completed(), 3);
}

#[tokio::test]
async fn a_message_that_is_not_a_step_is_abandoned() {
    let w = world(FILE_HOOK);
    w.steps.push(Some("junk".into()), Some("web".into()), b"{\"schema\":\"keyrelay.step/v9\"}".to_vec());
    let Some(Processed::Invalid { reason }) = w.agent.process_one().await.unwrap() else { panic!() };
    assert!(reason.contains("unknown message schema"), "{reason}");
    assert_eq!((w.steps.completed(), w.steps.abandoned()), (0, 1));
}

#[tokio::test]
async fn the_lock_is_renewed_while_a_slow_reload_runs() {
    let secrets = Arc::new(MemorySecrets::new());
    let secret = SecretRef { vault: "kv.vault.azure.net".into(), name: "orders-cache-key".into() };
    let version = secrets.seed(&secret, SecretValue::new("k"), None, chrono::Utc::now());
    let steps = Arc::new(MemorySteps::default());
    let acks = Arc::new(MemoryAcks::default());
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let reloader = agent::callback(move |_credential, _key| {
        let c = c.clone();
        async move {
            c.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(std::time::Duration::from_millis(450)).await;
            Ok("reconnected".to_string())
        }
    });
    let config = AgentConfig::parse(&format!("{BASE}{}", FILE_HOOK.replace("{dir}", "/tmp")), "agent.toml").unwrap();
    let mut tuning = config.tuning();
    tuning.lock_renew_every = std::time::Duration::from_millis(100);
    let transport = Transport { steps: steps.clone(), secrets, acks: acks.clone() };
    let agent = Agent::new(config.identity(), transport, reloader, Arc::new(SystemClock), tuning);
    steps.push_step(&step("web", "orders-cache", &secret.id_of(&version), 1));
    let Some(Processed::Acked { healthy: true, detail, .. }) = agent.process_one().await.unwrap() else { panic!() };
    assert_eq!(detail, "reconnected");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(steps.renewed.load(Ordering::SeqCst) >= 3, "renewed {} times", steps.renewed.load(Ordering::SeqCst));
}

#[tokio::test]
async fn heartbeats_report_the_version_in_use_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let text = format!("state_file = \"{}\"\n{BASE}{}", state.display(), FILE_HOOK.replace("{dir}", dir.path().to_str().unwrap()));
    let config = AgentConfig::parse(&text, "agent.toml").unwrap();
    let secrets = Arc::new(MemorySecrets::new());
    let secret = SecretRef { vault: "kv.vault.azure.net".into(), name: "orders-cache-key".into() };
    let version = secrets.seed(&secret, SecretValue::new("k1"), None, chrono::Utc::now());
    let steps = Arc::new(MemorySteps::default());
    let acks = Arc::new(MemoryAcks::default());
    let make = || {
        let transport = Transport { steps: steps.clone(), secrets: secrets.clone(), acks: acks.clone() };
        Agent::new(config.identity(), transport, Arc::new(HookReloader::new(&config.credentials, hook_context())), Arc::new(SystemClock), config.tuning())
    };
    let agent = make();
    assert_eq!(agent.heartbeat().await.unwrap(), 0, "no version known before the first step");
    steps.push_step(&step("web", "orders-cache", &secret.id_of(&version), 1));
    agent.process_one().await.unwrap();
    assert_eq!(agent.heartbeat().await.unwrap(), 1);
    drop(agent);
    let restarted = make();
    assert_eq!(restarted.heartbeat().await.unwrap(), 1);
    let beats = acks.heartbeats.lock().unwrap().clone();
    for (message_id, hb) in &beats {
        assert_eq!(hb.consumer.as_str(), "web");
        assert_eq!(hb.credential, CredentialName::parse("orders-cache").unwrap());
        assert_eq!(hb.version, version);
        assert_eq!(hb.slot, Some(Slot::Secondary));
        assert!(message_id.starts_with("heartbeat:web:orders-cache:"), "{message_id}");
    }
}

#[test]
fn configuration_errors_name_the_file_line_and_field() {
    let err = |text: &str| AgentConfig::parse(text, "agent.toml").unwrap_err().to_string();
    let bad_consumer = BASE.replace("consumer = \"web\"", "consumer = \"web app\"") + FILE_HOOK;
    let e = err(&bad_consumer);
    assert!(e.starts_with("agent.toml:2:") && e.contains("consumer") && e.contains("contains ' '"), "{e}");

    let bad_port = format!("{BASE}{FILE_HOOK}[[credential.probe]]\nkind = \"redis\"\nhost = \"cache\"\nport = \"six\"\n");
    let e = err(&bad_port);
    assert!(e.starts_with("agent.toml:") && e.contains("[[credential.probe]]"), "{e}");

    let unknown_kind = format!("{BASE}[[credential.reload]]\nkind = \"ftp\"\n");
    let e = err(&unknown_kind);
    assert!(e.contains("[[credential.reload]]") && e.contains("ftp"), "{e}");

    let no_hook = err(BASE);
    assert!(no_hook.starts_with("agent.toml:9:") && no_hook.contains("no [[credential.reload]] hook"), "{no_hook}");

    let signal_alone = format!("{BASE}{FILE_HOOK}signal = \"SIGHUP\"\n");
    assert!(err(&signal_alone).contains("signal needs pid_file"));

    let typo = format!("{BASE}{FILE_HOOK}").replace("secret =", "secert =");
    let e = err(&typo);
    assert!(e.contains("secert"), "{e}");

    let twice = format!("{BASE}{FILE_HOOK}{}{FILE_HOOK}", BASE.split("[[credential]]").nth(1).map(|rest| format!("[[credential]]{rest}")).unwrap());
    let e = err(&twice);
    assert!(e.contains("listed twice") && e.starts_with("agent.toml:"), "{e}");

    let bad_cloud = format!("{BASE}{FILE_HOOK}").replace("[[credential]]", "[azure]\ncloud = \"mars\"\n\n[[credential]]");
    let e = err(&bad_cloud);
    assert!(e.starts_with("agent.toml:8:") && e.contains("[azure]") && e.contains("mars"), "{e}");

    let missing = AgentConfig::load(Path::new("/nonexistent/agent.toml")).unwrap_err().to_string();
    assert!(missing.starts_with("/nonexistent/agent.toml") && missing.contains("cannot read"), "{missing}");
}

#[test]
fn the_example_configuration_parses() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/agent.toml");
    let config = AgentConfig::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert!(!config.credentials.is_empty());
    assert_eq!(config.subscription(), config.consumer.to_string());
}

/// Captures every log line at every level while the agent handles good and failing steps.
#[tokio::test]
async fn no_key_appears_in_the_logs_at_any_level() {
    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Buf::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt().with_max_level(tracing::Level::TRACE).with_writer(move || writer.clone()).finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let w = world(&format!("{FILE_HOOK}[[credential.reload]]\nkind = \"command\"\ncommand = [\"sh\", \"-c\", \"echo got $(cat) >&2; exit 1\"]\n"));
    for attempt in 1..=2 {
        w.steps.push_step(&step("web", "orders-cache", &w.id, attempt));
        w.steps.push_step(&step("web", "orders-cache", &w.id, attempt));
    }
    w.steps.push_step(&step("api", "orders-cache", &w.id, 1));
    while w.agent.process_one().await.unwrap().is_some() {}
    w.agent.heartbeat().await.unwrap();
    let logs = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("acked unhealthy") && logs.contains("step for another consumer"), "{logs}");
    assert!(!logs.contains(w.key.expose()), "the key leaked into the logs");
    let acks = w.acks.acks();
    assert!(acks.iter().all(|a| !serde_json::to_string(a).unwrap().contains(w.key.expose())));
    let _ = &w.secrets;
}

/// The App Service hook calls Resource Manager over TLS, reached the way production reaches
/// Azure in tests: the twin's CA as an extra root and `management.azure.com` resolved locally.
#[tokio::test]
async fn app_service_hook_refreshes_key_vault_references_through_resource_manager() {
    use axum::extract::{Path as AxPath, Query};
    use axum::http::HeaderMap;
    let calls: Arc<Mutex<Vec<(String, String, Option<String>)>>> = Arc::default();
    let c = calls.clone();
    let app = axum::Router::new().route(
        "/{*path}",
        axum::routing::post(move |AxPath(path): AxPath<String>, Query(q): Query<std::collections::HashMap<String, String>>, headers: HeaderMap| async move {
            let audience = keyrelay::twin::IdentityTwin::audience_of(&headers);
            c.lock().unwrap().push((path, q.get("api-version").cloned().unwrap_or_default(), audience));
            axum::http::StatusCode::OK
        }),
    );
    let shared = support::twin::shared();
    let server = keyrelay::twin::server::serve_tls(app, &shared.ca).await.unwrap();
    let options = shared.http_options(&[("management.azure.com".into(), server.addr)]);
    let arm_endpoint = format!("https://management.azure.com:{}", server.port());
    let context = HookContext { http: options.client().unwrap(), arm: Some(shared.credential()), arm_endpoint: arm_endpoint.clone() };
    let site = "/subscriptions/0000/resourceGroups/rg/providers/Microsoft.Web/sites/orders-api";
    let hook: keyrelay::shells::agent::config::HookConfig = toml::from_str(&format!("kind = \"app-service-references\"\nresource_id = \"{site}\"\n")).unwrap();
    let done = keyrelay::shells::agent::reload::run_hook(&hook, &SecretValue::new("k"), &context).await.unwrap();
    assert!(done.contains("refreshed the Key Vault references"), "{done}");
    let seen = calls.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].0, format!("{}/config/configreferences/appsettings/refresh", site.trim_start_matches('/')));
    assert_eq!(seen[0].1, "2022-03-01");
    assert_eq!(seen[0].2.as_deref(), Some(arm_endpoint.as_str()), "a managed-identity token for Resource Manager");

    let without_token = HookContext { arm: None, ..context };
    let err = keyrelay::shells::agent::reload::run_hook(&hook, &SecretValue::new("k"), &without_token).await.unwrap_err();
    assert!(err.contains("no Azure credential"), "{err}");
}

/// Acks and heartbeats through the `CommandQueue` port (the Service Bus queue adapter in
/// production): MessageId, CorrelationId, the consumer property and a body that parses back.
#[tokio::test]
async fn acks_and_heartbeats_travel_through_a_queue_with_their_message_ids() {
    use keyrelay::ports::{BusError, CommandQueue, QueuedCommand};
    use keyrelay::protocol::Heartbeat;
    #[derive(Default)]
    struct Recorded(Mutex<Vec<QueuedCommand>>);
    #[async_trait::async_trait]
    impl CommandQueue for Recorded {
        async fn enqueue(&self, command: &QueuedCommand) -> Result<(), BusError> {
            self.0.lock().unwrap().push(command.clone());
            Ok(())
        }
    }
    let queue = Arc::new(Recorded::default());
    let w = world(FILE_HOOK);
    let transport = Transport { steps: w.steps.clone(), secrets: w.secrets.clone(), acks: Arc::new(agent::QueueAckSink::new(queue.clone())) };
    let config = AgentConfig::parse(&format!("{BASE}{}", FILE_HOOK.replace("{dir}", w.dir.path().to_str().unwrap())), "agent.toml").unwrap();
    let a = Agent::new(config.identity(), transport, Arc::new(HookReloader::new(&config.credentials, hook_context())), Arc::new(SystemClock), config.tuning());
    let s = step("web", "orders-cache", &w.id, 1);
    w.steps.push_step(&s);
    a.process_one().await.unwrap();
    a.heartbeat().await.unwrap();
    let sent = queue.0.lock().unwrap().clone();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].message_id, format!("ack:{}:web:1", s.rotation_id));
    assert_eq!(sent[0].correlation_id.as_deref(), Some(s.rotation_id.as_str()));
    assert_eq!(sent[0].properties.get("consumer").map(String::as_str), Some("web"));
    let ack = Ack::from_json(sent[0].body.to_string().as_bytes()).unwrap();
    assert!(ack.healthy && proof_ok(&ack, &w.key, &s));
    assert!(sent[1].message_id.starts_with("heartbeat:web:orders-cache:"));
    assert_eq!(Heartbeat::from_json(sent[1].body.to_string().as_bytes()).unwrap().version, w.id.version);
}

/// `keyrelay agent` refuses a wrong configuration at startup, naming file, line and field,
/// before it connects to anything.
#[test]
fn the_agent_command_stops_on_a_wrong_configuration_with_where_and_why() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.toml");
    std::fs::write(&path, format!("{BASE}[[credential.reload]]\nkind = \"file\"\npath = \"/tmp/k\"\nsignal = \"SIGFOO\"\npid_file = \"/run/app.pid\"\n")).unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_keyrelay"))
        .args(["agent", "--config"])
        .arg(&path)
        .env("KEYRELAY_LOG", "trace")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&format!("{}:9:", path.display())), "{stderr}");
    assert!(stderr.contains("credential orders-cache: reload hook") && stderr.contains("SIGFOO"), "{stderr}");
}

/// Each probe try is bounded by its timeout; a TCP probe to a listening port passes.
#[tokio::test]
async fn probes_time_out_and_a_listening_port_passes_the_tcp_probe() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let w = world(&format!(
        "{FILE_HOOK}[[credential.probe]]\nkind = \"tcp\"\naddress = \"127.0.0.1:{port}\"\n\
         [[credential.probe]]\nkind = \"command\"\ncommand = [\"sleep\", \"5\"]\ntimeout = \"1s\"\nretries = 0\n"
    ));
    let started = std::time::Instant::now();
    w.steps.push_step(&step("web", "orders-cache", &w.id, 1));
    let Some(Processed::Acked { healthy: false, detail, .. }) = w.agent.process_one().await.unwrap() else { panic!() };
    assert!(started.elapsed() < std::time::Duration::from_secs(4), "the timeout did not bound the probe");
    assert!(detail.contains(&format!("tcp connect to 127.0.0.1:{port} ok")), "{detail}");
    assert!(detail.contains("command probe sleep failed after 1 try: no answer within 1s"), "{detail}");
}

#[tokio::test]
async fn a_late_step_naming_a_version_that_is_no_longer_current_is_completed_without_applying_it() {
    let w = world(FILE_HOOK);
    // A later rotation published a newer version before this step (of an earlier one) arrived.
    let secret = SecretRef { vault: "kv.vault.azure.net".into(), name: "orders-cache-key".into() };
    w.secrets.seed(&secret, SecretValue::new("newer-key"), Some(Slot::Primary), chrono::Utc::now());
    w.steps.push_step(&step("web", "orders-cache", &w.id, 1));
    let processed = w.agent.process_one().await.unwrap().unwrap();
    assert!(matches!(processed, Processed::Stale { .. }), "{processed:?}");
    assert!(w.acks.acks().is_empty(), "a stale step is not acked");
    assert!(!w.dir.path().join("orders-cache.key").exists(), "a stale step is not loaded");
    assert_eq!((w.steps.completed(), w.steps.abandoned()), (1, 0));
}
