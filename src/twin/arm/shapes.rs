//! How each resource type looks on the wire, from the server's side: key names, accepted
//! regenerate values, list and GET bodies — transcribed from `shared/fixtures/arm`.
//!
//! This is deliberately the twin's own knowledge, not the client's [`KINDS`] table: if the two
//! disagreed with each other the twin would answer 400, and `tests/arm_fixtures.rs` holds both
//! to the official examples.
//!
//! [`KINDS`]: crate::adapters::azure::providers::KINDS

use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Redis,
    RedisEnterprise,
    Storage,
    Cosmos,
    ServiceBusRule,
    EventHubsRule,
    Cognitive,
    Search,
    SignalR,
    WebPubSub,
    Maps,
}

impl Shape {
    /// The shape of an ARM resource type (case-insensitive, as ARM is).
    pub fn of_type(resource_type: &str) -> Option<Shape> {
        let t = resource_type.to_ascii_lowercase();
        Some(match t.as_str() {
            "microsoft.cache/redis" => Shape::Redis,
            "microsoft.cache/redisenterprise/databases" => Shape::RedisEnterprise,
            "microsoft.storage/storageaccounts" => Shape::Storage,
            "microsoft.documentdb/databaseaccounts" => Shape::Cosmos,
            "microsoft.servicebus/namespaces/authorizationrules"
            | "microsoft.servicebus/namespaces/queues/authorizationrules"
            | "microsoft.servicebus/namespaces/topics/authorizationrules" => Shape::ServiceBusRule,
            "microsoft.eventhub/namespaces/authorizationrules" | "microsoft.eventhub/namespaces/eventhubs/authorizationrules" => {
                Shape::EventHubsRule
            }
            "microsoft.cognitiveservices/accounts" => Shape::Cognitive,
            "microsoft.search/searchservices" => Shape::Search,
            "microsoft.signalrservice/signalr" => Shape::SignalR,
            "microsoft.signalrservice/webpubsub" => Shape::WebPubSub,
            "microsoft.maps/accounts" => Shape::Maps,
            _ => return None,
        })
    }

