//! The policy file: the documented example loads and maps to plans; every kind of mistake is
//! refused with the file, the line and the field.

use chrono::{DateTime, Duration, Utc};
use keyrelay::adapters::azure::providers::{ResourceId, KINDS};
use keyrelay::domain::{CredentialName, Slot};
use keyrelay::policy::{AlertTarget, Policy, PolicyError, ProviderTarget, RedisPolicy, REDIS_KINDS};
use std::path::Path;

/// The kinds a binary knows: the ARM kind table's, and the Redis ones.
fn kinds() -> Vec<&'static str> {
    let mut kinds: Vec<&str> = KINDS.iter().map(|k| k.name).collect();
    kinds.extend(REDIS_KINDS);
    kinds
}

const ONE: &str = r#"[defaults]
validity = "90d"
rotate_every = "60d"

[[credential]]
name = "cache"
provider = "redis"
resource = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Cache/redis/c"
vault = "kv.vault.azure.net"
secret = "cache-key"

[[credential.consumer]]
id = "web"
wave = 1
"#;

fn refused(text: &str) -> PolicyError {
    match Policy::parse(text, "ops/policy.toml") {
        Ok(p) => panic!("accepted: {p:?}"),
        Err(e) => e,
    }
}

/// The error names the file, the line and the field, in the struct and in its message.
fn assert_points(e: &PolicyError, line: usize, field: &str, why: &str) {
    let shown = e.to_string();
    assert_eq!(e.file, "ops/policy.toml", "{shown}");
    assert_eq!(e.at.map(|a| a.line), Some(line), "{shown}");
    assert_eq!(e.field, field, "{shown}");
    assert!(shown.starts_with(&format!("ops/policy.toml:{line}:")), "{shown}");
    assert!(shown.contains(field), "{shown}");
    assert!(shown.contains(why), "{shown:?} does not say {why:?}");
}

fn line_of(text: &str, needle: &str) -> usize {
    text[..text.find(needle).expect("needle in text")].matches('\n').count() + 1
}

#[test]
fn the_documented_example_loads_and_maps_to_plans() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/policy.toml");
    let policy = Policy::load(&path).unwrap();
    policy.check_kinds(&kinds()).unwrap();
    assert_eq!(policy.credentials.len(), 6);

    let cache = CredentialName::parse("orders-cache").unwrap();
    let plan = policy.plan_for(&cache).unwrap();
    assert_eq!(plan.provider, "redis");
    assert!(plan.resource_id.ends_with("/Microsoft.Cache/redis/orders"));
    assert_eq!(plan.secret.vault, "kv-shop.vault.azure.net");
    assert_eq!(plan.secret.name, "orders-cache-key");
    assert_eq!(plan.validity.to_string(), "120d");
    assert_eq!(plan.initial_active_slot, Some(Slot::Primary));
    let waves: Vec<(u16, usize)> = plan.waves().iter().map(|(w, cs)| (w.number(), cs.len())).collect();
    assert_eq!(waves, vec![(1, 1), (2, 2)]);
    assert_eq!(plan.consumers[0].ack_deadline.to_string(), "10m");
    assert_eq!(plan.consumers[1].ack_deadline.to_string(), "15m", "inherits [defaults]");
    assert_eq!(plan.timing.resend_every.to_string(), "1m");

    let storage = policy.credential(&CredentialName::parse("invoices-storage").unwrap()).unwrap();
    assert_eq!(storage.secret.vault, "kv-shop.vault.azure.net", "a vault URL is reduced to its host");
    assert!(storage.usage_guard);
    assert_eq!(storage.soak.to_string(), "1h");
    assert!(matches!(storage.alert, Some(AlertTarget::Webhook(_))));
    assert_eq!(storage.consumers[0].health.as_deref(), Some("list the invoices container with the new key"));

    let cloud = policy.credential(&CredentialName::parse("sessions-redis-cloud").unwrap()).unwrap();
    assert!(matches!(&cloud.target, ProviderTarget::Address(a) if a.starts_with("https://api.redislabs.com/")));
    assert!(matches!(cloud.alert, Some(AlertTarget::Email(_))));
    match cloud.redis.as_ref().unwrap() {
        RedisPolicy::Cloud { api_base, subscription_id, database_id, essentials, users, api_keys, staging, .. } => {
            assert_eq!((api_base.as_str(), *subscription_id, *database_id, *essentials), ("https://api.redislabs.com/v1", 123456, 7890, false));
            assert_eq!(users, &["sessions-a".to_string(), "sessions-b".to_string()]);
            assert_eq!((api_keys.vault.as_str(), api_keys.name.as_str()), ("kv-shop.vault.azure.net", "rediscloud-api-keys"));
            assert_eq!(staging, &None);
        }
        other => panic!("{other:?}"),
    }
    let carts = policy.credential(&CredentialName::parse("carts-redis").unwrap()).unwrap();
    match carts.redis.as_ref().unwrap() {
        RedisPolicy::SelfHosted { host, port, tls, user, admin_secret, ca_file, .. } => {
            assert_eq!((host.as_str(), *port, *tls, user.as_str()), ("redis.shop.internal", 6380, true, "carts"));
            assert_eq!(admin_secret.name, "carts-redis-admin");
            assert!(ca_file.is_none());
        }
        other => panic!("{other:?}"),
    }
    let api = policy.credential(&CredentialName::parse("rediscloud-api").unwrap()).unwrap();
    assert!(matches!(api.redis.as_ref().unwrap(), RedisPolicy::CloudApiKey { api_base, incoming: Some(i) } if api_base == "https://api.redislabs.com/v1" && i.name == "rediscloud-api-keys-incoming"));
    assert!(storage.redis.is_none(), "ARM kinds have no Redis settings");
    assert!(matches!(
        policy.credential(&CredentialName::parse("catalog-readonly").unwrap()).unwrap().alert,
        Some(AlertTarget::ActionGroup(_))
    ));
}

