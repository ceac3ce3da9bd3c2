//! The consumers: each is an application holding the cache's access key, issuing Redis
//! commands continuously with the key it holds and signing in again with it every few
//! commands (so a key that was retired under it really fails), with the consumer agent
//! embedded through the library API: its callback connects with the new key, checks it and
//! swaps the connection. Every failed command or sign-in is counted.

use crate::adapters::azure::http::HttpOptions;
use crate::adapters::azure::keyvault::KeyVaultSecrets;
use crate::adapters::azure::servicebus::{ServiceBusAuth, ServiceBusCommandQueue, ServiceBusNamespace, ServiceBusReceiver};
use crate::adapters::redis::RedisEndpoint;
use crate::domain::{ConsumerId, CredentialName, SecretId, SecretValue};
use crate::ports::{SecretRef, SecretStoreError, SystemClock};
use crate::shells::agent::azure::ServiceBusSteps;
use crate::shells::agent::{callback, Agent, Delivery, Identity, QueueAckSink, SecretFetcher, StepSource, Transport, TransportError, Tuning};
use redis::aio::MultiplexedConnection;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinHandle;

/// The Azure Cache for Redis user the access keys open.
pub const REDIS_USER: &str = "default";
/// A consumer signs in again with the key it holds after this many commands.
const RECONNECT_EVERY: u64 = 10;

/// How a consumer answers reload steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Reloads, checks the new key and acks healthy.
    Reloads,
    /// Runs no agent: never reloads, never acks (it keeps the old key).
    NeverReloads,
    /// Acks healthy with a proof over a key it never loaded (a forged or confused ack).
    WrongProof,
    /// Acks unhealthy for any key but the one it holds (so it takes a rollback step back).
    Refuses,
}

/// Counters and the key one consumer holds.
pub struct Consumer {
    pub id: ConsumerId,
    pub behaviour: Behaviour,
    endpoint: RedisEndpoint,
    held: Mutex<(SecretValue, Option<MultiplexedConnection>)>,
    pub requests: AtomicU64,
    pub failures: AtomicU64,
    pub reloads: AtomicU64,
    /// The first failure's description (no key in it), for the summary.
    pub first_failure: Mutex<Option<String>>,
}

impl Consumer {
    pub fn new(id: ConsumerId, behaviour: Behaviour, endpoint: RedisEndpoint, key: SecretValue) -> Arc<Consumer> {
        Arc::new(Consumer {
            id,
            behaviour,
            endpoint,
            held: Mutex::new((key, None)),
            requests: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            reloads: AtomicU64::new(0),
            first_failure: Mutex::new(None),
        })
    }

    /// The key this consumer runs on now.
    pub fn key(&self) -> SecretValue {
        self.held.lock().unwrap().0.clone()
    }

    fn fail(&self, what: String) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        self.first_failure.lock().unwrap().get_or_insert(what);
    }

    /// One request: signs in with the held key when due, then SET + GET.
    async fn request(&self, n: u64) {
        let (key, conn) = {
            let held = self.held.lock().unwrap();
            (held.0.clone(), held.1.clone())
        };
        let mut conn = match conn {
            Some(c) if !n.is_multiple_of(RECONNECT_EVERY) => c,
            _ => match self.endpoint.connect(REDIS_USER, &key).await {
                Ok(c) => {
                    let mut held = self.held.lock().unwrap();
                    if held.0.expose() == key.expose() {
                        held.1 = Some(c.clone());
                    }
                    c
                }
                Err(e) => {
                    self.requests.fetch_add(1, Ordering::Relaxed);
                    return self.fail(format!("{}: sign-in with the held key failed: {}", self.id, e.kind_description()));
                }
            },
        };
        self.requests.fetch_add(1, Ordering::Relaxed);
        let field = format!("demo:{}", self.id);
        let result: redis::RedisResult<String> = redis::pipe().cmd("SET").arg(&field).arg(n).ignore().cmd("GET").arg(&field).query_async::<(String,)>(&mut conn).await.map(|(v,)| v);
        if let Err(e) = result {
            self.fail(format!("{}: SET/GET failed: {}", self.id, e.kind_description()));
        }
    }

    /// Connects with `key`, checks it, and swaps to it: the embedded agent's reload.
    async fn reload(&self, key: SecretValue) -> Result<String, String> {
        let mut conn = self.endpoint.connect(REDIS_USER, &key).await.map_err(|e| format!("sign-in with the new key failed: {}", e.kind_description()))?;
        let pong: String = redis::cmd("PING").query_async(&mut conn).await.map_err(|e| format!("PING with the new key failed: {}", e.kind_description()))?;
        *self.held.lock().unwrap() = (key, Some(conn));
        self.reloads.fetch_add(1, Ordering::Relaxed);
        Ok(format!("connection pool swapped to the new key; PING answered {pong}"))
    }
}

trait KindDescription {
    fn kind_description(&self) -> String;
}

impl KindDescription for redis::RedisError {
    /// The error's kind and code only: a Redis error's text never holds the password, but
    /// the kind is all a summary needs.
    fn kind_description(&self) -> String {
        match self.code() {
            Some(code) => format!("{:?} ({code})", self.kind()),
            None => format!("{:?}", self.kind()),
        }
    }
}

/// A Key Vault reader that hands out a different value than the one published: the consumer
/// then proves possession of a key keyrelay never published.
struct Confused(Arc<dyn SecretFetcher>);

