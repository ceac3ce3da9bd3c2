//! The agent end to end with a real redis-server and keyrelay's driver: a rotation of a
//! self-hosted Redis ACL user publishes a new version, the agent receives its step, reloads
//! (file hook), probes Redis over TLS with the new key, acks, and the driver accepts the ack
//! and completes the rotation. A broken reload and a failing probe ack unhealthy with a
//! detail saying what failed, and keyrelay stalls on it; a forged ack is rejected.
//!
//! The first tests use the in-memory Key Vault and bus ports (the agent reads through the
//! `SecretStore` port either way); the last runs the whole path on the Azure twin with the
//! production Service Bus and Key Vault adapters and `keyrelay agent`'s own wiring.

mod support;

use keyrelay::adapters::memory::MemorySecrets;
use keyrelay::adapters::redis::{strong_password, SelfHostedConfig, SelfHostedProvider, Staging, UserPassword};
use keyrelay::core::{Phase, Rotation, Verdict};
use keyrelay::domain::{SecretValue, Slot};
use keyrelay::ports::{SecretRef, SystemClock};
use keyrelay::protocol::proof_for;
use keyrelay::shells::agent::reload::HookContext;
use keyrelay::shells::agent::{Agent, AgentConfig, HookReloader, Processed, Transport};
use keyrelay::twin::{RedisServer, TestCa};
use std::sync::Arc;
use support::agent::{MemoryAcks, MemorySteps};
use support::redis::{plan, Harness};

fn kv(name: &str) -> SecretRef {
    SecretRef { vault: "kv.vault.azure.net".into(), name: name.into() }
}

/// A TLS redis-server whose ACL user `app` has two passwords, Key Vault seeded with the admin
/// credential and the current app credential, and keyrelay's driver with the self-hosted
/// Redis provider.
struct Setup {
    _ca_dir: tempfile::TempDir,
    ca_file: std::path::PathBuf,
    server: RedisServer,
    secrets: Arc<MemorySecrets>,
    harness: Harness,
}

async fn setup() -> Setup {
    let ca = TestCa::generate().unwrap();
    let ca_dir = tempfile::tempdir().unwrap();
    let ca_file = ca_dir.path().join("ca.pem");
    ca.write_ca(&ca_file).unwrap();
    let server = RedisServer::start_tls(&ca).await.unwrap();
    server.set_user_passwords("app", &[strong_password(), strong_password()]).await.unwrap();
    let current = strong_password();
    server.set_user_passwords("app", &[current.clone(), strong_password()]).await.unwrap();
    let secrets = Arc::new(MemorySecrets::new());
    let (admin, admin_pw) = server.admin();
    let now = chrono::Utc::now();
    secrets.seed(&kv("redis-admin"), UserPassword::new(&admin, admin_pw).to_secret(), None, now);
    secrets.seed(&kv("redis-app"), UserPassword::new("app", current).to_secret(), Some(Slot::Primary), now);
    let provider = selfhosted(&server, "kv.vault.azure.net", secrets.clone());
    let harness = Harness::new(secrets.clone(), provider);
    Setup { _ca_dir: ca_dir, ca_file, server, secrets, harness }
}

/// The self-hosted Redis provider for ACL user `app`, its secrets in `vault`.
fn selfhosted(server: &RedisServer, vault: &str, secrets: Arc<dyn keyrelay::ports::SecretStore>) -> Arc<SelfHostedProvider> {
    let secret = |name: &str| SecretRef { vault: vault.into(), name: name.into() };
    let config = SelfHostedConfig {
        endpoint: server.endpoint(),
        user: "app".into(),
        admin_secret: secret("redis-admin"),
        secret: secret("redis-app"),
        staging: Staging::default_ref(&secret("redis-app")),
    };
    Arc::new(SelfHostedProvider::new(config, secrets).unwrap())
}

