//! The HTTP probe: the application, having reloaded, still answers its health route.

use crate::shells::agent::reload::without_url;
use std::time::Duration;

pub async fn get(
    http: &reqwest::Client,
    url: &str,
    expect_status: u16,
    expect_body: Option<&str>,
    timeout: Duration,
) -> Result<String, String> {
    let response = http.get(url).timeout(timeout).send().await.map_err(|e| format!("GET {url}: {}", without_url(e)))?;
    let status = response.status().as_u16();
    let body = response.text().await.unwrap_or_default();
    if status != expect_status {
        let snippet: String = body.trim().chars().take(120).collect();
        return Err(format!("GET {url} answered {status}, expected {expect_status}: {snippet}"));
    }
    if let Some(needle) = expect_body {
        if !body.contains(needle) {
            return Err(format!("GET {url} answered {status} but the body does not contain {needle:?}"));
        }
    }
    Ok(format!("GET {url} answered {status}"))
}
