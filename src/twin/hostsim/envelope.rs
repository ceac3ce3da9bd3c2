//! The `{Data, Metadata}` envelopes the Functions host posts to a custom handler, in the shapes
//! of the fixtures (`functions/requests/*.ASSEMBLED.json`): a Service Bus message's body as a
//! string under the binding name with its system properties in Metadata (strings JSON-quoted,
//! as the host's converter writes them), a timer's TimerInfo, an Event Grid event object.

use crate::twin::servicebus::broker::Message;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Map, Value};

fn sys(method: &str) -> Value {
    json!({ "MethodName": method, "UtcNow": Utc::now().to_rfc3339_opts(SecondsFormat::AutoSi, true), "RandGuid": uuid::Uuid::new_v4().to_string() })
}

fn quoted(s: &str) -> Value {
    Value::String(serde_json::to_string(s).expect("a string serializes"))
}

fn utc(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S").to_string()
}

/// A Service Bus trigger invocation for one locked message.
pub fn service_bus(binding: &str, method: &str, namespace: &str, message: &Message, lock_token: &str) -> Value {
    let mut meta = Map::new();
    meta.insert("Client".into(), json!({ "FullyQualifiedNamespace": namespace, "IsClosed": false, "TransportType": 0 }));
    meta.insert("DeliveryCount".into(), json!(message.delivery_count.to_string()));
    meta.insert("LockToken".into(), quoted(lock_token));
    meta.insert("ExpiresAtUtc".into(), json!(utc(message.expires_at)));
    meta.insert("EnqueuedTimeUtc".into(), json!(utc(message.enqueued_at)));
    meta.insert("MessageId".into(), quoted(&message.message_id));
    meta.insert("SequenceNumber".into(), json!(message.sequence_number.to_string()));
    if let Some(c) = &message.content_type {
        meta.insert("ContentType".into(), quoted(c));
    }
    if let Some(l) = &message.label {
        meta.insert("Subject".into(), quoted(l));
        meta.insert("Label".into(), quoted(l));
    }
    if let Some(c) = &message.correlation_id {
        meta.insert("CorrelationId".into(), quoted(c));
    }
    let props = Value::Object(message.properties.clone().into_iter().collect());
    meta.insert("ApplicationProperties".into(), props.clone());
    meta.insert("UserProperties".into(), props);
    meta.insert("sys".into(), sys(method));
    let mut data = Map::new();
    data.insert(binding.into(), Value::String(message.body_text()));
    json!({ "Data": data, "Metadata": meta })
}

/// A timer trigger invocation (`IsPastDue` false: on time).
pub fn timer(binding: &str, method: &str) -> Value {
    let now = Utc::now().to_rfc3339();
    let mut data = Map::new();
    data.insert(
        binding.into(),
        json!({ "Schedule": { "AdjustForDST": true }, "ScheduleStatus": { "Last": now, "Next": now, "LastUpdated": now }, "IsPastDue": false }),
    );
    json!({ "Data": data, "Metadata": { "sys": sys(method) } })
}

/// An Event Grid trigger invocation carrying one event (Event Grid schema).
pub fn event_grid(binding: &str, method: &str, event: &Value) -> Value {
    let mut data = Map::new();
    data.insert(binding.into(), event.clone());
    json!({ "Data": data, "Metadata": { "data": event.get("data").cloned().unwrap_or(Value::Null), "sys": sys(method) } })
}

/// A Key Vault secret event as Event Grid delivers it (`Microsoft.KeyVault.SecretNearExpiry`, ...).
pub fn key_vault_secret_event(event_type: &str, vault_name: &str, vault_authority: &str, secret: &str, version: &str) -> Value {
    let exp = (Utc::now() + chrono::Duration::days(1)).timestamp();
    json!({
        "id": uuid::Uuid::new_v4().to_string(),
        "topic": format!("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/demo/providers/Microsoft.KeyVault/vaults/{vault_name}"),
        "subject": secret,
        "eventType": format!("Microsoft.KeyVault.{event_type}"),
        "eventTime": Utc::now().to_rfc3339(),
        "data": {
            "Id": format!("https://{vault_authority}/secrets/{secret}/{version}"),
            "VaultName": vault_name,
            "ObjectType": "Secret",
            "ObjectName": secret,
            "Version": version,
            "NBF": null,
            "EXP": exp.to_string(),
        },
        "dataVersion": "1",
        "metadataVersion": "1"
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shells::handler::envelope::{decode_payload, Invocation};
    use crate::shells::handler::metadata::ServiceBusMeta;

    fn message() -> Message {
        let now = Utc::now();
        Message {
            sequence_number: 42,
            message_id: "rotate:kv/secret/abc".into(),
            correlation_id: Some("rot-1".into()),
            label: None,
            content_type: Some("application/json".into()),
            body: br#"{"schema":"keyrelay.command/v1"}"#.to_vec(),
            properties: [("consumer".to_string(), json!("web"))].into_iter().collect(),
            enqueued_at: now,
            scheduled_at: None,
            expires_at: now + chrono::Duration::days(14),
            delivery_count: 3,
            dead_letter_reason: None,
        }
    }

    /// The handler reads back exactly what the simulated host put in: the body under the
    /// binding, and MessageId / DeliveryCount / CorrelationId from the quoted Metadata strings.
    #[test]
    fn the_handler_reads_the_service_bus_envelope_back() {
        let envelope = service_bus("command", "rotation-commands", "ns.servicebus.windows.net", &message(), "lock-1");
        let invocation = Invocation::parse(envelope.to_string().as_bytes()).unwrap();
        assert_eq!(decode_payload(invocation.trigger("command").unwrap()), message().body);
        let meta = ServiceBusMeta::read(&invocation.metadata);
        assert_eq!(meta.message_id.as_deref(), Some("rotate:kv/secret/abc"));
        assert_eq!(meta.delivery_count, Some(3));
        assert_eq!(meta.sequence_number, Some(42));
        assert_eq!(meta.correlation_id.as_deref(), Some("rot-1"));
        assert!(meta.enqueued.is_some());
        assert_eq!(invocation.metadata["UserProperties"]["consumer"], "web");
    }

    #[test]
    fn timer_and_event_grid_envelopes_carry_the_trigger_under_the_binding() {
        let timer = Invocation::parse(timer("timer", "schedule").to_string().as_bytes()).unwrap();
        assert_eq!(timer.trigger("timer").unwrap()["IsPastDue"], false);
        let event = key_vault_secret_event("SecretNearExpiry", "kv", "kv.vault.azure.net:8443", "s", "v1");
        let inv = Invocation::parse(event_grid("event", "keyvault-events", &event).to_string().as_bytes()).unwrap();
        assert_eq!(inv.trigger("event").unwrap()["data"]["Id"], "https://kv.vault.azure.net:8443/secrets/s/v1");
        assert_eq!(inv.metadata["data"]["Version"], "v1");
    }
}
