//! `keyrelay serve`: the custom handler process. The Functions host starts it with
//! `FUNCTIONS_CUSTOMHANDLER_PORT` set, probes `GET /` until it answers, then posts invocations.
//! It must be listening within 60 seconds, so everything slow (tokens, connections) happens
//! lazily on first use, and everything that can be checked up front (settings, policy) is.

use crate::shells::handler::{router, Handler};
use crate::shells::settings::Settings;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use tokio::net::TcpListener;

/// Reads settings, builds the production handler and serves until SIGTERM / Ctrl-C.
pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    init_tracing(&settings.log);
    let port = settings.require_port()?;
    let handler = super::wiring::build(&settings).await?;
    let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on 127.0.0.1:{port}: {e}"))?;
    tracing::info!(port, "keyrelay custom handler listening");
    run(Arc::new(handler), listener).await
}

/// Serves a handler on a bound listener until the process is told to stop.
pub async fn run(handler: Arc<Handler>, listener: TcpListener) -> anyhow::Result<()> {
    axum::serve(listener, router(handler)).with_graceful_shutdown(shutdown()).await?;
    Ok(())
}

async fn shutdown() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// `KEYRELAY_LOG` as a tracing filter; logs go to stdout, which the host collects.
fn init_tracing(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter).unwrap_or_else(|e| {
        eprintln!("KEYRELAY_LOG={filter:?} is not a valid filter ({e}); using info");
        tracing_subscriber::EnvFilter::new("info")
    });
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(false).try_init();
}
