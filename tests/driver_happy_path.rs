//! The driver runs a whole rotation against the in-memory ports: claim, guard, regenerate,
//! publish, two waves of acks with valid proofs, retire.

#[path = "support/doubles.rs"]
mod doubles;
#[path = "support/plan.rs"]
mod support_plan;

use doubles::{Counter, TestClock};
use keyrelay::adapters::memory::{MemoryBus, MemoryProvider, MemorySecrets, MemoryStore};
use keyrelay::core::{Phase, Plan, Trigger};
use keyrelay::domain::{Slot, Wave};
use keyrelay::driver::{Driver, SingleProvider, Started};
use keyrelay::ports::{Clock, SecretRef, SecretStore};
use keyrelay::protocol::Ack;
use std::sync::Arc;
use support_plan::plan;

#[tokio::test]
async fn a_full_rotation_retires_the_old_key_only_after_every_ack() {
    let secret = SecretRef { vault: "kv.vault.azure.net".into(), name: "cache-key".into() };
    let provider = Arc::new(MemoryProvider::new("cache"));
    let secrets = Arc::new(MemorySecrets::new());
    let bus = Arc::new(MemoryBus::new());
    let clock = Arc::new(TestClock::at("2026-01-01T00:00:00Z"));
    secrets.seed(&secret, provider.value(Slot::Primary), Some(Slot::Primary), clock.now());
    let driver = Driver {
        store: Arc::new(MemoryStore::new()),
        secrets: secrets.clone(),
        steps: bus.clone(),
        providers: Arc::new(SingleProvider(provider.clone())),
        clock: clock.clone(),
        entropy: Arc::new(Counter::default()),
    };
    let plan = Plan { secret: secret.clone(), ..plan("cache", &[("canary", 1), ("web", 2), ("api", 2)]) };
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
    // Key Vault's near-expiry event is what starts the next rotation: the published version
    // expires one validity period (60 days in this plan) after it was published.
    assert_eq!(current.expires, Some(clock.now() + chrono::Duration::days(60)));
    assert_eq!(value, provider.value(Slot::Secondary));
}

#[tokio::test]
async fn dry_run_names_the_slot_and_waves_and_changes_nothing() {
    let secret = SecretRef { vault: "kv.vault.azure.net".into(), name: "k".into() };
    let provider = Arc::new(MemoryProvider::new("dry"));
    let secrets = Arc::new(MemorySecrets::new());
    let clock = Arc::new(TestClock::at("2026-01-01T00:00:00Z"));
    secrets.seed(&secret, provider.value(Slot::Secondary), None, clock.now());
    let store = Arc::new(MemoryStore::new());
    let driver = Driver {
        store: store.clone(),
        secrets,
        steps: Arc::new(MemoryBus::new()),
        providers: Arc::new(SingleProvider(provider.clone())),
        clock,
        entropy: Arc::new(Counter::default()),
    };
    let plan = Plan { secret, ..plan("dry", &[("b", 2), ("a", 1)]) };
    let dry = driver.dry_run(&plan).await.unwrap();
    // No slot tag: the value decides — the secret holds the secondary key.
    assert_eq!(dry.active_slot, Some(Slot::Secondary));
    assert_eq!(dry.regenerate_slot, Some(Slot::Primary));
    assert_eq!(dry.blocked_by, None);
    assert_eq!(dry.waves.iter().map(|w| w.consumers[0].id.as_str()).collect::<Vec<_>>(), vec!["a", "b"]);
    assert!(provider.regenerations().is_empty());
    assert!(driver.store.in_flight(&plan.credential).await.unwrap().is_none());
}
