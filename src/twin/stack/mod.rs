//! The whole local stack, as one value: the Azure twin (identity, ARM with one Azure Cache
//! for Redis resource whose access keys are a real redis-server's ACL passwords, Key Vault
//! seeded with the current key, Service Bus with keyrelay's queues, topic and one
//! subscription per consumer), `keyrelay serve` as a child process with a generated policy
//! and SQLite state, the Functions host simulator delivering to it, and the consumers under
//! live traffic. `keyrelay demo` and the end-to-end tests both run on it.

pub mod consumers;
pub mod identity;
pub mod policy;
pub mod serve;
mod sink;

use crate::adapters::azure::http::HttpOptions;
use crate::adapters::sqlite_store::SqliteStore;
use crate::core::Rotation;
use crate::domain::{ConsumerId, CredentialName, SecretValue};
use crate::ports::{RotationFilter, RotationStore, SecretRef};
use crate::twin::arm::RedisKeyMirror;
use crate::twin::hostsim::{envelope, HostSim, QueueTrigger};
use crate::twin::keyvault::KeyVaultTwin;
use crate::twin::servicebus::broker::EntitySettings;
use crate::twin::servicebus::ServiceBusTwin;
use crate::twin::{ArmTwin, RedisServer, TestCa};
pub use consumers::{Behaviour, Consumer, Fleet};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub const COMMANDS_QUEUE: &str = "rotation-commands";
pub const ACKS_QUEUE: &str = "reload-acks";
pub const STEPS_TOPIC: &str = "reload-steps";
const VAULT_NAME: &str = "kv-demo";
const NAMESPACE: &str = "keyrelay-demo";

#[derive(Debug, Clone)]
pub struct StackOptions {
    /// The `keyrelay` executable to run as `keyrelay serve`.
    pub keyrelay_exe: PathBuf,
    pub consumers: usize,
    pub waves: usize,
    /// Behaviour of consumer `i` (0-based); the rest reload.
    pub behaviours: BTreeMap<usize, Behaviour>,
    /// The policy's ack deadline (how fast a silent consumer stalls the rotation).
    pub ack_deadline: String,
    /// The policy's cadence (the schedule rotates a credential older than this).
    pub rotate_every: String,
    /// `KEYRELAY_LOG` for serve.
    pub log_level: String,
    /// Pause between one consumer's requests.
    pub pace: Duration,
    /// How long a consumer takes to reload (before it acks).
    pub reload_delay: Duration,
    /// Where logs, state, policy and the CA file go.
    pub work_dir: PathBuf,
}

impl StackOptions {
    pub fn new(keyrelay_exe: PathBuf, work_dir: PathBuf) -> StackOptions {
        StackOptions {
            keyrelay_exe,
            consumers: 5,
            waves: 2,
            behaviours: BTreeMap::new(),
            ack_deadline: "20s".into(),
            rotate_every: "20d".into(),
            log_level: "info".into(),
            pace: Duration::from_millis(5),
            reload_delay: Duration::ZERO,
            work_dir,
        }
    }
}

pub struct Stack {
    pub ca: TestCa,
    pub arm: ArmTwin,
    pub redis: Arc<RedisServer>,
    pub vault: KeyVaultTwin,
    pub bus: Arc<ServiceBusTwin>,
    pub serve: serve::ServeProcess,
    pub host: HostSim,
    pub fleet: Fleet,
    pub store: SqliteStore,
    pub credential: CredentialName,
    /// Every access key value the cache has had during the run (for leak scans).
    pub keys_seen: Arc<std::sync::Mutex<Vec<SecretValue>>>,
    pub work_dir: PathBuf,
}

/// Records every key value the ARM twin hands out.
struct KeyRecorder(Arc<std::sync::Mutex<Vec<SecretValue>>>);

#[async_trait::async_trait]
impl crate::twin::arm::KeyListener for KeyRecorder {
    async fn key_changed(&self, change: &crate::twin::arm::KeyChange) {
        self.0.lock().unwrap().push(change.value.clone());
    }
}

