//! Azurite (the Azure Storage emulator from npm) as a child process for Blob store tests:
//! blob service only, in memory, on 127.0.0.1 at a free port, over HTTPS with a certificate
//! from the test CA. Clients reach it by the production host name
//! `devstoreaccount1.blob.core.windows.net` through `HttpOptions::resolve`, trusting the test
//! CA — the production client, not a test-only path.

use azure_core::credentials::{AccessToken, Secret, TokenCredential, TokenRequestOptions};
use base64::Engine;
use keyrelay::adapters::azure::blob_store::{BlobAuth, BlobStore};
use keyrelay::adapters::azure::http::HttpOptions;
use keyrelay::domain::SecretValue;
use keyrelay::twin::tls::TestCa;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Azurite's well-known development account (documented; not a secret).
pub const ACCOUNT: &str = "devstoreaccount1";
pub const ACCOUNT_KEY: &str = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
pub const INSTALL: &str = "scripts/setup   (or: cd tools && npm ci)";

pub struct Azurite {
    child: Child,
    pub port: u16,
    pub ca: TestCa,
    _dir: tempfile::TempDir,
}

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn bin_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/node_modules/.bin")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind a free port").local_addr().expect("local addr").port()
}

impl Azurite {
    /// Starts Azurite, or fails saying how to install it.
    pub fn start() -> Azurite {
        let azurite = bin_dir().join("azurite");
        let blob_only = bin_dir().join("azurite-blob");
        if !azurite.exists() || !blob_only.exists() {
            panic!("Azurite is not installed ({} missing). Install it with:\n    {INSTALL}", azurite.display());
        }
        let ca = TestCa::generate().expect("test CA");
        let dir = tempfile::tempdir().expect("temp dir");
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        std::fs::write(&cert, &ca.server_cert_pem).expect("write cert");
        std::fs::write(&key, &ca.server_key_pem).expect("write key");
        let port = free_port();
        let child = Command::new(&blob_only)
            .args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()])
            .args(["--inMemoryPersistence", "--disableTelemetry", "--skipApiVersionCheck", "--silent"])
            // Bearer tokens are checked for audience, issuer and lifetime (not signature).
            .args(["--oauth", "basic"])
            .arg("--cert")
            .arg(&cert)
            .arg("--key")
            .arg(&key)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}. Install Azurite with:\n    {INSTALL}", blob_only.display()));
        let mut azurite = Azurite { child, port, ca, _dir: dir };
        let deadline = Instant::now() + Duration::from_secs(60);
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Ok(Some(status)) = azurite.child.try_wait() {
                panic!("Azurite exited at start ({status})");
            }
            assert!(Instant::now() < deadline, "Azurite did not listen on {addr} within 60 s");
            std::thread::sleep(Duration::from_millis(100));
        }
        azurite
    }

    /// Our HTTP client's options: trust the test CA, resolve the account host to Azurite.
    pub fn http_options(&self) -> HttpOptions {
        HttpOptions {
            extra_roots_pem: vec![self.ca.ca_pem.clone()],
            resolve: vec![(format!("{ACCOUNT}.blob.core.windows.net"), SocketAddr::from(([127, 0, 0, 1], self.port)))],
            ..HttpOptions::default()
        }
    }

    /// The production-shaped container URL (plus Azurite's port).
    pub fn container_url(&self, container: &str) -> String {
        format!("https://{ACCOUNT}.blob.core.windows.net:{}/{container}", self.port)
    }

    /// A new client (as a restarted keyrelay would make) on `container`, signing with the
    /// account key.
    pub fn store(&self, container: &str) -> BlobStore {
        let auth = BlobAuth::SharedKey { account: ACCOUNT.into(), key: SecretValue::new(ACCOUNT_KEY) };
        BlobStore::new(&self.container_url(container), auth, &self.http_options()).expect("blob store client")
    }

    /// A new client that authenticates with an Entra ID bearer token from `credential`, as
    /// keyrelay does in Azure with its managed identity.
    pub fn store_with_identity(&self, container: &str, credential: Arc<EmulatorToken>) -> BlobStore {
        BlobStore::new(&self.container_url(container), BlobAuth::Identity(credential), &self.http_options())
            .expect("blob store client")
    }
}

/// A token credential minting the unsigned JWTs Azurite's `--oauth basic` accepts, for the
/// audience it was given; it records the scopes it was asked for.
#[derive(Debug)]
pub struct EmulatorToken {
    audience: String,
    pub scopes: Mutex<Vec<String>>,
}

impl EmulatorToken {
    pub fn new(audience: &str) -> Arc<EmulatorToken> {
        Arc::new(EmulatorToken { audience: audience.into(), scopes: Mutex::new(Vec::new()) })
    }
}

#[async_trait::async_trait]
impl TokenCredential for EmulatorToken {
    async fn get_token(&self, scopes: &[&str], _: Option<TokenRequestOptions<'_>>) -> azure_core::Result<AccessToken> {
        self.scopes.lock().unwrap().extend(scopes.iter().map(|s| s.to_string()));
        let now = time::OffsetDateTime::now_utc();
        let b64 = |v: serde_json::Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        let header = b64(serde_json::json!({"alg": "RS256", "typ": "JWT"}));
        let claims = b64(serde_json::json!({
            "aud": self.audience,
            "iss": "https://sts.windows.net/00000000-0000-0000-0000-000000000000/",
            "nbf": now.unix_timestamp() - 60,
            "iat": now.unix_timestamp() - 60,
            "exp": now.unix_timestamp() + 3600,
            "oid": "11111111-1111-1111-1111-111111111111",
        }));
        let token = format!("{header}.{claims}.c2lnbmF0dXJl");
        Ok(AccessToken::new(Secret::new(token), now + time::Duration::hours(1)))
    }
}