#[test]
fn key_vault_events_map_to_their_credential() {
    let policy = Policy::parse(ONE, "p.toml").unwrap();
    for vault in ["kv", "KV", "kv.vault.azure.net", "https://kv.vault.azure.net/"] {
        let found = policy.credential_for_secret(vault, "Cache-Key").map(|c| c.name.as_str());
        assert_eq!(found, Some("cache"), "vault {vault:?}");
    }
    assert!(policy.credential_for_secret("other", "cache-key").is_none());
    assert!(policy.credential_for_secret("kv", "cache-key-2").is_none());
    assert!(policy.credential_for_secret("kv.vault.azure.cn", "cache-key").is_none());
}

#[test]
fn the_schedule_rotates_what_is_older_than_its_cadence() {
    let policy = Policy::parse(ONE, "p.toml").unwrap();
    let cred = &policy.credentials[0];
    let now: DateTime<Utc> = "2026-06-01T00:00:00Z".parse().unwrap();
    assert!(cred.due(None, now), "never rotated is due");
    assert!(!cred.due(Some(now - Duration::days(59)), now));
    assert!(cred.due(Some(now - Duration::days(60)), now));
    let no_cadence = Policy::parse(&ONE.replace("rotate_every = \"60d\"\n", ""), "p.toml").unwrap();
    assert!(!no_cadence.credentials[0].due(None, now), "without rotate_every only events and operators rotate");
}

#[test]
fn unknown_field_is_named_at_its_line() {
    let text = ONE.replace("wave = 1", "wave = 1\nack_dedline = \"5m\"");
    assert_points(&refused(&text), line_of(&text, "ack_dedline"), "credential.consumer.ack_dedline", "unknown field");
    let text = ONE.replace("[[credential.consumer]]", "[[credential.consumers]]");
    assert_points(&refused(&text), line_of(&text, "[[credential.consumers]]"), "credential.consumers", "unknown field");
}

#[test]
fn bad_duration_is_named_at_its_line() {
    let text = ONE.replace("validity = \"90d\"", "validity = \"90 days\"");
    assert_points(&refused(&text), 2, "defaults.validity", "unknown unit");
    let text = ONE.replace("wave = 1", "wave = 1\nack_deadline = \"10\"");
    assert_points(&refused(&text), line_of(&text, "ack_deadline"), "credential.consumer.ack_deadline", "number without a unit");
    let text = ONE.replace("wave = 1", "wave = 1\nack_deadline = \"0s\"");
    assert_points(&refused(&text), line_of(&text, "ack_deadline"), "credential.consumer.ack_deadline", "longer than 0s");
}

