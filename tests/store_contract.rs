//! One contract, three rotation stores: the in-memory store (the simulator's), SQLite (the
//! embedded default) and Blob Storage against Azurite (the cloud store). Each property is a
//! generic async function over a `Backend` that can open the store again, as a restarted
//! keyrelay would.

mod support;

use chrono::{DateTime, Duration, Utc};
use futures::future::join_all;
use keyrelay::adapters::azure::blob_store::{BlobAuth, BlobStore};
use keyrelay::adapters::memory::MemoryStore;
use keyrelay::adapters::sqlite_store::SqliteStore;
use keyrelay::core::{start, Phase, Rotation, Trigger};
use keyrelay::domain::{ConsumerId, CredentialName, RotationId, SecretValue, SecretVersion};
use keyrelay::ports::{HeartbeatRecord, RotationFilter, RotationStore, StoreError, Version};
use std::path::PathBuf;
use std::sync::Arc;
use support::azurite::{Azurite, EmulatorToken};

/// A store under test, and how to reach the same data from a fresh client or process.
#[async_trait::async_trait]
trait Backend: Sync {
    fn name(&self) -> &'static str;
    /// A new handle on the same data (SQLite: reopen the file; Blob: a new client).
    async fn open(&self) -> Arc<dyn RotationStore>;
    /// Whether data outlives `open` handles (the memory store does not).
    fn durable(&self) -> bool;
}

struct Memory(Arc<MemoryStore>);
struct Sqlite(PathBuf);
struct Blob<'a> {
    azurite: &'a Azurite,
    container: String,
    /// Authenticate with bearer tokens from this credential instead of the account key.
    identity: Option<Arc<EmulatorToken>>,
}

#[async_trait::async_trait]
impl Backend for Memory {
    fn name(&self) -> &'static str {
        "memory"
    }
    async fn open(&self) -> Arc<dyn RotationStore> {
        self.0.clone()
    }
    fn durable(&self) -> bool {
        false
    }
}

#[async_trait::async_trait]
impl Backend for Sqlite {
    fn name(&self) -> &'static str {
        "sqlite"
    }
    async fn open(&self) -> Arc<dyn RotationStore> {
        Arc::new(SqliteStore::open(&self.0).expect("open sqlite store"))
    }
    fn durable(&self) -> bool {
        true
    }
}

#[async_trait::async_trait]
impl Backend for Blob<'_> {
    fn name(&self) -> &'static str {
        "blob"
    }
    async fn open(&self) -> Arc<dyn RotationStore> {
        let store: BlobStore = match &self.identity {
            Some(token) => self.azurite.store_with_identity(&self.container, token.clone()),
            None => self.azurite.store(&self.container),
        };
        store.ensure_container().await.expect("container");
        Arc::new(store)
    }
    fn durable(&self) -> bool {
        true
    }
}

fn t0() -> DateTime<Utc> {
    "2026-03-01T08:00:00Z".parse().unwrap()
}


/// A freshly claimed rotation, started `minutes` after t0.
fn rotation(id: &str, credential: &str, minutes: i64) -> Rotation {
    let now = t0() + Duration::minutes(minutes);
    start(RotationId::parse(id).unwrap(), support::plan::plan(credential, &[("web", 1)]), Trigger::Schedule, format!("seed-{id}"), now).rotation
}

fn finished(mut r: Rotation) -> Rotation {
    r.phase = Phase::Completed;
    r.finished_at = Some(r.started_at + Duration::minutes(30));
    r
}

fn cred(name: &str) -> CredentialName {
    CredentialName::parse(name).unwrap()
}

async fn conditional_create_conflicts(b: &dyn Backend) {
    let store = b.open().await;
    let n = b.name();
    let a = rotation("cache-1", "cache", 0);
    store.create(&a).await.unwrap();
    assert_eq!(store.create(&a).await.unwrap_err(), StoreError::Exists(a.id.clone()), "{n}: same id twice");
    let second = rotation("cache-2", "cache", 1);
    assert_eq!(
        store.create(&second).await.unwrap_err(),
        StoreError::InFlight { credential: cred("cache"), existing: a.id.clone() },
        "{n}: a second rotation of a busy credential"
    );
    assert_eq!(
        store.create(&second).await.unwrap_err(),
        StoreError::InFlight { credential: cred("cache"), existing: a.id.clone() },
        "{n}: refused again, not 'exists'"
    );
    store.create(&rotation("queue-1", "queue", 0)).await.unwrap();
    assert_eq!(store.in_flight(&cred("cache")).await.unwrap().unwrap().rotation.id, a.id, "{n}");
}

