//! The Redis Cloud REST API client (`https://api.redislabs.com/v1`).
//!
//! Every request carries `x-api-key` (account key) and `x-api-secret-key` (user key), read from
//! Key Vault through the SecretStore port at the time of the request, so a rotated API key is
//! picked up without a restart. 429 ("too many resources are concurrently created / updated /
//! deleted") is retried with exponential backoff and, when the budget is spent, handed to the
//! core as `Throttled`; 401 and 403 are explained, because their causes are outside the request.

use super::keys::ApiKeys;
use crate::adapters::azure::http::HttpOptions;
use crate::adapters::redis::vault::required_value;
use crate::ports::{ProviderError, SecretRef, SecretStore};
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// The production API root.
pub const API_BASE: &str = "https://api.redislabs.com/v1";

/// Exponential backoff: `first`, doubling, at most `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
}

impl Backoff {
    pub fn delay(&self, attempt: u32) -> Duration {
        self.first.saturating_mul(1u32 << attempt.min(16)).min(self.max)
    }
}

/// Tunables; the defaults follow Redis's own Go SDK (429: up to 10 retries, 1 s to 60 s; task
/// polling 1 s to 30 s; up to 5 `404`s while a new task is not yet known).
#[derive(Debug, Clone)]
pub struct CloudOptions {
    pub base_url: String,
    pub http: HttpOptions,
    pub throttle: Backoff,
    pub throttle_retries: u32,
    pub task_poll: Backoff,
    pub max_task_404s: u32,
}

impl Default for CloudOptions {
    fn default() -> Self {
        CloudOptions {
            base_url: API_BASE.into(),
            http: HttpOptions::default(),
            throttle: Backoff { first: Duration::from_secs(1), max: Duration::from_secs(60) },
            throttle_retries: 10,
            task_poll: Backoff { first: Duration::from_secs(1), max: Duration::from_secs(30) },
            max_task_404s: 5,
        }
    }
}

/// What went wrong talking to the API, in the terms the provider reacts to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CloudError {
    #[error("Redis Cloud API is throttling (429); retry after {retry_after:?}")]
    Throttled { retry_after: Duration },
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{detail}")]
    Failed { detail: String, transient: bool },
}

impl From<CloudError> for ProviderError {
    fn from(e: CloudError) -> Self {
        match e {
            CloudError::Throttled { retry_after } => ProviderError::Throttled { retry_after },
            CloudError::Unauthorized(detail) | CloudError::NotFound(detail) => ProviderError::Failed { detail, transient: false },
            CloudError::Failed { detail, transient } => ProviderError::Failed { detail, transient },
        }
    }
}

/// Where the API keys come from: a Key Vault secret, or (for checking a key the operator has
/// just staged) a given value.
#[derive(Clone)]
enum KeySource {
    Vault { store: Arc<dyn SecretStore>, secret: SecretRef },
    Given(ApiKeys),
}

#[derive(Clone)]
pub struct CloudClient {
    http: reqwest::Client,
    options: CloudOptions,
    keys: KeySource,
}

impl CloudClient {
    pub fn new(options: CloudOptions, store: Arc<dyn SecretStore>, keys_secret: SecretRef) -> anyhow::Result<CloudClient> {
        Ok(CloudClient { http: options.http.client()?, options, keys: KeySource::Vault { store, secret: keys_secret } })
    }

    /// The same client with the given keys instead of the Key Vault ones.
    pub fn with_keys(&self, keys: ApiKeys) -> CloudClient {
        CloudClient { http: self.http.clone(), options: self.options.clone(), keys: KeySource::Given(keys) }
    }

    pub fn options(&self) -> &CloudOptions {
        &self.options
    }

    async fn keys(&self) -> Result<ApiKeys, CloudError> {
        match &self.keys {
            KeySource::Given(k) => Ok(k.clone()),
            KeySource::Vault { store, secret } => {
                let value = required_value(store.as_ref(), secret, "Redis Cloud API keys")
                    .await
                    .map_err(|detail| CloudError::Failed { detail, transient: true })?;
                ApiKeys::parse(&value)
                    .map_err(|e| CloudError::Failed { detail: format!("Key Vault secret {}: {e}", secret.name), transient: false })
            }
        }
    }

    fn key_secret_name(&self) -> String {
        match &self.keys {
            KeySource::Vault { secret, .. } => format!("Key Vault secret {}/{}", secret.vault, secret.name),
            KeySource::Given(k) => format!("the staged API user key {:?}", k.user_key_name.as_deref().unwrap_or("?")),
        }
    }