#[test]
fn duplicate_consumer_is_refused_at_the_second() {
    let text = format!("{ONE}\n[[credential.consumer]]\nid = \"web\"\nwave = 2\n");
    let second = text.rfind("id = \"web\"").unwrap();
    let line = text[..second].matches('\n').count() + 1;
    assert_points(&refused(&text), line, "credential.consumer.id", "declared twice");
}

#[test]
fn wave_gaps_are_refused() {
    let text = format!("{ONE}\n[[credential.consumer]]\nid = \"api\"\nwave = 3\n");
    assert_points(&refused(&text), line_of(&text, "wave = 3"), "credential.consumer.wave", "no consumer is in wave 2");
    let text = ONE.replace("wave = 1", "wave = 0");
    assert_points(&refused(&text), line_of(&text, "wave = 0"), "credential.consumer.wave", "outside 1..=100");
}

#[test]
fn missing_vault_is_named_at_the_credential() {
    let text = ONE.replace("vault = \"kv.vault.azure.net\"\n", "");
    assert_points(&refused(&text), line_of(&text, "[[credential]]"), "credential.vault", "missing field");
    let text = ONE.replace("kv.vault.azure.net", "kv");
    assert_points(&refused(&text), line_of(&text, "vault ="), "credential.vault", "kv.vault.azure.net");
    let text = ONE.replace("\"kv.vault.azure.net\"", "\"http://kv.vault.azure.net\"");
    assert_points(&refused(&text), line_of(&text, "vault ="), "credential.vault", "https only");
    let text = ONE.replace("cache-key", "cache_key");
    assert_points(&refused(&text), line_of(&text, "secret ="), "credential.secret", "not a Key Vault secret name");
}

#[test]
fn provider_kinds_are_kebab_case_and_must_be_known() {
    let text = ONE.replace("provider = \"redis\"", "provider = \"Redis_Cache\"");
    assert_points(&refused(&text), line_of(&text, "provider ="), "credential.provider", "kebab-case");

    let text = ONE.replace("provider = \"redis\"", "provider = \"memcached\"");
    let policy = Policy::parse(&text, "ops/policy.toml").unwrap();
    let e = policy.check_kinds(&kinds()).unwrap_err();
    assert_points(&e, line_of(&text, "provider ="), "credential.provider", "unknown provider kind \"memcached\"");
    assert!(e.to_string().contains("redis-cloud"), "lists the known kinds: {e}");
}

#[test]
fn resource_or_address_exactly_one() {
    let text = ONE.replace("vault =", "address = \"https://api.redislabs.com/v1/subscriptions/1/databases/2\"\nvault =");
    assert_points(&refused(&text), line_of(&text, "address ="), "credential.address", "not both");
    let text = ONE.replace("resource = \"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Cache/redis/c\"\n", "");
    assert_points(&refused(&text), line_of(&text, "name = \"cache\""), "credential.resource", "missing");
    let text = ONE.replace("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Cache/redis/c", "orders-cache");
    assert_points(&refused(&text), line_of(&text, "resource ="), "credential.resource", "not an ARM resource id");
    let text = ONE.replace(
        "resource = \"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Cache/redis/c\"",
        "address = \"rediss://app:hunter2@cache.example.com:6380\"",
    );
    let e = refused(&text);
    assert_points(&e, line_of(&text, "address ="), "credential.address", "must not contain a password");
    assert!(!e.to_string().contains("hunter2"), "the error echoes no password: {e}");
    // Nor when the address is wrong in another way as well.
    for bad in ["http://app:hunter2@cache.example.com", "rediss://app:hunter2@cache example.com:6380"] {
        let text = ONE.replace(
            "resource = \"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Cache/redis/c\"",
            &format!("address = \"{bad}\""),
        );
        let e = refused(&text);
        assert_points(&e, line_of(&text, "address ="), "credential.address", "");
        assert!(!e.to_string().contains("hunter2"), "the error echoes no password: {e}");
    }
}

#[test]
fn validity_must_outlast_the_cadence() {
    let text = ONE.replace("validity = \"90d\"", "validity = \"30d\"");
    assert_points(&refused(&text), 2, "credential.validity", "expire before the next rotation");
    let text = ONE.replace("validity = \"90d\"\n", "");
    assert_points(&refused(&text), line_of(&text, "name = \"cache\""), "credential.validity", "missing");
}

