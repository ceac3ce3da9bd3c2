//! The Redis probe: a fresh connection that authenticates with the new key and PINGs, plain or
//! TLS. An access key (Azure Cache for Redis) is the password of the configured user, or of
//! `default` (what a bare `AUTH key` means); a `{"username","password"}` value (self-hosted
//! ACL users, Redis Cloud's alternating users) brings its own user, which wins, because the
//! user alternates between rotations. The connection is made by the same
//! [`RedisEndpoint`] the Redis adapters use, so the probe speaks RESP through the `redis` crate.

use crate::adapters::redis::{RedisEndpoint, UserPassword};
use crate::domain::SecretValue;
use ::redis::AsyncConnectionConfig;
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
    let ca_pem = match ca_file {
        Some(path) => Some(std::fs::read_to_string(path).map_err(|e| format!("cannot read ca_file {}: {e}", path.display()))?),
        None => None,
    };
    let endpoint = RedisEndpoint { host: host.to_string(), port, tls, ca_pem };
    let (user, password) = match UserPassword::parse(key) {
        Ok(credential) => (credential.username, credential.password),
        Err(_) => (username.unwrap_or("default").to_string(), key.clone()),
    };
    let client = endpoint.client(&user, &password).map_err(|e| format!("redis client for {}: {e}", endpoint.display()))?;
    let config = AsyncConnectionConfig::new().set_connection_timeout(Some(timeout)).set_response_timeout(Some(timeout));
    let mut connection = client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .map_err(|e| format!("AUTH as {user:?} with the new key on {}: {e}", endpoint.display()))?;
    let pong: String = ::redis::cmd("PING").query_async(&mut connection).await.map_err(|e| format!("PING: {e}"))?;
    if pong != "PONG" {
        return Err(format!("PING answered {pong:?}"));
    }
    Ok(format!("redis AUTH as {user:?} + PING ok on {}", endpoint.display()))
}
