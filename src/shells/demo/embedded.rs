use super::timeline::print_new_entries;
use crate::adapters::memory::{MemoryBus, MemoryProvider, MemorySecrets, MemoryStore};
use crate::core::{OperatorCommand, Event, Phase, Plan, PlannedConsumer, Rotation, Timing, Trigger};
use crate::domain::{ConsumerId, CredentialName, HumanDuration, SecretValue, Slot, Wave};
use crate::driver::{Driver, OsEntropy, SingleProvider, Started};
use crate::ports::{RotationStore, SecretRef, SecretStore, SystemClock};
use crate::protocol::Ack;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub consumers: usize,
    pub waves: usize,
    /// A consumer that refuses to move to the new key: the rotation stalls, then the demo
    /// rolls it back.
    pub refuse_reload: bool,
    pub evidence_dir: PathBuf,
}

#[derive(Debug, Clone)]
pub struct DemoSummary {
    pub rotation: Rotation,
    pub requests: u64,
    pub failed_requests: u64,
    pub evidence_json: PathBuf,
    pub evidence_markdown: PathBuf,
}


/// One consumer: holds a key and keeps using it; reloads when its step arrives.
struct Consumer {
    id: ConsumerId,
    key: Mutex<SecretValue>,
    refuses: bool,
}

/// Runs the embedded demo and prints its timeline to `out`.
pub async fn run_embedded(opts: &DemoOptions, out: &mut (impl Write + Send)) -> anyhow::Result<DemoSummary> {
    anyhow::ensure!(opts.consumers >= 1, "--consumers must be at least 1");
    anyhow::ensure!(opts.waves >= 1 && opts.waves <= opts.consumers, "--waves must be between 1 and the number of consumers");
    let secret = SecretRef { vault: "demo-kv.vault.azure.net".into(), name: "orders-cache-key".into() };
    let provider = Arc::new(MemoryProvider::new("demo-cache"));
    let secrets = Arc::new(MemorySecrets::new());
    let bus = Arc::new(MemoryBus::new());
    let store = Arc::new(MemoryStore::new());
    let driver = Arc::new(Driver {
        store: store.clone(),
        secrets: secrets.clone(),
        steps: bus.clone(),
        providers: Arc::new(SingleProvider(provider.clone())),
        clock: Arc::new(SystemClock),
        entropy: Arc::new(OsEntropy),
    });
    let now = chrono::Utc::now();
    secrets.seed(&secret, provider.value(Slot::Primary), Some(Slot::Primary), now);

    let planned: Vec<PlannedConsumer> = (0..opts.consumers)
        .map(|i| PlannedConsumer {
            id: ConsumerId::parse(&format!("app-{}", i + 1)).expect("valid id"),
            wave: Wave::parse((i * opts.waves / opts.consumers) as u32 + 1).expect("valid wave"),
            ack_deadline: HumanDuration::from_secs(3),
        })
        .collect();
    let timing = Timing { resend_every: HumanDuration::from_secs(1), ..Timing::default() };
    let plan = Plan {
        credential: CredentialName::parse("orders-cache").expect("valid"),
        provider: "in-memory".into(),
        resource_id: "/embedded/demo-cache".into(),
        secret: secret.clone(),
        content_type: "text/plain".into(),
        validity: HumanDuration::parse("60d").expect("valid"),
        consumers: planned.clone(),
        soak: HumanDuration::ZERO,
        usage_guard: false,
        initial_active_slot: None,
        timing,
    };
    let consumers: Vec<Arc<Consumer>> = planned
        .iter()
        .enumerate()
        .map(|(i, c)| {
            Arc::new(Consumer {
                id: c.id.clone(),
                key: Mutex::new(provider.value(Slot::Primary)),
                refuses: opts.refuse_reload && i + 1 == planned.len(),
            })
        })
        .collect();

    let _ = writeln!(out, "keyrelay demo (embedded: in-memory provider, secret store and bus)");
    let _ = writeln!(out, "  {} consumers in {} waves; Key Vault secret {}/{}", opts.consumers, opts.waves, secret.vault, secret.name);

    // Consumers issue requests continuously with the key they hold.
    let requests = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut workers = Vec::new();
    for c in &consumers {
        let (c, provider, requests, failures, stop) = (c.clone(), provider.clone(), requests.clone(), failures.clone(), stop.clone());
        workers.push(tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let key = c.key.lock().unwrap().clone();
                requests.fetch_add(1, Ordering::SeqCst);
                if Slot::BOTH.iter().all(|s| provider.value(*s) != key) {
                    failures.fetch_add(1, Ordering::SeqCst);
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }));
    }

    let _ = writeln!(out, "  Key Vault publishes SecretNearExpiry for the current version; keyrelay starts:");
    let trigger = Trigger::KeyVaultEvent { event_type: "Microsoft.KeyVault.SecretNearExpiry".into(), version: "v0001".into() };
    let started = driver.start(plan, trigger).await?;
    let Started::New(rotation) = started else { anyhow::bail!("a rotation was already in flight") };
    let id = rotation.id.clone();
    let t0 = rotation.started_at;
    let mut printed = 0;
    let mut rolled_back = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        // Deliver steps: each consumer fetches exactly the named version, checks it works,
        // switches to it and acks with its proof of possession.
        for step in bus.drain() {
            let Some(c) = consumers.iter().find(|c| c.id == step.consumer) else { continue };
            // The refusing consumer will not move to the new slot, but does answer the
            // rollback step (which names the old slot it still holds).
            if c.refuses && step.slot != Slot::Primary {
                continue;
            }
            let value = secrets.read(&step.secret_id).await?;
            *c.key.lock().unwrap() = value.clone();
            let ack = Ack::answering(&step, &value, true, "requests succeed with the new key", Some(chrono::Utc::now()));
            tokio::time::sleep(Duration::from_millis(50)).await;
            driver.ack(ack).await?;
        }
        driver.sweep().await?;
        let current = store.load(&id).await?.map(|s| s.rotation).ok_or_else(|| anyhow::anyhow!("rotation vanished"))?;
        printed = print_new_entries(&current, printed, t0, out);
        if current.is_finished() {
            break;
        }
        if current.is_stalled() && !rolled_back {
            rolled_back = true;
            let _ = writeln!(out, "  the operator rolls the stalled rotation back:");
            let cmd = OperatorCommand::Rollback { operator: "demo-operator".into(), reason: "a consumer did not reload".into() };
            driver.handle(&id, Event::Operator(cmd)).await?;
            continue;
        }
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "the rotation did not finish within 60 s (phase {})", current.phase.name());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, Ordering::SeqCst);
    for w in workers {
        let _ = w.await;
    }
    let rotation = store.load(&id).await?.expect("present").rotation;
    let (evidence_json, evidence_markdown) = super::write_evidence(&rotation, &opts.evidence_dir)?;
    Ok(DemoSummary {
        rotation,
        requests: requests.load(Ordering::SeqCst),
        failed_requests: failures.load(Ordering::SeqCst),
        evidence_json,
        evidence_markdown,
    })
}

/// True when the demo's promise held: the rotation ended as expected and no request failed.
pub fn succeeded(summary: &DemoSummary, expect_rollback: bool) -> bool {
    let expected = if expect_rollback { Phase::RolledBack } else { Phase::Completed };
    summary.failed_requests == 0 && summary.rotation.phase == expected
}