impl Stack {
    pub async fn start(opts: StackOptions) -> anyhow::Result<Stack> {
        std::fs::create_dir_all(&opts.work_dir)?;
        let identity = identity::process_identity();
        let ca = TestCa::generate()?;
        // Its start-up error says how to install redis-server when it is missing.
        let redis = Arc::new(RedisServer::start().await?);
        let arm = ArmTwin::start(&ca).await?;
        let keys_seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        arm.add_listener(Arc::new(RedisKeyMirror::new(policy::RESOURCE_ID, consumers::REDIS_USER, redis.clone())));
        arm.add_listener(Arc::new(KeyRecorder(keys_seen.clone())));
        arm.add_resource(policy::RESOURCE_ID).await?;
        let primary = arm.key(policy::RESOURCE_ID, "primaryKey").ok_or_else(|| anyhow::anyhow!("the ARM twin has no primary key"))?;

        let vault = KeyVaultTwin::start(&ca, VAULT_NAME).await?;
        let tags = BTreeMap::from([("keyrelay-slot".to_string(), "primary".to_string())]);
        vault.seed(policy::SECRET, primary.expose(), Some("text/plain"), tags);

        let bus = Arc::new(ServiceBusTwin::start(&ca, NAMESPACE, BTreeMap::new()).await?);
        // Redelivery is the host's retry; the SIGKILL tests need more than the default 10.
        let queue_settings = EntitySettings { max_delivery_count: 1000, lock_duration: chrono::Duration::seconds(30), ..EntitySettings::default() };
        bus.create_queue(COMMANDS_QUEUE, queue_settings.clone());
        bus.create_queue(ACKS_QUEUE, queue_settings);
        bus.create_topic(STEPS_TOPIC, EntitySettings::default());
        let planned = policy::consumers(opts.consumers, opts.waves);
        for (id, _) in &planned {
            bus.create_subscription(STEPS_TOPIC, id, &format!("consumer = '{id}'"))?;
        }

        let policy_file = opts.work_dir.join("policy.toml");
        std::fs::write(&policy_file, policy::render(&vault.vault_authority(), &planned, &opts.ack_deadline, &opts.rotate_every))?;
        let state = opts.work_dir.join("state.db");
        let resolve = [arm.resolve(), vault.resolve(), bus.resolve()];
        let mut env = crate::twin::process_identity::child_env(identity, &ca, &opts.work_dir.join("twin-ca.pem"), &resolve)?;
        env.extend([
            ("KEYRELAY_ARM_ENDPOINT".to_string(), arm.endpoint()),
            ("KEYRELAY_SERVICEBUS_NAMESPACE".to_string(), bus.host()),
            ("KEYRELAY_POLICY".to_string(), policy_file.display().to_string()),
            ("KEYRELAY_STATE_STORE".to_string(), format!("sqlite:{}", state.display())),
            ("KEYRELAY_LOG".to_string(), opts.log_level.clone()),
        ]);
        let mut serve = serve::ServeProcess::new(opts.keyrelay_exe.clone(), env, opts.work_dir.join("serve.log"))?;
        serve.start().await?;
        let store = SqliteStore::open(&state)?;

        let mut host = HostSim::new(serve.base_url());
        let poll = Duration::from_millis(20);
        host.pump(bus.clone(), QueueTrigger { queue: COMMANDS_QUEUE.into(), function: "rotation-commands", binding: "command" }, poll);
        host.pump(bus.clone(), QueueTrigger { queue: ACKS_QUEUE.into(), function: "reload-acks", binding: "message" }, poll);
        host.timer_every("sweeper", Duration::from_secs(1));

        let http = HttpOptions { extra_roots_pem: vec![ca.ca_pem.clone()], resolve: resolve.to_vec(), ..HttpOptions::default() };
        let credential = CredentialName::parse(policy::CREDENTIAL)?;
        let wiring = consumers::AgentWiring {
            http,
            namespace: bus.host(),
            steps_topic: STEPS_TOPIC.into(),
            acks_queue: ACKS_QUEUE.into(),
            credential: credential.clone(),
            secret: SecretRef { vault: vault.vault_authority(), name: policy::SECRET.into() },
        };
        let fleet_members = planned
            .iter()
            .enumerate()
            .map(|(i, (id, _))| {
                let behaviour = opts.behaviours.get(&i).copied().unwrap_or(Behaviour::Reloads);
                Ok(Consumer::new(ConsumerId::parse(id)?, behaviour, redis.endpoint(), primary.clone()))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let fleet = Fleet::start(fleet_members, wiring, opts.pace, opts.reload_delay)?;
        Ok(Stack { ca, arm, redis, vault, bus, serve, host, fleet, store, credential, keys_seen, work_dir: opts.work_dir })
    }

    /// The Key Vault secret's current version id.
    pub fn current_version(&self) -> String {
        self.vault.versions(policy::SECRET).last().map(|v| v.version.clone()).unwrap_or_default()
    }

    /// A Key Vault event about the current version, as Event Grid delivers it.
    pub fn near_expiry_event(&self) -> serde_json::Value {
        envelope::key_vault_secret_event("SecretNearExpiry", VAULT_NAME, &self.vault.vault_authority(), policy::SECRET, &self.current_version())
    }

    /// Every rotation of the credential, newest first.
    pub async fn rotations(&self) -> anyhow::Result<Vec<Rotation>> {
        let filter = RotationFilter { credential: Some(self.credential.clone()), ..RotationFilter::default() };
        Ok(self.store.list(&filter).await?.into_iter().map(|s| s.rotation).collect())
    }

    /// Starts a rotation as a Key Vault SecretNearExpiry event about the current version would.
    pub async fn near_expiry(&self) -> anyhow::Result<()> {
        anyhow::ensure!(self.host.deliver_event(&self.near_expiry_event()).await, "keyrelay serve refused the Event Grid event; its log: {}", self.serve.log_path().display());
        Ok(())
    }

    /// Waits for the first rotation to appear, then until `done` holds for it, calling
    /// `progress` on every change; fails after `timeout`.
    pub async fn watch(&self, timeout: Duration, done: impl Fn(&Rotation) -> bool, mut progress: impl FnMut(&Rotation)) -> anyhow::Result<Rotation> {
        let deadline = std::time::Instant::now() + timeout;
        let mut last_len = usize::MAX;
        loop {
            if let Some(r) = self.rotations().await?.into_iter().next() {
                if r.timeline.len() != last_len {
                    last_len = r.timeline.len();
                    progress(&r);
                }
                if done(&r) {
                    return Ok(r);
                }
            }
            if std::time::Instant::now() > deadline {
                anyhow::bail!("the rotation did not get there within {timeout:?}; serve's log: {}", self.serve.log_path().display());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}
