//! The policy file: which credentials keyrelay manages and how.
//!
//! `Policy::load` reads the TOML (see `examples/policy.toml`), parses every value into its
//! domain type and checks the whole file; the first mistake stops it with an error naming the
//! file, the line, the field and why. The rest of keyrelay only sees checked values and, per
//! rotation, the [`crate::core::Plan`] frozen from them.

mod alert;
mod error;
mod kind;
mod model;
mod plan;
mod raw;
mod redis;

pub use alert::AlertTarget;
pub use error::{Location, PolicyError};
pub use kind::ProviderKind;
pub use redis::{RedisPolicy, REDIS_CLOUD, REDIS_CLOUD_API_KEY, REDIS_KINDS, REDIS_SELFHOSTED};
pub use model::{ConsumerPolicy, CredentialPolicy, Policy, ProviderTarget, DEFAULT_ACK_DEADLINE};