/// An agent for consumer `web` from a TOML configuration with the given hooks and probes.
fn agent(s: &Setup, hooks_and_probes: &str) -> (Agent, Arc<MemorySteps>, Arc<MemoryAcks>) {
    let text = format!(
        "consumer = \"web\"\n[service_bus]\nnamespace = \"contoso.servicebus.windows.net\"\n\
         [[credential]]\nname = \"app-redis\"\nvault = \"kv.vault.azure.net\"\nsecret = \"redis-app\"\n{hooks_and_probes}"
    );
    let config = AgentConfig::parse(&text, "agent.toml").unwrap_or_else(|e| panic!("{e}"));
    let steps = Arc::new(MemorySteps::default());
    let acks = Arc::new(MemoryAcks::default());
    let transport = Transport { steps: steps.clone(), secrets: s.secrets.clone(), acks: acks.clone() };
    let context = HookContext {
        http: keyrelay::adapters::azure::http::HttpOptions::default().client().unwrap(),
        arm: None,
        arm_endpoint: "https://management.azure.com".into(),
    };
    let reloader = Arc::new(HookReloader::new(&config.credentials, context));
    (Agent::new(config.identity(), transport, reloader, Arc::new(SystemClock), config.tuning()), steps, acks)
}

fn redis_probe(s: &Setup, port: u16) -> String {
    format!(
        "[[credential.probe]]\nkind = \"redis\"\nhost = \"127.0.0.1\"\nport = {port}\ntls = true\nca_file = \"{}\"\ntimeout = \"3s\"\nretries = 1\nretry_delay = \"0s\"\n",
        s.ca_file.display()
    )
}

/// Starts a rotation for consumer `web` and hands its step to the agent.
async fn rotate_to_agent(s: &Setup, steps: &MemorySteps) -> Rotation {
    let rotation = s.harness.start(plan("app-redis", "redis-selfhosted", &kv("redis-app"), &[("web", 1)])).await;
    let sent = s.harness.bus.drain();
    assert_eq!(sent.len(), 1, "one step for web");
    steps.push_step(&sent[0]);
    rotation
}

#[tokio::test]
async fn an_agent_reloads_probes_redis_with_the_new_key_and_keyrelay_accepts_its_ack() {
    let s = setup().await;
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("redis-app.json");
    let (agent, steps, acks) = agent(&s, &format!("[[credential.reload]]\nkind = \"file\"\npath = \"{}\"\n{}", key_file.display(), redis_probe(&s, s.server.port())));
    let rotation = rotate_to_agent(&s, &steps).await;

    let processed = agent.process_one().await.unwrap().unwrap();
    let Processed::Acked { healthy: true, detail, .. } = processed else { panic!("{processed:?}") };
    assert!(detail.contains("wrote") && detail.contains("redis AUTH as \"app\" + PING ok on rediss://127.0.0.1:"), "{detail}");

    // The file holds exactly the published version, and that credential works on the server.
    let (published, value) = s.secrets.current_value(&kv("redis-app")).unwrap();
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), value.expose());
    let credential = UserPassword::parse(&value).unwrap();
    assert!(s.server.can_login("app", &credential.password).await);

    let ack = acks.acks().pop().unwrap();
    assert_eq!(ack.version, published.id.version);
    let handled = s.harness.driver.ack(ack).await.unwrap();
    assert_eq!(handled.verdict, Verdict::Accepted, "keyrelay refused the agent's ack");
    let done = s.harness.run(&rotation, &Vec::<Arc<support::redis::LiveConsumer>>::new()).await;
    assert_eq!(done.phase, Phase::Completed, "{:#?}", done.timeline);
    // The old password is retired; the agent's key still signs in.
    assert_eq!(s.server.password_hashes("app").await.unwrap().len(), 2);
    assert!(s.server.can_login("app", &credential.password).await);
    assert_eq!(steps.completed(), 1);
}

#[tokio::test]
async fn an_unwritable_reload_target_acks_unhealthy_and_keyrelay_stalls_with_that_detail() {
    let s = setup().await;
    let (agent, steps, acks) = agent(&s, "[[credential.reload]]\nkind = \"file\"\npath = \"/proc/keyrelay-cannot-write-here/key\"\n");
    let rotation = rotate_to_agent(&s, &steps).await;
    let Some(Processed::Acked { healthy: false, detail, .. }) = agent.process_one().await.unwrap() else { panic!() };
    assert!(detail.contains("reload failed: cannot write /proc/keyrelay-cannot-write-here/key"), "{detail}");

    let handled = s.harness.driver.ack(acks.acks().pop().unwrap()).await.unwrap();
    assert_eq!(handled.verdict, Verdict::Accepted);
    let now = s.harness.load(&rotation).await;
    let Phase::Stalled { .. } = &now.phase else { panic!("{:?}", now.phase) };
    let record = format!("{now:?}");
    assert!(record.contains("web reloaded version") && record.contains("cannot write"), "{record}");
}

