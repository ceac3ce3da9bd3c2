//! Resource Manager failures, worded for the operator who has to fix them.
//!
//! A bare "403 Forbidden" costs an on-call engineer an hour; "managed-identity (client id X)
//! lacks Microsoft.Cache/redis/regenerateKey/action on /subscriptions/.../redis/cache1" names
//! the role assignment to add. Messages carry ARM's own error code and message (never a
//! response body of a key listing, so never a key).

use crate::ports::ProviderError;
use serde::Deserialize;
use std::time::Duration;

/// ARM's error envelope `{"error":{"code","message","details"}}`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct ArmErrorBody {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub message: String,
}

impl ArmErrorBody {
    /// Parses an error response body; anything unparseable becomes an empty code and message
    /// (the raw body is not echoed: it could be anything).
    pub fn parse(body: &[u8]) -> ArmErrorBody {
        #[derive(Deserialize)]
        struct Envelope {
            error: ArmErrorBody,
        }
        serde_json::from_slice::<Envelope>(body).map(|e| e.error).unwrap_or_default()
    }

    fn describe(&self) -> String {
        match (self.code.is_empty(), self.message.is_empty()) {
            (true, true) => "no error details".to_string(),
            (false, true) => self.code.clone(),
            (true, false) => self.message.clone(),
            (false, false) => format!("{}: {}", self.code, self.message),
        }
    }
}

/// What the client was doing when ARM answered with an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArmCall {
    /// The RBAC action the call needs, e.g. `Microsoft.Storage/storageAccounts/listKeys/action`.
    pub action: String,
    /// The resource id the call addressed.
    pub resource: String,
    /// Who keyrelay acted as.
    pub identity: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArmError {
    #[error("Resource Manager rejected the token of {} for {} on {} (401 {})", .call.identity, .call.action, .call.resource, .body.describe())]
    Unauthorized { call: ArmCall, body: ArmErrorBody },
    #[error("{} is not allowed to perform {} on {}: grant it a role with this action (403 {})", .call.identity, .call.action, .call.resource, .body.describe())]
    Forbidden { call: ArmCall, body: ArmErrorBody },
    #[error("resource {} was not found while performing {} (404 {})", .call.resource, .call.action, .body.describe())]
    NotFound { call: ArmCall, body: ArmErrorBody },
    #[error("conflict on {} while performing {}: {} (409)", .call.resource, .call.action, .body.describe())]
    Conflict { call: ArmCall, body: ArmErrorBody },
    #[error("Resource Manager throttled {} on {}; retry after {:?}", .call.action, .call.resource, .retry_after)]
    Throttled { call: ArmCall, retry_after: Duration },
    #[error("{} on {} failed with HTTP {status} ({})", .call.action, .call.resource, .body.describe())]
    Status { call: ArmCall, status: u16, body: ArmErrorBody },
    #[error("{} on {}: {detail}", .call.action, .call.resource)]
    Transport { call: ArmCall, detail: String },
    #[error("the long-running {} on {} ended {status}: {}", .call.action, .call.resource, .body.describe())]
    OperationFailed { call: ArmCall, status: String, body: ArmErrorBody },
    #[error("the long-running {} on {} did not finish within {timeout:?}", .call.action, .call.resource)]
    OperationTimedOut { call: ArmCall, timeout: Duration },
    #[error("{} on {}: unexpected response: {detail}", .call.action, .call.resource)]
    Unexpected { call: ArmCall, detail: String },
}

impl ArmError {
    /// Builds the error for a non-success status.
    pub fn from_status(call: ArmCall, status: u16, body: &[u8], retry_after: Duration) -> ArmError {
        let body = ArmErrorBody::parse(body);
        match status {
            401 => ArmError::Unauthorized { call, body },
            403 => ArmError::Forbidden { call, body },
            404 => ArmError::NotFound { call, body },
            409 => ArmError::Conflict { call, body },
            429 => ArmError::Throttled { call, retry_after },
            _ => ArmError::Status { call, status, body },
        }
    }

    /// True for failures worth retrying later: throttling, 5xx, transport errors, and a 409
    /// caused by another operation in progress (but not "subscription is disabled").
    pub fn is_transient(&self) -> bool {
        match self {
            ArmError::Throttled { .. } | ArmError::Transport { .. } | ArmError::OperationTimedOut { .. } => true,
            ArmError::Status { status, .. } => *status >= 500,
            ArmError::Conflict { body, .. } => !body.message.to_ascii_lowercase().contains("subscription is disabled"),
            _ => false,
        }
    }
}

impl From<ArmError> for ProviderError {
    fn from(e: ArmError) -> ProviderError {
        match e {
            ArmError::Throttled { retry_after, .. } => ProviderError::Throttled { retry_after },
            other => ProviderError::Failed { transient: other.is_transient(), detail: other.to_string() },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call() -> ArmCall {
        ArmCall {
            action: "Microsoft.Cache/redis/regenerateKey/action".into(),
            resource: "/subscriptions/s/resourceGroups/g/providers/Microsoft.Cache/redis/c1".into(),
            identity: "managed-identity (client id abc)".into(),
        }
    }

    #[test]
    fn forbidden_names_identity_action_and_resource() {
        let body = br#"{"error":{"code":"AuthorizationFailed","message":"no"}}"#;
        let e = ArmError::from_status(call(), 403, body, Duration::ZERO);
        let text = e.to_string();
        for needle in ["client id abc", "regenerateKey/action", "redis/c1", "AuthorizationFailed"] {
            assert!(text.contains(needle), "{text}");
        }
        assert!(!e.is_transient());
    }

    #[test]
    fn not_found_names_the_resource_and_conflicts_are_mostly_transient() {
        let e = ArmError::from_status(call(), 404, b"not json", Duration::ZERO);
        assert!(e.to_string().contains("redis/c1 was not found"), "{e}");
        let busy = ArmError::from_status(call(), 409, br#"{"error":{"code":"Conflict","message":"Another operation is in progress"}}"#, Duration::ZERO);
        assert!(busy.is_transient() && busy.to_string().contains("Another operation"));
        let disabled = ArmError::from_status(call(), 409, br#"{"error":{"code":"Conflict","message":"The specified subscription is disabled."}}"#, Duration::ZERO);
        assert!(!disabled.is_transient());
    }

    #[test]
    fn throttling_maps_to_the_ports_throttled_outcome() {
        let e = ArmError::from_status(call(), 429, b"", Duration::from_secs(7));
        assert_eq!(ProviderError::from(e), ProviderError::Throttled { retry_after: Duration::from_secs(7) });
        let e = ArmError::from_status(call(), 503, b"", Duration::ZERO);
        assert!(matches!(ProviderError::from(e), ProviderError::Failed { transient: true, .. }));
    }
}
