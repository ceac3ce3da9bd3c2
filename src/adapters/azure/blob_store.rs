//! The rotation store in Azure Blob Storage (azure_storage_blob 1.x), for keyrelay running
//! as a Function app: several instances share one container, and ETags do the
//! compare-and-swap. Requests go through [`SdkTransport`] (our reqwest client: extra roots and
//! name overrides), like every other azure_core client in keyrelay.
//!
//! Layout of the container:
//! - `current/{credential}.json` — the credential's latest rotation. Claiming a credential is
//!   one conditional write of this blob: `If-None-Match: *` when there is none, `If-Match`
//!   the ETag of a *finished* record otherwise, so two instances can never both start a
//!   rotation (I3). Its ETag is the record's `Version` while the rotation runs.
//! - `rotations/{id}.json` — finished rotations, the history the evidence is read from. A
//!   rotation is copied here when it finishes (and again, idempotently, before the next
//!   claim replaces it, in case the copy was interrupted).
//! - `ids/{id}` — the credential of each rotation id, so `load(id)` finds `current/`.
//! - `heartbeats/{credential}/{consumer}.json` — the last heartbeat, newer wins (CAS loop).

use super::http::HttpOptions;
use super::sdk_transport::SdkTransport;
use super::shared_key::SharedKeyPolicy;
use crate::core::Rotation;
use crate::domain::{ConsumerId, CredentialName, RotationId, SecretValue, SecretVersion};
use crate::ports::{HeartbeatRecord, RotationFilter, RotationStore, StoreError, StoredRotation, Version};
use async_trait::async_trait;
use azure_core::credentials::TokenCredential;
use azure_core::http::{Etag, RequestContent, StatusCode, Url};
use azure_storage_blob::models::{BlobClientDownloadOptions, BlockBlobClientUploadOptions};
use azure_storage_blob::{BlobContainerClient, BlobContainerClientOptions};
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// How the store authenticates to the storage account.
pub enum BlobAuth {
    /// Entra ID: the Function app's managed identity (audience `https://storage.azure.com`).
    Identity(Arc<dyn TokenCredential>),
    /// Shared Key: an account key (Azurite, or an account where an operator chose keys).
    SharedKey { account: String, key: SecretValue },
}

pub struct BlobStore {
    container: BlobContainerClient,
}

impl std::fmt::Debug for BlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobStore").field("container", &self.container.url().as_str()).finish()
    }
}

/// A write's precondition.
enum Cond {
    Any,
    Absent,
    Matches(Etag),
}

/// A conditional write refused (412, or 409 for `If-None-Match: *` on an existing blob).
struct Conflict;

#[derive(Serialize, Deserialize)]
struct StoredHeartbeat {
    consumer: ConsumerId,
    credential: CredentialName,
    version: SecretVersion,
    at: DateTime<Utc>,
}

fn backend(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("blob store, {what}: {e}"))
}

fn decode(name: &str, bytes: &[u8]) -> Result<Rotation, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| backend(&format!("{name} does not decode"), e))
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|e| backend("encoding", e))
}

fn current_name(credential: &CredentialName) -> String {
    format!("current/{credential}.json")
}

fn history_name(id: &RotationId) -> String {
    format!("rotations/{id}.json")
}

impl BlobStore {
    /// A store over the container at `container_url`
    /// (`https://{account}.blob.core.windows.net/{container}`), its requests sent by our
    /// HTTP client (extra roots and name overrides from `http`).
    pub fn new(container_url: &str, auth: BlobAuth, http: &HttpOptions) -> anyhow::Result<BlobStore> {
        let url = Url::parse(container_url).map_err(|e| anyhow::anyhow!("{container_url:?} is not a URL: {e}"))?;
        if url.scheme() != "https" {
            anyhow::bail!("{container_url}: the state container must be reached over https");
        }
        let mut client_options = SdkTransport::client_options(http)?;
        let credential = match auth {
            BlobAuth::Identity(cred) => Some(cred),
            BlobAuth::SharedKey { account, key } => {
                client_options.per_try_policies.push(Arc::new(SharedKeyPolicy::new(&account, key)?));
                None
            }
        };
        let options = BlobContainerClientOptions { client_options, ..Default::default() };
        let container = BlobContainerClient::new(url, credential, Some(options))?;
        Ok(BlobStore { container })
    }

    /// Creates the container if it does not exist (infra creates it in Azure; tests and
    /// first runs on a fresh account need this).
    pub async fn ensure_container(&self) -> Result<(), StoreError> {
        match self.container.create(None).await {
            Ok(_) => Ok(()),
            Err(e) if e.http_status() == Some(StatusCode::Conflict) => Ok(()),
            Err(e) => Err(backend("creating the container", e)),
        }
    }

