//! The consumer agent: what runs beside each consumer (`keyrelay agent`), or inside it (the
//! library API). It turns a reload step into a reloaded, health-checked consumer and an ack
//! keyrelay can verify, and reports by heartbeat which version the consumer runs on.
//!
//! Library use, for a Rust application that holds the credential itself:
//!
//! ```no_run
//! # use std::sync::Arc;
//! # use keyrelay::shells::agent::{self, Agent, Identity, Transport, Tuning};
//! # async fn example(identity: Identity, transport: Transport) {
//! let reloader = agent::callback(|credential, key| async move {
//!     // Swap the connection pool to the new key and check it.
//!     let _ = (credential, key);
//!     Ok("pool reconnected; PING ok".to_string())
//! });
//! let agent = Agent::new(identity, transport, reloader, Arc::new(keyrelay::ports::SystemClock), Tuning::default());
//! agent.run(std::future::pending()).await;
//! # }
//! ```

pub mod azure;
pub mod config;
mod dedup;
pub mod messages;
pub mod ports;
pub mod probe;
mod queue_acks;
pub mod reload;
mod reloader;
mod runner;

pub use config::{AgentConfig, ConfigError};
pub use queue_acks::QueueAckSink;
pub use ports::{AckSink, Delivery, SecretFetcher, StepSource, TransportError};
pub use reloader::{callback, CallbackReloader, HookReloader, ReloadResult, Reloader};
pub use runner::{Agent, Identity, InUse, Processed, Transport, Tuning};

use crate::ports::SecretRef;

impl AgentConfig {
    /// The agent's identity as the configuration declares it.
    pub fn identity(&self) -> Identity {
        Identity {
            consumer: self.consumer.clone(),
            credentials: self
                .credentials
                .iter()
                .map(|c| (c.name().clone(), SecretRef { vault: c.vault.clone(), name: c.secret.clone() }))
                .collect(),
        }
    }

    /// The loop's timings as the configuration sets them.
    pub fn tuning(&self) -> Tuning {
        let secs = |d: crate::domain::HumanDuration| std::time::Duration::from_secs(d.as_secs());
        Tuning {
            receive_wait: secs(self.service_bus.receive_wait),
            lock_renew_every: secs(self.service_bus.lock_renew_every),
            heartbeat_every: secs(self.heartbeat_every),
            state_file: self.state_file.clone(),
        }
    }
}
