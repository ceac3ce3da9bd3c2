//! Helpers for the Redis tests: the driver on in-memory ports (Key Vault stand-in, state,
//! bus) with a real Redis provider, and consumers that keep opening connections to a real
//! redis-server with the credential they hold — so a consumer left on a dead password shows up
//! as failed requests, not as an assumption.

use keyrelay::adapters::memory::{MemoryBus, MemorySecrets, MemoryStore};
use keyrelay::adapters::redis::{RedisEndpoint, UserPassword};
use keyrelay::core::{Phase, Plan, Rotation, Timing, Trigger};
use keyrelay::domain::{ConsumerId, HumanDuration, SecretValue};
use keyrelay::driver::{Driver, OsEntropy, SingleProvider, Started};
use keyrelay::ports::{KeyProvider, SecretRef, SecretStore, SystemClock};
use keyrelay::protocol::Ack;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};


/// The driver and its in-memory ports.
pub struct Harness {
    pub driver: Arc<Driver>,
    pub secrets: Arc<MemorySecrets>,
    pub bus: Arc<MemoryBus>,
}

impl Harness {
    pub fn new(secrets: Arc<MemorySecrets>, provider: Arc<dyn KeyProvider>) -> Harness {
        let bus = Arc::new(MemoryBus::new());
        let driver = Arc::new(Driver {
            store: Arc::new(MemoryStore::new()),
            secrets: secrets.clone(),
            steps: bus.clone(),
            providers: Arc::new(SingleProvider(provider)),
            clock: Arc::new(SystemClock),
            entropy: Arc::new(OsEntropy),
        });
        Harness { driver, secrets, bus }
    }

    pub async fn start(&self, plan: Plan) -> Rotation {
        match self.driver.start(plan, Trigger::Schedule).await.expect("start") {
            Started::New(r) => r,
            Started::Joined(r) => panic!("joined an unexpected rotation {}", r.id),
        }
    }

    /// Runs the rotation until it completes, rolls back or stalls: consumers reload on their
    /// steps (checking their health with the new credential first) and ack with a proof; the
    /// sweeper advances polls and backoffs.
    pub async fn run<C: Reloads>(&self, rotation: &Rotation, consumers: &[Arc<C>]) -> Rotation {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            for step in self.bus.drain() {
                let consumer = consumers.iter().find(|c| *c.id() == step.consumer).expect("step for a known consumer");
                let key = self.secrets.read(&step.secret_id).await.expect("published version");
                let healthy = consumer.reload(&key).await;
                let detail = if healthy { "reloaded" } else { "new credential refused" };
                let ack = Ack::answering(&step, &key, healthy, detail, None);
                self.driver.ack(ack).await.expect("ack");
            }
            self.driver.sweep().await.expect("sweep");
            let now = self.load(rotation).await;
            if matches!(now.phase, Phase::Completed | Phase::RolledBack | Phase::Stalled { .. }) {
                return now;
            }
            assert!(Instant::now() < deadline, "rotation did not finish: {:#?}", now.timeline);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn load(&self, rotation: &Rotation) -> Rotation {
        self.driver.store.load(&rotation.id).await.unwrap().unwrap().rotation
    }
}

/// A plan with fast timings and the given `(consumer, wave)` list.
pub fn plan(credential: &str, provider: &str, secret: &SecretRef, consumer_waves: &[(&str, u32)]) -> Plan {
    Plan {
        provider: provider.into(),
        resource_id: format!("/redis/{credential}"),
        secret: secret.clone(),
        content_type: "application/json".into(),
        consumers: super::plan::consumers(consumer_waves, "30s"),
        timing: Timing { backoff: HumanDuration::from_secs(1), ..Timing::default() },
        ..super::plan::plan(credential, &[])
    }
}

/// Something that reloads a credential when its step arrives and says whether the new one works.
#[async_trait::async_trait]
pub trait Reloads: Send + Sync {
    fn id(&self) -> &ConsumerId;
    async fn reload(&self, value: &SecretValue) -> bool;
}

#[async_trait::async_trait]
impl Reloads for LiveConsumer {
    fn id(&self) -> &ConsumerId {
        &self.id
    }

