//! Every ARM resource kind, end to end: the production client (managed identity token from the
//! identity twin, our transport, retries, long-running operations) against the ARM twin.

#[path = "support/arm.rs"]
mod arm_support;

use arm_support::{key_name, sample_id, ArmHarness};
use keyrelay::adapters::azure::arm::ArmClient;
use keyrelay::adapters::azure::providers::{ArmKeyProvider, KINDS};
use keyrelay::domain::Slot;
use keyrelay::ports::{KeyAuthStatus, KeyProvider, ProviderError, RegenerateOutcome};
use keyrelay::twin::arm::{KeyChange, KeyListener, LroHeaders};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn regenerate_posts(h: &ArmHarness, kind: &str) -> usize {
    let op = keyrelay::adapters::azure::providers::ResourceKind::by_name(kind).unwrap().regenerate_op.to_ascii_lowercase();
    h.twin
        .seen()
        .iter()
        .filter(|r| r.method == "POST" && r.path.to_ascii_lowercase().contains(&format!("/{op}")))
        .count()
}

#[tokio::test]
async fn every_kind_lists_and_regenerates_each_slot() {
    let h = ArmHarness::start().await;
    for kind in KINDS {
        let p = h.provider(kind.name).await;
        assert_eq!(p.key_auth().await.unwrap(), KeyAuthStatus::Enabled, "{}", kind.name);
        for slot in Slot::BOTH {
            let before = p.read(slot).await.unwrap();
            let other_before = p.read(slot.other()).await.unwrap();
            assert_eq!(Some(before.clone()), h.twin.key(sample_id(kind.name), &key_name(kind, slot)), "{} {slot}", kind.name);
            p.regenerate_and_wait(slot, false).await.unwrap_or_else(|e| panic!("{} {slot}: {e}", kind.name));
            let after = p.read(slot).await.unwrap();
            assert_ne!(before, after, "{} {slot} did not change", kind.name);
            assert_eq!(Some(after), h.twin.key(sample_id(kind.name), &key_name(kind, slot)));
            assert_eq!(p.read(slot.other()).await.unwrap(), other_before, "{} regenerating {slot} touched the other slot", kind.name);
        }
    }
    // Every request carried an api-version and a token the twin accepted.
    assert!(h.twin.seen().iter().all(|r| r.status < 400), "{:?}", h.twin.seen().iter().find(|r| r.status >= 400));
}

#[tokio::test]
async fn key_auth_disabled_is_refused_before_touching_anything() {
    let h = ArmHarness::start().await;
    for kind in KINDS {
        let p = h.provider(kind.name).await;
        h.twin.set_key_auth_disabled(sample_id(kind.name), true);
        let status = p.key_auth().await.unwrap();
        let KeyAuthStatus::Disabled { switch } = status else { panic!("{}: {status:?}", kind.name) };
        assert!(switch.contains(&kind.key_auth.describe()), "{switch}");
        let err = p.regenerate(Slot::Secondary, false).await.unwrap_err();
        assert!(matches!(err, ProviderError::KeyAuthDisabled { .. }), "{}: {err:?}", kind.name);
        assert_eq!(regenerate_posts(&h, kind.name), 0, "{} sent a regenerate", kind.name);
        h.twin.set_key_auth_disabled(sample_id(kind.name), false);
    }
}

