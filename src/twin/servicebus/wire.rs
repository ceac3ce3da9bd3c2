//! Translating between HTTP and the broker in the shapes of the Service Bus REST docs: the
//! `BrokerProperties` header, one header per application property (quoted = string), RFC 1123
//! dates, and the JSON batch format.

use super::broker::{Incoming, Locked, Message};
use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The batch content type.
pub const BATCH_CONTENT_TYPE: &str = "application/vnd.microsoft.servicebus.json";

/// Request headers that are HTTP plumbing, never application properties.
const NOT_PROPERTIES: &[&str] = &[
    "authorization", "content-type", "content-length", "host", "brokerproperties", "x-ms-retrypolicy",
    "user-agent", "accept", "accept-encoding", "expect", "connection", "transfer-encoding", "te",
];

/// `BrokerProperties` a sender may set.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SettableProperties {
    pub message_id: Option<String>,
    pub correlation_id: Option<String>,
    pub label: Option<String>,
    pub time_to_live: Option<f64>,
    pub time_to_live_time_span: Option<String>,
    pub scheduled_enqueue_time_utc: Option<String>,
}

pub fn rfc1123(t: DateTime<Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

fn parse_date(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc2822(s.trim())
        .map(|d| d.with_timezone(&Utc))
        .map_err(|e| format!("ScheduledEnqueueTimeUtc {s:?} is not an RFC 1123 date: {e}"))
}

/// `d.hh:mm:ss` or `hh:mm:ss` (the .NET TimeSpan text the batch example uses).
fn parse_timespan(s: &str) -> Result<f64, String> {
    let err = || format!("TimeToLiveTimeSpan {s:?} is not d.hh:mm:ss");
    let (days, rest) = match s.split_once('.') {
        Some((d, rest)) if rest.contains(':') => (d.parse::<f64>().map_err(|_| err())?, rest),
        _ => (0.0, s),
    };
    let parts: Vec<f64> = rest.split(':').map(|p| p.parse::<f64>().map_err(|_| err())).collect::<Result<_, _>>()?;
    match parts.as_slice() {
        [h, m, sec] => Ok(days * 86_400.0 + h * 3_600.0 + m * 60.0 + sec),
        _ => Err(err()),
    }
}

impl SettableProperties {
    fn into_incoming(self, body: Vec<u8>, content_type: Option<String>, properties: BTreeMap<String, Value>) -> Result<Incoming, String> {
        let ttl = match (self.time_to_live, self.time_to_live_time_span) {
            (Some(secs), _) => Some(secs),
            (None, Some(span)) => Some(parse_timespan(&span)?),
            (None, None) => None,
        };
        Ok(Incoming {
            message_id: self.message_id,
            correlation_id: self.correlation_id,
            label: self.label,
            content_type,
            body,
            properties,
            scheduled_at: self.scheduled_enqueue_time_utc.as_deref().map(parse_date).transpose()?,
            time_to_live_secs: ttl,
        })
    }
}

/// A custom-property header value, typed as Service Bus types it: quoted → string, then
/// boolean, integer, float. The typing page says anything else is rejected, but the Send
/// Message example itself sends `Priority: High` and gets 201, so the twin keeps it as a string.
pub fn typed_property(raw: &str) -> Result<Value, String> {
    let raw = raw.trim();
    if let Some(s) = raw.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
        return Ok(Value::String(s.to_string()));
    }
    match raw {
        "true" => return Ok(Value::Bool(true)),
        "false" => return Ok(Value::Bool(false)),
        _ => {}
    }
    if let Ok(i) = raw.parse::<i64>() {
        return Ok(Value::from(i));
    }
    Ok(raw.parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
        .map(Value::Number)
        .unwrap_or_else(|| Value::String(raw.to_string())))
}

/// One message from a plain send: body, `BrokerProperties` header, property headers.
pub fn single_message(headers: &HeaderMap, body: Vec<u8>) -> Result<Incoming, String> {
    let settable: SettableProperties = match headers.get("brokerproperties") {
        Some(v) => serde_json::from_slice(v.as_bytes()).map_err(|e| format!("BrokerProperties: {e}"))?,
        None => SettableProperties::default(),
    };
    let mut properties = BTreeMap::new();
    for (name, value) in headers {
        if NOT_PROPERTIES.contains(&name.as_str()) {
            continue;
        }
        let value = value.to_str().map_err(|_| format!("property {name} is not text"))?;
        properties.insert(name.as_str().to_string(), typed_property(value)?);
    }
    let content_type = headers.get("content-type").and_then(|v| v.to_str().ok()).map(str::to_string);
    settable.into_incoming(body, content_type, properties)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct BatchItem {
    body: String,
    #[serde(default)]
    broker_properties: Option<SettableProperties>,
    #[serde(default)]
    user_properties: Map<String, Value>,
}

/// The messages of a batch send.
pub fn batch(body: &[u8]) -> Result<Vec<Incoming>, String> {
    let items: Vec<BatchItem> = serde_json::from_slice(body).map_err(|e| format!("batch body: {e}"))?;
    items
        .into_iter()
        .map(|item| {
            let properties = item.user_properties.into_iter().collect();
            item.broker_properties.unwrap_or_default().into_incoming(item.body.into_bytes(), None, properties)
        })
        .collect()
}

/// The `BrokerProperties` header of a received message, in the documented field set.
pub fn received_properties(message: &Message, lock: Option<&Locked>) -> Value {
    let mut p = serde_json::json!({
        "DeliveryCount": message.delivery_count,
        "EnqueuedSequenceNumber": 0,
        "EnqueuedTimeUtc": rfc1123(message.enqueued_at),
        "MessageId": message.message_id,
        "SequenceNumber": message.sequence_number,
        "State": "Active",
        "TimeToLive": message.time_to_live_secs(),
    });
    let obj = p.as_object_mut().expect("object");
    if let Some(label) = &message.label {
        obj.insert("Label".into(), Value::String(label.clone()));
    }
    if let Some(c) = &message.correlation_id {
        obj.insert("CorrelationId".into(), Value::String(c.clone()));
    }
    if let Some(lock) = lock {
        obj.insert("LockToken".into(), Value::String(lock.lock_token.clone()));
        obj.insert("LockedUntilUtc".into(), Value::String(rfc1123(lock.locked_until)));
    }
    p
}

/// An application property as a response header value (strings quoted).
pub fn property_header(value: &Value) -> String {
    match value {
        Value::String(s) => format!("\"{s}\""),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn property_typing_and_timespans() {
        assert_eq!(typed_property("\"orders-api\"").unwrap(), Value::String("orders-api".into()));
        assert_eq!(typed_property("1").unwrap(), Value::from(1));
        assert_eq!(typed_property("true").unwrap(), Value::Bool(true));
        assert_eq!(typed_property("High").unwrap(), Value::String("High".into()));
        assert_eq!(parse_timespan("0.00:00:40").unwrap(), 40.0);
        assert_eq!(parse_timespan("01:00:00").unwrap(), 3600.0);
        assert!(parse_date("Sun, 06 Nov 1994 08:49:37 GMT").is_ok());
        assert!(parse_date("Sun, 06 Nov 1994 08:49:37 +0000").is_ok());
    }
}
