//! Azure adapters: identity, Resource Manager providers, Key Vault, Service Bus, Blob state.

pub mod http;
pub mod servicebus;
pub mod keyvault;
pub mod identity;
pub mod sdk_transport;
pub mod arm;
pub mod providers;
pub mod blob_store;
pub mod shared_key;
