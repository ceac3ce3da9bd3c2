//! POSTing the key to a local endpoint of the application (its admin "reload key" route).

use crate::domain::SecretValue;
use std::time::Duration;

pub async fn post_key(http: &reqwest::Client, url: &str, key: &SecretValue, timeout_secs: u64) -> Result<String, String> {
    let response = http
        .post(url)
        .header("content-type", "text/plain; charset=utf-8")
        .body(key.expose().to_string())
        .timeout(Duration::from_secs(timeout_secs.max(1)))
        .send()
        .await
        .map_err(|e| format!("POST {url}: {}", without_url(e)))?;
    let status = response.status();
    if status.is_success() {
        return Ok(format!("POST {url} answered {}", status.as_u16()));
    }
    let body = response.text().await.unwrap_or_default();
    let snippet: String = body.trim().chars().take(200).collect();
    Err(format!("POST {url} answered {}: {snippet}", status.as_u16()))
}

/// reqwest errors repeat the URL, which the caller already names.
pub(crate) fn without_url(e: reqwest::Error) -> String {
    let kind = if e.is_timeout() { "timed out" } else if e.is_connect() { "connection failed" } else { "request failed" };
    let mut cause = String::new();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        cause = s.to_string();
        source = s.source();
    }
    if cause.is_empty() { kind.to_string() } else { format!("{kind}: {cause}") }
}
