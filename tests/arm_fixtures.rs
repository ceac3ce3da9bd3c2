//! The client's table and parsers, and the twin's answers, against the official ARM examples in
//! `shared/fixtures/arm` (never edited; see its INDEX.md).

use keyrelay::adapters::azure::arm::operation::{OperationState, OperationStatusBody};
use keyrelay::adapters::azure::arm::Operation;
use keyrelay::adapters::azure::providers::{extract_key, regenerate_request, RegenerateShape, ResourceKind, KINDS};
use keyrelay::domain::Slot;
use keyrelay::twin::arm::Shape;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::PathBuf;

/// `shared/fixtures/arm`, found above the crate (worktrees and main sit at different depths).
fn fixtures() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .map(|a| a.join("shared/fixtures/arm"))
        .find(|p| p.is_dir())
        .unwrap_or_else(|| panic!("shared/fixtures/arm not found above {}", manifest.display()))
}

fn load(rel: &str) -> Value {
    let path = fixtures().join(rel);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn kind(name: &str) -> &'static ResourceKind {
    ResourceKind::by_name(name).unwrap()
}

/// (kind, fixture with a 200 body holding both keys) — for SignalR/Web PubSub the 2020-05-01
/// copies, because the 2024-03-01 examples carry a `{}` placeholder.
const KEY_BODIES: &[(&str, &str)] = &[
    ("redis", "redis/RedisCacheListKeys.2024-11-01.json"),
    ("redis", "redis/RedisCacheRegenerateKey.2024-11-01.json"),
    ("redis-enterprise", "redisenterprise/RedisEnterpriseDatabasesListKeys.2025-04-01.json"),
    ("redis-enterprise", "redisenterprise/RedisEnterpriseDatabasesListKeys.2026-08-01.json"),
    ("redis-enterprise", "redisenterprise/RedisEnterpriseDatabasesRegenerateKey.2025-04-01.json"),
    ("storage", "storage/StorageAccountListKeys.2025-08-01.json"),
    ("storage", "storage/StorageAccountRegenerateKey.2025-08-01.json"),
    ("cosmos", "cosmosdb/CosmosDBDatabaseAccountListKeys.2025-10-15.json"),
    ("cosmos-readonly", "cosmosdb/CosmosDBDatabaseAccountListKeys.2025-10-15.json"),
    ("cosmos-readonly", "cosmosdb/CosmosDBDatabaseAccountListReadOnlyKeys.2025-10-15.json"),
    ("servicebus-rule", "twokey/servicebus.SBNameSpaceAuthorizationRuleListKey.2024-01-01.json"),
    ("servicebus-rule", "twokey/servicebus.SBNameSpaceAuthorizationRuleRegenerateKey.2024-01-01.json"),
    ("eventhubs-rule", "twokey/eventhub.EHEventHubAuthorizationRuleListKey.2024-01-01.json"),
    ("eventhubs-rule", "twokey/eventhub.EHNameSpaceAuthorizationRuleListKey.2017-04-01.json"),
    ("cognitive-services", "twokey/cognitiveservices.ListKeys.2025-09-01.json"),
    ("cognitive-services", "twokey/cognitiveservices.RegenerateKey.2025-09-01.json"),
    ("search-admin", "twokey/search.SearchGetAdminKeys.2025-05-01.json"),
    ("search-admin", "twokey/search.SearchRegenerateAdminKey.2025-05-01.json"),
    ("signalr", "twokey/signalr.SignalR_ListKeys.2020-05-01.json"),
    ("webpubsub", "twokey/signalr.SignalR_ListKeys.2020-05-01.json"),
    ("maps", "twokey/maps.ListKeys.2023-06-01.json"),
    ("maps", "twokey/maps.RegenerateKey.2023-06-01.json"),
];

fn ok_body(fixture: &Value) -> &Value {
    fixture.pointer("/responses/200/body").expect("a 200 body")
}

