//! The driver runs a whole rotation against the in-memory ports: claim, guard, regenerate,
//! publish, two waves of acks with valid proofs, retire.

use chrono::{DateTime, Utc};
use keyrelay::adapters::memory::{MemoryBus, MemoryProvider, MemorySecrets, MemoryStore};
use keyrelay::core::{Phase, Plan, PlannedConsumer, Timing, Trigger};
use keyrelay::domain::{ConsumerId, CredentialName, HumanDuration, Slot, Wave};
use keyrelay::driver::{Driver, Entropy, SingleProvider, Started};
use keyrelay::ports::{Clock, SecretRef, SecretStore};
use keyrelay::protocol::Ack;
use std::sync::{Arc, Mutex};

struct FixedClock(Mutex<DateTime<Utc>>);
impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}
struct Counter(Mutex<u64>);
impl Entropy for Counter {
    fn hex(&self, bytes: usize) -> String {
        let mut n = self.0.lock().unwrap();
        *n += 1;
        format!("{:0width$x}", *n, width = bytes * 2)
    }
}

#[tokio::test]
async fn a_full_rotation_retires_the_old_key_only_after_every_ack() {
    let secret = SecretRef { vault: "kv.vault.azure.net".into(), name: "cache-key".into() };
    let provider = Arc::new(MemoryProvider::new("cache"));
    let secrets = Arc::new(MemorySecrets::new());
    let bus = Arc::new(MemoryBus::new());
    let clock = Arc::new(FixedClock(Mutex::new("2026-01-01T00:00:00Z".parse().unwrap())));
    secrets.seed(&secret, provider.value(Slot::Primary), Some(Slot::Primary), clock.now());
    let driver = Driver {
        store: Arc::new(MemoryStore::new()),
        secrets: secrets.clone(),
        steps: bus.clone(),
        providers: Arc::new(SingleProvider(provider.clone())),
        clock: clock.clone(),
        entropy: Arc::new(Counter(Mutex::new(0))),
    };
    let consumer = |id: &str, wave: u32| PlannedConsumer {
        id: ConsumerId::parse(id).unwrap(),
        wave: Wave::parse(wave).unwrap(),
        ack_deadline: HumanDuration::parse("10m").unwrap(),
    };
    let plan = Plan {
        credential: CredentialName::parse("cache").unwrap(),
        provider: "memory".into(),
        resource_id: "/memory/cache".into(),
        secret: secret.clone(),
        content_type: "text/plain".into(),
        validity: HumanDuration::parse("60d").unwrap(),
        consumers: vec![consumer("canary", 1), consumer("web", 2), consumer("api", 2)],
        soak: HumanDuration::ZERO,
        usage_guard: false,
        initial_active_slot: None,
        timing: Timing::default(),
    };
    let Started::New(rotation) = driver.start(plan.clone(), Trigger::Schedule).await.unwrap() else { panic!("joined") };
    assert_eq!(rotation.phase, Phase::Reload { wave: Wave::parse(1).unwrap() });
    assert_eq!(provider.regenerations(), vec![Slot::Secondary]);
    // A second trigger joins the rotation in flight.
    assert!(matches!(driver.start(plan, Trigger::Schedule).await.unwrap(), Started::Joined(_)));

    let mut acked = 0;
    while acked < 3 {
        for step in bus.drain() {
            let key = secrets.read(&step.secret_id).await.unwrap();
            assert_eq!(provider.regenerations(), vec![Slot::Secondary], "old key retired before every ack");
            let ack = Ack::answering(&step, &key, true, "ok", None);
            driver.ack(ack).await.unwrap();
            acked += 1;
        }
    }
    let done = driver.store.load(&rotation.id).await.unwrap().unwrap().rotation;
    assert_eq!(done.phase, Phase::Completed, "{:#?}", done.timeline);
    assert_eq!(provider.regenerations(), vec![Slot::Secondary, Slot::Primary]);
    let (current, value) = secrets.current_value(&secret).unwrap();
    assert_eq!(current.slot, Some(Slot::Secondary));
    assert_eq!(value, provider.value(Slot::Secondary));
}

#[tokio::test]
async fn dry_run_names_the_slot_and_waves_and_changes_nothing() {
    let secret = SecretRef { vault: "kv.vault.azure.net".into(), name: "k".into() };
    let provider = Arc::new(MemoryProvider::new("dry"));
    let secrets = Arc::new(MemorySecrets::new());
    let clock = Arc::new(FixedClock(Mutex::new("2026-01-01T00:00:00Z".parse().unwrap())));
    secrets.seed(&secret, provider.value(Slot::Secondary), None, clock.now());
    let store = Arc::new(MemoryStore::new());
    let driver = Driver {
        store: store.clone(),
        secrets,
        steps: Arc::new(MemoryBus::new()),
        providers: Arc::new(SingleProvider(provider.clone())),
        clock,
        entropy: Arc::new(Counter(Mutex::new(0))),
    };
    let plan = Plan {
        credential: CredentialName::parse("dry").unwrap(),
        provider: "memory".into(),
        resource_id: "/memory/dry".into(),
        secret,
        content_type: "text/plain".into(),
        validity: HumanDuration::parse("60d").unwrap(),
        consumers: vec![
            PlannedConsumer { id: ConsumerId::parse("b").unwrap(), wave: Wave::parse(2).unwrap(), ack_deadline: HumanDuration::parse("5m").unwrap() },
            PlannedConsumer { id: ConsumerId::parse("a").unwrap(), wave: Wave::parse(1).unwrap(), ack_deadline: HumanDuration::parse("5m").unwrap() },
        ],
        soak: HumanDuration::ZERO,
        usage_guard: false,
        initial_active_slot: None,
        timing: Timing::default(),
    };
    let dry = driver.dry_run(&plan).await.unwrap();
    // No slot tag: the value decides — the secret holds the secondary key.
    assert_eq!(dry.active_slot, Some(Slot::Secondary));
    assert_eq!(dry.regenerate_slot, Some(Slot::Primary));
    assert_eq!(dry.blocked_by, None);
    assert_eq!(dry.waves.iter().map(|w| w.consumers[0].id.as_str()).collect::<Vec<_>>(), vec!["a", "b"]);
    assert!(provider.regenerations().is_empty());
    assert!(driver.store.in_flight(&plan.credential).await.unwrap().is_none());
}
