//! The embedded rotation store: one SQLite file (rusqlite, bundled), the default state of a
//! single keyrelay instance and of the demo.
//!
//! Compare-and-swap is a `version` column: an update names the version it read and changes
//! nothing unless that is still the stored one. "One rotation in flight per credential" (I3)
//! is a partial unique index, so even two processes sharing the file cannot both claim.
//! The file is opened in WAL mode with `synchronous = FULL` (a committed phase survives a
//! power cut, because the side effect that follows it is not undone by one) and a busy
//! timeout (a second process waits for the lock instead of failing). SQLite calls block, so
//! each runs on tokio's blocking pool.

use crate::core::Rotation;
use crate::domain::{ConsumerId, CredentialName, RotationId, SecretVersion};
use crate::ports::{HeartbeatRecord, RotationFilter, RotationStore, StoreError, StoredRotation, Version};
use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS rotations (
    id          TEXT PRIMARY KEY,
    credential  TEXT NOT NULL,
    phase       TEXT NOT NULL,
    finished    INTEGER NOT NULL,
    started_at  TEXT NOT NULL,
    version     INTEGER NOT NULL,
    record      TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS rotations_one_in_flight ON rotations (credential) WHERE finished = 0;
CREATE INDEX IF NOT EXISTS rotations_by_start ON rotations (started_at);
CREATE TABLE IF NOT EXISTS heartbeats (
    credential  TEXT NOT NULL,
    consumer    TEXT NOT NULL,
    version     TEXT NOT NULL,
    at          TEXT NOT NULL,
    PRIMARY KEY (credential, consumer)
);
PRAGMA user_version = 1;
";

/// How long a writer waits for another process's lock before reporting an error.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    path: PathBuf,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").field("path", &self.path).finish()
    }
}

impl SqliteStore {
    /// Opens (creating the file and its directory if needed) the store at `path`.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| backend(format!("creating {}: {e}", dir.display())))?;
        }
        let conn = Connection::open(path).map_err(|e| backend(format!("opening {}: {e}", path.display())))?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(sql)?;
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)).map_err(sql)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(backend(format!("{}: cannot use WAL journal mode (got {mode})", path.display())));
        }
        conn.execute_batch("PRAGMA synchronous = FULL;").map_err(sql)?;
        conn.execute_batch(SCHEMA).map_err(sql)?;
        Ok(SqliteStore { conn: Arc::new(Mutex::new(conn)), path: path.to_path_buf() })
    }

    /// Runs `f` with the connection on the blocking pool.
    async fn with<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().map_err(|_| backend("connection lock poisoned"))?;
            f(&mut guard)
        })
        .await
        .map_err(|e| backend(format!("store task failed: {e}")))?
    }
}

fn backend(msg: impl Into<String>) -> StoreError {
    StoreError::Backend(msg.into())
}

fn sql(e: rusqlite::Error) -> StoreError {
    backend(format!("sqlite: {e}"))
}

/// Fixed-width UTC text, so that string order is time order in SQL.
fn time_key(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

fn to_json(r: &Rotation) -> Result<String, StoreError> {
    serde_json::to_string(r).map_err(|e| backend(format!("encoding rotation {}: {e}", r.id)))
}

fn stored(record: String, version: i64) -> Result<StoredRotation, StoreError> {
    let rotation: Rotation =
        serde_json::from_str(&record).map_err(|e| backend(format!("a stored rotation record does not decode: {e}")))?;
    Ok(StoredRotation { rotation, version: Version(version.to_string()) })
}

fn in_flight_of(conn: &Connection, credential: &str) -> Result<Option<StoredRotation>, StoreError> {
    conn.query_row(
        "SELECT record, version FROM rotations WHERE credential = ?1 AND finished = 0",
        params![credential],
        |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)),
    )
    .optional()
    .map_err(sql)?
    .map(|(rec, v)| stored(rec, v))
    .transpose()
}