#[test]
fn every_fixture_is_json_and_every_key_body_parses_for_both_slots() {
    let mut count = 0;
    for dir in ["redis", "redisenterprise", "storage", "cosmosdb", "twokey"] {
        for entry in std::fs::read_dir(fixtures().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            serde_json::from_str::<Value>(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            count += 1;
        }
    }
    assert!(count >= 45, "only {count} fixture files");
    for (name, file) in KEY_BODIES {
        let body = ok_body(&load(file)).clone();
        for slot in Slot::BOTH {
            let key = extract_key(kind(name), &body, slot).unwrap_or_else(|| panic!("{name} {slot} in {file}"));
            assert!(!key.is_empty());
        }
    }
}

#[test]
fn regenerate_requests_match_the_examples() {
    let cases: &[(&str, &str, Slot)] = &[
        ("redis", "redis/RedisCacheRegenerateKey.2024-11-01.json", Slot::Primary),
        ("redis-enterprise", "redisenterprise/RedisEnterpriseDatabasesRegenerateKey.2026-08-01.json", Slot::Primary),
        ("storage", "storage/StorageAccountRegenerateKey.2025-08-01.json", Slot::Secondary),
        ("cosmos", "cosmosdb/CosmosDBDatabaseAccountRegenerateKey.2025-10-15.json", Slot::Primary),
        ("servicebus-rule", "twokey/servicebus.SBNameSpaceAuthorizationRuleRegenerateKey.2024-01-01.json", Slot::Primary),
        ("servicebus-rule", "twokey/servicebus.SBQueueAuthorizationRuleRegenerateKey.2017-04-01.json", Slot::Primary),
        ("eventhubs-rule", "twokey/eventhub.EHNameSpaceAuthorizationRuleRegenerateKey.2017-04-01.json", Slot::Primary),
        ("cognitive-services", "twokey/cognitiveservices.RegenerateKey.2025-09-01.json", Slot::Secondary),
        ("signalr", "twokey/signalr.SignalR_RegenerateKey.2024-03-01.json", Slot::Primary),
        ("webpubsub", "twokey/webpubsub.WebPubSub_RegenerateKey.2021-10-01.json", Slot::Primary),
        ("maps", "twokey/maps.RegenerateKey.2023-06-01.json", Slot::Primary),
    ];
    for (name, file, slot) in cases {
        let fixture = load(file);
        let params = fixture["parameters"].as_object().unwrap();
        // The body parameter is the one object-valued parameter (its name varies by spec).
        let example_body = params.values().find(|v| v.is_object()).unwrap_or_else(|| panic!("{file}: no body"));
        let (suffix, body) = regenerate_request(kind(name), *slot, false);
        assert_eq!(body.as_ref(), Some(example_body), "{name} vs {file}");
        assert_eq!(suffix, format!("/{}", kind(name).regenerate_op));
    }
    // AI Search names the key in the path.
    let search = load("twokey/search.SearchRegenerateAdminKey.2025-05-01.json");
    assert_eq!(kind("search-admin").regenerate, RegenerateShape::PathSegment);
    let (suffix, body) = regenerate_request(kind("search-admin"), Slot::Primary, false);
    assert_eq!(suffix, format!("/regenerateAdminKey/{}", search["parameters"]["keyKind"].as_str().unwrap()));
    assert_eq!(body, None);
}

#[test]
fn the_table_agrees_with_the_assembled_summary_and_the_examples_api_versions() {
    let summary = load("twokey/providers.ASSEMBLED.json");
    for entry in summary["providers"].as_array().unwrap() {
        let rtype = entry["type"].as_str().unwrap();
        let matching: Vec<&ResourceKind> =
            KINDS.iter().filter(|k| k.resource_types.iter().any(|t| t.eq_ignore_ascii_case(rtype))).collect();
        assert!(!matching.is_empty(), "no kind for {rtype}");
        for k in matching {
            assert_eq!(k.api_version, entry["api_version"].as_str().unwrap(), "{}", k.name);
            let regen_path = entry["regenerate"]["path"].as_str().unwrap();
            assert!(regen_path.starts_with(&format!("/{}", k.regenerate_op)), "{}: {regen_path}", k.name);
            let wires: Vec<&str> = entry["slots"].as_array().unwrap().iter().map(|s| s["regenerate_value"].as_str().unwrap()).collect();
            for slot in Slot::BOTH {
                assert!(wires.contains(&k.slot(slot).wire), "{}: {} not in {wires:?}", k.name, k.slot(slot).wire);
            }
            if let Some(template) = entry["regenerate"]["body_template"].as_object() {
                let RegenerateShape::BodyField(field) = k.regenerate else { panic!("{} should take a body", k.name) };
                assert!(template.contains_key(field), "{}: {field}", k.name);
            }
            assert_eq!(k.long_running, entry["lro"]["declared"].as_bool().unwrap(), "{}", k.name);
        }
    }
}

#[test]
fn resource_bodies_and_operation_status_parse() {
    // Published GET examples have key auth on (the properties are schema-only or "Enabled").
    let re = load("redisenterprise/RedisEnterpriseDatabasesGet.2025-04-01.json");
    assert_eq!(re.pointer("/responses/200/body/properties/accessKeysAuthentication"), Some(&Value::from("Enabled")));
    assert!(!kind("redis-enterprise").key_auth.disabled_in(ok_body(&re)));
    let ns = load("twokey/servicebus.SBNameSpaceGet.2024-01-01.json");
    assert!(ns.pointer("/responses/200/body/properties/disableLocalAuth").is_some());
    assert!(!kind("servicebus-rule").key_auth.disabled_in(ok_body(&ns)));
    let redis = load("redis/RedisCacheGet.2024-11-01.json");
    assert!(!kind("redis").key_auth.disabled_in(ok_body(&redis)));
    let storage = load("storage/StorageAccountCreate.2025-06-01.json");
    assert!(!kind("storage").key_auth.disabled_in(ok_body(&storage)));

    let status = load("redisenterprise/RedisEnterpriseOperationsStatusGet.2025-04-01.json");
    let parsed: OperationStatusBody = serde_json::from_value(ok_body(&status).clone()).unwrap();
    assert_eq!(parsed.state(None), OperationState::Succeeded);

    // The 202 headers of the long-running examples name a pollable operation.
    for file in [
        "redisenterprise/RedisEnterpriseDatabasesRegenerateKey.2025-04-01.json",
        "cosmosdb/CosmosDBDatabaseAccountRegenerateKey.2025-10-15.json",
        "twokey/signalr.SignalR_RegenerateKey.2024-03-01.json",
        "twokey/webpubsub.WebPubSub_RegenerateKey.2021-10-01.json",
        "twokey/cognitiveservices.RegenerateKey.2025-06-01.with202.json",
    ] {
        let fixture = load(file);
        let headers = fixture.pointer("/responses/202/headers").and_then(Value::as_object).unwrap_or_else(|| panic!("{file}"));
        let mut map = reqwest::header::HeaderMap::new();
        for (k, v) in headers {
            map.insert(reqwest::header::HeaderName::from_bytes(k.to_ascii_lowercase().as_bytes()).unwrap(), v.as_str().unwrap().parse().unwrap());
        }
        let op = Operation::from_headers(&map).unwrap_or_else(|| panic!("{file}: no operation"));
        assert!(matches!(op, Operation::AsyncOperation(_)), "{file}: Azure-AsyncOperation is preferred");
    }
}

fn field_names(v: &Value) -> BTreeSet<String> {
    v.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default()
}

#[test]
fn the_twins_answers_have_the_examples_fields() {
    let keys: Vec<String> = (0..4).map(|i| format!("value{i}")).collect();
    let times: Vec<String> = (0..4).map(|_| "2026-01-01T00:00:00Z".to_string()).collect();
    let cases: &[(&str, &str, &str)] = &[
        ("Microsoft.Cache/redis", "listKeys", "redis/RedisCacheListKeys.2024-11-01.json"),
        ("Microsoft.Cache/redisEnterprise/databases", "listKeys", "redisenterprise/RedisEnterpriseDatabasesListKeys.2025-04-01.json"),
        ("Microsoft.DocumentDB/databaseAccounts", "listKeys", "cosmosdb/CosmosDBDatabaseAccountListKeys.2025-10-15.json"),
        ("Microsoft.DocumentDB/databaseAccounts", "readonlykeys", "cosmosdb/CosmosDBDatabaseAccountListReadOnlyKeys.2025-10-15.json"),
        ("Microsoft.ServiceBus/namespaces/AuthorizationRules", "listKeys", "twokey/servicebus.SBNameSpaceAuthorizationRuleListKey.2024-01-01.json"),
        ("Microsoft.CognitiveServices/accounts", "listKeys", "twokey/cognitiveservices.ListKeys.2025-09-01.json"),
        ("Microsoft.Search/searchServices", "listAdminKeys", "twokey/search.SearchGetAdminKeys.2025-05-01.json"),
        ("Microsoft.SignalRService/signalR", "listKeys", "twokey/signalr.SignalR_ListKeys.2020-05-01.json"),
        ("Microsoft.Maps/accounts", "listKeys", "twokey/maps.ListKeys.2023-06-01.json"),
    ];
    let id = "/subscriptions/s/resourceGroups/g/providers/X/ns/n/authorizationRules/r";
    for (rtype, op, file) in cases {
        let shape = Shape::of_type(rtype).unwrap();
        let twin = shape.list_body(op, id, &keys, &times);
        let example = ok_body(&load(file)).clone();
        let mut expected = field_names(&example);
        // Alias connection strings only exist with geo-DR pairing.
        expected.retain(|f| !f.starts_with("alias"));
        assert_eq!(field_names(&twin), expected, "{rtype} {op} vs {file}");
    }
    // Storage: the same entry fields.
    let storage = ok_body(&load("storage/StorageAccountListKeys.2025-08-01.json")).clone();
    let twin = Shape::Storage.list_body("listKeys", id, &keys, &times);
    let entry_fields = |v: &Value| field_names(&v["keys"][0]);
    assert!(entry_fields(&twin).is_superset(&entry_fields(&storage)), "{twin} vs {storage}");
    // The twin's GET bodies carry each kind's switch where the client reads it.
    for k in KINDS {
        let probe = match k.name {
            "redis" => "Microsoft.Cache/redis",
            "redis-enterprise" => "Microsoft.Cache/redisEnterprise/databases",
            "storage" => "Microsoft.Storage/storageAccounts",
            "cosmos" | "cosmos-readonly" => "Microsoft.DocumentDB/databaseAccounts",
            "servicebus-rule" | "eventhubs-rule" => continue,
            "cognitive-services" => "Microsoft.CognitiveServices/accounts",
            "search-admin" => "Microsoft.Search/searchServices",
            "signalr" => "Microsoft.SignalRService/signalR",
            "webpubsub" => "Microsoft.SignalRService/webPubSub",
            "maps" => "Microsoft.Maps/accounts",
            other => panic!("{other} missing here"),
        };
        let shape = Shape::of_type(probe).unwrap();
        assert!(k.key_auth.disabled_in(&shape.resource_body(id, true)), "{}", k.name);
        assert!(!k.key_auth.disabled_in(&shape.resource_body(id, false)), "{}", k.name);
    }
}

#[test]
fn connection_string_fields_exist_in_the_examples() {
    for (name, file) in [
        ("servicebus-rule", "twokey/servicebus.SBNameSpaceAuthorizationRuleListKey.2024-01-01.json"),
        ("eventhubs-rule", "twokey/eventhub.EHEventHubAuthorizationRuleListKey.2024-01-01.json"),
        ("signalr", "twokey/signalr.SignalR_ListKeys.2020-05-01.json"),
    ] {
        let body = ok_body(&load(file)).clone();
        for pointer in kind(name).connection_strings.expect("has connection strings") {
            assert!(body.pointer(pointer).and_then(Value::as_str).is_some(), "{name}: {pointer} in {file}");
        }
    }
}
