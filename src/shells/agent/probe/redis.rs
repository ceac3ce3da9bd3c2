//! The Redis probe: a fresh connection that authenticates with the new key (AUTH, or AUTH
//! username for ACL users) and PINGs, plain or TLS, spoken by the `redis` crate.

use crate::domain::SecretValue;
use ::redis::{AsyncConnectionConfig, Client, IntoConnectionInfo, RedisConnectionInfo, TlsCertificates};
use std::path::Path;
use std::time::Duration;

pub async fn auth_and_ping(
    host: &str,
    port: u16,
    tls: bool,
    username: Option<&str>,
    ca_file: Option<&Path>,
    key: &SecretValue,
    timeout: Duration,
) -> Result<String, String> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let scheme = if tls { "rediss" } else { "redis" };
    let mut settings = RedisConnectionInfo::default().set_password(key.expose());
    if let Some(user) = username {
        settings = settings.set_username(user);
    }
    let info = format!("{scheme}://{host}:{port}/")
        .into_connection_info()
        .map_err(|e| format!("bad redis address {host}:{port}: {e}"))?
        .set_redis_settings(settings);
    let client = match (tls, ca_file) {
        (true, Some(ca)) => {
            let pem = std::fs::read(ca).map_err(|e| format!("cannot read ca_file {}: {e}", ca.display()))?;
            Client::build_with_tls(info, TlsCertificates { client_tls: None, root_cert: Some(pem) })
        }
        _ => Client::open(info),
    }
    .map_err(|e| format!("redis client: {e}"))?;
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout));
    let mut connection = client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .map_err(|e| format!("connect and AUTH with the new key: {e}"))?;
    let pong: String = ::redis::cmd("PING")
        .query_async(&mut connection)
        .await
        .map_err(|e| format!("PING: {e}"))?;
    if pong != "PONG" {
        return Err(format!("PING answered {pong:?}"));
    }
    let who = username.map(|u| format!(" as {u}")).unwrap_or_default();
    Ok(format!("redis AUTH{who} + PING ok on {host}:{port}{}", if tls { " (tls)" } else { "" }))
}
