//! Redis Cloud: the production API client and providers against the HTTPS twin (reached as
//! api.redislabs.com through name resolution and the test CA), the twin backed by a real
//! redis-server, consumers under live traffic.

mod support;

use keyrelay::adapters::memory::MemorySecrets;
use keyrelay::adapters::redis::cloud::{
    AlternatingConfig, AlternatingUsersProvider, ApiKeyRotation, ApiKeyRotationConfig, ApiKeys, CloudClient,
};
use keyrelay::adapters::redis::{strong_password, Staging, UserPassword};
use keyrelay::core::{OperatorCommand, Phase};
use keyrelay::domain::{ConsumerId, SecretValue, Slot};
use keyrelay::ports::{KeyProvider, ProviderError, RegenerateOutcome, SecretRef};
use keyrelay::twin::{RedisCloudTwin, RedisServer, TestCa};
use serde_json::json;
use std::sync::Arc;
use support::redis::{after_requests, plan, stall_reason, Harness, LiveConsumer, Reloads, Traffic};

fn kv(name: &str) -> SecretRef {
    SecretRef { vault: "kv.vault.azure.net".into(), name: name.into() }
}

/// A twin account with users app-a / app-b (same role) on a real redis-server, API keys in the
/// Key Vault stand-in, and the app secret holding app-a.
struct Cloud {
    ca: TestCa,
    redis: Arc<RedisServer>,
    twin: RedisCloudTwin,
    secrets: Arc<MemorySecrets>,
    keys: ApiKeys,
    initial: SecretValue,
}

impl Cloud {
    async fn start() -> Cloud {
        let ca = TestCa::generate().unwrap();
        let redis = Arc::new(RedisServer::start().await.unwrap());
        let twin = RedisCloudTwin::start(&ca, redis.clone()).await.unwrap();
        let (pa, pb) = (strong_password(), strong_password());
        twin.create_user("app-a", "app-role", &pa).await.unwrap();
        twin.create_user("app-b", "app-role", &pb).await.unwrap();
        let keys = twin.add_user_key("keyrelay-automation", true, true);
        let secrets = Arc::new(MemorySecrets::new());
        let now = chrono::Utc::now();
        secrets.seed(&kv("rediscloud-api"), keys.to_secret(), None, now);
        let initial = UserPassword::new("app-a", pa).to_secret();
        secrets.seed(&kv("app-redis"), initial.clone(), Some(Slot::Primary), now);
        Cloud { ca, redis, twin, secrets, keys, initial }
    }

    fn client(&self) -> CloudClient {
        CloudClient::new(self.twin.client_options(&self.ca), self.secrets.clone(), kv("rediscloud-api")).unwrap()
    }

    fn provider(&self) -> AlternatingUsersProvider {
        let config = AlternatingConfig {
            subscription_id: self.twin.subscription_id(),
            database_id: self.twin.database_id(),
            essentials: false,
            users: ["app-a".into(), "app-b".into()],
            secret: kv("app-redis"),
            staging: Staging::default_ref(&kv("app-redis")),
        };
        AlternatingUsersProvider::new(self.client(), config, self.secrets.clone()).unwrap()
    }
}

/// Polls a regenerate to its end, as the core would.
async fn regenerate_to_end(p: &dyn KeyProvider, slot: Slot) -> Result<(), ProviderError> {
    let mut outcome = p.regenerate(slot, false).await?;
    for _ in 0..50 {
        match outcome {
            RegenerateOutcome::Done => return Ok(()),
            RegenerateOutcome::Pending { operation, .. } => outcome = p.poll(&operation).await?,
        }
    }
    panic!("operation did not end");
}

#[tokio::test]
async fn alternating_users_rotate_both_slots_under_live_traffic_through_every_fault() {
    let cloud = Cloud::start().await;
    // Every fault a real account shows, at once: throttling, tasks unknown at first, tasks that
    // stay running, users pending after the change.
    cloud.twin.throttle_next(2);
    cloud.twin.task_404s(3);
    cloud.twin.running_polls(2);
    cloud.twin.user_pending_polls(2);
    let harness = Harness::new(cloud.secrets.clone(), Arc::new(cloud.provider()));
    let consumers: Vec<_> =
        ["canary", "web", "api"].iter().map(|id| LiveConsumer::new(id, cloud.redis.endpoint(), &cloud.initial)).collect();
    let traffic = Traffic::start(&consumers);
    let the_plan = plan("app-redis", "rediscloud-alternating", &kv("app-redis"), &[("canary", 1), ("web", 2), ("api", 2)]);
    let old_a = UserPassword::parse(&cloud.initial).unwrap().password;

    for (round, (slot, user)) in [(Slot::Secondary, "app-b"), (Slot::Primary, "app-a")].into_iter().enumerate() {
        after_requests(&consumers, 20 * (round as u64 + 1)).await;
        let rotation = harness.start(the_plan.clone()).await;
        let done = harness.run(&rotation, &consumers).await;
        assert_eq!(done.phase, Phase::Completed, "round {round}: {:#?}", done.timeline);
        let (current, value) = cloud.secrets.current_value(&kv("app-redis")).unwrap();
        assert_eq!(current.slot, Some(slot));
        let cred = UserPassword::parse(&value).unwrap();
        assert_eq!(cred.username, user);
        assert!(cloud.redis.can_login(user, &cred.password).await);
        for c in &consumers {
            assert_eq!(c.username().await, user);
        }
        assert!(!format!("{done:?}").contains(cred.password.expose()), "a password leaked into the rotation record");
    }
    after_requests(&consumers, 60).await;
    let (requests, failures) = traffic.finish(&consumers).await;
    eprintln!("live traffic: {requests} requests, {failures} failed");
    assert!(requests >= 180, "too little traffic: {requests}");
    assert_eq!(failures, 0, "{failures} of {requests} requests failed");
    assert!(!cloud.redis.can_login("app-a", &old_a).await, "the first password of app-a must be retired");
    let log = cloud.twin.requests();
    assert!(log.iter().filter(|l| l.starts_with("PUT /acl/users/")).count() >= 4, "{log:#?}");
    assert!(log.iter().any(|l| l.starts_with("GET /tasks/")), "{log:#?}");
}

