//! Service Bus on `azure_messaging_servicebus` 0.21 (the only published version): the REST
//! client with default features off (no OpenSSL) and our own HTTP client underneath, which
//! authorizes with Entra ID (or a correctly signed SAS) and honours [`HttpOptions`].
//!
//! [`HttpOptions`]: crate::adapters::azure::http::HttpOptions

pub mod auth;
pub mod error;
pub mod namespace;
pub mod receiver;
pub mod sender;
pub mod transport;

pub use auth::ServiceBusAuth;
pub use namespace::ServiceBusNamespace;
pub use receiver::{LockedMessage, ReceivedProperties, ServiceBusReceiver};
pub use sender::{ServiceBusCommandQueue, ServiceBusStepBus};