async fn stale_writes_are_rejected(b: &dyn Backend) {
    let store = b.open().await;
    let n = b.name();
    let mut r = rotation("stale-1", "stale", 0);
    let v1 = store.create(&r).await.unwrap();
    let loaded = store.load(&r.id).await.unwrap().unwrap();
    assert_eq!(loaded.version, v1, "{n}: load returns the created version");
    assert_eq!(loaded.rotation, r, "{n}: load returns what was written");

    r.phase = Phase::RegenerateStandby;
    let v2 = store.update(&r, &v1).await.unwrap();
    assert_ne!(v2, v1, "{n}: an update issues a new version");
    r.phase = Phase::Publish;
    assert_eq!(store.update(&r, &v1).await.unwrap_err(), StoreError::Stale(r.id.clone()), "{n}: write with the old version");
    assert_eq!(
        store.update(&r, &Version("no-such-version".into())).await.unwrap_err(),
        StoreError::Stale(r.id.clone()),
        "{n}: a version never issued"
    );
    let after = store.load(&r.id).await.unwrap().unwrap();
    assert_eq!((after.rotation.phase, after.version.clone()), (Phase::RegenerateStandby, v2.clone()), "{n}: the stale write changed nothing");
    let v3 = store.update(&r, &v2).await.unwrap();
    assert_eq!(store.load(&r.id).await.unwrap().unwrap().version, v3, "{n}");

    let ghost = rotation("ghost-1", "ghost", 0);
    assert_eq!(store.update(&ghost, &v1).await.unwrap_err(), StoreError::NotFound(ghost.id.clone()), "{n}");
    assert!(store.load(&ghost.id).await.unwrap().is_none(), "{n}");
}

async fn concurrent_writers_exactly_one_wins(b: &dyn Backend) {
    let n = b.name();
    // Several instances claim the same credential at once.
    let stores: Vec<Arc<dyn RotationStore>> = join_all((0..4).map(|_| b.open())).await;
    let claims = join_all(stores.iter().enumerate().map(|(i, s)| {
        let r = rotation(&format!("race-{i}"), "race", i as i64);
        async move { s.create(&r).await }
    }))
    .await;
    let won: Vec<usize> = claims.iter().enumerate().filter(|(_, c)| c.is_ok()).map(|(i, _)| i).collect();
    assert_eq!(won.len(), 1, "{n}: claims {claims:?}");
    for c in claims.iter().filter(|c| c.is_err()) {
        assert!(matches!(c, Err(StoreError::InFlight { .. })), "{n}: {c:?}");
    }
    // Several instances advance the same record from the same version.
    let winner = format!("race-{}", won[0]);
    let loaded = stores[0].load(&RotationId::parse(&winner).unwrap()).await.unwrap().unwrap();
    let updates = join_all(stores.iter().enumerate().map(|(i, s)| {
        let mut r = loaded.rotation.clone();
        r.transient_failures = i as u32 + 1;
        let v = loaded.version.clone();
        async move { (i, s.update(&r, &v).await) }
    }))
    .await;
    let ok: Vec<usize> = updates.iter().filter(|(_, u)| u.is_ok()).map(|(i, _)| *i).collect();
    assert_eq!(ok.len(), 1, "{n}: updates {updates:?}");
    for (_, u) in updates.iter().filter(|(_, u)| u.is_err()) {
        assert!(matches!(u, Err(StoreError::Stale(_))), "{n}: {u:?}");
    }
    let now = stores[0].load(&loaded.rotation.id).await.unwrap().unwrap();
    assert_eq!(now.rotation.transient_failures, ok[0] as u32 + 1, "{n}: the stored record is the winner's");
}

