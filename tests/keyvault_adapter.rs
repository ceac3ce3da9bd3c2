//! The production Key Vault secret store (azure_security_keyvault_secrets 1.x on our
//! transport) against the Key Vault twin, reached by name resolution and the twin's CA; and
//! the fixtures' shapes as the client types and the twin read and write them.

mod support;

use azure_core::credentials::TokenCredential;
use chrono::{Duration, Utc};
use keyrelay::adapters::azure::keyvault::tags::{resource_of, slot_of, validity_of, ROTATION_TAG, SLOT_TAG};
use keyrelay::adapters::azure::keyvault::KeyVaultSecrets;
use keyrelay::domain::{RotationId, SecretId, SecretValue, SecretVersion, Slot};
use keyrelay::ports::{PublishRequest, SecretRef, SecretStore, SecretStoreError};
use keyrelay::twin::keyvault::KeyVaultTwin;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

const RESOURCE: &str = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg1/providers/Microsoft.Cache/redis/cache1";

struct Vault {
    twin: KeyVaultTwin,
    store: KeyVaultSecrets,
}

async fn start() -> Vault {
    let shared = support::twin::shared();
    let twin = KeyVaultTwin::start(&shared.ca, "sample-kv").await.unwrap();
    let store = store_with(&twin, shared.credential());
    Vault { twin, store }
}

fn store_with(twin: &KeyVaultTwin, credential: Arc<dyn TokenCredential>) -> KeyVaultSecrets {
    let options = support::twin::shared().http_options(&[twin.resolve()]);
    KeyVaultSecrets::from_http(credential, &options).unwrap()
}

fn secret(v: &Vault, name: &str) -> SecretRef {
    SecretRef { vault: v.twin.vault_authority(), name: name.into() }
}

fn request(slot: Slot, rotation: &str) -> PublishRequest {
    let now = Utc::now();
    PublishRequest {
        slot,
        rotation: RotationId::parse(rotation).unwrap(),
        resource_id: RESOURCE.into(),
        content_type: "text/plain".into(),
        not_before: Some(now),
        expires: Some(now + Duration::days(60)),
    }
}

#[tokio::test]
async fn publish_then_read_back_current_version_and_value() {
    let v = start().await;
    let s = secret(&v, "redis-primary-key");
    assert_eq!(v.store.current(&s).await.unwrap(), None, "no secret yet");

    let req = request(Slot::Secondary, "rot-20250601-cache1");
    let published = v.store.publish(&s, &SecretValue::new("new-key-value-2"), &req).await.unwrap();
    assert_eq!(published.slot, Some(Slot::Secondary));
    assert_eq!(published.rotation, Some(req.rotation.clone()));
    assert_eq!(published.content_type.as_deref(), Some("text/plain"));
    assert_eq!(published.expires.map(|t| t.timestamp()), req.expires.map(|t| t.timestamp()));
    assert!(published.enabled);
    assert!(!format!("{published:?}").contains("new-key-value-2"));

    let current = v.store.current(&s).await.unwrap().unwrap();
    assert_eq!(current, published);
    assert_eq!(v.store.version_info(&published.id).await.unwrap(), published);
    assert_eq!(v.store.read(&published.id).await.unwrap().expose(), "new-key-value-2");

    // What Key Vault holds: the value, the three tags, nbf/exp in seconds.
    let stored = v.twin.versions("redis-primary-key");
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].value, "new-key-value-2");
    assert_eq!(stored[0].tags[SLOT_TAG], "secondary");
    assert_eq!(stored[0].tags[ROTATION_TAG], "rot-20250601-cache1");
    assert_eq!(stored[0].tags["keyrelay-resource"], RESOURCE);
    assert_eq!(stored[0].not_before, req.not_before.map(|t| t.timestamp()));
    assert_eq!(stored[0].expires, req.expires.map(|t| t.timestamp()));
    // The id a step carries is the versioned secret id the agent can read.
    let id = SecretId::parse(&published.id.to_string()).unwrap();
    assert_eq!(v.store.read(&id).await.unwrap().expose(), "new-key-value-2");
}

