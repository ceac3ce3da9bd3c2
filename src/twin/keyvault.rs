//! The Key Vault twin: the secrets data plane (set, get latest or one version, list versions
//! with `nextLink` paging, update attributes and tags) in the shapes of the 2026-04-01
//! examples, behind the bearer challenge flow the Key Vault SDK expects: a request without a
//! token gets 401 with `WWW-Authenticate: Bearer authorization=..., resource=https://vault.azure.net`,
//! and only tokens for that audience (from the identity twin) are accepted.

use super::server::{request_authority, serve_tls, TlsServer};
use super::{IdentityTwin, TestCa};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

pub const VAULT_AUDIENCE: &str = "https://vault.azure.net";
const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const MAX_RESULTS: usize = 25;

/// One stored version, value included (the twin is where tests look for leaks).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredVersion {
    pub version: String,
    pub value: String,
    pub content_type: Option<String>,
    pub tags: BTreeMap<String, String>,
    pub enabled: bool,
    pub not_before: Option<i64>,
    pub expires: Option<i64>,
    pub created: i64,
    pub updated: i64,
}

type Secrets = Mutex<BTreeMap<String, Vec<StoredVersion>>>;

pub struct KeyVaultTwin {
    server: TlsServer,
    secrets: Arc<Secrets>,
    vault: String,
}