#[tokio::test]
async fn a_probe_the_new_key_fails_acks_unhealthy_naming_the_probe_and_the_error() {
    let s = setup().await;
    // A second server that does not know the new password: AUTH with it fails.
    let stranger = RedisServer::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let probe = format!(
        "[[credential.probe]]\nkind = \"redis\"\nhost = \"127.0.0.1\"\nport = {}\ntimeout = \"3s\"\nretries = 1\nretry_delay = \"0s\"\n",
        stranger.port()
    );
    let (agent, steps, acks) = agent(&s, &format!("[[credential.reload]]\nkind = \"file\"\npath = \"{}/key\"\n{probe}", dir.path().display()));
    let rotation = rotate_to_agent(&s, &steps).await;
    let Some(Processed::Acked { healthy: false, detail, .. }) = agent.process_one().await.unwrap() else { panic!() };
    assert!(detail.contains("the probe failed: redis probe 127.0.0.1:") && detail.contains("after 2 tries"), "{detail}");
    assert!(detail.contains("AUTH as \"app\" with the new key") && detail.contains("authentication failed"), "{detail}");
    let (_, value) = s.secrets.current_value(&kv("redis-app")).unwrap();
    assert!(!detail.contains(UserPassword::parse(&value).unwrap().password.expose()));

    s.harness.driver.ack(acks.acks().pop().unwrap()).await.unwrap();
    let now = s.harness.load(&rotation).await;
    assert!(matches!(now.phase, Phase::Stalled { .. }), "{:?}", now.phase);
    assert!(format!("{now:?}").contains("authentication failed"));
}

#[tokio::test]
async fn a_forged_ack_is_rejected_by_keyrelay() {
    let s = setup().await;
    let dir = tempfile::tempdir().unwrap();
    let (agent, steps, acks) = agent(&s, &format!("[[credential.reload]]\nkind = \"file\"\npath = \"{}/key\"\n", dir.path().display()));
    let rotation = rotate_to_agent(&s, &steps).await;
    agent.process_one().await.unwrap();
    let mut forged = acks.acks().pop().unwrap();
    let step = steps_nonce(&rotation);
    forged.proof = proof_for(&SecretValue::new("a key the consumer never loaded"), &forged.rotation_id, &forged.consumer, &forged.version, &step);
    let handled = s.harness.driver.ack(forged).await.unwrap();
    let Verdict::Rejected(reason) = handled.verdict else { panic!("{:?}", handled.verdict) };
    assert!(reason.contains("does not verify"), "{reason}");
    assert_ne!(s.harness.load(&rotation).await.phase, Phase::Completed);
}

fn steps_nonce(rotation: &Rotation) -> keyrelay::domain::Nonce {
    let web = keyrelay::domain::ConsumerId::parse("web").unwrap();
    rotation.nonce(&web, 1)
}

mod on_the_twin {
    use super::*;
    use keyrelay::adapters::azure::keyvault::KeyVaultSecrets;
    use keyrelay::adapters::azure::sdk_transport::SdkTransport;
    use keyrelay::adapters::azure::servicebus::{ServiceBusAuth, ServiceBusNamespace, ServiceBusReceiver, ServiceBusStepBus};
    use keyrelay::adapters::memory::MemoryStore;
    use keyrelay::adapters::azure::http::HttpOptions;
    use keyrelay::driver::{Driver, OsEntropy, SingleProvider};
    use keyrelay::ports::SecretStore;
    use keyrelay::protocol::Ack;
    use keyrelay::twin::keyvault::KeyVaultTwin;
    use keyrelay::twin::servicebus::broker::EntitySettings;
    use keyrelay::twin::servicebus::ServiceBusTwin;
    use std::collections::BTreeMap;

