//! `keyrelay agent` on Azure: steps from the consumer's Service Bus subscription (peek-lock),
//! the named version from Key Vault, acks and heartbeats to the acks queue, all signed in with
//! the identity the `[azure]` table names. The adapters are keyrelay's own production ones.

use super::ports::{Delivery, StepSource, TransportError};
use super::reload::HookContext;
use super::{Agent, AgentConfig, HookReloader, QueueAckSink, Transport};
use crate::adapters::azure::http::HttpOptions;
use crate::adapters::azure::keyvault::KeyVaultSecrets;
use crate::adapters::azure::servicebus::{LockedMessage, ServiceBusAuth, ServiceBusCommandQueue, ServiceBusNamespace, ServiceBusReceiver};
use crate::ports::{BusError, SystemClock};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The consumer's subscription as a [`StepSource`]. Locked messages are kept by a local lock
/// id until they are settled.
pub struct ServiceBusSteps {
    receiver: ServiceBusReceiver,
    locked: Mutex<HashMap<String, Arc<LockedMessage>>>,
}

impl ServiceBusSteps {
    pub fn new(receiver: ServiceBusReceiver) -> Self {
        ServiceBusSteps { receiver, locked: Mutex::new(HashMap::new()) }
    }

    fn take(&self, d: &Delivery) -> Result<Arc<LockedMessage>, TransportError> {
        self.locked.lock().unwrap().remove(&d.lock).ok_or_else(|| TransportError::permanent("message already settled"))
    }

    fn get(&self, d: &Delivery) -> Result<Arc<LockedMessage>, TransportError> {
        self.locked.lock().unwrap().get(&d.lock).cloned().ok_or_else(|| TransportError::permanent("message already settled"))
    }
}

fn transport_error(BusError::Failed { detail, transient }: BusError) -> TransportError {
    TransportError { detail, transient }
}

#[async_trait]
impl StepSource for ServiceBusSteps {
    async fn receive(&self, wait: Duration) -> Result<Option<Delivery>, TransportError> {
        let Some(message) = self.receiver.receive(wait).await.map_err(transport_error)? else { return Ok(None) };
        let lock = uuid::Uuid::new_v4().to_string();
        let delivery = Delivery {
            message_id: Some(message.properties.message_id.clone()),
            consumer_property: message.user_properties.get("consumer").cloned(),
            delivery_count: message.properties.delivery_count,
            body: message.body.clone().into_bytes(),
            lock: lock.clone(),
        };
        self.locked.lock().unwrap().insert(lock, Arc::new(message));
        Ok(Some(delivery))
    }

    async fn complete(&self, d: &Delivery) -> Result<(), TransportError> {
        self.take(d)?.complete().await.map_err(transport_error)
    }

    async fn abandon(&self, d: &Delivery) -> Result<(), TransportError> {
        self.take(d)?.abandon().await.map_err(transport_error)
    }

    async fn renew(&self, d: &Delivery) -> Result<(), TransportError> {
        self.get(d)?.renew_lock().await.map_err(transport_error)
    }
}

/// Builds the agent a configuration describes, with `http` for every Azure call and hook
/// (`HttpOptions::from_env()` in production).
pub fn agent_from_config(config: &AgentConfig, http: &HttpOptions) -> anyhow::Result<Agent> {
    let identity = config.identity_settings()?;
    let credential = identity.credential(http)?;
    let namespace = ServiceBusNamespace::new(&config.service_bus.namespace, ServiceBusAuth::Entra(credential.clone()), http)?;
    let receiver = ServiceBusReceiver::subscription(&namespace, &config.service_bus.steps_topic, &config.subscription())?;
    let acks = ServiceBusCommandQueue::new(&namespace, &config.service_bus.acks_queue)?;
    let secrets = KeyVaultSecrets::from_http(credential.clone(), http)?;
    let transport = Transport {
        steps: Arc::new(ServiceBusSteps::new(receiver)),
        secrets: Arc::new(secrets),
        acks: Arc::new(QueueAckSink::new(Arc::new(acks))),
    };
    let context = HookContext { http: http.client()?, arm: Some(credential), arm_endpoint: identity.arm_endpoint.clone() };
    let reloader = Arc::new(HookReloader::new(&config.credentials, context));
    Ok(Agent::new(config.identity(), transport, reloader, Arc::new(SystemClock), config.tuning()))
}

/// `keyrelay agent --config FILE`: loads and checks the configuration (a wrong one stops here
/// with its file, line and field), then runs until SIGINT or SIGTERM.
pub async fn run_command(config_path: &std::path::Path) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("KEYRELAY_LOG").unwrap_or_else(|_| "info".into());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
    let config = AgentConfig::load(config_path)?;
    let agent = agent_from_config(&config, &HttpOptions::from_env()?)?;
    let shutdown = async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
        }
    };
    agent.run(shutdown).await;
    Ok(())
}
