//! The code side of the infra consistency checks: which settings the handler reads, their
//! defaults, the functions it ships, and the ARM actions each provider kind needs.
//!
//! Settings and their defaults come from `keyrelay::shells::settings::SETTINGS`, the provider
//! kinds and their RBAC actions from `keyrelay::adapters::azure::providers::KINDS`: the code
//! itself, not a copy. The settings contract of the helpers' brief is kept as a constant too, and
//! a test checks that the code still matches it. `Source` names the code item a check ran
//! against; the tests print it.

use std::collections::{BTreeMap, BTreeSet};

/// The code item the expectations of a check came from (printed by the tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source(pub &'static str);

/// The settings table of the contract (BRIEF.md, "App settings / environment read by
/// `keyrelay serve`"): name and default ("" = required, or no default).
pub const CONTRACT_SETTINGS: &[(&str, &str)] = &[
    ("KEYRELAY_POLICY", "policy.toml"),
    ("KEYRELAY_STATE_STORE", "sqlite:.keyrelay/state.db"),
    ("KEYRELAY_SERVICEBUS_NAMESPACE", ""),
    ("KEYRELAY_COMMANDS_QUEUE", "rotation-commands"),
    ("KEYRELAY_ACKS_QUEUE", "reload-acks"),
    ("KEYRELAY_STEPS_TOPIC", "reload-steps"),
    ("KEYRELAY_EXPIRY_LEAD", "7d"),
    ("KEYRELAY_CREDENTIAL", "managed-identity"),
    ("KEYRELAY_CLIENT_ID", ""),
    ("KEYRELAY_CLOUD", "public"),
    ("KEYRELAY_ARM_ENDPOINT", ""),
    ("KEYRELAY_LOG", "info"),
];

/// Test-only environment: the code reads it, infra must never set it.
pub const TEST_ONLY_SETTINGS: &[&str] = &["KEYRELAY_EXTRA_CA_FILE", "KEYRELAY_RESOLVE", "IDENTITY_ENDPOINT", "IDENTITY_HEADER"];

/// The Functions host settings of the contract.
pub const HOST_SETTINGS: &[&str] = &[
    "AzureWebJobsStorage__accountName",
    "ServiceBusConnection__fullyQualifiedNamespace",
    "APPLICATIONINSIGHTS_CONNECTION_STRING",
];

/// The Service Bus trigger connection name of the contract.
pub const SERVICE_BUS_CONNECTION: &str = "ServiceBusConnection";

/// The functions of the design (DESIGN.md, "Azure Functions shape").
pub const FUNCTIONS: &[&str] = &["schedule", "keyvault-events", "rotation-commands", "reload-acks", "sweeper", "api"];

const SETTINGS_SOURCE: Source = Source("keyrelay::shells::settings::SETTINGS");

/// Settings `keyrelay serve` reads and infra must set: `SETTINGS` of src/shells/settings.rs,
/// without the port the Functions host itself provides.
pub fn code_settings() -> (BTreeSet<String>, Source) {
    use keyrelay::shells::settings::{PORT, SETTINGS};
    let names = SETTINGS.iter().map(|s| s.name).filter(|n| *n != PORT).map(str::to_string).collect();
    (names, SETTINGS_SOURCE)
}

/// The code's default of a setting, from `SETTINGS`.
pub fn code_default(setting: &str) -> Result<(String, Source), String> {
    let doc = keyrelay::shells::settings::SETTINGS
        .iter()
        .find(|s| s.name == setting)
        .ok_or_else(|| format!("{setting} is not in keyrelay::shells::settings::SETTINGS"))?;
    let default = doc.default.ok_or_else(|| format!("{setting} has no default in keyrelay::shells::settings::SETTINGS"))?;
    Ok((default.to_string(), SETTINGS_SOURCE))
}

/// One kind of the ARM provider table, reduced to what decides the RBAC actions and the
/// resource types a credential of that kind may name.
#[derive(Debug, Clone)]
pub struct ProviderKind {
    /// The kind's name, as policies and main.bicep's `credentials` spell it (`redis`).
    pub name: String,
    /// ARM resource types the kind accepts.
    pub resource_types: Vec<String>,
    /// The RBAC actions the kind's calls need.
    pub actions: BTreeSet<String>,
}

/// The ARM adapter's provider table (`KINDS`), with each kind's `actions()`.
pub fn provider_kinds() -> (Vec<ProviderKind>, Source) {
    use keyrelay::adapters::azure::providers::KINDS;
    let kinds = KINDS
        .iter()
        .map(|k| ProviderKind {
            name: k.name.to_string(),
            resource_types: k.resource_types.iter().map(|t| t.to_string()).collect(),
            actions: k.actions().into_iter().collect(),
        })
        .collect();
    (kinds, Source("keyrelay::adapters::azure::providers::KINDS"))
}

pub fn expected_actions() -> (BTreeMap<String, BTreeSet<String>>, Source) {
    let (kinds, source) = provider_kinds();
    (kinds.into_iter().map(|k| (k.name, k.actions)).collect(), source)
}
