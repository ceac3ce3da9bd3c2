//! A small typed Resource Manager client: bearer tokens, bounded retries, long-running
//! operations. There is no maintained 1.x ARM management crate for the resource kinds
//! keyrelay rotates, and it needs only POST/GET on a resource id plus operation polling.

use super::error::{ArmCall, ArmError};
use super::operation::{Operation, OperationState, OperationStatusBody};
use super::retry::{parse_retry_after, RetryPolicy};
use crate::adapters::azure::http::HttpOptions;
use crate::adapters::azure::identity::{Cloud, IdentitySettings};
use azure_core::credentials::TokenCredential;
use std::sync::Arc;
use std::time::Duration;

/// A successful (2xx) response. Its body may hold keys, so Debug does not print it.
pub struct ArmResponse {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: bytes::Bytes,
}

impl std::fmt::Debug for ArmResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArmResponse").field("status", &self.status).field("body_len", &self.body.len()).finish_non_exhaustive()
    }
}

impl ArmResponse {
    /// The operation a 201/202 started, if any.
    pub fn operation(&self) -> Option<Operation> {
        matches!(self.status, 201 | 202).then(|| Operation::from_headers(&self.headers)).flatten()
    }

    pub fn retry_after(&self) -> Option<Duration> {
        parse_retry_after(&self.headers)
    }

    /// The body as JSON; an empty body is `null`.
    pub fn json(&self) -> Result<serde_json::Value, String> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(serde_json::Value::Null);
        }
        // The serde error names line/column only, never the content.
        serde_json::from_slice(&self.body).map_err(|e| format!("response body is not JSON ({e})"))
    }
}

/// How long long-running operations may take, and the poll interval when ARM gives none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LroOptions {
    pub timeout: Duration,
    pub default_poll: Duration,
    /// Longest `Retry-After` between polls that the client honours as is.
    pub max_poll: Duration,
}

impl Default for LroOptions {
    fn default() -> Self {
        LroOptions { timeout: Duration::from_secs(600), default_poll: Duration::from_secs(10), max_poll: Duration::from_secs(60) }
    }
}

pub struct ArmClient {
    http: reqwest::Client,
    credential: Arc<dyn TokenCredential>,
    endpoint: url::Url,
    scope: String,
    identity: String,
    pub retry: RetryPolicy,
    pub lro: LroOptions,
}

impl std::fmt::Debug for ArmClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArmClient").field("endpoint", &self.endpoint.as_str()).field("identity", &self.identity).finish_non_exhaustive()
    }
}

impl ArmClient {
    /// The production client: endpoint, audience and credential from the identity settings.
    pub fn from_settings(settings: &IdentitySettings, http: &HttpOptions) -> anyhow::Result<ArmClient> {
        ArmClient::new(
            &settings.arm_endpoint,
            settings.cloud.arm_audience(),
            settings.identity_description(),
            settings.credential(http)?,
            http.client()?,
        )
    }

    pub fn new(
        endpoint: &str,
        audience: &str,
        identity: String,
        credential: Arc<dyn TokenCredential>,
        http: reqwest::Client,
    ) -> anyhow::Result<ArmClient> {
        let endpoint = url::Url::parse(endpoint).map_err(|e| anyhow::anyhow!("ARM endpoint {endpoint:?}: {e}"))?;
        anyhow::ensure!(endpoint.scheme() == "https", "ARM endpoint {endpoint} must be https");
        Ok(ArmClient {
            http,
            credential,
            endpoint,
            scope: Cloud::scope(audience),
            identity,
            retry: RetryPolicy::default(),
            lro: LroOptions::default(),
        })
    }

    pub fn call(&self, action: &str, resource: &str) -> ArmCall {
        ArmCall { action: action.to_string(), resource: resource.to_string(), identity: self.identity.clone() }
    }

    /// The URL of `{resource_id}{suffix}?api-version=...`.
    pub fn url(&self, resource_id: &str, suffix: &str, api_version: &str) -> Result<url::Url, String> {
        let mut url = self.endpoint.join(&format!("{resource_id}{suffix}")).map_err(|e| format!("bad resource path: {e}"))?;
        url.query_pairs_mut().append_pair("api-version", api_version);
        Ok(url)
    }