    /// Switches to the new credential only if it works (the consumer's own health check).
    async fn reload(&self, value: &SecretValue) -> bool {
        let Ok(cred) = UserPassword::parse(value) else { return false };
        let works = match self.endpoint.connect(&cred.username, &cred.password).await {
            Ok(mut conn) => redis::cmd("PING").query_async::<String>(&mut conn).await.is_ok(),
            Err(_) => false,
        };
        if works {
            // Waits for requests still running on the old credential: the reload is complete
            // (and acked) only when nothing uses the old one any more.
            *self.held.write().await = cred;
        }
        works
    }
}

/// A workload holding one credential: it signs in anew for every request, so a password that
/// stopped working fails the very next request.
pub struct LiveConsumer {
    pub id: ConsumerId,
    endpoint: RedisEndpoint,
    held: tokio::sync::RwLock<UserPassword>,
    pub requests: AtomicU64,
    pub failures: AtomicU64,
}

impl LiveConsumer {
    pub fn new(id: &str, endpoint: RedisEndpoint, initial: &SecretValue) -> Arc<LiveConsumer> {
        Arc::new(LiveConsumer {
            id: ConsumerId::parse(id).unwrap(),
            endpoint,
            held: tokio::sync::RwLock::new(UserPassword::parse(initial).expect("initial credential")),
            requests: AtomicU64::new(0),
            failures: AtomicU64::new(0),
        })
    }

    /// One request with the held credential.
    pub async fn request(&self) -> bool {
        let cred = self.held.read().await;
        let ok = match self.endpoint.connect(&cred.username, &cred.password).await {
            Ok(mut conn) => redis::cmd("INCR").arg(format!("requests:{}", self.id)).query_async::<i64>(&mut conn).await.is_ok(),
            Err(_) => false,
        };
        drop(cred);
        self.requests.fetch_add(1, Ordering::SeqCst);
        if !ok {
            self.failures.fetch_add(1, Ordering::SeqCst);
        }
        ok
    }

    pub async fn username(&self) -> String {
        self.held.read().await.username.clone()
    }
}

/// Live traffic: every consumer sends requests back to back until the guard is dropped.
pub struct Traffic {
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Traffic {
    pub fn start(consumers: &[Arc<LiveConsumer>]) -> Traffic {
        let stop = Arc::new(AtomicBool::new(false));
        let tasks = consumers
            .iter()
            .map(|c| {
                let (c, stop) = (c.clone(), stop.clone());
                tokio::spawn(async move {
                    while !stop.load(Ordering::SeqCst) {
                        c.request().await;
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                })
            })
            .collect();
        Traffic { stop, tasks }
    }

    /// Stops the traffic and returns (requests, failures) over all consumers.
    pub async fn finish(self, consumers: &[Arc<LiveConsumer>]) -> (u64, u64) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.tasks {
            t.await.unwrap();
        }
        consumers.iter().fold((0, 0), |(r, f), c| (r + c.requests.load(Ordering::SeqCst), f + c.failures.load(Ordering::SeqCst)))
    }
}

impl Harness {
    /// An operator command (retry, force, roll back) on a rotation, then the run resumes.
    pub async fn operator(&self, rotation: &Rotation, cmd: keyrelay::core::OperatorCommand) {
        let handled = self.driver.handle(&rotation.id, keyrelay::core::Event::Operator(cmd)).await.expect("operator command");
        assert_eq!(handled.verdict, keyrelay::core::Verdict::Accepted, "{:#?}", handled.rotation.timeline);
    }
}

/// The stall reason of a stalled rotation (panics otherwise, showing the timeline).
pub fn stall_reason(r: &Rotation) -> String {
    assert!(matches!(r.phase, Phase::Stalled { .. }), "expected a stall: {:#?}", r.timeline);
    r.stall.as_ref().map(|s| s.reason.clone()).unwrap_or_default()
}

/// Waits until every consumer has sent at least `n` requests, so each phase of a rotation
/// happens under traffic that has really been flowing.
pub async fn after_requests(consumers: &[Arc<LiveConsumer>], n: u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while consumers.iter().any(|c| c.requests.load(Ordering::SeqCst) < n) {
        assert!(Instant::now() < deadline, "consumers did not reach {n} requests");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