#[derive(Debug, Default, Deserialize)]
struct Attributes {
    enabled: Option<bool>,
    nbf: Option<i64>,
    exp: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SetBody {
    value: Option<String>,
    content_type: Option<String>,
    tags: Option<BTreeMap<String, String>>,
    attributes: Option<Attributes>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UpdateBody {
    content_type: Option<String>,
    tags: Option<BTreeMap<String, String>>,
    attributes: Option<Attributes>,
}

fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    (status, Json(json!({"error": {"code": code, "message": message.into()}}))).into_response()
}

fn challenge() -> Response {
    let header = format!("Bearer authorization=\"https://login.microsoftonline.com/{TENANT}\", resource=\"{VAULT_AUDIENCE}\"");
    let mut r = error(StatusCode::UNAUTHORIZED, "Unauthorized", "AKV10000: Request is missing a Bearer or PoP token.");
    r.headers_mut().insert("www-authenticate", header.parse().expect("valid header"));
    r
}

/// Every request passes here first, as in Key Vault: the challenge, the audience, the api-version.
async fn authorize(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let query: HashMap<String, String> =
        request.uri().query().map(|q| url::form_urlencoded::parse(q.as_bytes()).into_owned().collect()).unwrap_or_default();
    match check(request.headers(), &query) {
        Some(refused) => refused,
        None => next.run(request).await,
    }
}

/// None if authorized, else the response to send.
fn check(headers: &HeaderMap, query: &HashMap<String, String>) -> Option<Response> {
    if !headers.contains_key("authorization") {
        return Some(challenge());
    }
    if !IdentityTwin::authorized(headers, VAULT_AUDIENCE) {
        return Some(error(StatusCode::UNAUTHORIZED, "Unauthorized", "AKV10022: Invalid audience."));
    }
    if !query.contains_key("api-version") {
        return Some(error(StatusCode::BAD_REQUEST, "BadParameter", "The api-version query parameter is required."));
    }
    None
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 127 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

fn base(headers: &HeaderMap, uri: &Uri) -> String {
    format!("https://{}", request_authority(headers, uri))
}

fn attributes(v: &StoredVersion) -> Value {
    let mut a = json!({"enabled": v.enabled, "created": v.created, "updated": v.updated, "recoveryLevel": "Recoverable+Purgeable", "recoverableDays": 90});
    if let Some(nbf) = v.not_before {
        a["nbf"] = json!(nbf);
    }
    if let Some(exp) = v.expires {
        a["exp"] = json!(exp);
    }
    a
}

/// A SecretItem (list) or, with the value, a SecretBundle.
fn bundle(base: &str, name: &str, v: &StoredVersion, with_value: bool) -> Value {
    let mut b = json!({"id": format!("{base}/secrets/{name}/{}", v.version), "attributes": attributes(v)});
    if with_value {
        b["value"] = json!(v.value);
    }
    if let Some(ct) = &v.content_type {
        b["contentType"] = json!(ct);
    }
    if !v.tags.is_empty() {
        b["tags"] = json!(v.tags);
    }
    b
}

fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Response> {
    serde_json::from_slice(body).map_err(|e| error(StatusCode::BAD_REQUEST, "BadParameter", format!("invalid body: {e}")))
}

fn not_found(name: &str) -> Response {
    error(StatusCode::NOT_FOUND, "SecretNotFound", format!("A secret with (name/id) {name} was not found in this key vault."))
}

async fn set_secret(
    State(secrets): State<Arc<Secrets>>,
    Path(name): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if !valid_name(&name) {
        return error(StatusCode::BAD_REQUEST, "BadParameter", "Secret name must match ^[0-9a-zA-Z-]+$");
    }
    let body: SetBody = match parse_body(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Some(value) = body.value else { return error(StatusCode::BAD_REQUEST, "BadParameter", "value is required") };
    let attrs = body.attributes.unwrap_or_default();
    let now = chrono::Utc::now().timestamp();
    let stored = StoredVersion {
        version: uuid::Uuid::new_v4().simple().to_string(),
        value,
        content_type: body.content_type,
        tags: body.tags.unwrap_or_default(),
        enabled: attrs.enabled.unwrap_or(true),
        not_before: attrs.nbf,
        expires: attrs.exp,
        created: now,
        updated: now,
    };
    let response = bundle(&base(&headers, &uri), &name, &stored, true);
    secrets.lock().unwrap().entry(name).or_default().push(stored);
    Json(response).into_response()
}

async fn get_latest(
    state: State<Arc<Secrets>>,
    Path(name): Path<String>,
    query: Query<HashMap<String, String>>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    get_secret(state, Path((name, String::new())), query, uri, headers).await
}

async fn get_secret(
    State(secrets): State<Arc<Secrets>>,
    Path((name, version)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if version == "versions" {
        return list_versions(&secrets, &name, &query, &base(&headers, &uri));
    }
    let secrets = secrets.lock().unwrap();
    let Some(versions) = secrets.get(&name) else { return not_found(&name) };
    let found = if version.is_empty() { versions.last() } else { versions.iter().find(|v| v.version == version) };
    match found {
        None => not_found(&format!("{name}/{version}")),
        Some(v) if !v.enabled => error(StatusCode::FORBIDDEN, "Forbidden", "Operation get is not allowed on a disabled secret."),
        Some(v) => Json(bundle(&base(&headers, &uri), &name, v, true)).into_response(),
    }
}

/// Pages of at most `maxresults` (1..=25) SecretItems; the `$skiptoken` is an opaque offset.
fn list_versions(secrets: &Secrets, name: &str, query: &HashMap<String, String>, base: &str) -> Response {
    let max = match query.get("maxresults").map(|m| m.parse::<usize>()) {
        None => MAX_RESULTS,
        Some(Ok(m)) if (1..=MAX_RESULTS).contains(&m) => m,
        Some(_) => return error(StatusCode::BAD_REQUEST, "BadParameter", "maxresults must be between 1 and 25"),
    };
    let skip = query
        .get("$skiptoken")
        .and_then(|t| URL_SAFE_NO_PAD.decode(t).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.parse::<usize>().ok())
        .unwrap_or(0);
    let secrets = secrets.lock().unwrap();
    let Some(versions) = secrets.get(name) else { return not_found(name) };
    let page: Vec<Value> = versions.iter().skip(skip).take(max).map(|v| bundle(base, name, v, false)).collect();
    let next = (skip + max < versions.len()).then(|| {
        let api = query.get("api-version").cloned().unwrap_or_default();
        let token = URL_SAFE_NO_PAD.encode((skip + max).to_string());
        format!("{base}/secrets/{name}/versions?api-version={api}&$skiptoken={token}&maxresults={max}")
    });
    Json(json!({"value": page, "nextLink": next})).into_response()
}

async fn update_secret(
    State(secrets): State<Arc<Secrets>>,
    Path((name, version)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let body: UpdateBody = match parse_body(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let mut secrets = secrets.lock().unwrap();
    let Some(v) = secrets.get_mut(&name).and_then(|vs| vs.iter_mut().find(|v| v.version == version)) else {
        return not_found(&format!("{name}/{version}"));
    };
    if let Some(ct) = body.content_type {
        v.content_type = Some(ct);
    }
    if let Some(tags) = body.tags {
        v.tags = tags;
    }
    if let Some(a) = body.attributes {
        v.enabled = a.enabled.unwrap_or(v.enabled);
        v.not_before = a.nbf.or(v.not_before);
        v.expires = a.exp.or(v.expires);
    }
    v.updated = chrono::Utc::now().timestamp();
    Json(bundle(&base(&headers, &uri), &name, v, false)).into_response()
}

impl KeyVaultTwin {
    /// Starts the vault `{vault}.vault.azure.net` on a random loopback port.
    pub async fn start(ca: &TestCa, vault: &str) -> anyhow::Result<KeyVaultTwin> {
        let secrets: Arc<Secrets> = Arc::default();
        let router = Router::new()
            .route("/secrets/{name}", put(set_secret).get(get_latest))
            .route("/secrets/{name}/", get(get_latest))
            .route("/secrets/{name}/{version}", get(get_secret).patch(update_secret))
            .layer(axum::middleware::from_fn(authorize))
            .with_state(secrets.clone());
        Ok(KeyVaultTwin { server: serve_tls(router, ca).await?, secrets, vault: vault.to_ascii_lowercase() })
    }

    /// `{vault}.vault.azure.net`.
    pub fn host(&self) -> String {
        format!("{}.vault.azure.net", self.vault)
    }

    /// What secret ids and `SecretRef::vault` name: the host with the twin's port.
    pub fn vault_authority(&self) -> String {
        format!("{}:{}", self.host(), self.server.port())
    }

    /// The vault URL to give the Key Vault client.
    pub fn vault_url(&self) -> String {
        format!("https://{}/", self.vault_authority())
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    /// The name-resolution entry clients need.
    pub fn resolve(&self) -> (String, SocketAddr) {
        (self.host(), self.server.addr)
    }

    /// Writes a version directly (an operator's `az keyvault secret set`), returning its version id.
    pub fn seed(&self, name: &str, value: &str, content_type: Option<&str>, tags: BTreeMap<String, String>) -> String {
        let now = chrono::Utc::now().timestamp();
        let version = uuid::Uuid::new_v4().simple().to_string();
        self.secrets.lock().unwrap().entry(name.to_string()).or_default().push(StoredVersion {
            version: version.clone(),
            value: value.to_string(),
            content_type: content_type.map(str::to_string),
            tags,
            enabled: true,
            not_before: None,
            expires: None,
            created: now,
            updated: now,
        });
        version
    }

    /// Every version of a secret, oldest first, values included.
    pub fn versions(&self, name: &str) -> Vec<StoredVersion> {
        self.secrets.lock().unwrap().get(name).cloned().unwrap_or_default()
    }
}