#[tokio::test]
async fn find_by_rotation_pages_through_versions() {
    let v = start().await;
    let s = secret(&v, "storage-key");
    let early = v.store.publish(&s, &SecretValue::new("k-early"), &request(Slot::Primary, "rot-early")).await.unwrap();
    for i in 0..30 {
        v.twin.seed("storage-key", &format!("filler-{i}"), None, BTreeMap::new());
    }
    let late = v.store.publish(&s, &SecretValue::new("k-late"), &request(Slot::Secondary, "rot-late")).await.unwrap();
    let rot = |r: &str| RotationId::parse(r).unwrap();

    assert_eq!(v.store.versions(&s).await.unwrap().len(), 32, "two pages of 25");
    assert_eq!(v.store.find_by_rotation(&s, &rot("rot-early"), Slot::Primary).await.unwrap(), Some(early));
    let found = v.store.find_by_rotation(&s, &rot("rot-late"), Slot::Secondary).await.unwrap().expect("on page two");
    assert_eq!(found.id, late.id);
    assert_eq!(v.store.find_by_rotation(&s, &rot("rot-late"), Slot::Primary).await.unwrap(), None, "slot must match too");
    assert_eq!(v.store.find_by_rotation(&secret(&v, "absent"), &rot("rot-late"), Slot::Primary).await.unwrap(), None);
}

#[tokio::test]
async fn missing_versions_are_not_found() {
    let v = start().await;
    let s = secret(&v, "present");
    v.twin.seed("present", "x", None, BTreeMap::new());
    let missing = s.id_of(&SecretVersion::parse("00000000000000000000000000000000").unwrap());
    assert!(matches!(v.store.read(&missing).await, Err(SecretStoreError::NotFound(_))));
    assert!(matches!(v.store.version_info(&missing).await, Err(SecretStoreError::NotFound(_))));
}

#[tokio::test]
async fn a_secret_tagged_like_the_azure_samples_is_adopted() {
    let v = start().await;
    let s = secret(&v, "sa-key");
    let sample = BTreeMap::from([
        ("CredentialId".to_string(), "key1".to_string()),
        ("ProviderAddress".to_string(), RESOURCE.to_string()),
        ("ValidityPeriodDays".to_string(), "60".to_string()),
    ]);
    v.twin.seed("sa-key", "storage-key-1", Some("text/plain"), sample);

    let current = v.store.current(&s).await.unwrap().unwrap();
    assert_eq!(current.slot, Some(Slot::Primary), "active slot from CredentialId");
    assert_eq!(current.rotation, None);
    assert_eq!(resource_of(&current.tags).as_deref(), Some(RESOURCE));
    assert_eq!(validity_of(&current.tags), Some(Duration::days(60)));

    let next = v.store.publish(&s, &SecretValue::new("storage-key-2"), &request(current.slot.unwrap().other(), "rot-adopt")).await.unwrap();
    assert_eq!(next.slot, Some(Slot::Secondary));
    assert_eq!(next.tags["CredentialId"], "key2", "the samples' tag stays truthful, in their spelling");
    assert_eq!(next.tags["ValidityPeriodDays"], "60");
    assert_eq!(slot_of(&v.store.current(&s).await.unwrap().unwrap().tags), Some(Slot::Secondary));
}

#[tokio::test]
async fn the_challenge_flow_and_audience_are_enforced() {
    let v = start().await;
    let shared = support::twin::shared();
    let http = shared.http_options(&[v.twin.resolve()]).client().unwrap();
    let anonymous = http.get(format!("{}secrets/x?api-version=2026-04-01", v.twin.vault_url())).send().await.unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);
    let challenge = anonymous.headers()["www-authenticate"].to_str().unwrap().to_string();
    assert!(challenge.starts_with("Bearer authorization=\"https://login.microsoftonline.com/"), "{challenge}");
    assert!(challenge.contains("resource=\"https://vault.azure.net\""), "{challenge}");

    let wrong = store_with(&v.twin, shared.credential_for("https://management.azure.com/.default"));
    let err = wrong.current(&secret(&v, "x")).await.unwrap_err();
    assert!(matches!(&err, SecretStoreError::Failed { transient: false, detail } if detail.contains("401")), "{err:?}");
}

fn fixture(name: &str) -> Value {
    serde_json::from_str(&support::twin::fixture(&format!("keyvault/{name}"))).unwrap()
}

