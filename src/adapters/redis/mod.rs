//! Redis adapters: Redis Cloud (its REST API, alternating ACL users, assisted API-key rotation)
//! and self-hosted Redis 6+ (one ACL user with two passwords).

pub mod acl;
pub mod cloud;
pub mod connect;
pub mod credential;
pub mod password;
pub mod selfhosted;
pub mod staging;
pub mod vault;

pub use connect::RedisEndpoint;
pub use credential::UserPassword;
pub use selfhosted::{SelfHostedConfig, SelfHostedProvider};
pub use staging::Staging;
pub use password::strong_password;
