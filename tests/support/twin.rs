//! The Azure twin's shared test wiring: one test CA and one managed-identity endpoint per test
//! process, the environment the production code reads (`IDENTITY_ENDPOINT`/`IDENTITY_HEADER`,
//! `KEYRELAY_EXTRA_CA_FILE`, `KEYRELAY_RESOLVE`), and the `HttpOptions` / credential a test
//! hands to production clients.
//!
//! The identity twin lives on its own thread and runtime so it outlives each `#[tokio::test]`
//! runtime, and the environment is set once, before any test builds a credential.
#![allow(dead_code)]

use keyrelay::adapters::azure::http::HttpOptions;
use keyrelay::twin::{IdentityTwin, TestCa};
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

pub struct SharedTwin {
    pub ca: TestCa,
    /// `IDENTITY_ENDPOINT` and `IDENTITY_HEADER` of the running token endpoint.
    pub identity_endpoint: String,
    pub identity_header: String,
    /// The CA certificate as a file, for child processes.
    pub ca_file: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

static SHARED: OnceLock<SharedTwin> = OnceLock::new();

/// The process-wide CA and identity endpoint (started on first use; the environment variables
/// are set then).
pub fn shared() -> &'static SharedTwin {
    SHARED.get_or_init(|| {
        let ca = TestCa::generate().expect("test CA");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
            runtime.block_on(async move {
                let identity = IdentityTwin::start().await.expect("identity twin");
                tx.send((identity.endpoint(), identity.header.clone())).expect("report endpoint");
                std::future::pending::<()>().await;
                drop(identity);
            });
        });
        let (identity_endpoint, identity_header) = rx.recv().expect("identity twin started");
        let dir = tempfile::tempdir().expect("temp dir");
        let ca_file = dir.path().join("twin-ca.pem");
        ca.write_ca(&ca_file).expect("write CA");
        // Set once, before any credential reads them; tests never change them afterwards.
        std::env::set_var("IDENTITY_ENDPOINT", &identity_endpoint);
        std::env::set_var("IDENTITY_HEADER", &identity_header);
        SharedTwin { ca, identity_endpoint, identity_header, ca_file, _dir: dir }
    })
}

impl SharedTwin {
    /// The options production clients get in a test: the twin's CA and these host overrides.
    pub fn http_options(&self, resolve: &[(String, SocketAddr)]) -> HttpOptions {
        HttpOptions { extra_roots_pem: vec![self.ca.ca_pem.clone()], resolve: resolve.to_vec(), ..HttpOptions::default() }
    }

    /// A managed-identity credential that gets its tokens from the identity twin.
    pub fn credential(&self) -> Arc<dyn azure_core::credentials::TokenCredential> {
        azure_identity::ManagedIdentityCredential::new(None).expect("managed identity credential")
    }

    /// The environment a child process (handler, agent, demo) needs to reach the twin.
    pub fn child_env(&self, resolve: &[(String, SocketAddr)]) -> Vec<(String, String)> {
        let resolve = resolve.iter().map(|(h, a)| format!("{h}={a}")).collect::<Vec<_>>().join(",");
        vec![
            ("KEYRELAY_EXTRA_CA_FILE".into(), self.ca_file.display().to_string()),
            ("KEYRELAY_RESOLVE".into(), resolve),
            ("IDENTITY_ENDPOINT".into(), self.identity_endpoint.clone()),
            ("IDENTITY_HEADER".into(), self.identity_header.clone()),
        ]
    }
}

/// The official example payloads (`shared/fixtures`): `KEYRELAY_FIXTURES`, else beside the
/// repository (`../shared/fixtures`, or two levels up for a git worktree).
pub fn fixtures_dir() -> std::path::PathBuf {
    if let Ok(dir) = std::env::var("KEYRELAY_FIXTURES") {
        return dir.into();
    }
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .skip(1)
        .take(3)
        .map(|a| a.join("shared/fixtures"))
        .find(|p| p.join("INDEX.md").exists())
        .expect("shared/fixtures not found beside the repository; set KEYRELAY_FIXTURES")
}

/// One fixture file's text.
pub fn fixture(relative: &str) -> String {
    let path = fixtures_dir().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A credential that always asks for `scope`, whatever the client asked for: what a client
/// configured for the wrong audience sends (the twin must refuse it).
#[derive(Debug)]
pub struct FixedScope {
    pub inner: Arc<dyn azure_core::credentials::TokenCredential>,
    pub scope: &'static str,
}

#[async_trait::async_trait]
impl azure_core::credentials::TokenCredential for FixedScope {
    async fn get_token(
        &self,
        _scopes: &[&str],
        options: Option<azure_core::credentials::TokenRequestOptions<'_>>,
    ) -> azure_core::Result<azure_core::credentials::AccessToken> {
        self.inner.get_token(&[self.scope], options).await
    }
}

impl SharedTwin {
    /// A credential whose tokens are for `scope` only.
    pub fn credential_for(&self, scope: &'static str) -> Arc<dyn azure_core::credentials::TokenCredential> {
        Arc::new(FixedScope { inner: self.credential(), scope })
    }

    /// `Authorization: Bearer ...` for raw requests to a twin server.
    pub async fn bearer(&self, scope: &str) -> String {
        let token = self.credential().get_token(&[scope], None).await.expect("token from the identity twin");
        format!("Bearer {}", token.token.secret())
    }
}