    /// The Key Vault and Service Bus twins (steps topic with web's subscription, acks queue),
    /// a TLS redis-server whose user `app` has two passwords, Key Vault seeded, and keyrelay's
    /// driver on the production Key Vault and Service Bus adapters.
    struct TwinWorld {
        vault: KeyVaultTwin,
        bus: ServiceBusTwin,
        http: HttpOptions,
        server: RedisServer,
        secrets: Arc<dyn SecretStore>,
        namespace: ServiceBusNamespace,
        driver: Driver,
        dir: tempfile::TempDir,
    }

    impl TwinWorld {
        async fn start(name: &str) -> TwinWorld {
            let shared = support::twin::shared();
            let vault = KeyVaultTwin::start(&shared.ca, name).await.unwrap();
            let bus = ServiceBusTwin::start(&shared.ca, name, BTreeMap::new()).await.unwrap();
            bus.create_topic("reload-steps", EntitySettings::default());
            bus.create_subscription("reload-steps", "web", "consumer = 'web'").unwrap();
            bus.create_queue("reload-acks", EntitySettings::default());
            let http = shared.http_options(&[vault.resolve(), bus.resolve()]);
            let server = RedisServer::start_tls(&shared.ca).await.unwrap();
            let current = strong_password();
            server.set_user_passwords("app", &[current.clone(), strong_password()]).await.unwrap();
            let (admin, admin_pw) = server.admin();
            vault.seed("redis-admin", UserPassword::new(&admin, admin_pw).to_secret().expose(), None, BTreeMap::new());
            let tags = BTreeMap::from([("keyrelay-slot".to_string(), "primary".to_string())]);
            vault.seed("redis-app", UserPassword::new("app", current).to_secret().expose(), None, tags);
            let secrets: Arc<dyn SecretStore> =
                Arc::new(KeyVaultSecrets::new(shared.credential(), SdkTransport::client_options(&http).unwrap()));
            let provider = selfhosted(&server, &vault.vault_authority(), secrets.clone());
            let namespace = ServiceBusNamespace::new(&bus.host(), ServiceBusAuth::Entra(shared.credential()), &http).unwrap();
            let driver = Driver {
                store: Arc::new(MemoryStore::new()),
                secrets: secrets.clone(),
                steps: Arc::new(ServiceBusStepBus::new(&namespace, "reload-steps").unwrap()),
                providers: Arc::new(SingleProvider(provider)),
                clock: Arc::new(SystemClock),
                entropy: Arc::new(OsEntropy),
            };
            TwinWorld { vault, bus, http, server, secrets, namespace, driver, dir: tempfile::tempdir().unwrap() }
        }

        fn secret(&self) -> SecretRef {
            SecretRef { vault: self.vault.vault_authority(), name: "redis-app".into() }
        }

        fn key_file(&self) -> std::path::PathBuf {
            self.dir.path().join("redis-app.json")
        }

        /// The agent's configuration: file hook, TLS Redis probe, the twins' names.
        fn agent_toml(&self) -> String {
            format!(
                "consumer = \"web\"\nheartbeat_every = \"0s\"\n[service_bus]\nnamespace = \"{}\"\nreceive_wait = \"1s\"\n\
                 [[credential]]\nname = \"app-redis\"\nvault = \"{}\"\nsecret = \"redis-app\"\n\
                 [[credential.reload]]\nkind = \"file\"\npath = \"{}\"\n\
                 [[credential.probe]]\nkind = \"redis\"\nhost = \"127.0.0.1\"\nport = {}\ntls = true\nca_file = \"{}\"\n",
                self.bus.host(),
                self.vault.vault_authority(),
                self.key_file().display(),
                self.server.port(),
                support::twin::shared().ca_file.display()
            )
        }

        async fn rotate(&self) -> Rotation {
            let the_plan = plan("app-redis", "redis-selfhosted", &self.secret(), &[("web", 1)]);
            match self.driver.start(the_plan, keyrelay::core::Trigger::Schedule).await.unwrap() {
                keyrelay::driver::Started::New(rotation) => rotation,
                keyrelay::driver::Started::Joined(_) => panic!("joined"),
            }
        }