    async fn get(&self, name: &str) -> Result<Option<(Vec<u8>, Etag)>, StoreError> {
        let blob = self.container.blob_client(name);
        match blob.download(Some(BlobClientDownloadOptions::default())).await {
            Ok(res) => {
                let etag = res.properties.etag.clone().ok_or_else(|| backend(name, "no ETag in the response"))?;
                let body = res.body.collect().await.map_err(|e| backend(name, e))?;
                Ok(Some((body.to_vec(), etag)))
            }
            Err(e) if e.http_status() == Some(StatusCode::NotFound) => Ok(None),
            Err(e) => Err(backend(&format!("reading {name}"), e)),
        }
    }

    async fn put(&self, name: &str, body: Vec<u8>, cond: Cond) -> Result<Result<Etag, Conflict>, StoreError> {
        let mut options = BlockBlobClientUploadOptions {
            blob_content_type: Some("application/json".into()),
            ..Default::default()
        };
        match cond {
            Cond::Any => {}
            Cond::Absent => options.if_none_match = Some(Etag::from("*")),
            Cond::Matches(etag) => options.if_match = Some(etag),
        }
        let blob = self.container.blob_client(name).block_blob_client();
        match blob.upload(RequestContent::from(body), Some(options)).await {
            Ok(res) => Ok(Ok(res.etag.ok_or_else(|| backend(name, "no ETag in the response"))?)),
            Err(e) if matches!(e.http_status(), Some(StatusCode::PreconditionFailed | StatusCode::Conflict)) => Ok(Err(Conflict)),
            // If-Match on a blob that is gone.
            Err(e) if e.http_status() == Some(StatusCode::NotFound) => Ok(Err(Conflict)),
            Err(e) => Err(backend(&format!("writing {name}"), e)),
        }
    }

    async fn names(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let options = azure_storage_blob::models::BlobContainerClientListBlobsOptions {
            prefix: Some(prefix.to_string()),
            ..Default::default()
        };
        let mut pages = self.container.list_blobs(Some(options)).map_err(|e| backend("listing", e))?.into_pages();
        let mut out = Vec::new();
        while let Some(page) = pages.try_next().await.map_err(|e| backend("listing", e))? {
            let page = page.into_model().map_err(|e| backend("listing", e))?;
            out.extend(page.blob_items.into_iter().filter_map(|b| b.name));
        }
        Ok(out)
    }

    async fn current(&self, credential: &CredentialName) -> Result<Option<(Rotation, Etag)>, StoreError> {
        let name = current_name(credential);
        match self.get(&name).await? {
            None => Ok(None),
            Some((bytes, etag)) => Ok(Some((decode(&name, &bytes)?, etag))),
        }
    }

    /// Copies a finished rotation into the history (idempotent: same id, same content).
    async fn keep_history(&self, rotation: &Rotation) -> Result<(), StoreError> {
        self.put(&history_name(&rotation.id), encode(rotation)?, Cond::Any).await?.map_err(|_| backend("history", "unconditional write refused"))?;
        Ok(())
    }
}

fn stored(rotation: Rotation, etag: Etag) -> StoredRotation {
    StoredRotation { rotation, version: Version(etag.to_string()) }
}

#[async_trait]
impl RotationStore for BlobStore {
    async fn create(&self, rotation: &Rotation) -> Result<Version, StoreError> {
        let credential = &rotation.plan.credential;
        // Up to three rounds: a claim can lose to a writer that changed `current/` in between.
        if self.get(&history_name(&rotation.id)).await?.is_some() {
            return Err(StoreError::Exists(rotation.id.clone()));
        }
        for _ in 0..3 {
            let current = self.current(credential).await?;
            let cond = match &current {
                Some((cur, _)) if cur.id == rotation.id => return Err(StoreError::Exists(rotation.id.clone())),
                Some((cur, _)) if !cur.is_finished() => {
                    return Err(StoreError::InFlight { credential: credential.clone(), existing: cur.id.clone() })
                }
                Some((cur, etag)) => {
                    self.keep_history(cur).await?;
                    Cond::Matches(etag.clone())
                }
                None => Cond::Absent,
            };
            self.put(&format!("ids/{}", rotation.id), credential.as_str().as_bytes().to_vec(), Cond::Any)
                .await?
                .map_err(|_| backend("id index", "unconditional write refused"))?;
            if let Ok(etag) = self.put(&current_name(credential), encode(rotation)?, cond).await? {
                return Ok(Version(etag.to_string()));
            }
        }
        match self.current(credential).await? {
            Some((cur, _)) if !cur.is_finished() => Err(StoreError::InFlight { credential: credential.clone(), existing: cur.id }),
            _ => Err(backend("claim", format!("{credential}: lost the claim three times in a row; retry"))),
        }
    }

