//! The [`SecretStore`] port on Key Vault (`azure_security_keyvault_secrets` 1.x): the current
//! version with its tags, a given version's metadata or value, publishing a version with
//! content type, tags and `nbf`/`exp`, and finding the version a rotation already published
//! (so a repeated publish after a crash reuses it instead of writing a second one).
//!
//! One client per vault, created on first use: a policy may name several vaults.

pub mod tags;

use super::http::HttpOptions;
use super::sdk_transport::SdkTransport;
use crate::domain::{RotationId, SecretId, SecretValue, SecretVersion, Slot};
use crate::ports::{PublishRequest, SecretRef, SecretStore, SecretStoreError, VersionInfo};
use async_trait::async_trait;
use azure_core::credentials::TokenCredential;
use azure_core::error::ErrorKind;
use azure_core::http::ClientOptions;
use azure_security_keyvault_secrets::models::{
    Secret, SecretAttributes, SecretClientGetSecretOptions, SecretClientListSecretPropertiesVersionsOptions,
    SecretProperties, SetSecretParameters,
};
use azure_security_keyvault_secrets::{SecretClient, SecretClientOptions};
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

/// Key Vault's page size limit for version listings.
const PAGE_SIZE: i32 = 25;

pub struct KeyVaultSecrets {
    credential: Arc<dyn TokenCredential>,
    client_options: ClientOptions,
    clients: Mutex<HashMap<String, Arc<SecretClient>>>,
}

impl KeyVaultSecrets {
    /// `client_options` carries the transport (ours, built from `HttpOptions`).
    pub fn new(credential: Arc<dyn TokenCredential>, client_options: ClientOptions) -> Self {
        KeyVaultSecrets { credential, client_options, clients: Mutex::new(HashMap::new()) }
    }

    /// The production wiring: the SDK on our transport (extra roots and host overrides).
    pub fn from_http(credential: Arc<dyn TokenCredential>, http: &HttpOptions) -> anyhow::Result<Self> {
        Ok(Self::new(credential, SdkTransport::client_options(http)?))
    }

    fn client(&self, vault: &str) -> Result<Arc<SecretClient>, SecretStoreError> {
        let mut clients = self.clients.lock().unwrap();
        if let Some(c) = clients.get(vault) {
            return Ok(c.clone());
        }
        let options = SecretClientOptions { client_options: self.client_options.clone(), ..SecretClientOptions::default() };
        let client = SecretClient::new(&format!("https://{vault}/"), self.credential.clone(), Some(options))
            .map_err(|e| failed(&format!("Key Vault client for {vault}"), &e))?;
        let client = Arc::new(client);
        clients.insert(vault.to_string(), client.clone());
        Ok(client)
    }

    async fn get(&self, secret: &SecretRef, version: Option<&SecretVersion>) -> Result<Secret, SecretStoreError> {
        let options = SecretClientGetSecretOptions { secret_version: version.map(|v| v.to_string()), ..Default::default() };
        let what = match version {
            Some(v) => format!("{}/{}", secret.name, v),
            None => secret.name.clone(),
        };
        self.client(&secret.vault)?
            .get_secret(&secret.name, Some(options))
            .await
            .and_then(|r| r.into_model())
            .map_err(|e| store_error(&what, &e))
    }

    /// Every version's metadata (all pages).
    pub async fn versions(&self, secret: &SecretRef) -> Result<Vec<VersionInfo>, SecretStoreError> {
        let options = SecretClientListSecretPropertiesVersionsOptions { maxresults: Some(PAGE_SIZE), ..Default::default() };
        let mut pager = self
            .client(&secret.vault)?
            .list_secret_properties_versions(&secret.name, Some(options))
            .map_err(|e| store_error(&secret.name, &e))?;
        let mut out = Vec::new();
        while let Some(item) = pager.try_next().await.map_err(|e| store_error(&secret.name, &e))? {
            out.push(from_properties(secret, &item)?);
        }
        Ok(out)
    }
}

fn failed(what: &str, e: &azure_core::Error) -> SecretStoreError {
    SecretStoreError::Failed { detail: format!("{what}: {e}"), transient: false }
}

/// 404 → NotFound, 429 → Throttled, 408/5xx and I/O → transient; the rest (401/403: missing
/// role or wrong vault) need an operator.
fn store_error(what: &str, e: &azure_core::Error) -> SecretStoreError {
    match e.kind() {
        ErrorKind::HttpResponse { status, .. } => {
            let code = u16::from(*status);
            match code {
                404 => SecretStoreError::NotFound(what.to_string()),
                429 => SecretStoreError::Throttled,
                _ => SecretStoreError::Failed { detail: format!("{what}: HTTP {code}: {e}"), transient: code == 408 || code >= 500 },
            }
        }
        ErrorKind::Io => SecretStoreError::Failed { detail: format!("{what}: {e}"), transient: true },
        _ => failed(what, e),
    }
}