#[tokio::test]
async fn processing_errors_stall_the_rotation_with_the_error_as_object_or_string() {
    let cloud = Cloud::start().await;
    let provider = cloud.provider();
    cloud.twin.fail_next_task(json!({"type": "ACL_USER_PASSWORD_NOT_VALID", "status": "400 BAD_REQUEST",
        "description": "ACL user password is not valid."}));
    let err = regenerate_to_end(&provider, Slot::Secondary).await.unwrap_err().to_string();
    assert!(err.contains("ACL_USER_PASSWORD_NOT_VALID (400 BAD_REQUEST): ACL user password is not valid."), "{err}");
    cloud.twin.fail_next_task(json!("UNAUTHORIZED"));
    let err = regenerate_to_end(&provider, Slot::Secondary).await.unwrap_err().to_string();
    assert!(err.ends_with("failed: UNAUTHORIZED"), "{err}");

    // Through the whole protocol: the rotation stalls, nobody was asked to reload, the key in
    // use still works.
    cloud.twin.fail_next_task(json!({"type": "ACL_USER_NOT_FOUND", "status": "404 NOT_FOUND", "description": "ACL user not found"}));
    let harness = Harness::new(cloud.secrets.clone(), Arc::new(cloud.provider()));
    let consumers = vec![LiveConsumer::new("web", cloud.redis.endpoint(), &cloud.initial)];
    let rotation = harness.start(plan("app-redis", "rediscloud-alternating", &kv("app-redis"), &[("web", 1)])).await;
    let stalled = harness.run(&rotation, &consumers).await;
    assert!(stall_reason(&stalled).contains("ACL_USER_NOT_FOUND"), "{}", stall_reason(&stalled));
    assert!(consumers[0].request().await);
    // A task unknown for longer than the SDK's 5 tolerated 404s is a failure, not a hang.
    cloud.twin.task_404s(6);
    let err = regenerate_to_end(&provider, Slot::Secondary).await.unwrap_err().to_string();
    assert!(err.contains("still unknown after 6 polls"), "{err}");
}

#[tokio::test]
async fn a_database_with_the_default_user_enabled_is_refused() {
    let cloud = Cloud::start().await;
    cloud.twin.set_enable_default_user(true);
    let provider = cloud.provider();
    for err in [provider.key_auth().await.unwrap_err(), provider.regenerate(Slot::Secondary, false).await.unwrap_err()] {
        let text = err.to_string();
        assert!(text.contains("enableDefaultUser: true") && text.contains("\"enableDefaultUser\": false"), "{text}");
        assert!(matches!(err, ProviderError::Failed { transient: false, .. }));
    }
    assert!(!cloud.twin.requests().iter().any(|l| l.starts_with("PUT")), "nothing may change");
}

#[tokio::test]
async fn unauthorized_and_forbidden_are_explained_without_leaking_keys() {
    let cloud = Cloud::start().await;
    let client = cloud.client();
    let explain = |e: String, status: &str| {
        assert!(e.contains(status), "{e}");
        for cause in ["CIDR allow list", "not enabled for the account", "Owner role"] {
            assert!(e.contains(cause), "missing {cause:?} in {e}");
        }
        assert!(!e.contains(cloud.keys.user_key.expose()) && !e.contains(cloud.keys.account_key.expose()), "{e}");
    };
    // A key whose CIDR allow list does not include the caller.
    let outside = cloud.twin.add_user_key("outside-cidr-key", true, false);
    explain(client.with_keys(outside).get("/acl/users").await.unwrap_err().to_string(), "403");
    // A key of a user without the Owner role: reads work, changes are forbidden.
    let viewer = client.with_keys(cloud.twin.add_user_key("viewer-role-key", false, true));
    assert!(viewer.get("/acl/users").await.is_ok());
    explain(viewer.put("/acl/users/20000", &json!({"password": "Aa1-aaaaaaaa"})).await.unwrap_err().to_string(), "403");
    // The API switched off for the account.
    cloud.twin.set_api_enabled(false);
    explain(client.get("/acl/users").await.unwrap_err().to_string(), "401");
    cloud.twin.set_api_enabled(true);
    // 429 beyond the retry budget goes to the core as Throttled.
    cloud.twin.throttle_next(10);
    assert!(matches!(cloud.provider().key_auth().await, Err(ProviderError::Throttled { .. })));
}