#[tokio::test]
async fn throttling_honours_retry_after_then_gives_up_as_throttled() {
    let h = ArmHarness::start().await;
    let p = h.provider("storage").await;
    h.twin.faults(|f| {
        f.throttle_next = 2;
        f.throttle_retry_after = 1;
    });
    let started = Instant::now();
    p.read(Slot::Primary).await.unwrap();
    assert!(started.elapsed() >= Duration::from_secs(2), "Retry-After not honoured: {:?}", started.elapsed());
    assert_eq!(h.twin.seen().iter().filter(|r| r.status == 429).count(), 2);

    // A burst longer than the retry budget comes back as Throttled for the core to schedule.
    h.twin.faults(|f| {
        f.throttle_next = 10;
        f.throttle_retry_after = 0;
    });
    let err = p.read(Slot::Primary).await.unwrap_err();
    assert!(matches!(err, ProviderError::Throttled { .. }), "{err:?}");
    // A Retry-After beyond what the client sleeps through is handed back at once.
    h.twin.faults(|f| {
        f.throttle_next = 1;
        f.throttle_retry_after = 120;
    });
    let started = Instant::now();
    let err = p.read(Slot::Primary).await.unwrap_err();
    assert_eq!(err, ProviderError::Throttled { retry_after: Duration::from_secs(120) });
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn server_errors_are_retried_and_then_reported_transient() {
    let h = ArmHarness::start().await;
    let p = h.provider("maps").await;
    h.twin.faults(|f| f.fail_next = 2);
    p.regenerate(Slot::Primary, false).await.unwrap();
    h.twin.faults(|f| f.fail_next = 50);
    let err = p.read(Slot::Primary).await.unwrap_err();
    assert!(matches!(err, ProviderError::Failed { transient: true, .. }), "{err:?}");
}

#[tokio::test]
async fn long_running_regenerate_is_polled_through_either_header() {
    let h = ArmHarness::start().await;
    let p = h.provider("redis-enterprise").await;
    for headers in [LroHeaders::Both, LroHeaders::AsyncOperationOnly, LroHeaders::LocationOnly] {
        h.twin.faults(|f| {
            f.lro_headers = headers;
            f.lro_retry_after = 0;
        });
        let before = p.read(Slot::Secondary).await.unwrap();
        let RegenerateOutcome::Pending { operation, .. } = p.regenerate(Slot::Secondary, false).await.unwrap() else {
            panic!("redis-enterprise regenerate should be long-running")
        };
        let expected = if headers == LroHeaders::LocationOnly { "location " } else { "azure-asyncoperation " };
        assert!(operation.starts_with(expected), "{operation}");
        // Nothing changes until the operation completes.
        assert_eq!(p.read(Slot::Secondary).await.unwrap(), before);
        let mut outcome = p.poll(&operation).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while outcome != RegenerateOutcome::Done {
            assert!(Instant::now() < deadline, "operation never finished");
            tokio::time::sleep(Duration::from_millis(50)).await;
            outcome = p.poll(&operation).await.unwrap();
        }
        assert_ne!(p.read(Slot::Secondary).await.unwrap(), before, "{headers:?}");
    }
    // Cognitive Services' 202 variant is handled by the same code path.
    h.twin.faults(|f| f.lro_everywhere = true);
    let cognitive = h.provider("cognitive-services").await;
    assert!(matches!(cognitive.regenerate(Slot::Primary, false).await.unwrap(), RegenerateOutcome::Pending { .. }));
}

#[tokio::test]
async fn slow_or_failed_long_running_operations_end_with_clear_errors() {
    let h = ArmHarness::start().await;
    let id = sample_id("cosmos");
    h.twin.add_resource(id).await.unwrap();
    let impatient = ArmHarness::client_for(&h.ca, &h.twin, &[], |c| c.lro.timeout = Duration::from_millis(600));
    let p = ArmKeyProvider::new("cosmos", id, Arc::new(impatient)).unwrap();
    h.twin.faults(|f| {
        f.lro_duration = Duration::from_secs(5);
        f.lro_retry_after = 0;
    });
    let err = p.regenerate_and_wait(Slot::Secondary, false).await.unwrap_err();
    assert!(err.to_string().contains("did not finish within"), "{err}");
    assert!(matches!(err, ProviderError::Failed { transient: true, .. }), "{err:?}");

    h.twin.faults(|f| {
        f.lro_duration = Duration::from_millis(100);
        f.lro_fail_next = true;
    });
    let signalr = h.provider("signalr").await;
    let err = signalr.regenerate_and_wait(Slot::Primary, false).await.unwrap_err();
    assert!(err.to_string().contains("ended Failed") && err.to_string().contains("regenerateKey"), "{err}");
}

#[tokio::test]
async fn errors_name_the_action_the_identity_and_the_resource() {
    let h = ArmHarness::start().await;
    let p = h.provider("redis").await;
    h.twin.deny(sample_id("redis"));
    let err = p.read(Slot::Primary).await.unwrap_err().to_string();
    for needle in ["Microsoft.Cache/redis/listKeys/action", "managed-identity (system-assigned)", "redis/cache1", "AuthorizationFailed"] {
        assert!(err.contains(needle), "missing {needle}: {err}");
    }

    let missing = "/subscriptions/sub1/resourceGroups/rg1/providers/Microsoft.Cache/redis/nope";
    let p = ArmKeyProvider::new("redis", missing, h.client.clone()).unwrap();
    let err = p.read(Slot::Primary).await.unwrap_err().to_string();
    assert!(err.contains(&format!("resource {missing} was not found")), "{err}");

    let search = h.provider("search-admin").await;
    h.twin.faults(|f| f.conflict_next = 1);
    let err = search.regenerate(Slot::Primary, false).await.unwrap_err();
    assert!(matches!(&err, ProviderError::Failed { transient: true, detail } if detail.contains("Another operation")), "{err:?}");

    // A token for the wrong audience is a 401 that says whose token it was.
    let wrong = keyrelay::adapters::azure::http::HttpOptions {
        extra_roots_pem: vec![h.ca.ca_pem.clone()],
        resolve: vec![h.twin.resolve()],
        ..Default::default()
    };
    let settings = keyrelay::adapters::azure::identity::IdentitySettings::from_lookup(|_| None).unwrap();
    let client = ArmClient::new(&h.twin.endpoint(), "https://vault.azure.net", "test identity".into(), settings.credential(&wrong).unwrap(), wrong.client().unwrap()).unwrap();
    let p = ArmKeyProvider::new("search-admin", sample_id("search-admin"), Arc::new(client)).unwrap();
    let err = p.read(Slot::Primary).await.unwrap_err().to_string();
    assert!(err.contains("rejected the token of test identity"), "{err}");
}

#[tokio::test]
async fn cosmos_refuses_a_recently_used_key_unless_forced_and_reports_usage() {
    let h = ArmHarness::start().await;
    let p = h.provider("cosmos").await;
    let id = sample_id("cosmos");
    let used = chrono::Utc::now() - chrono::Duration::hours(1);
    h.twin.set_usage_check(id, true);
    h.twin.mark_used(id, "primaryMasterKey", used);
    let usage = p.usage(Slot::Primary).await.unwrap();
    assert_eq!(usage.last_used.map(|t| t.timestamp()), Some(used.timestamp()));
    assert!(usage.source.contains("approximateLastUsageTime"));
    assert_eq!(p.usage(Slot::Secondary).await.unwrap().last_used, None);

    let err = p.regenerate(Slot::Primary, false).await.unwrap_err();
    assert!(matches!(err, ProviderError::KeyUsedRecently { .. }), "{err:?}");
    p.regenerate_and_wait(Slot::Primary, true).await.unwrap();
    let bodies: Vec<_> = h.twin.seen().into_iter().filter_map(|r| r.body).collect();
    let forced = bodies.iter().filter(|b| b.get("SkipAccountKeysLastUsageCheck").is_some()).count();
    assert_eq!(forced, 1, "the override goes only with the recorded force: {bodies:?}");

    // The read-only pair is its own credential on the same account.
    let ro = ArmKeyProvider::new("cosmos-readonly", id, h.client.clone()).unwrap();
    let before = ro.read(Slot::Secondary).await.unwrap();
    ro.regenerate_and_wait(Slot::Secondary, false).await.unwrap();
    assert_ne!(ro.read(Slot::Secondary).await.unwrap(), before);
    assert!(h.twin.seen().iter().any(|r| r.path.ends_with("/readonlykeys")));
}

struct Recorder(Mutex<Vec<(String, String)>>);

#[async_trait::async_trait]
impl KeyListener for Recorder {
    async fn key_changed(&self, change: &KeyChange) {
        self.0.lock().unwrap().push((change.key_name.clone(), change.value.expose().to_string()));
    }
}

#[tokio::test]
async fn listeners_hear_every_key_value_and_tokens_are_cached() {
    let h = ArmHarness::start().await;
    let recorder = Arc::new(Recorder(Mutex::new(Vec::new())));
    h.twin.add_listener(recorder.clone());
    let tokens_before = arm_support::identity().twin.tokens_issued();
    let p = h.provider("redis").await;
    assert_eq!(recorder.0.lock().unwrap().len(), 2, "initial keys");
    p.regenerate(Slot::Secondary, false).await.unwrap();
    let new = p.read(Slot::Secondary).await.unwrap();
    let last = recorder.0.lock().unwrap().last().cloned().unwrap();
    assert_eq!(last, ("secondaryKey".to_string(), new.expose().to_string()));
    for _ in 0..5 {
        p.read(Slot::Primary).await.unwrap();
    }
    // One client, one token (other tests running concurrently may add their own).
    let issued = arm_support::identity().twin.tokens_issued() - tokens_before;
    assert!(issued <= 8, "tokens are not cached: {issued}");
    // Keys never leak into the provider's Debug output or error texts.
    assert!(!format!("{p:?}").contains(new.expose()));
}

#[tokio::test]
async fn rule_and_signalr_credentials_can_be_published_as_connection_strings() {
    use keyrelay::adapters::azure::providers::ValueForm;
    let h = ArmHarness::start().await;
    for name in ["servicebus-rule", "eventhubs-rule", "signalr", "webpubsub"] {
        let p = h.provider(name).await.with_form(ValueForm::ConnectionString).unwrap();
        let kind = p.kind();
        for slot in Slot::BOTH {
            let value = p.read(slot).await.unwrap();
            let key = h.twin.key(sample_id(name), &key_name(kind, slot)).unwrap();
            assert!(value.expose().starts_with("Endpoint=") && value.expose().contains(key.expose()), "{name} {slot}");
        }
    }
    let err = h.provider("storage").await.with_form(ValueForm::ConnectionString).unwrap_err();
    assert!(err.contains("no connection strings"), "{err}");
}

#[tokio::test]
async fn a_user_assigned_identity_is_named_in_errors() {
    let h = ArmHarness::start().await;
    let id = sample_id("webpubsub");
    h.twin.add_resource(id).await.unwrap();
    let client = ArmHarness::client_for(&h.ca, &h.twin, &[("KEYRELAY_CLIENT_ID", "11111111-2222-3333-4444-555555555555")], |_| {});
    let p = ArmKeyProvider::new("webpubsub", id, Arc::new(client)).unwrap();
    assert!(p.read(Slot::Primary).await.is_ok());
    h.twin.deny(id);
    let err = p.regenerate(Slot::Primary, false).await.unwrap_err().to_string();
    assert!(err.contains("managed-identity (client id 11111111-2222-3333-4444-555555555555)"), "{err}");
    assert!(err.contains("Microsoft.SignalRService/webPubSub/read"), "the key-auth check reads first: {err}");
}
