//! Serving an axum router over TLS (or plain HTTP, for the managed-identity endpoint, which is
//! plain HTTP in Azure too) on 127.0.0.1 with a port the OS picks.

use super::TestCa;
use axum::Router;
use axum_server::tls_rustls::RustlsConfig;
use axum_server::Handle;
use std::net::SocketAddr;

/// A running twin server. Dropping it shuts the server down.
pub struct TlsServer {
    pub addr: SocketAddr,
    handle: Handle,
}

impl TlsServer {
    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        self.handle.shutdown();
    }
}

fn loopback_listener() -> anyhow::Result<std::net::TcpListener> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// Serves `router` over HTTPS with the twin's certificate.
pub async fn serve_tls(router: Router, ca: &TestCa) -> anyhow::Result<TlsServer> {
    serve_tls_on(loopback_listener()?, router, ca).await
}

/// Serves `router` over HTTPS on a listener the caller bound (a fixed port, for clients that
/// cannot be given one).
pub async fn serve_tls_on(listener: std::net::TcpListener, router: Router, ca: &TestCa) -> anyhow::Result<TlsServer> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let config = RustlsConfig::from_pem(ca.server_cert_pem.clone().into_bytes(), ca.server_key_pem.clone().into_bytes()).await?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let handle = Handle::new();
    let server = axum_server::from_tcp_rustls(listener, config).handle(handle.clone());
    tokio::spawn(async move {
        let _ = server.serve(router.into_make_service()).await;
    });
    Ok(TlsServer { addr, handle })
}

/// Serves `router` over plain HTTP on loopback.
pub async fn serve_plain(router: Router) -> anyhow::Result<TlsServer> {
    let listener = loopback_listener()?;
    let addr = listener.local_addr()?;
    let handle = Handle::new();
    let server = axum_server::from_tcp(listener).handle(handle.clone());
    tokio::spawn(async move {
        let _ = server.serve(router.into_make_service()).await;
    });
    Ok(TlsServer { addr, handle })
}

/// The authority (`host[:port]`) a request was sent to: the `Host` header over HTTP/1.1, the
/// URI's authority over HTTP/2 (which has no `Host` header). Twin servers build the URLs they
/// return (ids, `nextLink`, `Location`) from it, as Azure does from the name it was called by.
pub fn request_authority(headers: &axum::http::HeaderMap, uri: &axum::http::Uri) -> String {
    headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| uri.authority().map(|a| a.to_string()))
        .unwrap_or_else(|| "localhost".to_string())
}
