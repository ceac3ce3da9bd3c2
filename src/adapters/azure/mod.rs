//! Azure adapters: identity, Resource Manager providers, Key Vault, Service Bus, Blob state.

pub mod http;
pub mod blob_store;
pub mod shared_key;