/// A consumer of the API keys: its health check is a real API call with the new keys.
struct ApiConsumer {
    id: ConsumerId,
    client: CloudClient,
}

#[async_trait::async_trait]
impl Reloads for ApiConsumer {
    fn id(&self) -> &ConsumerId {
        &self.id
    }

    async fn reload(&self, value: &SecretValue) -> bool {
        match ApiKeys::parse(value) {
            Ok(keys) => self.client.with_keys(keys).get("/acl/users").await.is_ok(),
            Err(_) => false,
        }
    }
}

#[tokio::test]
async fn api_user_key_rotation_is_assisted_and_stalls_until_the_operator_confirms() {
    let cloud = Cloud::start().await;
    let old = cloud.twin.add_user_key("keyrelay-key-0001", true, true);
    let now = chrono::Utc::now();
    cloud.secrets.seed(&kv("rediscloud-api"), old.to_secret(), Some(Slot::Primary), now);
    let config = ApiKeyRotationConfig { secret: kv("rediscloud-api"), incoming: ApiKeyRotationConfig::default_incoming(&kv("rediscloud-api")) };
    let provider = ApiKeyRotation::new(cloud.client(), config, cloud.secrets.clone());
    let harness = Harness::new(cloud.secrets.clone(), Arc::new(provider));
    let consumers: Vec<_> = ["billing", "reports"]
        .iter()
        .map(|id| Arc::new(ApiConsumer { id: ConsumerId::parse(id).unwrap(), client: cloud.client() }))
        .collect();
    let rotation = harness.start(plan("rediscloud-api", "rediscloud-api-key", &kv("rediscloud-api"), &[("billing", 1), ("reports", 2)])).await;
    let operator = |who: &str| who.to_string();

    // 1. Nothing staged yet: the rotation waits for the operator and says what to do.
    let r = harness.run(&rotation, &consumers).await;
    let reason = stall_reason(&r);
    assert!(reason.starts_with("regenerate-standby failed") && reason.contains("create a new API user key"), "{reason}");

    // 2. The operator stages a key under a name the console would refuse: explained.
    let bad = cloud.twin.add_user_key("new key 2", true, true);
    cloud.secrets.seed(&kv("rediscloud-api-incoming"), bad.to_secret(), None, chrono::Utc::now());
    harness.operator(&r, OperatorCommand::Retry { operator: operator("ops-anna") }).await;
    let r = harness.run(&rotation, &consumers).await;
    let reason = stall_reason(&r);
    assert!(reason.contains("must have 10 to 50") || reason.contains("contains a space"), "{reason}");

    // 3. A proper new key: published, both waves reload and ack, then retire stalls: only the
    //    console can delete the old key.
    cloud.twin.delete_user_key("new key 2");
    let new = cloud.twin.add_user_key("keyrelay-key-0002", true, true);
    cloud.secrets.seed(&kv("rediscloud-api-incoming"), new.to_secret(), None, chrono::Utc::now());
    harness.operator(&r, OperatorCommand::Retry { operator: operator("ops-anna") }).await;
    let r = harness.run(&rotation, &consumers).await;
    let reason = stall_reason(&r);
    assert!(reason.starts_with("retire failed") && reason.contains("must now be deleted in the Redis Cloud console"), "{reason}");
    assert!(r.consumers.values().all(|c| matches!(c.ack, keyrelay::core::AckState::Healthy { .. })), "{:#?}", r.consumers);
    let (current, value) = cloud.secrets.current_value(&kv("rediscloud-api")).unwrap();
    assert_eq!(current.slot, Some(Slot::Secondary));
    assert_eq!(ApiKeys::parse(&value).unwrap().user_key_name.as_deref(), Some("keyrelay-key-0002"));

    // 4. The operator deletes the old key in the console and confirms: completed, attributed.
    cloud.twin.delete_user_key("keyrelay-key-0001");
    harness
        .operator(&r, OperatorCommand::Force { operator: operator("ops-anna"), reason: "deleted keyrelay-key-0001 in the console".into() })
        .await;
    let done = harness.run(&rotation, &consumers).await;
    assert_eq!(done.phase, Phase::Completed, "{:#?}", done.timeline);
    let evidence = keyrelay::evidence::render_markdown(&done);
    assert!(evidence.contains("deleted keyrelay-key-0001 in the console") && evidence.contains("ops-anna"), "{evidence}");
    assert!(evidence.contains("must now be deleted in the Redis Cloud console"), "{evidence}");
    assert_eq!(cloud.twin.user_key_names(), vec!["keyrelay-automation".to_string(), "keyrelay-key-0002".into()]);
    assert!(!evidence.contains(new.user_key.expose()) && !evidence.contains(old.user_key.expose()));
}
