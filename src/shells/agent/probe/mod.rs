//! Health probes with the new key. A probe that passes says the application (or the agent on
//! its behalf) can use the new key for real work; its detail goes into the ack.

mod command;
mod http;
mod redis;
mod tcp;

use super::config::{ProbeConfig, ProbeTarget};
use crate::domain::SecretValue;
use std::time::{Duration, Instant};

/// Runs a probe, each try bounded by its timeout, retried `retries` times. The result's text
/// names the probe and, on failure, the last error and the number of tries.
pub async fn run_probe(probe: &ProbeConfig, key: &SecretValue, http: &reqwest::Client) -> Result<String, String> {
    let timeout = Duration::from_secs(probe.timeout.as_secs().max(1));
    let tries = probe.retries + 1;
    let mut last = String::new();
    for attempt in 1..=tries {
        let started = Instant::now();
        let result = tokio::time::timeout(timeout, once(&probe.target, key, http, timeout))
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {}s", timeout.as_secs())));
        match result {
            Ok(what) => return Ok(format!("{} ({} ms)", what, started.elapsed().as_millis())),
            Err(e) => last = e,
        }
        if attempt < tries {
            tokio::time::sleep(Duration::from_secs(probe.retry_delay.as_secs())).await;
        }
    }
    let tries_text = if tries == 1 { "1 try".to_string() } else { format!("{tries} tries") };
    Err(format!("{} failed after {tries_text}: {last}", describe(&probe.target)))
}

async fn once(target: &ProbeTarget, key: &SecretValue, http_client: &reqwest::Client, timeout: Duration) -> Result<String, String> {
    match target {
        ProbeTarget::Redis { host, port, tls, username, ca_file } => {
            redis::auth_and_ping(host, *port, *tls, username.as_deref(), ca_file.as_deref(), key, timeout).await
        }
        ProbeTarget::Http { url, expect_status, expect_body } => {
            http::get(http_client, url, *expect_status, expect_body.as_deref(), timeout).await
        }
        ProbeTarget::Tcp { address } => tcp::connect(address).await,
        ProbeTarget::Command { command } => command::exit_code(command, key).await,
    }
}

/// The probe's name in details: `redis cache:6380 (tls)`, `GET http://...`.
pub fn describe(target: &ProbeTarget) -> String {
    match target {
        ProbeTarget::Redis { host, port, tls, .. } => format!("redis probe {host}:{port}{}", if *tls { " (tls)" } else { "" }),
        ProbeTarget::Http { url, .. } => format!("http probe GET {url}"),
        ProbeTarget::Tcp { address } => format!("tcp probe {address}"),
        ProbeTarget::Command { command } => format!("command probe {}", command.first().map(String::as_str).unwrap_or("")),
    }
}