#[test]
fn credentials_and_secrets_are_declared_once() {
    let second = ONE.split_once("[[credential]]").unwrap().1;
    let text = format!("{ONE}\n[[credential]]{second}");
    let at = text.rfind("name = \"cache\"").unwrap();
    assert_points(&refused(&text), text[..at].matches('\n').count() + 1, "credential.name", "declared twice");
    let text = format!("{ONE}\n[[credential]]{}", second.replace("name = \"cache\"", "name = \"cache2\""));
    let at = text.rfind("secret =").unwrap();
    assert_points(&refused(&text), text[..at].matches('\n').count() + 1, "credential.secret", "already belongs");
}

#[test]
fn empty_policy_bad_alert_and_missing_consumers_are_refused() {
    assert_points(&refused("[defaults]\nvalidity = \"1d\"\n"), 1, "credential", "no [[credential]]");
    let text = ONE.replace("[defaults]", "[defaults]\nalert = \"pager\"");
    assert_points(&refused(&text), 2, "credential.alert", "action group");
    let text = ONE.split("[[credential.consumer]]").next().unwrap().to_string();
    assert_points(&refused(&text), line_of(&text, "name = \"cache\""), "credential.consumer", "at least one");
    let text = ONE.replace("[defaults]", "[defaults]\nvalidity = \"1d\"");
    assert_points(&refused(&text), 3, "defaults.validity", "duplicate key");
}

#[test]
fn an_unreadable_file_is_named() {
    let e = Policy::load(Path::new("/nonexistent/keyrelay/policy.toml")).unwrap_err();
    assert_eq!(e.file, "/nonexistent/keyrelay/policy.toml");
    assert!(e.to_string().starts_with("/nonexistent/keyrelay/policy.toml: "), "{e}");
    assert!(e.to_string().contains("cannot read"), "{e}");
}

#[test]
fn toml_syntax_errors_are_located_too() {
    let text = ONE.replace("validity = \"90d\"", "validity = 90d");
    let e = refused(&text);
    assert_points(&e, 2, "defaults.validity", "");
    let text = ONE.replace("[[credential.consumer]]", "[[credential.consumer]\n");
    let e = refused(&text);
    assert_eq!(e.at.map(|a| a.line), Some(line_of(&text, "[[credential.consumer]")), "{e}");
}

#[test]
fn resource_ids_are_checked_against_their_kind_at_their_line() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/policy.toml");
    let arm_check = |c: &keyrelay::policy::CredentialPolicy| match (&c.target, KINDS.iter().find(|k| k.name == c.provider.as_str())) {
        (ProviderTarget::Resource(id), Some(kind)) => ResourceId::for_kind(id, kind).map(|_| ()),
        _ => Ok(()),
    };
    Policy::load(&path).unwrap().check_targets(arm_check).unwrap();
    let text = ONE.replace("provider = \"redis\"", "provider = \"storage\"");
    let e = Policy::parse(&text, "ops/policy.toml").unwrap().check_targets(arm_check).unwrap_err();
    assert_points(&e, line_of(&text, "resource ="), "credential.resource", "credential \"cache\"");
}

const SELF_HOSTED: &str = r#"[defaults]
validity = "90d"

[[credential]]
name = "carts"
provider = "redis-selfhosted"
address = "redis://10.0.0.4:6379"
user = "carts"
admin_secret = "carts-admin"
vault = "kv.vault.azure.net"
secret = "carts-key"

[[credential.consumer]]
id = "web"
"#;

const CLOUD: &str = r#"[defaults]
validity = "90d"

[[credential]]
name = "sessions"
provider = "redis-cloud"
address = "https://api.redislabs.com/v1/fixed/subscriptions/1/databases/2"
users = ["app-a", "app-b"]
api_keys_secret = "rc-api"
staging_secret = "sessions-staged"
vault = "kv.vault.azure.net"
secret = "sessions-key"

[[credential.consumer]]
id = "web"
"#;

