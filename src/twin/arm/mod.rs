//! The Azure Resource Manager twin: an HTTPS server on 127.0.0.1 that answers listKeys,
//! regenerate, resource GETs and long-running operation polls for every resource kind keyrelay
//! rotates, in the shapes of the official examples, with bearer tokens from the
//! [`IdentityTwin`](crate::twin::IdentityTwin) and switchable faults.
//!
//! Clients reach it as `https://management.azure.com:{port}` through name resolution and the
//! test CA, exactly like production code reaches Azure.

pub mod mirror;
pub mod routes;
pub mod shapes;
pub mod state;

pub use mirror::{PasswordSink, RedisKeyMirror};
pub use shapes::Shape;
pub use state::{Faults, KeyChange, KeyListener, LroHeaders, SeenRequest};

use super::server::{serve_tls, TlsServer};
use super::TestCa;
use crate::domain::SecretValue;
use chrono::{DateTime, Utc};
use state::{State, TwinResource};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// The host name clients use for the twin.
pub const ARM_HOST: &str = "management.azure.com";

pub struct ArmTwin {
    server: TlsServer,
    state: routes::Shared,
}

impl ArmTwin {
    pub async fn start(ca: &TestCa) -> anyhow::Result<ArmTwin> {
        let state: routes::Shared = Arc::new(Mutex::new(State::default()));
        state.lock().unwrap().self_ref = Some(Arc::downgrade(&state));
        let router = axum::Router::new().fallback(routes::handle).with_state(state.clone());
        Ok(ArmTwin { server: serve_tls(router, ca).await?, state })
    }

    /// The value for `KEYRELAY_ARM_ENDPOINT`.
    pub fn endpoint(&self) -> String {
        format!("https://{ARM_HOST}:{}", self.server.port())
    }

    /// The name-resolution override (`KEYRELAY_RESOLVE` entry) that leads clients here.
    pub fn resolve(&self) -> (String, SocketAddr) {
        (ARM_HOST.to_string(), self.server.addr)
    }

    /// Registers a resource with fresh random keys; its type decides its shape. Listeners
    /// registered before hear of the initial keys.
    pub async fn add_resource(&self, id: &str) -> anyhow::Result<()> {
        let shape = Shape::of_type(&shapes::resource_type_of(id))
            .ok_or_else(|| anyhow::anyhow!("the ARM twin does not serve resources like {id}"))?;
        let changes = {
            let mut state = self.state.lock().unwrap();
            let n = shape.key_names().len();
            let keys: Vec<String> = (0..n).map(|_| state.new_key()).collect();
            let now = Utc::now().to_rfc3339();
            let resource = TwinResource {
                id: id.to_string(),
                shape,
                keys: keys.clone(),
                generated: vec![now; n],
                key_auth_disabled: false,
                last_used: vec![None; n],
                usage_check: false,
                denied: false,
            };
            state.resources.insert(id.to_ascii_lowercase(), resource);
            keys.into_iter()
                .enumerate()
                .map(|(index, value)| KeyChange {
                    resource_id: id.to_string(),
                    key_name: shape.key_names()[index].to_string(),
                    index,
                    value: SecretValue::new(value),
                })
                .collect()
        };
        routes::notify(&self.state, changes).await;
        Ok(())
    }

    /// Adds a listener told about every key value from now on.
    pub fn add_listener(&self, listener: Arc<dyn KeyListener>) {
        self.state.lock().unwrap().listeners.push(listener);
    }

    /// The current value of a key by list-response name (what the real data plane would accept).
    pub fn key(&self, id: &str, key_name: &str) -> Option<SecretValue> {
        let state = self.state.lock().unwrap();
        let r = state.resource(id)?;
        let index = r.shape.key_names().iter().position(|n| *n == key_name)?;
        Some(SecretValue::new(r.keys[index].clone()))
    }

    fn with_resource(&self, id: &str, f: impl FnOnce(&mut TwinResource)) {
        let mut state = self.state.lock().unwrap();
        let r = state.resource_mut(id).unwrap_or_else(|| panic!("the ARM twin has no resource {id}"));
        f(r);
    }

    /// Turns key authentication off (or on) on a resource (for rules: on their namespace).
    pub fn set_key_auth_disabled(&self, id: &str, disabled: bool) {
        self.with_resource(id, |r| r.key_auth_disabled = disabled);
    }

    /// Cosmos DB safe key rotation on/off, and a key's approximate last use.
    pub fn set_usage_check(&self, id: &str, enabled: bool) {
        self.with_resource(id, |r| r.usage_check = enabled);
    }

    pub fn mark_used(&self, id: &str, key_name: &str, at: DateTime<Utc>) {
        self.with_resource(id, |r| {
            let index = r.shape.key_names().iter().position(|n| *n == key_name).expect("known key name");
            r.last_used[index] = Some(at);
        });
    }

    /// The caller's identity lacks every permission on this resource (403).
    pub fn deny(&self, id: &str) {
        self.with_resource(id, |r| r.denied = true);
    }

    /// Changes the fault settings.
    pub fn faults(&self, f: impl FnOnce(&mut Faults)) {
        f(&mut self.state.lock().unwrap().faults);
    }

    /// Every request seen so far.
    pub fn seen(&self) -> Vec<SeenRequest> {
        self.state.lock().unwrap().seen.clone()
    }
}
