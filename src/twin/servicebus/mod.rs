//! The Service Bus twin: one namespace over HTTPS, with the REST data plane the
//! `azure_messaging_servicebus` 0.21 crate speaks, and a programmatic API for tests and the
//! demo's Functions host simulator (create entities, look into queues and dead letters, take
//! messages the way a trigger would).
//!
//! The 0.21 crate always calls `https://{ns}.servicebus.windows.net/` on the default port, so
//! this server listens on port 443 of a random `127.x.y.z` address (loopback is a /8, so two
//! twins never collide), and clients reach it by name resolution ([`Self::resolve`]).

pub mod auth;
pub mod broker;
pub mod filter;
pub mod http;
pub mod wire;

use super::server::{serve_tls_on, TlsServer};
use super::TestCa;
use broker::{Broker, BrokerError, EntitySettings, Incoming, Locked, Message, SendOutcome, Settle};
use http::Shared;
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

pub struct ServiceBusTwin {
    server: TlsServer,
    shared: Arc<Shared>,
    namespace: String,
}

fn bind_random_loopback_443() -> anyhow::Result<std::net::TcpListener> {
    let mut last = None;
    for _ in 0..20 {
        let [a, b, c]: [u8; 3] = rand::random();
        let ip = Ipv4Addr::new(127, a, b, c.max(2));
        match std::net::TcpListener::bind((ip, 443)) {
            Ok(listener) => return Ok(listener),
            Err(e) => last = Some(e),
        }
    }
    Err(anyhow::anyhow!("cannot bind port 443 on a 127.x.y.z address (the Service Bus twin needs root or CAP_NET_BIND_SERVICE): {last:?}"))
}

impl ServiceBusTwin {
    /// Starts the namespace `{namespace}.servicebus.windows.net`. `keys` are SAS key names
    /// and values it accepts besides Entra tokens.
    pub async fn start(ca: &TestCa, namespace: &str, keys: BTreeMap<String, String>) -> anyhow::Result<ServiceBusTwin> {
        let shared = Arc::new(Shared { broker: Mutex::new(Broker::new()), keys });
        let router = axum::Router::new().fallback(http::handle).with_state(shared.clone());
        let server = serve_tls_on(bind_random_loopback_443()?, router, ca).await?;
        Ok(ServiceBusTwin { server, shared, namespace: namespace.to_ascii_lowercase() })
    }

    /// `{namespace}.servicebus.windows.net`.
    pub fn host(&self) -> String {
        format!("{}.servicebus.windows.net", self.namespace)
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    /// The name-resolution entry clients need (`HttpOptions::resolve`, `KEYRELAY_RESOLVE`).
    pub fn resolve(&self) -> (String, SocketAddr) {
        (self.host(), self.server.addr)
    }

    fn broker(&self) -> std::sync::MutexGuard<'_, Broker> {
        self.shared.broker.lock().unwrap()
    }

    pub fn create_queue(&self, name: &str, settings: EntitySettings) {
        self.broker().create_queue(name, settings)
    }

    pub fn create_topic(&self, name: &str, settings: EntitySettings) {
        self.broker().create_topic(name, settings)
    }

    /// A subscription with a SQL filter (`consumer = 'orders-api'`).
    pub fn create_subscription(&self, topic: &str, name: &str, sql: &str) -> Result<(), BrokerError> {
        self.broker().create_subscription(topic, name, sql)
    }

    /// Sends as a client would (for the host simulator's outputs).
    pub fn send(&self, entity: &str, message: Incoming) -> Result<SendOutcome, BrokerError> {
        self.broker().send(entity, message, chrono::Utc::now())
    }

    /// Messages waiting in a queue or subscription (`topic/subscriptions/sub`), not locked.
    pub fn peek(&self, path: &str) -> Result<Vec<Message>, BrokerError> {
        self.broker().peek(path)
    }

    pub fn dead_letters(&self, path: &str) -> Result<Vec<Message>, BrokerError> {
        self.broker().dead_letters(path)
    }

    /// Peek-locks the next message, as a Service Bus trigger does before invoking a function.
    pub fn lock_next(&self, path: &str) -> Result<Option<Locked>, BrokerError> {
        self.broker().lock_next(path, chrono::Utc::now())
    }

    /// Completes, abandons or renews a lock taken with [`Self::lock_next`] (or over HTTP).
    pub fn settle(&self, path: &str, locked: &Locked, action: Settle) -> Result<(), BrokerError> {
        let id = locked.message.sequence_number.to_string();
        self.broker().settle(path, &id, &locked.lock_token, action, chrono::Utc::now()).map(|_| ())
    }
}