#[async_trait]
impl RotationStore for SqliteStore {
    async fn create(&self, rotation: &Rotation) -> Result<Version, StoreError> {
        let r = rotation.clone();
        let json = to_json(&r)?;
        self.with(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sql)?;
            let exists: bool = tx
                .query_row("SELECT 1 FROM rotations WHERE id = ?1", params![r.id.as_str()], |_| Ok(()))
                .optional()
                .map_err(sql)?
                .is_some();
            if exists {
                return Err(StoreError::Exists(r.id.clone()));
            }
            if let Some(existing) = in_flight_of(&tx, r.plan.credential.as_str())? {
                return Err(StoreError::InFlight { credential: r.plan.credential.clone(), existing: existing.rotation.id });
            }
            tx.execute(
                "INSERT INTO rotations (id, credential, phase, finished, started_at, version, record)
                 VALUES (?1, ?2, ?3, ?4, ?5, 1, ?6)",
                params![
                    r.id.as_str(),
                    r.plan.credential.as_str(),
                    r.phase.name(),
                    r.is_finished(),
                    time_key(r.started_at),
                    json
                ],
            )
            .map_err(sql)?;
            tx.commit().map_err(sql)?;
            Ok(Version("1".into()))
        })
        .await
    }

    async fn load(&self, id: &RotationId) -> Result<Option<StoredRotation>, StoreError> {
        let id = id.clone();
        self.with(move |conn| {
            conn.query_row("SELECT record, version FROM rotations WHERE id = ?1", params![id.as_str()], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
            })
            .optional()
            .map_err(sql)?
            .map(|(rec, v)| stored(rec, v))
            .transpose()
        })
        .await
    }

    async fn update(&self, rotation: &Rotation, expected: &Version) -> Result<Version, StoreError> {
        let r = rotation.clone();
        let json = to_json(&r)?;
        // A version that is not a number was never issued by this store: it is stale.
        let Ok(expected) = expected.0.parse::<i64>() else {
            return Err(StoreError::Stale(r.id.clone()));
        };
        self.with(move |conn| {
            // IMMEDIATE: take the write lock first, so a concurrent writer makes this wait
            // (busy timeout) rather than fail on a stale read snapshot.
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sql)?;
            let changed = tx
                .execute(
                    "UPDATE rotations SET record = ?1, phase = ?2, finished = ?3, version = version + 1
                     WHERE id = ?4 AND version = ?5",
                    params![json, r.phase.name(), r.is_finished(), r.id.as_str(), expected],
                )
                .map_err(sql)?;
            if changed == 1 {
                tx.commit().map_err(sql)?;
                return Ok(Version((expected + 1).to_string()));
            }
            let exists = tx
                .query_row("SELECT 1 FROM rotations WHERE id = ?1", params![r.id.as_str()], |_| Ok(()))
                .optional()
                .map_err(sql)?
                .is_some();
            Err(if exists { StoreError::Stale(r.id.clone()) } else { StoreError::NotFound(r.id.clone()) })
        })
        .await
    }

    async fn in_flight(&self, credential: &CredentialName) -> Result<Option<StoredRotation>, StoreError> {
        let credential = credential.clone();
        self.with(move |conn| in_flight_of(conn, credential.as_str())).await
    }

    async fn list(&self, filter: &RotationFilter) -> Result<Vec<StoredRotation>, StoreError> {
        let filter = filter.clone();
        self.with(move |conn| {
            let mut stmt = conn
                .prepare(
                    "SELECT record, version, phase FROM rotations
                     WHERE (?1 IS NULL OR credential = ?1) AND (?2 = 0 OR finished = 0)
                     ORDER BY started_at DESC, id DESC",
                )
                .map_err(sql)?;
            let rows = stmt
                .query_map(params![filter.credential.as_ref().map(|c| c.as_str()), filter.in_flight_only], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, String>(2)?))
                })
                .map_err(sql)?;
            let mut out = Vec::new();
            for row in rows {
                let (record, version, phase) = row.map_err(sql)?;
                if !filter.phases.is_empty() && !filter.phases.contains(&phase) {
                    continue;
                }
                if filter.limit.is_some_and(|l| out.len() >= l) {
                    break;
                }
                out.push(stored(record, version)?);
            }
            Ok(out)
        })
        .await
    }

    async fn record_heartbeat(&self, hb: &HeartbeatRecord) -> Result<(), StoreError> {
        let hb = hb.clone();
        self.with(move |conn| {
            // An older heartbeat arriving late (Service Bus does not order) must not win.
            conn.execute(
                "INSERT INTO heartbeats (credential, consumer, version, at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (credential, consumer) DO UPDATE SET version = excluded.version, at = excluded.at
                 WHERE excluded.at >= heartbeats.at",
                params![hb.credential.as_str(), hb.consumer.as_str(), hb.version.as_str(), time_key(hb.at)],
            )
            .map_err(sql)?;
            Ok(())
        })
        .await
    }

    async fn heartbeats(&self, credential: &CredentialName) -> Result<Vec<HeartbeatRecord>, StoreError> {
        let credential = credential.clone();
        self.with(move |conn| {
            let mut stmt = conn
                .prepare("SELECT consumer, version, at FROM heartbeats WHERE credential = ?1 ORDER BY consumer")
                .map_err(sql)?;
            let rows = stmt
                .query_map(params![credential.as_str()], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?))
                })
                .map_err(sql)?;
            let mut out = Vec::new();
            for row in rows {
                let (consumer, version, at) = row.map_err(sql)?;
                out.push(HeartbeatRecord {
                    consumer: ConsumerId::parse(&consumer).map_err(|e| backend(format!("stored heartbeat: {e}")))?,
                    credential: credential.clone(),
                    version: SecretVersion::parse(&version).map_err(|e| backend(format!("stored heartbeat: {e}")))?,
                    at: DateTime::parse_from_rfc3339(&at)
                        .map_err(|e| backend(format!("stored heartbeat time: {e}")))?
                        .with_timezone(&Utc),
                });
            }
            Ok(out)
        })
        .await
    }
}