async fn finished_rotations_free_the_credential_and_stay_as_history(b: &dyn Backend) {
    let store = b.open().await;
    let n = b.name();
    let first = rotation("hist-1", "hist", 0);
    let v = store.create(&first).await.unwrap();
    let done = finished(first.clone());
    store.update(&done, &v).await.unwrap();
    assert!(store.in_flight(&cred("hist")).await.unwrap().is_none(), "{n}: a completed rotation is not in flight");

    let second = rotation("hist-2", "hist", 60 * 24);
    store.create(&second).await.unwrap();
    store.create(&rotation("other-1", "other", 30)).await.unwrap();

    let all = store.list(&RotationFilter { credential: Some(cred("hist")), ..Default::default() }).await.unwrap();
    let ids: Vec<&str> = all.iter().map(|s| s.rotation.id.as_str()).collect();
    assert_eq!(ids, vec!["hist-2", "hist-1"], "{n}: newest first, history kept");
    assert_eq!(all[1].rotation, done, "{n}: the finished record is kept whole");

    let flying = store.list(&RotationFilter { in_flight_only: true, ..Default::default() }).await.unwrap();
    let mut ids: Vec<&str> = flying.iter().map(|s| s.rotation.id.as_str()).collect();
    ids.sort();
    assert_eq!(ids, vec!["hist-2", "other-1"], "{n}: in flight only");

    let completed = store.list(&RotationFilter { phases: vec!["completed".into()], ..Default::default() }).await.unwrap();
    assert_eq!(completed.iter().map(|s| s.rotation.id.as_str()).collect::<Vec<_>>(), vec!["hist-1"], "{n}");
    let limited = store.list(&RotationFilter { limit: Some(1), ..Default::default() }).await.unwrap();
    assert_eq!(limited.iter().map(|s| s.rotation.id.as_str()).collect::<Vec<_>>(), vec!["hist-2"], "{n}: limit keeps the newest");

    assert_eq!(store.load(&first.id).await.unwrap().unwrap().rotation.phase, Phase::Completed, "{n}: load finds history");
    assert_eq!(store.create(&first).await.unwrap_err(), StoreError::Exists(first.id.clone()), "{n}: a finished id stays taken");
}

fn heartbeat(consumer: &str, credential: &str, version: &str, minutes: i64) -> HeartbeatRecord {
    HeartbeatRecord {
        consumer: ConsumerId::parse(consumer).unwrap(),
        credential: cred(credential),
        version: SecretVersion::parse(version).unwrap(),
        at: t0() + Duration::minutes(minutes),
    }
}

async fn heartbeats_keep_the_newest_per_consumer(b: &dyn Backend) {
    let store = b.open().await;
    let n = b.name();
    store.record_heartbeat(&heartbeat("web", "hb", "v1", 0)).await.unwrap();
    store.record_heartbeat(&heartbeat("web", "hb", "v2", 5)).await.unwrap();
    store.record_heartbeat(&heartbeat("web", "hb", "v0", 3)).await.unwrap(); // late, older
    store.record_heartbeat(&heartbeat("api", "hb", "v1", 4)).await.unwrap();
    store.record_heartbeat(&heartbeat("web", "hb-other", "v9", 9)).await.unwrap();
    let got = store.heartbeats(&cred("hb")).await.unwrap();
    assert_eq!(got, vec![heartbeat("api", "hb", "v1", 4), heartbeat("web", "hb", "v2", 5)], "{n}");
    assert!(store.heartbeats(&cred("hb-none")).await.unwrap().is_empty(), "{n}");
}

