//! Redis Cloud (Redis Inc.'s managed service) through its REST API.
//!
//! Two credentials are rotated: a database's alternating ACL users ([`alternating`]) and the
//! API user keys themselves, with an operator's help ([`api_key_rotation`]).
//!
//! Not offered: the database's `default` user password as a one-slot credential
//! (`PUT /subscriptions/{id}/databases/{id} {"password": ...}`). The core rotates two slots and
//! never regenerates the slot the current Key Vault version holds (invariant I1); with one
//! password, every regenerate *is* that slot, and every consumer fails from the moment it
//! changes until it reloads. Supporting it would mean a second, downtime-accepting protocol in
//! the core, not an adapter — so keyrelay refuses databases with `enableDefaultUser: true` and
//! points at alternating users instead.

pub mod alternating;
pub mod api_key_rotation;
pub mod client;
pub mod keys;
pub mod task;

pub use alternating::{AlternatingConfig, AlternatingUsersProvider};
pub use api_key_rotation::{ApiKeyRotation, ApiKeyRotationConfig};
pub use client::{Backoff, CloudClient, CloudError, CloudOptions, API_BASE};
pub use keys::{validate_key_name, ApiKeys};
