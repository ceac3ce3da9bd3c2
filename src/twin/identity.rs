//! The managed-identity token endpoint, as App Service and Functions expose it
//! (`IDENTITY_ENDPOINT` + `IDENTITY_HEADER`, api-version 2019-08-01).
//!
//! Tokens are opaque strings that name their audience, so every other twin server can check
//! that a client asked for the right audience (`https://management.azure.com`,
//! `https://vault.azure.net`, `https://servicebus.azure.net`, ...) — the mistake a real
//! Azure would punish with a 401.

use super::server::{serve_plain, TlsServer};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

const TOKEN_PREFIX: &str = "twin-token.";

/// The running token endpoint.
pub struct IdentityTwin {
    server: TlsServer,
    pub header: String,
    issued: Arc<AtomicU64>,
}

struct Shared {
    header: String,
    issued: Arc<AtomicU64>,
}

impl IdentityTwin {
    pub async fn start() -> anyhow::Result<IdentityTwin> {
        let header = format!("twin-identity-header-{}", uuid::Uuid::new_v4().simple());
        let issued = Arc::new(AtomicU64::new(0));
        let shared = Arc::new(Shared { header: header.clone(), issued: issued.clone() });
        let router = Router::new().route("/msi/token", get(token)).with_state(shared);
        Ok(IdentityTwin { server: serve_plain(router).await?, header, issued })
    }

    /// The value for `IDENTITY_ENDPOINT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}/msi/token", self.server.port())
    }

    /// How many tokens were issued (token caching makes this small).
    pub fn tokens_issued(&self) -> u64 {
        self.issued.load(Ordering::SeqCst)
    }

    /// The audience a bearer token from this twin was issued for, or None if the header is
    /// missing or not one of ours.
    pub fn audience_of(headers: &HeaderMap) -> Option<String> {
        let value = headers.get("authorization")?.to_str().ok()?;
        let token = value.strip_prefix("Bearer ")?.strip_prefix(TOKEN_PREFIX)?;
        let encoded = token.split('.').next()?;
        String::from_utf8(URL_SAFE_NO_PAD.decode(encoded).ok()?).ok()
    }

    /// True if the request carries a twin token for `audience` (trailing slashes and a
    /// `/.default` suffix are ignored, as Entra ID ignores them).
    pub fn authorized(headers: &HeaderMap, audience: &str) -> bool {
        let norm = |s: &str| s.trim_end_matches("/.default").trim_end_matches('/').to_ascii_lowercase();
        Self::audience_of(headers).is_some_and(|a| norm(&a) == norm(audience))
    }
}

async fn token(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let header_ok = headers.get("x-identity-header").and_then(|v| v.to_str().ok()) == Some(shared.header.as_str());
    if !header_ok {
        return (StatusCode::UNAUTHORIZED, "missing or wrong X-IDENTITY-HEADER").into_response();
    }
    let Some(resource) = q.get("resource") else {
        return (StatusCode::BAD_REQUEST, "resource is required").into_response();
    };
    let n = shared.issued.fetch_add(1, Ordering::SeqCst);
    let expires_on = chrono::Utc::now().timestamp() + 3_600;
    Json(serde_json::json!({
        "access_token": format!("{TOKEN_PREFIX}{}.{n}", URL_SAFE_NO_PAD.encode(resource)),
        // A string, as App Service returns it (azure_identity refuses a number here).
        "expires_on": expires_on.to_string(),
        "resource": resource,
        "token_type": "Bearer",
        "client_id": q.get("client_id").cloned().unwrap_or_else(|| "00000000-0000-0000-0000-000000000000".into()),
    }))
    .into_response()
}
