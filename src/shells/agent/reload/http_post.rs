//! POSTing the key to a local endpoint of the application (its admin "reload key" route).

use crate::domain::SecretValue;
use std::time::Duration;

pub async fn post_key(http: &reqwest::Client, url: &str, key: &SecretValue, timeout_secs: u64) -> Result<String, String> {
    let request = http
        .post(url)
        .header("content-type", "text/plain; charset=utf-8")
        .body(key.expose().to_string())
        .timeout(Duration::from_secs(timeout_secs.max(1)));
    let what = format!("POST {url}");
    let status = send_expecting_success(request, &what).await?;
    Ok(format!("{what} answered {status}"))
}

/// Sends `request`; a transport failure or a non-2xx answer becomes `"{what} answered 500:
/// <start of the body>"`, so a hook's failure says which call failed and what the server said.
pub(crate) async fn send_expecting_success(request: reqwest::RequestBuilder, what: &str) -> Result<u16, String> {
    let response = request.send().await.map_err(|e| format!("{what}: {}", without_url(e)))?;
    let status = response.status();
    if status.is_success() {
        return Ok(status.as_u16());
    }
    let body = response.text().await.unwrap_or_default();
    let snippet: String = body.trim().chars().take(200).collect();
    Err(format!("{what} answered {}: {snippet}", status.as_u16()))
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
