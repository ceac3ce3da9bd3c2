//! Test support for the ARM providers: one managed-identity endpoint for the whole test
//! process (azure_identity reads `IDENTITY_ENDPOINT`/`IDENTITY_HEADER` from the environment,
//! which is process-wide), and per-test ARM twins reached through the production client.

#![allow(dead_code)]

use keyrelay::adapters::azure::arm::{ArmClient, LroOptions, RetryPolicy};
use keyrelay::adapters::azure::http::HttpOptions;
use keyrelay::adapters::azure::identity::IdentitySettings;
use keyrelay::adapters::azure::providers::{ArmKeyProvider, KeyField, ResourceKind};
use keyrelay::domain::Slot;
use keyrelay::twin::{ArmTwin, IdentityTwin, TestCa};
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// The process-wide identity endpoint, on its own runtime thread so it outlives every test.
pub struct SharedIdentity {
    pub twin: IdentityTwin,
}

pub fn identity() -> &'static SharedIdentity {
    static IDENTITY: OnceLock<SharedIdentity> = OnceLock::new();
    IDENTITY.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Runtime::new().expect("runtime");
            runtime.block_on(async move {
                let twin = IdentityTwin::start().await.expect("identity twin");
                // SAFETY of set_var: done once, before any credential is built, under OnceLock.
                std::env::set_var("IDENTITY_ENDPOINT", twin.endpoint());
                std::env::set_var("IDENTITY_HEADER", &twin.header);
                tx.send(SharedIdentity { twin }).expect("send");
                std::future::pending::<()>().await;
            });
        });
        rx.recv().expect("identity twin started")
    })
}

/// An ARM twin plus a production client configured to reach it.
pub struct ArmHarness {
    pub ca: TestCa,
    pub twin: ArmTwin,
    pub client: Arc<ArmClient>,
}

/// Fast retry and polling settings so the tests do not sleep for long.
pub fn fast(client: &mut ArmClient) {
    client.retry = RetryPolicy { max_attempts: 4, base_delay: Duration::from_millis(20), max_delay: Duration::from_secs(5) };
    client.lro = LroOptions { timeout: Duration::from_secs(20), default_poll: Duration::from_millis(100), max_poll: Duration::from_secs(2) };
}

impl ArmHarness {
    pub async fn start() -> ArmHarness {
        identity();
        let ca = TestCa::generate().expect("ca");
        let twin = ArmTwin::start(&ca).await.expect("arm twin");
        let client = Arc::new(Self::client_for(&ca, &twin, &[], |_| {}));
        ArmHarness { ca, twin, client }
    }

    /// A client built the production way: settings → credential → ArmClient.
    pub fn client_for(ca: &TestCa, twin: &ArmTwin, extra: &[(&str, &str)], tweak: impl FnOnce(&mut ArmClient)) -> ArmClient {
        let mut env: HashMap<String, String> = extra.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        env.insert("KEYRELAY_CREDENTIAL".to_string(), "managed-identity".to_string());
        env.insert("KEYRELAY_ARM_ENDPOINT".to_string(), twin.endpoint());
        let settings = IdentitySettings::from_lookup(|k| env.get(k).cloned()).expect("settings");
        let http = HttpOptions { extra_roots_pem: vec![ca.ca_pem.clone()], resolve: vec![twin.resolve()], ..HttpOptions::default() };
        let mut client = ArmClient::from_settings(&settings, &http).expect("client");
        fast(&mut client);
        tweak(&mut client);
        client
    }

    pub async fn provider(&self, kind: &str) -> ArmKeyProvider {
        let id = sample_id(kind);
        self.twin.add_resource(id).await.expect("resource");
        ArmKeyProvider::new(kind, id, self.client.clone()).expect("provider")
    }
}

/// A resource id of the right type for each kind.
pub fn sample_id(kind: &str) -> &'static str {
    match kind {
        "redis" => "/subscriptions/sub1/resourceGroups/rg1/providers/Microsoft.Cache/redis/cache1",
        "redis-enterprise" => "/subscriptions/sub1/resourceGroups/rg1/providers/Microsoft.Cache/redisEnterprise/cluster1/databases/default",
        "storage" => "/subscriptions/sub1/resourceGroups/rg1/providers/Microsoft.Storage/storageAccounts/acct1",
        "cosmos" | "cosmos-readonly" => "/subscriptions/sub1/resourceGroups/rg1/providers/Microsoft.DocumentDB/databaseAccounts/ddb1",
        "servicebus-rule" => "/subscriptions/sub1/resourceGroups/rg1/providers/Microsoft.ServiceBus/namespaces/ns1/queues/q1/authorizationRules/send",
        "eventhubs-rule" => "/subscriptions/sub1/resourceGroups/rg1/providers/Microsoft.EventHub/namespaces/eh1/authorizationRules/RootManageSharedAccessKey",
        "cognitive-services" => "/subscriptions/sub1/resourceGroups/rg1/providers/Microsoft.CognitiveServices/accounts/ai1",
        "search-admin" => "/subscriptions/sub1/resourceGroups/rg1/providers/Microsoft.Search/searchServices/search1",
        "signalr" => "/subscriptions/sub1/resourceGroups/rg1/providers/Microsoft.SignalRService/signalR/sr1",
        "webpubsub" => "/subscriptions/sub1/resourceGroups/rg1/providers/Microsoft.SignalRService/webPubSub/wps1",
        "maps" => "/subscriptions/sub1/resourceGroups/rg1/providers/Microsoft.Maps/accounts/maps1",
        other => panic!("no sample id for kind {other}"),
    }
}

/// The list-response name of a kind's slot, which is how the twin names its keys.
pub fn key_name(kind: &ResourceKind, slot: Slot) -> String {
    match kind.slot(slot).field {
        KeyField::Pointer(p) => p.trim_start_matches('/').to_string(),
        KeyField::StorageKeyName(n) => n.to_string(),
    }
}