    /// Sends `method` to `{resource_id}{suffix}` with bounded retries; any 2xx is success.
    pub async fn send(
        &self,
        method: reqwest::Method,
        resource_id: &str,
        suffix: &str,
        api_version: &str,
        body: Option<&serde_json::Value>,
        call: &ArmCall,
    ) -> Result<ArmResponse, ArmError> {
        let url = self.url(resource_id, suffix, api_version).map_err(|detail| ArmError::Unexpected { call: call.clone(), detail })?;
        self.send_url(method, url, body, call).await
    }

    async fn token(&self, call: &ArmCall) -> Result<String, ArmError> {
        let token = self
            .credential
            .get_token(&[self.scope.as_str()], None)
            .await
            .map_err(|e| ArmError::Transport { call: call.clone(), detail: format!("getting a token for {} as {}: {e}", self.scope, self.identity) })?;
        Ok(token.token.secret().to_string())
    }

    async fn send_url(
        &self,
        method: reqwest::Method,
        url: url::Url,
        body: Option<&serde_json::Value>,
        call: &ArmCall,
    ) -> Result<ArmResponse, ArmError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let token = self.token(call).await?;
            let mut request = self.http.request(method.clone(), url.clone()).bearer_auth(token);
            request = match body {
                Some(json) => request.json(json),
                // ARM wants a Content-Length on body-less POSTs.
                None if method == reqwest::Method::POST => request.header("content-length", "0"),
                None => request,
            };
            let outcome = match request.send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let headers = response.headers().clone();
                    match response.bytes().await {
                        Ok(body) => Ok(ArmResponse { status, headers, body }),
                        Err(e) => Err(ArmError::Transport { call: call.clone(), detail: format!("reading the response: {e}") }),
                    }
                }
                Err(e) => Err(ArmError::Transport { call: call.clone(), detail: format!("sending the request: {e}") }),
            };
            // One wait per attempt (the jitter is drawn once): the one a Throttled error
            // reports is the one this loop sleeps.
            let (wait, error) = match outcome {
                Ok(response) if (200..300).contains(&response.status) => return Ok(response),
                Ok(response) => {
                    let wait = self.retry.delay(attempt, response.retry_after());
                    let error = ArmError::from_status(call.clone(), response.status, &response.body, wait);
                    if !RetryPolicy::retryable(response.status) {
                        return Err(error);
                    }
                    (wait, error)
                }
                Err(error) => (self.retry.backoff(attempt), error),
            };
            if attempt >= self.retry.max_attempts || wait > self.retry.max_delay {
                tracing::warn!(action = %call.action, resource = %call.resource, attempt, "giving up: {error}");
                return Err(error);
            }
            tracing::info!(action = %call.action, resource = %call.resource, attempt, ?wait, "retrying: {error}");
            tokio::time::sleep(wait).await;
        }
    }

    /// Polls an operation once.
    pub async fn poll(&self, operation: &Operation, call: &ArmCall) -> Result<OperationState, ArmError> {
        if !operation.trusted_by(&self.endpoint) {
            return Err(ArmError::Unexpected {
                call: call.clone(),
                detail: format!("refusing to send a token to operation URL host {:?}", operation.url().host_str()),
            });
        }
        let response = self.send_url(reqwest::Method::GET, operation.url().clone(), None, call).await?;
        let retry_after = response.retry_after();
        match operation {
            Operation::Location(_) if response.status == 202 => Ok(OperationState::Running { retry_after }),
            Operation::Location(_) => Ok(OperationState::Succeeded),
            Operation::AsyncOperation(_) => {
                let body: OperationStatusBody = serde_json::from_slice(&response.body).map_err(|e| ArmError::Unexpected {
                    call: call.clone(),
                    detail: format!("operation status body: {e}"),
                })?;
                Ok(body.state(retry_after))
            }
        }
    }
}
