//! `keyrelay.step/v1`, `keyrelay.ack/v1`, `keyrelay.heartbeat/v1`.
//!
//! Every message carries its schema name in a `schema` field; a message with any other schema
//! name is refused instead of being half-understood. Unknown fields are refused too, so a
//! typo in a consumer's ack is an error it sees rather than a silently dropped field.

use super::proof::proof_for;
use crate::domain::{ConsumerId, CredentialName, Nonce, RotationId, SecretId, SecretValue, SecretVersion, Slot};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub const STEP_SCHEMA: &str = "keyrelay.step/v1";
pub const ACK_SCHEMA: &str = "keyrelay.ack/v1";
pub const HEARTBEAT_SCHEMA: &str = "keyrelay.heartbeat/v1";

/// The reload instruction for one consumer. It names the secret version to load, never the key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Step {
    pub schema: String,
    pub rotation_id: RotationId,
    pub credential: CredentialName,
    pub consumer: ConsumerId,
    pub secret_id: SecretId,
    pub slot: Slot,
    pub attempt: u32,
    pub deadline: DateTime<Utc>,
    pub nonce: Nonce,
}

impl Step {
    /// Service Bus MessageId: `rotation/consumer/attempt`, so duplicate detection drops a
    /// re-sent step and a consumer can de-duplicate on it too.
    pub fn message_id(&self) -> String {
        format!("{}/{}/{}", self.rotation_id, self.consumer, self.attempt)
    }
}

/// A consumer's answer to a step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Ack {
    pub schema: String,
    pub rotation_id: RotationId,
    pub consumer: ConsumerId,
    pub version: SecretVersion,
    pub healthy: bool,
    /// A short, human-readable detail ("redis PING ok in 3 ms", "probe failed: ..."). Capped
    /// by the parser; it must never contain the key.
    #[serde(default)]
    pub detail: String,
    pub proof: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<Nonce>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<DateTime<Utc>>,
}

/// "I am running with this version" — the inventory the guard and operators use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Heartbeat {
    pub schema: String,
    pub consumer: ConsumerId,
    pub credential: CredentialName,
    pub version: SecretVersion,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slot: Option<Slot>,
    pub at: DateTime<Utc>,
}

/// Longest detail kept from an ack; longer ones are cut (they go into evidence and logs).
pub const MAX_DETAIL: usize = 500;

/// The `schema` a message body names, if it is JSON that names one (to route a body before
/// parsing it as the message it says it is).
pub fn schema_of(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    v.get("schema").and_then(|s| s.as_str()).map(str::to_string)
}

/// Parses a message body as JSON and checks it names `schema`: the check every reader of a
/// keyrelay message makes before its fields, so a message of another schema or version is a
/// clear error and never half-understood.
pub fn schema_checked(body: &[u8], schema: &str) -> Result<serde_json::Value, String> {
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    if !v.is_object() {
        return Err(format!("a {schema} message must be a JSON object"));
    }
    match v.get("schema") {
        Some(serde_json::Value::String(s)) if s == schema => Ok(v),
        Some(other) => Err(format!("unknown message schema {other}; expected {schema:?}")),
        None => Err(format!("no \"schema\" field; expected {schema:?}")),
    }
}

macro_rules! parse_with_schema {
    ($ty:ident, $schema:ident) => {
        impl $ty {
            /// Parses a message body and checks its schema name.
            pub fn from_json(body: &[u8]) -> Result<$ty, String> {
                let v = schema_checked(body, $schema)?;
                serde_json::from_value(v).map_err(|e| format!("not a valid {}: {e}", $schema))
            }
        }
    };
}

parse_with_schema!(Step, STEP_SCHEMA);
parse_with_schema!(Ack, ACK_SCHEMA);
parse_with_schema!(Heartbeat, HEARTBEAT_SCHEMA);

impl Ack {
    /// The answer to `step` by a consumer holding `key` (the value of the step's version), with
    /// its proof of possession. Every ack keyrelay, its agent and its tests write is built here,
    /// so the proof always covers exactly the fields the core verifies.
    pub fn answering(step: &Step, key: &SecretValue, healthy: bool, detail: impl Into<String>, at: Option<DateTime<Utc>>) -> Ack {
        Ack {
            schema: ACK_SCHEMA.into(),
            rotation_id: step.rotation_id.clone(),
            consumer: step.consumer.clone(),
            version: step.secret_id.version.clone(),
            healthy,
            detail: detail.into(),
            proof: proof_for(key, &step.rotation_id, &step.consumer, &step.secret_id.version, &step.nonce),
            nonce: Some(step.nonce.clone()),
            at,
        }
    }

    /// The detail as kept in evidence: trimmed to [`MAX_DETAIL`] characters.
    pub fn bounded_detail(&self) -> String {
        self.detail.chars().take(MAX_DETAIL).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_unknown_schema_and_fields() {
        let ok = r#"{"schema":"keyrelay.ack/v1","rotationId":"r1","consumer":"c1","version":"v1","healthy":true,"proof":"00"}"#;
        assert!(Ack::from_json(ok.as_bytes()).is_ok());
        let wrong = ok.replace("ack/v1", "ack/v9");
        assert!(Ack::from_json(wrong.as_bytes()).unwrap_err().contains("unknown message schema"));
        let extra = ok.replace("\"healthy\"", "\"extra\":1,\"healthy\"");
        assert!(Ack::from_json(extra.as_bytes()).is_err());
        assert!(Ack::from_json(b"nope").unwrap_err().contains("not JSON"));
    }
}
