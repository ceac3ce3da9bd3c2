//! The handler's view of the policy: which credentials exist, their plans, their cadence.
//!
//! The policy file is parsed elsewhere (`src/policy`); the handler only needs these lookups,
//! so it owns this small trait and the wiring adapts the policy to it. Tests use
//! [`StaticCatalog`].

use crate::core::Plan;
use crate::domain::{CredentialName, HumanDuration};

/// One managed credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogEntry {
    pub plan: Plan,
    /// Rotate when the last rotation is older than this (None: only on expiry or by hand).
    pub cadence: Option<HumanDuration>,
}

pub trait Catalog: Send + Sync {
    fn entries(&self) -> Vec<CatalogEntry>;

    fn find(&self, credential: &CredentialName) -> Option<CatalogEntry> {
        self.entries().into_iter().find(|e| &e.plan.credential == credential)
    }

    /// The credentials whose Key Vault secret is this one (vault matched by `matches_vault`).
    fn by_secret(&self, matches_vault: &dyn Fn(&str) -> bool, secret: &str) -> Vec<CatalogEntry> {
        self.entries()
            .into_iter()
            .filter(|e| matches_vault(&e.plan.secret.vault) && e.plan.secret.name.eq_ignore_ascii_case(secret))
            .collect()
    }
}

/// A fixed list of credentials.
#[derive(Debug, Clone, Default)]
pub struct StaticCatalog(pub Vec<CatalogEntry>);

impl Catalog for StaticCatalog {
    fn entries(&self) -> Vec<CatalogEntry> {
        self.0.clone()
    }
}

/// The policy file is the production catalog: each credential's frozen plan (with the policy's
/// timing) and its `rotate_every` cadence.
impl Catalog for crate::policy::Policy {
    fn entries(&self) -> Vec<CatalogEntry> {
        self.credentials.iter().map(|c| CatalogEntry { plan: c.plan(&self.timing), cadence: c.rotate_every }).collect()
    }
}