fn to_utc(t: Option<time::OffsetDateTime>) -> Option<DateTime<Utc>> {
    t.and_then(|t| DateTime::from_timestamp(t.unix_timestamp(), 0))
}

fn to_offset(t: Option<DateTime<Utc>>) -> Option<time::OffsetDateTime> {
    t.and_then(|t| time::OffsetDateTime::from_unix_timestamp(t.timestamp()).ok())
}

/// The metadata keyrelay keeps from an id, attributes, tags and content type.
fn version_info(
    secret: &SecretRef,
    id: Option<&str>,
    attributes: Option<&SecretAttributes>,
    tag_map: Option<&HashMap<String, String>>,
    content_type: Option<&String>,
) -> Result<VersionInfo, SecretStoreError> {
    let id = id.ok_or_else(|| SecretStoreError::Failed { detail: format!("{}: Key Vault returned no id", secret.name), transient: false })?;
    let version = id.trim_end_matches('/').rsplit('/').next().unwrap_or_default();
    let version = SecretVersion::parse(version)
        .map_err(|e| SecretStoreError::Failed { detail: format!("{}: version id {id:?}: {e}", secret.name), transient: false })?;
    let tags: BTreeMap<String, String> = tag_map.map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default();
    Ok(VersionInfo {
        id: secret.id_of(&version),
        slot: tags::slot_of(&tags),
        rotation: tags::rotation_of(&tags),
        content_type: content_type.cloned(),
        created: to_utc(attributes.and_then(|a| a.created)),
        expires: to_utc(attributes.and_then(|a| a.expires)),
        enabled: attributes.and_then(|a| a.enabled).unwrap_or(true),
        tags,
    })
}

fn from_secret(secret: &SecretRef, s: &Secret) -> Result<VersionInfo, SecretStoreError> {
    version_info(secret, s.id.as_deref(), s.attributes.as_ref(), s.tags.as_ref(), s.content_type.as_ref())
}

fn from_properties(secret: &SecretRef, p: &SecretProperties) -> Result<VersionInfo, SecretStoreError> {
    version_info(secret, p.id.as_deref(), p.attributes.as_ref(), p.tags.as_ref(), p.content_type.as_ref())
}

#[async_trait]
impl SecretStore for KeyVaultSecrets {
    async fn current(&self, secret: &SecretRef) -> Result<Option<VersionInfo>, SecretStoreError> {
        match self.get(secret, None).await {
            Ok(s) => from_secret(secret, &s).map(Some),
            Err(SecretStoreError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn version_info(&self, id: &SecretId) -> Result<VersionInfo, SecretStoreError> {
        let secret = SecretRef::of(id);
        from_secret(&secret, &self.get(&secret, Some(&id.version)).await?)
    }

    async fn find_by_rotation(
        &self,
        secret: &SecretRef,
        rotation: &RotationId,
        slot: Slot,
    ) -> Result<Option<VersionInfo>, SecretStoreError> {
        let versions = match self.versions(secret).await {
            Err(SecretStoreError::NotFound(_)) => return Ok(None),
            other => other?,
        };
        Ok(versions.into_iter().find(|v| v.written_by(rotation, slot)))
    }

    async fn publish(
        &self,
        secret: &SecretRef,
        value: &SecretValue,
        request: &PublishRequest,
    ) -> Result<VersionInfo, SecretStoreError> {
        let previous = self.current(secret).await?;
        let tag_map = tags::publish_tags(request, previous.as_ref().map(|p| &p.tags));
        let parameters = SetSecretParameters {
            value: Some(value.expose().to_string()),
            content_type: Some(request.content_type.clone()),
            tags: Some(tag_map.into_iter().collect()),
            secret_attributes: Some(SecretAttributes {
                enabled: Some(true),
                not_before: to_offset(request.not_before),
                expires: to_offset(request.expires),
                ..Default::default()
            }),
        };
        let body = parameters.try_into().map_err(|e| failed(&secret.name, &e))?;
        let written = self
            .client(&secret.vault)?
            .set_secret(&secret.name, body, None)
            .await
            .and_then(|r| r.into_model())
            .map_err(|e| store_error(&secret.name, &e))?;
        from_secret(secret, &written)
    }

    async fn read(&self, id: &SecretId) -> Result<SecretValue, SecretStoreError> {
        let secret = SecretRef::of(id);
        let fetched = self.get(&secret, Some(&id.version)).await?;
        fetched.value.as_deref().map(SecretValue::new).ok_or_else(|| SecretStoreError::Failed {
            detail: format!("{id}: Key Vault returned no value"),
            transient: false,
        })
    }
}