    /// The keys the resource holds, by their list-response names.
    pub fn key_names(self) -> &'static [&'static str] {
        match self {
            Shape::Storage => &["key1", "key2"],
            Shape::Cognitive => &["key1", "key2"],
            Shape::Cosmos => &["primaryMasterKey", "secondaryMasterKey", "primaryReadonlyMasterKey", "secondaryReadonlyMasterKey"],
            _ => &["primaryKey", "secondaryKey"],
        }
    }

    /// List operations this type answers.
    pub fn list_ops(self) -> &'static [&'static str] {
        match self {
            Shape::Search => &["listAdminKeys"],
            Shape::Cosmos => &["listKeys", "readonlykeys"],
            _ => &["listKeys"],
        }
    }

    pub fn regenerate_op(self) -> &'static str {
        match self {
            Shape::ServiceBusRule | Shape::EventHubsRule => "regenerateKeys",
            Shape::Search => "regenerateAdminKey",
            _ => "regenerateKey",
        }
    }

    /// The body field naming the key to regenerate (None: it is a path segment).
    pub fn regenerate_field(self) -> Option<&'static str> {
        match self {
            Shape::Search => None,
            Shape::Storage | Shape::Cognitive => Some("keyName"),
            Shape::Cosmos => Some("keyKind"),
            _ => Some("keyType"),
        }
    }

    /// Accepted regenerate values, index-aligned with [`Shape::key_names`].
    pub fn regenerate_values(self) -> &'static [&'static str] {
        match self {
            Shape::Redis | Shape::RedisEnterprise | Shape::SignalR | Shape::WebPubSub => &["Primary", "Secondary"],
            Shape::ServiceBusRule | Shape::EventHubsRule => &["PrimaryKey", "SecondaryKey"],
            Shape::Storage => &["key1", "key2"],
            Shape::Cognitive => &["Key1", "Key2"],
            Shape::Cosmos => &["primary", "secondary", "primaryReadonly", "secondaryReadonly"],
            Shape::Search | Shape::Maps => &["primary", "secondary"],
        }
    }

    /// Whether regenerate answers 202 and runs as a long-running operation by default.
    pub fn long_running(self) -> bool {
        matches!(self, Shape::RedisEnterprise | Shape::Cosmos | Shape::SignalR | Shape::WebPubSub)
    }

    /// The resource provider namespace (for operation URLs).
    pub fn namespace(self) -> &'static str {
        match self {
            Shape::Redis | Shape::RedisEnterprise => "Microsoft.Cache",
            Shape::Storage => "Microsoft.Storage",
            Shape::Cosmos => "Microsoft.DocumentDB",
            Shape::ServiceBusRule => "Microsoft.ServiceBus",
            Shape::EventHubsRule => "Microsoft.EventHub",
            Shape::Cognitive => "Microsoft.CognitiveServices",
            Shape::Search => "Microsoft.Search",
            Shape::SignalR | Shape::WebPubSub => "Microsoft.SignalRService",
            Shape::Maps => "Microsoft.Maps",
        }
    }

    /// The list response for `op` given the key values (index-aligned with key names).
    pub fn list_body(self, op: &str, id: &str, keys: &[String], updated: &[String]) -> Value {
        let names = self.key_names();
        match self {
            Shape::Storage => json!({
                "keys": names.iter().zip(keys).zip(updated).map(|((n, v), t)| json!({
                    "keyName": n, "value": v, "permissions": "FULL", "creationTime": t
                })).collect::<Vec<_>>()
            }),
            Shape::Cosmos if op.eq_ignore_ascii_case("readonlykeys") => json!({
                "primaryReadonlyMasterKey": keys[2], "secondaryReadonlyMasterKey": keys[3]
            }),
            Shape::ServiceBusRule | Shape::EventHubsRule => {
                let rule = id.rsplit('/').next().unwrap_or_default();
                let ns = namespace_name(id);
                // Event Hubs namespaces live under servicebus.windows.net too.
                let cs = |k: &str| format!("Endpoint=sb://{ns}.servicebus.windows.net/;SharedAccessKeyName={rule};SharedAccessKey={k}");
                json!({
                    "primaryConnectionString": cs(&keys[0]),
                    "secondaryConnectionString": cs(&keys[1]),
                    "primaryKey": keys[0],
                    "secondaryKey": keys[1],
                    "keyName": rule,
                })
            }
            Shape::SignalR | Shape::WebPubSub => {
                let name = id.rsplit('/').next().unwrap_or_default();
                let host = if self == Shape::SignalR { "service.signalr.net" } else { "webpubsub.azure.com" };
                let cs = |k: &str| format!("Endpoint=https://{name}.{host};AccessKey={k};Version=1.0;");
                json!({
                    "primaryKey": keys[0],
                    "secondaryKey": keys[1],
                    "primaryConnectionString": cs(&keys[0]),
                    "secondaryConnectionString": cs(&keys[1]),
                })
            }
            // As the example shows it; the schema's *KeyLastUpdated fields are optional.
            Shape::Maps => json!({ "id": id, "primaryKey": keys[0], "secondaryKey": keys[1] }),
            _ => {
                let mut body = serde_json::Map::new();
                for (name, value) in names.iter().zip(keys) {
                    body.insert(name.to_string(), json!(value));
                }
                Value::Object(body)
            }
        }
    }

    /// The resource's GET body with its key-auth switch.
    pub fn resource_body(self, id: &str, key_auth_disabled: bool) -> Value {
        let name = id.rsplit('/').next().unwrap_or_default();
        let properties = match self {
            Shape::Redis => json!({
                "provisioningState": "Succeeded",
                "hostName": format!("{name}.redis.cache.windows.net"),
                "port": 6379,
                "sslPort": 6380,
                "disableAccessKeyAuthentication": key_auth_disabled,
            }),
            Shape::RedisEnterprise => json!({
                "provisioningState": "Succeeded",
                "resourceState": "Running",
                "clientProtocol": "Encrypted",
                "port": 10000,
                "clusteringPolicy": "EnterpriseCluster",
                "accessKeysAuthentication": if key_auth_disabled { "Disabled" } else { "Enabled" },
            }),
            Shape::Storage => json!({
                "provisioningState": "Succeeded",
                "allowSharedKeyAccess": !key_auth_disabled,
            }),
            _ => json!({ "provisioningState": "Succeeded", "disableLocalAuth": key_auth_disabled }),
        };
        json!({ "id": id, "name": name, "type": resource_type_of(id), "location": "westus", "properties": properties })
    }

    /// The namespace GET body of a Service Bus / Event Hubs rule's namespace.
    pub fn namespace_body(self, namespace_id: &str, key_auth_disabled: bool) -> Value {
        let name = namespace_id.rsplit('/').next().unwrap_or_default();
        let rtype = if self == Shape::EventHubsRule { "Microsoft.EventHub/Namespaces" } else { "Microsoft.ServiceBus/Namespaces" };
        let endpoint = format!("https://{name}.servicebus.windows.net:443/");
        json!({
            "id": namespace_id,
            "name": name,
            "type": rtype,
            "location": "westus",
            "properties": {
                "provisioningState": "Succeeded",
                "status": "Active",
                "serviceBusEndpoint": endpoint,
                "disableLocalAuth": key_auth_disabled,
            }
        })
    }
}

/// `Microsoft.X/type[/type]*` of a resource id.
pub fn resource_type_of(id: &str) -> String {
    let segments: Vec<&str> = id.split('/').collect();
    let Some(p) = segments.iter().position(|s| s.eq_ignore_ascii_case("providers")) else { return String::new() };
    let mut out = segments.get(p + 1).copied().unwrap_or_default().to_string();
    for pair in segments[(p + 2).min(segments.len())..].chunks(2) {
        out.push('/');
        out.push_str(pair[0]);
    }
    out
}

/// The namespace name of a Service Bus / Event Hubs rule id (the segment after `namespaces`).
fn namespace_name(id: &str) -> &str {
    let mut segments = id.split('/');
    while let Some(s) = segments.next() {
        if s.eq_ignore_ascii_case("namespaces") {
            return segments.next().unwrap_or_default();
        }
    }
    ""
}

/// The namespace id (`.../providers/Microsoft.ServiceBus/namespaces/{ns}`) of a rule id.
pub fn namespace_id(id: &str) -> Option<String> {
    let lower = id.to_ascii_lowercase();
    let start = lower.find("/namespaces/")? + "/namespaces/".len();
    let end = lower[start..].find('/').map_or(id.len(), |i| start + i);
    Some(id[..end].to_string())
}