async fn data_survives_a_restart(b: &dyn Backend) {
    let n = b.name();
    let mut r = rotation("durable-1", "durable", 0);
    let v2 = {
        let store = b.open().await;
        let v1 = store.create(&r).await.unwrap();
        r.phase = Phase::Publish;
        let v2 = store.update(&r, &v1).await.unwrap();
        store.record_heartbeat(&heartbeat("web", "durable", "v7", 1)).await.unwrap();
        // A crash, not a clean shutdown: the handle is never closed (SQLite: no checkpoint,
        // the data must already be durable in the WAL).
        std::mem::forget(store);
        v2
    };
    let store = b.open().await;
    let loaded = store.load(&r.id).await.unwrap().expect("record after restart");
    assert_eq!((loaded.rotation.clone(), loaded.version.clone()), (r.clone(), v2.clone()), "{n}");
    assert_eq!(store.in_flight(&cred("durable")).await.unwrap().map(|s| s.rotation.id), Some(r.id.clone()), "{n}");
    assert_eq!(store.heartbeats(&cred("durable")).await.unwrap(), vec![heartbeat("web", "durable", "v7", 1)], "{n}");
    // Compare-and-swap carries on from the version read before the restart.
    r.phase = Phase::Retire;
    store.update(&r, &v2).await.unwrap();
    assert_eq!(store.update(&r, &v2).await.unwrap_err(), StoreError::Stale(r.id.clone()), "{n}");
    assert_eq!(store.create(&rotation("durable-2", "durable", 5)).await.unwrap_err(), StoreError::InFlight { credential: cred("durable"), existing: r.id.clone() }, "{n}");
}

/// Every property, each on its own fresh backend from `fresh`.
async fn contract<'a, B: Backend + 'a>(mut fresh: impl FnMut(&str) -> B) -> usize {
    let mut ran = 0;
    conditional_create_conflicts(&fresh("create")).await;
    stale_writes_are_rejected(&fresh("stale")).await;
    concurrent_writers_exactly_one_wins(&fresh("race")).await;
    finished_rotations_free_the_credential_and_stay_as_history(&fresh("history")).await;
    heartbeats_keep_the_newest_per_consumer(&fresh("heartbeats")).await;
    ran += 5;
    let b = fresh("durable");
    if b.durable() {
        data_survives_a_restart(&b).await;
        ran += 1;
    }
    ran
}

#[tokio::test]
async fn memory_store_keeps_the_contract() {
    let ran = contract(|_| Memory(Arc::new(MemoryStore::new()))).await;
    println!("memory store: {ran} contract properties hold");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_store_keeps_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let ran = contract(|name| Sqlite(dir.path().join(format!("{name}/state.db")))).await;
    assert_eq!(ran, 6);
    println!("sqlite store: {ran} contract properties hold");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blob_store_on_azurite_keeps_the_contract() {
    let azurite = Azurite::start();
    let ran = contract(|name| Blob { azurite: &azurite, container: format!("keyrelay-{name}"), identity: None }).await;
    assert_eq!(ran, 6);
    // A request signed with another key is refused: the signature really is checked.
    let other_key = "b3RoZXIta2V5LW5vdC10aGUtYWNjb3VudHMtb3duLWtleS1ieXRlcy0wMTIzNDU2Nzg5YWJjZGVm";
    let auth = BlobAuth::SharedKey { account: "devstoreaccount1".into(), key: SecretValue::new(other_key) };
    let wrong = BlobStore::new(&azurite.container_url("keyrelay-create"), auth, &azurite.http_options()).unwrap();
    let refused = wrong.in_flight(&cred("cache")).await.unwrap_err();
    // (Azure answers 403 AuthenticationFailed; Azurite with --oauth answers 400 InvalidAuthenticationInfo.)
    assert!(matches!(&refused, StoreError::Backend(m) if m.contains("Authentication") && !m.contains(other_key)), "{refused:?}");
    println!("blob store (Azurite over HTTPS, Shared Key): {ran} contract properties hold");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blob_store_with_an_identity_token_keeps_the_contract() {
    let azurite = Azurite::start();
    let token = EmulatorToken::new("https://storage.azure.com");
    let ran = contract(|name| Blob { azurite: &azurite, container: format!("identity-{name}"), identity: Some(token.clone()) }).await;
    assert_eq!(ran, 6);
    let scopes = token.scopes.lock().unwrap().clone();
    assert!(!scopes.is_empty() && scopes.iter().all(|s| s == "https://storage.azure.com/.default"), "{scopes:?}");
    // A token for another audience is refused: the bearer token really is what authorizes.
    let wrong = azurite.store_with_identity("identity-create", EmulatorToken::new("https://vault.azure.net"));
    let refused = wrong.in_flight(&cred("cache")).await.unwrap_err();
    assert!(matches!(&refused, StoreError::Backend(m) if m.contains("401") || m.contains("403")), "{refused:?}");
    println!("blob store (Azurite over HTTPS, bearer token): {ran} contract properties hold");
}