    fn headers(keys: &ApiKeys) -> Result<HeaderMap, CloudError> {
        let sensitive = |v: &str| {
            let mut h = HeaderValue::from_str(v)
                .map_err(|_| CloudError::Failed { detail: "an API key contains characters not allowed in a header".into(), transient: false })?;
            h.set_sensitive(true);
            Ok::<_, CloudError>(h)
        };
        let mut h = HeaderMap::new();
        h.insert("x-api-key", sensitive(keys.account_key.expose())?);
        h.insert("x-api-secret-key", sensitive(keys.user_key.expose())?);
        h.insert(ACCEPT, HeaderValue::from_static("application/json"));
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        Ok(h)
    }

    pub async fn get(&self, path: &str) -> Result<Value, CloudError> {
        self.request(Method::GET, path, None).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Result<Value, CloudError> {
        self.request(Method::PUT, path, Some(body)).await
    }

    /// One API call: 429s are retried here within the budget; the JSON body is returned.
    pub async fn request(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Value, CloudError> {
        let url = format!("{}{path}", self.options.base_url.trim_end_matches('/'));
        let headers = Self::headers(&self.keys().await?)?;
        let mut attempt = 0;
        loop {
            let mut req = self.http.request(method.clone(), &url).headers(headers.clone());
            if let Some(body) = body {
                req = req.json(body);
            }
            let resp = req.send().await.map_err(|e| CloudError::Failed {
                detail: format!("{method} {path}: {}", without_url(&e)),
                transient: true,
            })?;
            let status = resp.status();
            let retry_after = crate::adapters::azure::arm::retry::parse_retry_after(resp.headers());
            let text = resp.text().await.unwrap_or_default();
            if status.is_success() {
                return serde_json::from_str(&text).or_else(|e| {
                    if text.trim().is_empty() {
                        Ok(Value::Null)
                    } else {
                        Err(CloudError::Failed { detail: format!("{method} {path}: response is not JSON ({e})"), transient: true })
                    }
                });
            }
            if status == StatusCode::TOO_MANY_REQUESTS {
                // The server's Retry-After, when it sends one, wins over our own backoff.
                let delay = retry_after.unwrap_or_else(|| self.options.throttle.delay(attempt));
                if attempt >= self.options.throttle_retries {
                    return Err(CloudError::Throttled { retry_after: delay });
                }
                tracing::warn!(%method, path, attempt, ?delay, "Redis Cloud API answered 429; backing off");
                tokio::time::sleep(delay).await;
                attempt += 1;
                continue;
            }
            let message = api_message(&text);
            return Err(match status {
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                    CloudError::Unauthorized(explain_auth_failure(status, &method, path, &message, &self.key_secret_name()))
                }
                StatusCode::NOT_FOUND => CloudError::NotFound(format!("{method} {path}: 404 {message}")),
                s => CloudError::Failed {
                    detail: format!("{method} {path}: {} {message}", s.as_u16()),
                    transient: s.is_server_error() || s == StatusCode::REQUEST_TIMEOUT || s == StatusCode::CONFLICT,
                },
            });
        }
    }
}

/// A reqwest error without its URL's query (ours carry none) — and never a header.
fn without_url(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    if let Some(url) = e.url() {
        s = s.replace(url.as_str(), url.path());
    }
    s
}

/// The API's own words: Spring-style `{"message": ...}` or `{"error": ...}`, else the text.
fn api_message(text: &str) -> String {
    let from_json = serde_json::from_str::<Value>(text).ok().and_then(|v| {
        ["message", "description", "error"].iter().find_map(|k| v.get(k).and_then(Value::as_str).map(str::to_string))
    });
    let msg = from_json.unwrap_or_else(|| text.trim().to_string());
    msg.chars().take(300).collect()
}

/// 401/403 causes live in the Redis Cloud console, not in the request: say which.
pub fn explain_auth_failure(status: StatusCode, method: &Method, path: &str, message: &str, keys: &str) -> String {
    format!(
        "Redis Cloud API refused {method} {path} with {} ({message}). Likely causes: (1) the API user key's CIDR allow \
         list does not include keyrelay's outbound IP addresses (console: Access Management > API Keys > the user key > \
         allow list; add the Function App's outbound addresses or its NAT gateway); (2) API access is not enabled for the \
         account (console: Access Management > API Keys > Enable API); (3) the user that owns the API user key does not \
         have the Owner role, which managing ACL users and databases needs; (4) the keys in {keys} are wrong or were \
         deleted.",
        status.as_u16()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let b = Backoff { first: Duration::from_secs(1), max: Duration::from_secs(30) };
        let delays: Vec<u64> = (0..7).map(|a| b.delay(a).as_secs()).collect();
        assert_eq!(delays, vec![1, 2, 4, 8, 16, 30, 30]);
    }

    #[test]
    fn api_messages_come_from_spring_bodies() {
        let body = r#"{"timestamp":"2023-06-21T13:51:50.571+0000","status":404,"error":"Not Found","message":"ACL user 40004 not found","path":"/v1/acl/users/40004"}"#;
        assert_eq!(api_message(body), "ACL user 40004 not found");
        assert_eq!(api_message("plain"), "plain");
    }
}
