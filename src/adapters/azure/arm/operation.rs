//! Long-running operations: which URL to poll, and what its answer means.
//!
//! ARM starts an asynchronous operation with 201 or 202 and an `Azure-AsyncOperation` URL
//! (poll it; its body says `InProgress`, `Succeeded`, `Failed` or `Canceled`) and/or a
//! `Location` URL (202 while running, 200/204 when done). The doc says to prefer
//! Azure-AsyncOperation when both are present. The handle is a plain string so the rotation
//! core can persist it and poll again after a restart.

use serde::Deserialize;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    AsyncOperation(url::Url),
    Location(url::Url),
}

const ASYNC_PREFIX: &str = "azure-asyncoperation ";
const LOCATION_PREFIX: &str = "location ";

impl Operation {
    /// The operation a 201/202 response started, if it named one.
    pub fn from_headers(headers: &reqwest::header::HeaderMap) -> Option<Operation> {
        let url = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).and_then(|v| url::Url::parse(v.trim()).ok());
        url("azure-asyncoperation").map(Operation::AsyncOperation).or_else(|| url("location").map(Operation::Location))
    }

    pub fn url(&self) -> &url::Url {
        match self {
            Operation::AsyncOperation(u) | Operation::Location(u) => u,
        }
    }

    /// The persisted form, e.g. `azure-asyncoperation https://...`.
    pub fn encode(&self) -> String {
        match self {
            Operation::AsyncOperation(u) => format!("{ASYNC_PREFIX}{u}"),
            Operation::Location(u) => format!("{LOCATION_PREFIX}{u}"),
        }
    }

    pub fn decode(handle: &str) -> Result<Operation, String> {
        let parse = |s: &str| url::Url::parse(s.trim()).map_err(|e| format!("operation handle has a bad URL: {e}"));
        if let Some(rest) = handle.strip_prefix(ASYNC_PREFIX) {
            Ok(Operation::AsyncOperation(parse(rest)?))
        } else if let Some(rest) = handle.strip_prefix(LOCATION_PREFIX) {
            Ok(Operation::Location(parse(rest)?))
        } else {
            Err("operation handle must start with 'azure-asyncoperation ' or 'location '".to_string())
        }
    }

    /// A bearer token for Resource Manager must only go to Resource Manager: the URL must be
    /// HTTPS on the endpoint's host or one of its regional sub-hosts
    /// (`centraluseuap.management.azure.com`), on the endpoint's port.
    pub fn trusted_by(&self, endpoint: &url::Url) -> bool {
        let url = self.url();
        let (Some(host), Some(base)) = (url.host_str(), endpoint.host_str()) else { return false };
        let host = host.to_ascii_lowercase();
        let base = base.to_ascii_lowercase();
        url.scheme() == "https"
            && url.port_or_known_default() == endpoint.port_or_known_default()
            && (host == base || host.ends_with(&format!(".{base}")))
    }
}

/// Where an operation stands after one poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OperationState {
    Running { retry_after: Option<Duration> },
    Succeeded,
    /// `Failed` or `Canceled`, with ARM's error if it sent one.
    Ended { status: String, code: String, message: String },
}

/// The Azure-AsyncOperation status body: `{id,name,status,startTime,endTime,error{code,message}}`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct OperationStatusBody {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    pub status: String,
    #[serde(default, rename = "startTime")]
    pub start_time: Option<String>,
    #[serde(default, rename = "endTime")]
    pub end_time: Option<String>,
    #[serde(default)]
    pub error: Option<super::error::ArmErrorBody>,
}

impl OperationStatusBody {
    pub fn state(&self, retry_after: Option<Duration>) -> OperationState {
        match self.status.to_ascii_lowercase().as_str() {
            "succeeded" => OperationState::Succeeded,
            "failed" | "canceled" | "cancelled" => {
                let error = self.error.clone().unwrap_or_default();
                OperationState::Ended { status: self.status.clone(), code: error.code, message: error.message }
            }
            _ => OperationState::Running { retry_after },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue};

    #[test]
    fn prefers_azure_async_operation_and_round_trips_the_handle() {
        let mut h = HeaderMap::new();
        h.insert("location", HeaderValue::from_static("https://management.azure.com/result/1"));
        assert!(matches!(Operation::from_headers(&h), Some(Operation::Location(_))));
        h.insert("azure-asyncoperation", HeaderValue::from_static("https://westus.management.azure.com/status/1?api-version=1"));
        let op = Operation::from_headers(&h).unwrap();
        assert!(matches!(op, Operation::AsyncOperation(_)));
        assert_eq!(Operation::decode(&op.encode()).unwrap(), op);
        assert!(Operation::decode("ftp://x").is_err());
    }

    #[test]
    fn tokens_only_go_to_resource_manager_hosts() {
        let endpoint = url::Url::parse("https://management.azure.com").unwrap();
        let ok = |s: &str| Operation::Location(url::Url::parse(s).unwrap()).trusted_by(&endpoint);
        assert!(ok("https://management.azure.com/x"));
        assert!(ok("https://centraluseuap.management.azure.com/x"));
        assert!(!ok("https://evil.example.com/x"));
        assert!(!ok("https://management.azure.com.evil.example/x"));
        assert!(!ok("http://management.azure.com/x"));
        assert!(!ok("https://management.azure.com:8443/x"));
    }

    #[test]
    fn status_bodies_map_to_states() {
        let body: OperationStatusBody = serde_json::from_str(r#"{"status":"InProgress"}"#).unwrap();
        assert_eq!(body.state(None), OperationState::Running { retry_after: None });
        let body: OperationStatusBody =
            serde_json::from_str(r#"{"status":"Failed","error":{"code":"InternalError","message":"boom"}}"#).unwrap();
        assert!(matches!(body.state(None), OperationState::Ended { ref code, .. } if code == "InternalError"));
    }
}
