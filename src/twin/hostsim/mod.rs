//! A Functions host simulator. The real host cannot be installed offline, so this does its
//! part for `keyrelay serve`: it peek-locks messages from the Service Bus twin's queues and
//! posts one invocation per message (completing it on 2xx, abandoning it otherwise, so a
//! failed invocation is redelivered and ends in the dead-letter queue after the entity's max
//! delivery count), fires timer triggers, and delivers Event Grid events — each as the
//! `{Data, Metadata}` envelope the host sends, to `POST /{function}`.

pub mod envelope;

use crate::twin::servicebus::broker::Settle;
use crate::twin::servicebus::ServiceBusTwin;
use serde_json::Value;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinHandle;

/// One Service Bus trigger: which queue feeds which function, and its binding name.
#[derive(Debug, Clone)]
pub struct QueueTrigger {
    pub queue: String,
    pub function: &'static str,
    pub binding: &'static str,
}

/// What the simulator did, for progress lines and tests.
#[derive(Default)]
pub struct HostLog {
    pub invocations: AtomicU64,
    pub failed: AtomicU64,
    /// The handler's `Logs` lines, in order.
    pub lines: Mutex<Vec<String>>,
    /// Every invocation body sent and every response body received (for leak scans).
    pub exchanged: Mutex<Vec<String>>,
}

pub struct HostSim {
    base_url: Arc<str>,
    http: reqwest::Client,
    pub log: Arc<HostLog>,
    tasks: Vec<JoinHandle<()>>,
}

impl HostSim {
    pub fn new(base_url: String) -> HostSim {
        HostSim { base_url: base_url.into(), http: reqwest::Client::new(), log: Arc::default(), tasks: Vec::new() }
    }

    /// Starts delivering one queue's messages to its function, polling every `every`.
    pub fn pump(&mut self, bus: Arc<ServiceBusTwin>, trigger: QueueTrigger, every: Duration) {
        let (url, http, log) = (self.base_url.clone(), self.http.clone(), self.log.clone());
        self.tasks.push(tokio::spawn(async move {
            loop {
                match bus.lock_next(&trigger.queue) {
                    Ok(Some(locked)) => {
                        let body = envelope::service_bus(trigger.binding, trigger.function, &bus.host(), &locked.message, &locked.lock_token);
                        let ok = post(&http, &url, &log, trigger.function, &body).await;
                        let _ = bus.settle(&trigger.queue, &locked, if ok { Settle::Complete } else { Settle::Abandon });
                        if !ok {
                            tokio::time::sleep(every).await;
                        }
                    }
                    _ => tokio::time::sleep(every).await,
                }
            }
        }));
    }

    /// Fires a timer function every `every`.
    pub fn timer_every(&mut self, function: &'static str, every: Duration) {
        let (url, http, log) = (self.base_url.clone(), self.http.clone(), self.log.clone());
        self.tasks.push(tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                post(&http, &url, &log, function, &envelope::timer("timer", function)).await;
            }
        }));
    }

    /// One timer invocation now; true if the handler answered 2xx.
    pub async fn fire_timer(&self, function: &'static str) -> bool {
        post(&self.http, &self.base_url, &self.log, function, &envelope::timer("timer", function)).await
    }

    /// Delivers one Event Grid event to `keyvault-events`; true if the handler answered 2xx.
    pub async fn deliver_event(&self, event: &Value) -> bool {
        let body = envelope::event_grid("event", "keyvault-events", event);
        post(&self.http, &self.base_url, &self.log, "keyvault-events", &body).await
    }

    /// An HTTP-trigger call to the `api` function (`route` below `keyrelay/`); the response's
    /// `res` output (status, body).
    pub async fn api(&self, method: &str, route: &str, body: Option<&Value>) -> anyhow::Result<(u16, Value)> {
        let url = format!("{}/api", self.base_url);
        let req = serde_json::json!({
            "Data": { "req": {
                "Url": format!("http://localhost:7071/api/keyrelay/{route}"),
                "Method": method,
                "Query": {},
                "Headers": { "Content-Type": ["application/json"] },
                "Params": { "path": route },
                "Identities": [],
                "Body": body.map(|b| b.to_string()),
            }},
            "Metadata": { "path": route, "sys": { "MethodName": "api", "UtcNow": chrono::Utc::now().to_rfc3339(), "RandGuid": uuid::Uuid::new_v4().to_string() } }
        });
        let resp: Value = self.http.post(url).json(&req).send().await?.json().await?;
        let res = &resp["Outputs"]["res"];
        let status = res["statusCode"].as_u64().or_else(|| res["statusCode"].as_str().and_then(|s| s.parse().ok())).unwrap_or(0) as u16;
        let body = match &res["body"] {
            Value::String(s) => serde_json::from_str(s).unwrap_or(Value::String(s.clone())),
            other => other.clone(),
        };
        Ok((status, body))
    }

}

impl Drop for HostSim {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

async fn post(http: &reqwest::Client, url: &str, log: &HostLog, function: &str, body: &Value) -> bool {
    let url = format!("{url}/{function}");
    log.invocations.fetch_add(1, Ordering::Relaxed);
    log.exchanged.lock().unwrap().push(body.to_string());
    let ok = match http.post(&url).header("x-azure-functions-invocationid", uuid::Uuid::new_v4().to_string()).json(body).send().await {
        Ok(resp) => {
            let ok = resp.status().is_success();
            if let Ok(v) = resp.json::<Value>().await {
                log.exchanged.lock().unwrap().push(v.to_string());
                let lines = v["Logs"].as_array().cloned().unwrap_or_default();
                log.lines.lock().unwrap().extend(lines.iter().filter_map(|l| l.as_str()).map(|l| format!("{function}: {l}")));
            }
            ok
        }
        Err(_) => false,
    };
    if !ok {
        log.failed.fetch_add(1, Ordering::Relaxed);
    }
    ok
}