        /// Reads the ack from the acks queue (waiting up to `wait`), hands it to keyrelay and
        /// sweeps until the rotation ends or stalls.
        async fn ack_from_queue_and_finish(&self, rotation: &Rotation, wait: std::time::Duration) -> (Rotation, SecretValue) {
            let published = self.secrets.current(&self.secret()).await.unwrap().unwrap().id;
            let value = self.secrets.read(&published).await.unwrap();
            let acks = ServiceBusReceiver::queue(&self.namespace, "reload-acks").unwrap();
            let message = acks.receive(wait).await.unwrap().expect("an ack on the acks queue");
            assert_eq!(message.properties.message_id, format!("ack:{}:web:1", rotation.id));
            assert!(!message.body.contains(UserPassword::parse(&value).unwrap().password.expose()));
            let ack = Ack::from_json(message.body.as_bytes()).unwrap();
            message.complete().await.unwrap();
            assert_eq!(self.driver.ack(ack).await.unwrap().verdict, Verdict::Accepted);
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
            loop {
                self.driver.sweep().await.unwrap();
                let now = self.driver.store.load(&rotation.id).await.unwrap().unwrap().rotation;
                if now.is_finished() || now.is_stalled() || std::time::Instant::now() > deadline {
                    return (now, value);
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }

        async fn assert_completed_on_the_new_key(&self, done: &Rotation, value: &SecretValue) {
            assert_eq!(done.phase, Phase::Completed, "{:#?}", done.timeline);
            assert_eq!(std::fs::read_to_string(self.key_file()).unwrap(), value.expose());
            assert!(self.server.can_login("app", &UserPassword::parse(value).unwrap().password).await);
            assert!(self.bus.peek("reload-steps/subscriptions/web").unwrap().is_empty(), "the step was completed");
        }
    }

    /// The whole path on the Azure twin, in process: keyrelay's driver publishes to the Key
    /// Vault twin and sends the step through the Service Bus twin; `keyrelay agent`'s wiring
    /// (`agent_from_config`: managed identity, subscription, Key Vault, acks queue) receives
    /// it, writes the file, probes the real redis-server with the new key and acks; the ack
    /// read back from the queue is accepted and the rotation completes.
    #[tokio::test]
    async fn the_agent_acks_through_service_bus_and_keyrelay_completes() {
        let w = TwinWorld::start("agent-e2e-lib").await;
        let config = AgentConfig::parse(&w.agent_toml(), "agent.toml").unwrap_or_else(|e| panic!("{e}"));
        let agent = keyrelay::shells::agent::azure::agent_from_config(&config, &w.http).unwrap();
        let rotation = w.rotate().await;
        let processed = agent.process_one().await.unwrap().expect("the step arrived on the subscription");
        let Processed::Acked { healthy: true, detail, .. } = processed else { panic!("{processed:?}") };
        assert!(detail.contains("redis AUTH as \"app\" + PING ok"), "{detail}");
        let (done, value) = w.ack_from_queue_and_finish(&rotation, std::time::Duration::from_secs(1)).await;
        w.assert_completed_on_the_new_key(&done, &value).await;
    }

    /// The same with the real `keyrelay agent --config` binary as a child process, reaching
    /// the twin only through the environment a deployment has too (extra CA, name resolution,
    /// managed identity endpoint); its logs at trace level never contain the key.
    #[tokio::test]
    async fn the_keyrelay_agent_command_does_it_as_a_child_process_without_logging_the_key() {
        let w = TwinWorld::start("agent-e2e-bin").await;
        let config_file = w.dir.path().join("agent.toml");
        std::fs::write(&config_file, w.agent_toml()).unwrap();
        let rotation = w.rotate().await;
        let shared = support::twin::shared();
        let log_file = w.dir.path().join("agent.log");
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_keyrelay"))
            .args(["agent", "--config"])
            .arg(&config_file)
            .envs(shared.child_env(&[w.vault.resolve(), w.bus.resolve()]))
            .env("KEYRELAY_LOG", "trace")
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log_file).unwrap())
            .spawn()
            .unwrap();
        let result = w.ack_from_queue_and_finish(&rotation, std::time::Duration::from_secs(20)).await;
        child.kill().unwrap();
        child.wait().unwrap();
        let (done, value) = result;
        w.assert_completed_on_the_new_key(&done, &value).await;
        let logs = std::fs::read_to_string(&log_file).unwrap();
        assert!(logs.contains("acked healthy"), "{logs}");
        assert!(!logs.contains(UserPassword::parse(&value).unwrap().password.expose()), "the key is in the agent's logs");
    }
}
