//! Key Vault events from Event Grid, in either schema, parsed tolerantly.
//!
//! The Event Grid schema names the type `eventType` and the vault `topic`; CloudEvents 1.0
//! names them `type` and `source`. The data block is the same, but its published copies
//! disagree on shapes (protocols.md §8): `NBF`/`EXP` as strings, numbers or null, a doc copy
//! with the key `"ObjectName "` and the value `" ee05…"`. So keys are matched
//! case-insensitively after trimming and values are trimmed.

use super::envelope::decode_payload;
use crate::domain::{SecretId, SecretVersion};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

pub const NEAR_EXPIRY: &str = "Microsoft.KeyVault.SecretNearExpiry";
pub const EXPIRED: &str = "Microsoft.KeyVault.SecretExpired";
pub const NEW_VERSION: &str = "Microsoft.KeyVault.SecretNewVersionCreated";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    NearExpiry,
    Expired,
    NewVersionCreated,
    /// Anything else (key/certificate events, access policy changes, validation handshakes).
    Other,
}

/// One Key Vault secret event, reduced to what keyrelay uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyVaultEvent {
    pub event_id: String,
    pub event_type: String,
    pub kind: EventKind,
    /// The vault host (`sample-kv.vault.azure.net`) from `data.Id`, if it parsed.
    pub vault_host: Option<String>,
    pub vault_name: Option<String>,
    pub secret: Option<String>,
    pub version: Option<SecretVersion>,
    pub not_before: Option<DateTime<Utc>>,
    pub expires: Option<DateTime<Utc>>,
}

impl KeyVaultEvent {
    /// True if this event names the vault host: by the host itself, or by the vault name as
    /// the host's first label when `data.Id` was missing.
    pub fn names_vault(&self, host: &str) -> bool {
        match (&self.vault_host, &self.vault_name) {
            (Some(h), _) => h.eq_ignore_ascii_case(host),
            (None, Some(name)) => host.split('.').next().is_some_and(|first| first.eq_ignore_ascii_case(name)),
            (None, None) => false,
        }
    }
}

/// The events in a trigger value: one event object, an array of them, or either as JSON text.
/// Each element parses on its own, so one bad event in a batch does not hide the others.
pub fn parse_events(value: &Value) -> Vec<Result<KeyVaultEvent, String>> {
    let value = match value {
        Value::String(_) => match serde_json::from_slice::<Value>(&decode_payload(value)) {
            Ok(v) => v,
            Err(e) => return vec![Err(format!("event is not JSON: {e}"))],
        },
        other => other.clone(),
    };
    match value {
        Value::Array(items) if items.is_empty() => vec![Err("empty event array".into())],
        Value::Array(items) => items.iter().map(parse_one).collect(),
        other => vec![parse_one(&other)],
    }
}

fn parse_one(v: &Value) -> Result<KeyVaultEvent, String> {
    let obj = v.as_object().ok_or_else(|| format!("an event must be a JSON object, got {}", kind_of(v)))?;
    let event_type = field(obj, "eventType")
        .or_else(|| field(obj, "type"))
        .and_then(as_text)
        .ok_or("event has neither eventType (Event Grid schema) nor type (CloudEvents)")?;
    let event_id = field(obj, "id").and_then(as_text).unwrap_or_default();
    let kind = match event_type.as_str() {
        NEAR_EXPIRY => EventKind::NearExpiry,
        EXPIRED => EventKind::Expired,
        NEW_VERSION => EventKind::NewVersionCreated,
        _ => EventKind::Other,
    };
    let empty = Map::new();
    let data = match field(obj, "data") {
        Some(Value::Object(m)) => m,
        Some(Value::Null) | None => &empty,
        Some(other) => return Err(format!("{event_type} event {event_id}: data must be an object, got {}", kind_of(other))),
    };
    let id = field(data, "Id").and_then(as_text).map(|s| SecretId::parse(&s));
    let (vault_host, id_secret, id_version) = match id {
        Some(Ok(id)) => (Some(id.vault), Some(id.name), Some(id.version)),
        Some(Err(e)) if kind != EventKind::Other => return Err(format!("{event_type} event {event_id}: data.Id: {e}")),
        _ => (None, None, None),
    };
    let version = match field(data, "Version").and_then(as_text) {
        Some(v) => Some(SecretVersion::parse(&v).map_err(|e| format!("{event_type} event {event_id}: data.Version: {e}"))?),
        None => id_version,
    };
    let secret = field(data, "ObjectName").and_then(as_text).or(id_secret).or_else(|| field(obj, "subject").and_then(as_text));
    let event = KeyVaultEvent {
        not_before: unix_time(field(data, "NBF")).map_err(|e| format!("{event_type} event {event_id}: data.NBF: {e}"))?,
        expires: unix_time(field(data, "EXP")).map_err(|e| format!("{event_type} event {event_id}: data.EXP: {e}"))?,
        vault_name: field(data, "VaultName").and_then(as_text),
        event_id,
        event_type,
        kind,
        vault_host,
        secret,
        version,
    };
    if event.kind != EventKind::Other && (event.secret.is_none() || event.version.is_none()) {
        return Err(format!("{} event {}: data names no secret and version", event.event_type, event.event_id));
    }
    Ok(event)
}

