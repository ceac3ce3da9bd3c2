//! The custom handler envelope: `{Data, Metadata}` in, `{Outputs, Logs, ReturnValue}` out.
//!
//! The host serializes trigger values through its own converter, so one trigger value can
//! arrive as a JSON object, as JSON text in a string, as a doubly quoted string, or as base64
//! (protocols.md §9). [`decode_payload`] accepts all four, the way KarlGW/azfunc does.

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One invocation as the host sends it.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Invocation {
    #[serde(rename = "Data", default)]
    pub data: Map<String, Value>,
    #[serde(rename = "Metadata", default)]
    pub metadata: Map<String, Value>,
}

impl Invocation {
    /// Parses the request body. Any JSON object is an envelope; missing members are empty.
    pub fn parse(body: &[u8]) -> Result<Invocation, String> {
        let value: Value = serde_json::from_slice(body).map_err(|e| format!("invocation body is not JSON: {e}"))?;
        if !value.is_object() {
            return Err("invocation body is not a JSON object with Data and Metadata".into());
        }
        serde_json::from_value(value).map_err(|e| format!("invocation envelope: {e}"))
    }

    /// The trigger value: `Data[binding]`, or the only entry of `Data` when the binding is
    /// named differently (the fixtures name it `myTimer`, `queue`, `ack`, ...).
    pub fn trigger(&self, binding: &str) -> Option<&Value> {
        self.data.get(binding).or_else(|| if self.data.len() == 1 { self.data.values().next() } else { None })
    }
}

/// What the handler answers.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct InvocationResponse {
    #[serde(rename = "Outputs")]
    pub outputs: Map<String, Value>,
    #[serde(rename = "Logs")]
    pub logs: Vec<String>,
    #[serde(rename = "ReturnValue")]
    pub return_value: Value,
}

impl InvocationResponse {
    pub fn log(&mut self, line: impl Into<String>) {
        let line = line.into();
        tracing::info!(target: "keyrelay::invocation", "{line}");
        self.logs.push(line);
    }

    pub fn with_log(line: impl Into<String>) -> Self {
        let mut r = InvocationResponse::default();
        r.log(line);
        r
    }
}

/// A trigger value as bytes of the message body: JSON values are re-encoded, a JSON-text
/// string is unwrapped (twice if doubly quoted), base64 is decoded, anything else is taken as
/// the raw text.
pub fn decode_payload(value: &Value) -> Vec<u8> {
    match value {
        Value::String(s) => decode_string(s, 2),
        other => other.to_string().into_bytes(),
    }
}

fn decode_string(s: &str, depth: u8) -> Vec<u8> {
    let trimmed = s.trim();
    match serde_json::from_str::<Value>(trimmed) {
        Ok(Value::String(inner)) if depth > 0 => decode_string(&inner, depth - 1),
        Ok(Value::Object(_)) | Ok(Value::Array(_)) => trimmed.as_bytes().to_vec(),
        _ => match base64::engine::general_purpose::STANDARD.decode(trimmed) {
            Ok(bytes) if looks_like_json(&bytes) => bytes,
            _ => s.as_bytes().to_vec(),
        },
    }
}

fn looks_like_json(bytes: &[u8]) -> bool {
    matches!(serde_json::from_slice::<Value>(bytes), Ok(Value::Object(_)) | Ok(Value::Array(_)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_payload_shape_decodes_to_the_same_json() {
        let expected = json!({"a": 1});
        let text = expected.to_string();
        let b64 = base64::engine::general_purpose::STANDARD.encode(&text);
        for v in [expected.clone(), json!(text), json!(serde_json::to_string(&text).unwrap()), json!(b64)] {
            let bytes = decode_payload(&v);
            assert_eq!(serde_json::from_slice::<Value>(&bytes).unwrap(), expected, "{v}");
        }
        assert_eq!(decode_payload(&json!("not json")), b"not json");
    }

    #[test]
    fn trigger_falls_back_to_the_only_entry() {
        let inv = Invocation::parse(br#"{"Data":{"myTimer":{"IsPastDue":false}},"Metadata":{}}"#).unwrap();
        assert!(inv.trigger("timer").is_some());
        assert!(Invocation::parse(b"[1]").is_err());
        assert!(Invocation::parse(b"{").is_err());
    }
}
