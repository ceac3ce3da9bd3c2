//! The one HTTP client every Azure adapter uses.
//!
//! Two settings shape it, and both exist for real deployments (private endpoints, TLS
//! inspection proxies): extra trusted root certificates and host-name overrides. The Azure
//! twin is reached through exactly these, so tests run the production code path.

use std::net::SocketAddr;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Extra trusted roots, PEM. Empty in Azure.
    pub extra_roots_pem: Vec<String>,
    /// Host name → address overrides (the port still comes from the URL). Empty in Azure.
    pub resolve: Vec<(String, SocketAddr)>,
    /// Whole-request timeout.
    pub timeout: Duration,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions { extra_roots_pem: Vec::new(), resolve: Vec::new(), timeout: Duration::from_secs(60) }
    }
}

impl HttpOptions {
    /// Reads `KEYRELAY_EXTRA_CA_FILE` (a PEM file of extra roots) and `KEYRELAY_RESOLVE`
    /// (`host=ip:port,host=ip:port`), the same way for every shell.
    pub fn from_env() -> anyhow::Result<HttpOptions> {
        let mut opts = HttpOptions::default();
        if let Ok(path) = std::env::var("KEYRELAY_EXTRA_CA_FILE") {
            if !path.trim().is_empty() {
                let pem = std::fs::read_to_string(&path)
                    .map_err(|e| anyhow::anyhow!("KEYRELAY_EXTRA_CA_FILE={path}: {e}"))?;
                opts.extra_roots_pem.push(pem);
            }
        }
        if let Ok(list) = std::env::var("KEYRELAY_RESOLVE") {
            opts.resolve = parse_resolve(&list)?;
        }
        Ok(opts)
    }

    /// Builds the reqwest client.
    pub fn client(&self) -> anyhow::Result<reqwest::Client> {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let mut builder = reqwest::Client::builder().timeout(self.timeout).https_only(false);
        for pem in &self.extra_roots_pem {
            for cert in reqwest::Certificate::from_pem_bundle(pem.as_bytes())? {
                builder = builder.add_root_certificate(cert);
            }
        }
        for (host, addr) in &self.resolve {
            builder = builder.resolve(host, *addr);
        }
        Ok(builder.build()?)
    }
}

/// Parses `host=ip:port,host=ip:port`.
pub fn parse_resolve(list: &str) -> anyhow::Result<Vec<(String, SocketAddr)>> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|entry| {
            let (host, addr) = entry
                .split_once('=')
                .ok_or_else(|| anyhow::anyhow!("KEYRELAY_RESOLVE entry {entry:?} is not host=ip:port"))?;
            let addr: SocketAddr = addr
                .parse()
                .map_err(|e| anyhow::anyhow!("KEYRELAY_RESOLVE entry {entry:?}: {e}"))?;
            Ok((host.trim().to_string(), addr))
        })
        .collect()
}