/// A key matched case-insensitively after trimming (`"ObjectName "`).
fn field<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    obj.get(name).or_else(|| obj.iter().find(|(k, _)| k.trim().eq_ignore_ascii_case(name)).map(|(_, v)| v))
}

fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Unix seconds as a number, a numeric string or null.
fn unix_time(v: Option<&Value>) -> Result<Option<DateTime<Utc>>, String> {
    let secs = match v {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) if s.trim().is_empty() => return Ok(None),
        Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
        Some(other) => return Err(format!("expected Unix seconds, got {}", kind_of(other))),
    };
    let secs = secs.ok_or("expected Unix seconds")?;
    DateTime::from_timestamp(secs as i64, 0).map(Some).ok_or_else(|| format!("{secs} is out of range"))
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn both_schemas_and_all_nbf_exp_shapes() {
        let data = |nbf: Value, exp: Value| json!({
            "Id": "https://kv.vault.azure.net/secrets/s/abc", "VaultName": "kv", "ObjectType": "Secret",
            "ObjectName ": "s", "Version": " abc", "NBF": nbf, "EXP": exp
        });
        let eg = json!({"id": "1", "eventType": NEAR_EXPIRY, "data": data(json!("1559081980"), json!(1559082102))});
        let ce = json!([{"id": "2", "type": EXPIRED, "specversion": "1.0", "data": data(Value::Null, json!(1559082102.0))}]);
        let a = parse_events(&eg).pop().unwrap().unwrap();
        assert_eq!(a.kind, EventKind::NearExpiry);
        assert_eq!(a.version.as_ref().unwrap().as_str(), "abc");
        assert_eq!(a.secret.as_deref(), Some("s"));
        assert!(a.names_vault("kv.vault.azure.net"));
        assert_eq!(a.not_before.unwrap().timestamp(), 1559081980);
        let b = parse_events(&ce).pop().unwrap().unwrap();
        assert_eq!((b.kind, b.not_before, b.expires.unwrap().timestamp()), (EventKind::Expired, None, 1559082102));
        let text = json!(ce.to_string());
        assert!(parse_events(&text)[0].is_ok());
    }

    #[test]
    fn bad_events_are_errors_not_panics() {
        assert!(parse_events(&json!([]))[0].is_err());
        assert!(parse_events(&json!(5))[0].is_err());
        assert!(parse_events(&json!({"id": "x"}))[0].is_err());
        assert!(parse_events(&json!({"eventType": NEAR_EXPIRY, "data": {"EXP": "soon"}}))[0].is_err());
        assert!(parse_events(&json!({"eventType": NEAR_EXPIRY, "data": {}}))[0].is_err());
        // Non-secret events need no data at all.
        assert_eq!(parse_events(&json!({"eventType": "Microsoft.KeyVault.KeyNearExpiry"}))[0].as_ref().unwrap().kind, EventKind::Other);
    }
}