    async fn load(&self, id: &RotationId) -> Result<Option<StoredRotation>, StoreError> {
        if let Some((bytes, _)) = self.get(&format!("ids/{id}")).await? {
            let text = String::from_utf8_lossy(&bytes);
            let credential = CredentialName::parse(&text).map_err(|e| backend("id index", e))?;
            if let Some((cur, etag)) = self.current(&credential).await? {
                if &cur.id == id {
                    return Ok(Some(stored(cur, etag)));
                }
            }
        }
        let name = history_name(id);
        match self.get(&name).await? {
            Some((bytes, etag)) => Ok(Some(stored(decode(&name, &bytes)?, etag))),
            None => Ok(None),
        }
    }

    async fn update(&self, rotation: &Rotation, expected: &Version) -> Result<Version, StoreError> {
        let name = current_name(&rotation.plan.credential);
        match self.put(&name, encode(rotation)?, Cond::Matches(Etag::from(expected.0.clone()))).await? {
            Ok(etag) => {
                if rotation.is_finished() {
                    self.keep_history(rotation).await?;
                }
                Ok(Version(etag.to_string()))
            }
            Err(Conflict) => match self.load(&rotation.id).await? {
                Some(_) => Err(StoreError::Stale(rotation.id.clone())),
                None => Err(StoreError::NotFound(rotation.id.clone())),
            },
        }
    }

    async fn in_flight(&self, credential: &CredentialName) -> Result<Option<StoredRotation>, StoreError> {
        Ok(self.current(credential).await?.filter(|(r, _)| !r.is_finished()).map(|(r, e)| stored(r, e)))
    }

    async fn list(&self, filter: &RotationFilter) -> Result<Vec<StoredRotation>, StoreError> {
        let mut found: BTreeMap<RotationId, StoredRotation> = BTreeMap::new();
        let currents = match &filter.credential {
            Some(c) => vec![current_name(c)],
            None => self.names("current/").await?,
        };
        for name in currents {
            if let Some((bytes, etag)) = self.get(&name).await? {
                let r = decode(&name, &bytes)?;
                found.insert(r.id.clone(), stored(r, etag));
            }
        }
        if !filter.in_flight_only {
            for name in self.names("rotations/").await? {
                if let Some((bytes, etag)) = self.get(&name).await? {
                    let r = decode(&name, &bytes)?;
                    found.entry(r.id.clone()).or_insert_with(|| stored(r, etag));
                }
            }
        }
        let mut out: Vec<StoredRotation> = found
            .into_values()
            .filter(|s| filter.credential.as_ref().is_none_or(|c| &s.rotation.plan.credential == c))
            .filter(|s| filter.phases.is_empty() || filter.phases.iter().any(|p| p == s.rotation.phase.name()))
            .filter(|s| !filter.in_flight_only || !s.rotation.is_finished())
            .collect();
        out.sort_by(|a, b| b.rotation.started_at.cmp(&a.rotation.started_at).then_with(|| b.rotation.id.cmp(&a.rotation.id)));
        if let Some(limit) = filter.limit {
            out.truncate(limit);
        }
        Ok(out)
    }

    async fn record_heartbeat(&self, hb: &HeartbeatRecord) -> Result<(), StoreError> {
        let name = format!("heartbeats/{}/{}.json", hb.credential, hb.consumer);
        let body = encode(&StoredHeartbeat {
            consumer: hb.consumer.clone(),
            credential: hb.credential.clone(),
            version: hb.version.clone(),
            at: hb.at,
        })?;
        for _ in 0..5 {
            let cond = match self.get(&name).await? {
                None => Cond::Absent,
                Some((bytes, etag)) => {
                    let old: StoredHeartbeat = serde_json::from_slice(&bytes).map_err(|e| backend(&name, e))?;
                    // An older heartbeat arriving late (Service Bus does not order) must not win.
                    if old.at > hb.at {
                        return Ok(());
                    }
                    Cond::Matches(etag)
                }
            };
            if self.put(&name, body.clone(), cond).await?.is_ok() {
                return Ok(());
            }
        }
        Err(backend(&name, "heartbeat kept changing under us; dropped (the next one will land)"))
    }

    async fn heartbeats(&self, credential: &CredentialName) -> Result<Vec<HeartbeatRecord>, StoreError> {
        let mut out = Vec::new();
        for name in self.names(&format!("heartbeats/{credential}/")).await? {
            if let Some((bytes, _)) = self.get(&name).await? {
                let h: StoredHeartbeat = serde_json::from_slice(&bytes).map_err(|e| backend(&name, e))?;
                out.push(HeartbeatRecord { consumer: h.consumer, credential: h.credential, version: h.version, at: h.at });
            }
        }
        out.sort_by(|a, b| a.consumer.cmp(&b.consumer));
        Ok(out)
    }
}