#[async_trait::async_trait]
impl SecretFetcher for Confused {
    async fn fetch(&self, id: &SecretId) -> Result<SecretValue, SecretStoreError> {
        let real = self.0.fetch(id).await?;
        Ok(SecretValue::new(format!("{}-not-the-published-key", real.expose())))
    }

    async fn current_version(&self, secret: &SecretRef) -> Result<Option<SecretId>, SecretStoreError> {
        self.0.current_version(secret).await
    }
}

/// A step source that keeps a copy of every message body it delivered (for leak scans).
struct RecordingSteps {
    inner: ServiceBusSteps,
    seen: Arc<Mutex<Vec<Vec<u8>>>>,
}

#[async_trait::async_trait]
impl StepSource for RecordingSteps {
    async fn receive(&self, wait: Duration) -> Result<Option<Delivery>, TransportError> {
        let d = self.inner.receive(wait).await?;
        if let Some(d) = &d {
            self.seen.lock().unwrap().push(d.body.clone());
        }
        Ok(d)
    }
    async fn complete(&self, d: &Delivery) -> Result<(), TransportError> {
        self.inner.complete(d).await
    }
    async fn abandon(&self, d: &Delivery) -> Result<(), TransportError> {
        self.inner.abandon(d).await
    }
    async fn renew(&self, d: &Delivery) -> Result<(), TransportError> {
        self.inner.renew(d).await
    }
}

/// Where the embedded agents reach Azure.
pub struct AgentWiring {
    pub http: HttpOptions,
    pub namespace: String,
    pub steps_topic: String,
    pub acks_queue: String,
    pub credential: CredentialName,
    pub secret: SecretRef,
}

/// Consumer traffic and agents, running until dropped.
pub struct Fleet {
    pub consumers: Vec<Arc<Consumer>>,
    /// Every step message body the agents received.
    pub steps_seen: Arc<Mutex<Vec<Vec<u8>>>>,
    wiring: AgentWiring,
    reload_delay: Duration,
    namespace: ServiceBusNamespace,
    vault: Arc<dyn SecretFetcher>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Fleet {
    /// Starts every consumer's traffic, and the agents of all that run one.
    pub fn start(consumers: Vec<Arc<Consumer>>, wiring: AgentWiring, pace: Duration, reload_delay: Duration) -> anyhow::Result<Fleet> {
        let credential = azure_identity::ManagedIdentityCredential::new(None)?;
        let namespace = ServiceBusNamespace::new(&wiring.namespace, ServiceBusAuth::Entra(credential.clone()), &wiring.http)?;
        let vault: Arc<dyn SecretFetcher> = Arc::new(KeyVaultSecrets::from_http(credential, &wiring.http)?);
        let fleet = Fleet { consumers, steps_seen: Arc::default(), wiring, reload_delay, namespace, vault, tasks: Mutex::default() };
        for consumer in &fleet.consumers {
            let c = consumer.clone();
            fleet.tasks.lock().unwrap().push(tokio::spawn(async move {
                for n in 0.. {
                    c.request(n).await;
                    tokio::time::sleep(pace).await;
                }
            }));
            if consumer.behaviour != Behaviour::NeverReloads {
                fleet.start_agent(consumer)?;
            }
        }
        Ok(fleet)
    }

    /// Starts `consumer`'s embedded agent (for a consumer that never reloaded: its agent
    /// comes back, and reloads what its subscription holds).
    pub fn start_agent(&self, consumer: &Arc<Consumer>) -> anyhow::Result<()> {
        let wiring = &self.wiring;
        let identity = Identity {
            consumer: consumer.id.clone(),
            credentials: [(wiring.credential.clone(), wiring.secret.clone())].into_iter().collect(),
        };
        let secrets = if consumer.behaviour == Behaviour::WrongProof { Arc::new(Confused(self.vault.clone())) as Arc<dyn SecretFetcher> } else { self.vault.clone() };
        let transport = Transport {
            steps: Arc::new(RecordingSteps {
                inner: ServiceBusSteps::new(ServiceBusReceiver::subscription(&self.namespace, &wiring.steps_topic, consumer.id.as_str())?),
                seen: self.steps_seen.clone(),
            }),
            secrets,
            acks: Arc::new(QueueAckSink::new(Arc::new(ServiceBusCommandQueue::new(&self.namespace, &wiring.acks_queue)?))),
        };
        let c = consumer.clone();
        let delay = self.reload_delay;
        let reloader = callback(move |_credential, key| {
            let c = c.clone();
            async move {
                tokio::time::sleep(delay).await;
                match c.behaviour {
                    Behaviour::WrongProof => return Ok("reloaded (claims so; it never checked the key)".to_string()),
                    Behaviour::Refuses if c.key().expose() != key.expose() => {
                        return Err("this consumer refuses to move to the new key (it stays on the one it holds)".to_string())
                    }
                    _ => {}
                }
                c.reload(key).await
            }
        });
        let tuning = Tuning { receive_wait: Duration::from_millis(500), lock_renew_every: Duration::from_secs(20), heartbeat_every: Duration::ZERO, state_file: None };
        let agent = Agent::new(identity, transport, reloader, Arc::new(SystemClock), tuning);
        self.tasks.lock().unwrap().push(tokio::spawn(async move { agent.run(std::future::pending()).await }));
        Ok(())
    }

    pub fn requests(&self) -> u64 {
        self.consumers.iter().map(|c| c.requests.load(Ordering::Relaxed)).sum()
    }

    pub fn failures(&self) -> u64 {
        self.consumers.iter().map(|c| c.failures.load(Ordering::Relaxed)).sum()
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for t in self.tasks.lock().unwrap().iter() {
            t.abort();
        }
    }
}