async fn json(request: reqwest::RequestBuilder) -> Value {
    request.send().await.unwrap().json().await.unwrap()
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

#[test]
fn fixtures_parse_as_the_client_types() {
    use azure_security_keyvault_secrets::models::{ListSecretPropertiesResult, Secret};
    for name in ["GetSecret-example.2026-04-01.json", "SetSecret-example.2026-04-01.json", "UpdateSecret-example.2026-04-01.json"] {
        let body = fixture(name)["responses"]["200"]["body"].clone();
        let secret: Secret = serde_json::from_value(body).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(secret.id.unwrap().starts_with("https://myvault.vault.azure.net/secrets/"), "{name}");
        assert!(secret.attributes.unwrap().created.is_some(), "{name}");
    }
    let list: ListSecretPropertiesResult =
        serde_json::from_value(fixture("GetSecretVersions-example.2026-04-01.json")["responses"]["200"]["body"].clone()).unwrap();
    assert_eq!(list.value.len(), 1);
    assert!(list.next_link.unwrap().contains("$skiptoken="));

    let rotator = fixture("SetSecret.rotator.ASSEMBLED.json");
    let response: Secret = serde_json::from_value(rotator["response_200"].clone()).unwrap();
    let tags: BTreeMap<String, String> = response.tags.unwrap().into_iter().collect();
    assert_eq!(slot_of(&tags), Some(Slot::Secondary));
    assert_eq!(validity_of(&tags), Some(Duration::days(60)));
    let attributes = response.attributes.unwrap();
    assert_eq!(attributes.expires.unwrap().unix_timestamp(), 1753941600);
    assert_eq!(attributes.not_before.unwrap().unix_timestamp(), 1748757600);
}

#[tokio::test]
async fn the_twin_answers_in_the_fixture_shapes() {
    let v = start().await;
    let shared = support::twin::shared();
    let http = shared.http_options(&[v.twin.resolve()]).client().unwrap();
    let bearer = shared.bearer("https://vault.azure.net/.default").await;
    let base = v.twin.vault_url();

    let rotator = fixture("SetSecret.rotator.ASSEMBLED.json");
    let set = json(http.put(format!("{base}secrets/redis-primary-key?api-version=2026-04-01")).header("authorization", &bearer).json(&rotator["request"]["body"])).await;
    let expected = &rotator["response_200"];
    assert_eq!(keys(&set), keys(expected));
    assert_eq!(keys(&set["attributes"]), keys(&expected["attributes"]));
    assert_eq!(set["tags"], expected["tags"]);
    assert_eq!(set["attributes"]["exp"], expected["attributes"]["exp"]);

    let documented = fixture("GetSecret-example.2026-04-01.json")["responses"]["200"]["body"].clone();
    v.twin.seed("mysecretname", "mysecretvalue", None, BTreeMap::new());
    let got = json(http.get(format!("{base}secrets/mysecretname/?api-version=2026-04-01")).header("authorization", &bearer)).await;
    for field in keys(&documented) {
        assert!(got.get(&field).is_some(), "GetSecret lacks {field}");
    }
    for field in keys(&documented["attributes"]) {
        assert!(got["attributes"].get(&field).is_some(), "attributes lack {field}");
    }

    v.twin.seed("mysecretname", "second", None, BTreeMap::new());
    let page = json(http.get(format!("{base}secrets/mysecretname/versions?api-version=2026-04-01&maxresults=1")).header("authorization", &bearer)).await;
    let listed = fixture("GetSecretVersions-example.2026-04-01.json")["responses"]["200"]["body"].clone();
    assert_eq!(keys(&page), keys(&listed));
    assert_eq!(keys(&page["value"][0]), keys(&listed["value"][0]));
    assert!(page["value"][0].get("value").is_none(), "list items carry no value");
    assert!(page["nextLink"].as_str().unwrap().contains("$skiptoken="));

    let update = fixture("UpdateSecret-example.2026-04-01.json");
    let version = got["id"].as_str().unwrap().rsplit('/').next().unwrap().to_string();
    let updated = json(http.patch(format!("{base}secrets/mysecretname/{version}?api-version=2026-04-01")).header("authorization", &bearer).json(&update["parameters"]["parameters"])).await;
    let documented = &update["responses"]["200"]["body"];
    assert_eq!(keys(&updated), keys(documented));
    assert_eq!(updated["tags"], documented["tags"]);
    assert_eq!(updated["contentType"], documented["contentType"]);
    let missing = http.get(format!("{base}secrets/nope/?api-version=2026-04-01")).header("authorization", &bearer).send().await.unwrap();
    assert_eq!(missing.status().as_u16(), 404);
    let err: Value = missing.json().await.unwrap();
    assert_eq!(err["error"]["code"], "SecretNotFound");
}