#[test]
fn redis_credentials_parse_their_provider_settings() {
    let policy = Policy::parse(SELF_HOSTED, "ops/policy.toml").unwrap();
    policy.check_kinds(&kinds()).unwrap();
    match policy.credentials[0].redis.as_ref().unwrap() {
        RedisPolicy::SelfHosted { host, port, tls, user, admin_secret, staging, .. } => {
            assert_eq!((host.as_str(), *port, *tls, user.as_str()), ("10.0.0.4", 6379, false, "carts"));
            assert_eq!((admin_secret.vault.as_str(), admin_secret.name.as_str()), ("kv.vault.azure.net", "carts-admin"));
            assert_eq!(staging, &None);
        }
        other => panic!("{other:?}"),
    }
    let policy = Policy::parse(CLOUD, "ops/policy.toml").unwrap();
    match policy.credentials[0].redis.as_ref().unwrap() {
        RedisPolicy::Cloud { essentials, subscription_id, database_id, staging, .. } => {
            assert!(*essentials, "/fixed/ is an Essentials plan");
            assert_eq!((*subscription_id, *database_id), (1, 2));
            assert_eq!(staging.as_ref().map(|s| s.name.as_str()), Some("sessions-staged"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn redis_credentials_missing_a_field_are_refused_at_their_provider_line() {
    for (text, drop, field) in [
        (SELF_HOSTED, "user = \"carts\"\n", "credential.user"),
        (SELF_HOSTED, "admin_secret = \"carts-admin\"\n", "credential.admin_secret"),
        (CLOUD, "users = [\"app-a\", \"app-b\"]\n", "credential.users"),
        (CLOUD, "api_keys_secret = \"rc-api\"\n", "credential.api_keys_secret"),
    ] {
        let text = text.replace(drop, "");
        assert_points(&refused(&text), line_of(&text, "provider ="), field, "missing");
    }
}

#[test]
fn redis_fields_are_checked_where_they_are_written() {
    let text = SELF_HOSTED.replace("redis://10.0.0.4:6379", "https://10.0.0.4");
    assert_points(&refused(&text), line_of(&text, "address ="), "credential.address", "rediss://");
    let text = SELF_HOSTED.replace("address = \"redis://10.0.0.4:6379\"", "resource = \"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Cache/redis/c\"");
    assert_points(&refused(&text), line_of(&text, "resource ="), "credential.address", "outside Resource Manager");
    let text = SELF_HOSTED.replace("admin_secret = \"carts-admin\"", "admin_secret = \"carts admin\"");
    assert_points(&refused(&text), line_of(&text, "admin_secret ="), "credential.admin_secret", "not a Key Vault secret name");
    let text = CLOUD.replace("[\"app-a\", \"app-b\"]", "[\"app-a\", \"app-a\"]");
    assert_points(&refused(&text), line_of(&text, "users ="), "credential.users", "two different");
    let text = CLOUD.replace("databases/2", "databases");
    assert_points(&refused(&text), line_of(&text, "address ="), "credential.address", "/databases/{id}");
    // A Redis field on another kind is a mistake, not silently ignored.
    let text = ONE.replace("secret = \"cache-key\"", "secret = \"cache-key\"\nuser = \"app\"");
    assert_points(&refused(&text), line_of(&text, "user ="), "credential.user", "only for provider redis-selfhosted");
    let text = CLOUD.replace("users = ", "user = \"x\"\nusers = ");
    assert_points(&refused(&text), line_of(&text, "user ="), "credential.user", "not \"redis-cloud\"");
}

#[test]
fn an_action_time_limit_must_fit_inside_the_action_lease() {
    let text = format!("[timing]\naction_lease = \"5s\"\naction_time_limit = \"5s\"\n\n{ONE}");
    assert_points(&refused(&text), 3, "timing.action_time_limit", "shorter than timing.action_lease");
    let text = format!("[timing]\naction_lease = \"20s\"\n\n{ONE}");
    assert_points(&refused(&text), 2, "timing.action_lease", "action_time_limit");
    let text = format!("[timing]\naction_lease = \"5s\"\naction_time_limit = \"2s\"\n\n{ONE}");
    let policy = Policy::parse(&text, "ops/policy.toml").unwrap();
    let timing = &policy.plan_for(&"cache".parse().unwrap()).unwrap().timing;
    assert_eq!((timing.action_lease.as_secs(), timing.action_time_limit.as_secs()), (5, 2));
}
