//! Opening a Redis connection as one ACL user, over TCP or TLS.
//!
//! The self-hosted provider (admin connection) and the local redis-server twin share this one
//! function, so the twin is reached exactly the way a production Redis is: same client, same
//! TLS verification (host name checked against the certificate), only the trusted root differs.

use crate::domain::SecretValue;
use ::redis::aio::MultiplexedConnection;
use ::redis::{AsyncConnectionConfig, Client, ConnectionAddr, IntoConnectionInfo, RedisConnectionInfo};
use std::time::Duration;

/// Where a Redis server listens and how to talk to it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RedisEndpoint {
    pub host: String,
    pub port: u16,
    /// TLS on (`rediss://`). The server certificate must name `host`.
    pub tls: bool,
    /// A private CA (PEM) to trust instead of the public roots, for servers whose certificate
    /// comes from an in-house CA. `None` trusts the usual public roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_pem: Option<String>,
}

impl RedisEndpoint {
    /// `redis://host:port` or `rediss://host:port`, never with credentials: for logs and evidence.
    pub fn display(&self) -> String {
        let scheme = if self.tls { "rediss" } else { "redis" };
        format!("{scheme}://{}:{}", self.host, self.port)
    }

    /// A client for `user` with `password` (the password stays inside the client).
    pub fn client(&self, user: &str, password: &SecretValue) -> ::redis::RedisResult<Client> {
        let addr = if self.tls {
            ConnectionAddr::TcpTls { host: self.host.clone(), port: self.port, insecure: false, tls_params: None }
        } else {
            ConnectionAddr::Tcp(self.host.clone(), self.port)
        };
        let settings = RedisConnectionInfo::default().set_username(user).set_password(password.expose());
        let info = addr.into_connection_info()?.set_redis_settings(settings);
        if self.tls {
            let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
            let certs = ::redis::TlsCertificates {
                client_tls: None,
                root_cert: self.ca_pem.as_ref().map(|pem| pem.as_bytes().to_vec()),
            };
            Client::build_with_tls(info, certs)
        } else {
            Client::open(info)
        }
    }

    /// Connects and authenticates as `user`. Timeouts are short: these are admin round trips.
    pub async fn connect(&self, user: &str, password: &SecretValue) -> ::redis::RedisResult<MultiplexedConnection> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(5)))
            .set_response_timeout(Some(Duration::from_secs(5)));
        self.client(user, password)?.get_multiplexed_async_connection_with_config(&config).await
    }
}

/// A Redis error as text that is safe to show: the redis crate never echoes the password, but
/// AUTH failures are worded for people who do not know which user was tried, so name it.
pub fn describe_error(endpoint: &RedisEndpoint, user: &str, err: &::redis::RedisError) -> String {
    format!("{} as ACL user {user:?}: {err}", endpoint.display())
}
