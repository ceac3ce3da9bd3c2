//! The local Azure twin: HTTPS servers on 127.0.0.1 that answer the way Azure does (the
//! official example payloads in `shared/fixtures`), so the production clients can be run
//! unchanged with no Azure account. The demo and the tests use it.
//!
//! Clients reach it only through two settings any deployment has too: extra trusted roots and
//! host-name overrides ([`crate::adapters::azure::http::HttpOptions`]). There is no plain-http
//! or test-only branch in the clients.

pub mod arm;
pub mod hostsim;
pub mod identity;
pub mod keyvault;
pub mod process_identity;
pub mod redis_server;
pub mod rediscloud;
pub mod server;
pub mod servicebus;
pub mod stack;
pub mod tls;

pub use arm::ArmTwin;
pub use identity::IdentityTwin;
pub use redis_server::{RedisServer, RedisServerOptions};
pub use rediscloud::RedisCloudTwin;
pub use server::TlsServer;
pub use tls::TestCa;
