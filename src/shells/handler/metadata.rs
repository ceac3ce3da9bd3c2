//! Host Metadata values in the shapes the host really sends them.
//!
//! The host runs most binding data through `JsonConvert.SerializeObject`, so strings arrive
//! JSON-quoted inside a string (`"MessageId": "\"4e77…\""`), numbers arrive as strings
//! (`"DeliveryCount": "1"`), `DateTime`s arrive without an offset (`"2023-10-12T20:13:49"`) and
//! `DateTimeOffset`s with one. The documented queue example sends native JSON instead. These
//! readers accept every one of those shapes.

use chrono::{DateTime, Datelike, NaiveDateTime, Utc};
use serde_json::{Map, Value};

/// A string value, unquoted once if the host quoted it.
pub fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => {
            let t = s.trim();
            if t.len() >= 2 && t.starts_with('"') && t.ends_with('"') {
                serde_json::from_str::<String>(t).ok().or_else(|| Some(t.to_string()))
            } else {
                Some(t.to_string())
            }
        }
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A non-negative integer, native or as (quoted) text.
pub fn number(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64().or_else(|| n.as_f64().filter(|f| *f >= 0.0 && f.fract() == 0.0).map(|f| f as u64)),
        _ => text(v).and_then(|s| s.parse::<u64>().ok().or_else(|| s.parse::<f64>().ok().filter(|f| *f >= 0.0).map(|f| f as u64))),
    }
}

/// A timestamp: RFC 3339 with an offset, or an offset-less .NET `DateTime` (taken as UTC).
/// .NET's `DateTime.MinValue` (`0001-01-01T00:00:00`, the timer's "never ran") reads as None.
pub fn time(v: &Value) -> Option<DateTime<Utc>> {
    let s = text(v)?;
    let parsed = DateTime::parse_from_rfc3339(&s)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| NaiveDateTime::parse_from_str(&s, "%Y-%m-%dT%H:%M:%S%.f").ok().map(|n| n.and_utc()))
        .or_else(|| DateTime::parse_from_rfc2822(&s).ok().map(|t| t.with_timezone(&Utc)))?;
    (parsed.year() > 1).then_some(parsed)
}

/// What the handler uses from a Service Bus trigger's Metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceBusMeta {
    pub message_id: Option<String>,
    pub delivery_count: Option<u64>,
    pub sequence_number: Option<u64>,
    pub enqueued: Option<DateTime<Utc>>,
    pub correlation_id: Option<String>,
    pub content_type: Option<String>,
}

impl ServiceBusMeta {
    pub fn read(meta: &Map<String, Value>) -> ServiceBusMeta {
        let get = |k: &str| meta.get(k);
        ServiceBusMeta {
            message_id: get("MessageId").and_then(text),
            delivery_count: get("DeliveryCount").and_then(number),
            sequence_number: get("SequenceNumber").and_then(number),
            enqueued: get("EnqueuedTimeUtc").or_else(|| get("EnqueuedTime")).and_then(time),
            correlation_id: get("CorrelationId").and_then(text),
            content_type: get("ContentType").and_then(text),
        }
    }

    /// `message 4e77… (delivery 2)`, for log lines.
    pub fn describe(&self) -> String {
        format!(
            "message {} (delivery {})",
            self.message_id.as_deref().unwrap_or("?"),
            self.delivery_count.map(|n| n.to_string()).unwrap_or_else(|| "?".into())
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_the_observed_service_bus_shapes() {
        let meta = json!({
            "DeliveryCount": "1", "MessageId": "\"4e77\"", "SequenceNumber": "42",
            "EnqueuedTimeUtc": "2023-10-12T20:13:49", "CorrelationId": "\"rot-1\"", "ContentType": "\"application/json\""
        });
        let m = ServiceBusMeta::read(meta.as_object().unwrap());
        assert_eq!(m.message_id.as_deref(), Some("4e77"));
        assert_eq!((m.delivery_count, m.sequence_number), (Some(1), Some(42)));
        assert_eq!(m.enqueued.unwrap().to_rfc3339(), "2023-10-12T20:13:49+00:00");
        assert_eq!(m.correlation_id.as_deref(), Some("rot-1"));
        // The documented queue example sends native JSON.
        let m = ServiceBusMeta::read(json!({"DeliveryCount": 3, "MessageId": "plain"}).as_object().unwrap());
        assert_eq!((m.delivery_count, m.message_id.as_deref()), (Some(3), Some("plain")));
    }

    #[test]
    fn times_with_and_without_offsets() {
        assert!(time(&json!("0001-01-01T00:00:00")).is_none());
        assert_eq!(time(&json!("2016-10-04T10:15:00+00:00")), time(&json!("2016-10-04T10:15:00")));
        assert!(time(&json!("2024-11-30T14:43:50.403838+00:00")).is_some());
        assert!(time(&json!("2025-06-01T06:03:12.0000001Z")).is_some());
        assert!(time(&json!("Wed, 02 Jul 2014 01:32:27 GMT")).is_some());
        assert!(time(&json!("yesterday")).is_none());
    }
}
