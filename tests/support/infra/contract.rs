//! The code side of the infra consistency checks: which settings the handler reads, the default
//! entity names, the functions it ships, and the ARM actions each provider kind needs.
//!
//! Each is read from the code when the code exists in this checkout, and otherwise from the
//! settings contract of the helpers' brief, written here as constants. `Source` says which one a
//! check ran against, and the test prints it, so a run against the constants is never mistaken
//! for a run against the code.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Where the expectations of a check came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Code(String),
    Contract(&'static str),
}

/// The settings table of the contract (BRIEF.md, "App settings / environment read by
/// `keyrelay serve`"): name and default.
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

/// Settings `keyrelay serve` reads: the `KEYRELAY_*` string literals of src/shells/settings.rs
/// (test-only ones excluded) when that file exists, else the contract table.
pub fn code_settings(root: &Path) -> (BTreeSet<String>, Source) {
    let path = root.join("src/shells/settings.rs");
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let names = quoted_literals(&text)
                .into_iter()
                .filter(|s| s.len() > 9 && s.starts_with("KEYRELAY_") && s[9..].chars().all(|c| c.is_ascii_uppercase() || c == '_'))
                .filter(|s| !TEST_ONLY_SETTINGS.contains(&s.as_str()))
                .collect();
            (names, Source::Code("src/shells/settings.rs".into()))
        }
        Err(_) => (
            CONTRACT_SETTINGS.iter().map(|(n, _)| n.to_string()).collect(),
            Source::Contract("BRIEF.md settings table (src/shells/settings.rs not in this checkout)"),
        ),
    }
}

/// The default of an entity-name setting as the code spells it: the contract's default, which
/// must appear as a string literal in src/shells/settings.rs when that file exists.
pub fn code_default(root: &Path, setting: &str) -> Result<(String, Source), String> {
    let default = CONTRACT_SETTINGS
        .iter()
        .find(|(n, _)| *n == setting)
        .map(|(_, d)| d.to_string())
        .ok_or_else(|| format!("{setting} is not in the settings contract"))?;
    match std::fs::read_to_string(root.join("src/shells/settings.rs")) {
        Ok(text) if quoted_literals(&text).contains(&default) => Ok((default, Source::Code("src/shells/settings.rs".into()))),
        Ok(_) => Err(format!("src/shells/settings.rs does not spell the default {default:?} of {setting}")),
        Err(_) => Ok((default, Source::Contract("BRIEF.md settings table"))),
    }
}

/// Every `"..."` literal of Rust source (escapes are not needed for the names compared here).
pub fn quoted_literals(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(start) = rest.find('"') {
        let after = &rest[start + 1..];
        let Some(end) = after.find('"') else { break };
        out.insert(after[..end].to_string());
        rest = &after[end + 1..];
    }
    out
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

/// The provider table of the ARM adapter (`src/adapters/azure/providers/kinds.rs` on branch
/// `arm`): name, resource types, list operation, regenerate operation, and the namespace type
/// when the key-auth switch lives on the namespace. Transcribed until that table is in this
/// checkout.
pub const CONTRACT_KINDS: &[(&str, &[&str], &str, &str, Option<&str>)] = &[
    ("redis", &["Microsoft.Cache/redis"], "listKeys", "regenerateKey", None),
    ("redis-enterprise", &["Microsoft.Cache/redisEnterprise/databases"], "listKeys", "regenerateKey", None),
    ("storage", &["Microsoft.Storage/storageAccounts"], "listKeys", "regenerateKey", None),
    ("cosmos", &["Microsoft.DocumentDB/databaseAccounts"], "listKeys", "regenerateKey", None),
    ("cosmos-readonly", &["Microsoft.DocumentDB/databaseAccounts"], "readonlykeys", "regenerateKey", None),
    (
        "servicebus-rule",
        &[
            "Microsoft.ServiceBus/namespaces/AuthorizationRules",
            "Microsoft.ServiceBus/namespaces/queues/authorizationRules",
            "Microsoft.ServiceBus/namespaces/topics/authorizationRules",
        ],
        "listKeys",
        "regenerateKeys",
        Some("Microsoft.ServiceBus/namespaces"),
    ),
    (
        "eventhubs-rule",
        &["Microsoft.EventHub/namespaces/authorizationRules", "Microsoft.EventHub/namespaces/eventhubs/authorizationRules"],
        "listKeys",
        "regenerateKeys",
        Some("Microsoft.EventHub/namespaces"),
    ),
    ("cognitive-services", &["Microsoft.CognitiveServices/accounts"], "listKeys", "regenerateKey", None),
    ("search-admin", &["Microsoft.Search/searchServices"], "listAdminKeys", "regenerateAdminKey", None),
    ("signalr", &["Microsoft.SignalRService/signalR"], "listKeys", "regenerateKey", None),
    ("webpubsub", &["Microsoft.SignalRService/webPubSub"], "listKeys", "regenerateKey", None),
    ("maps", &["Microsoft.Maps/accounts"], "listKeys", "regenerateKey", None),
];

/// The actions of one transcribed row: read of the resource (or of the namespace that carries
/// the key-auth switch), list and regenerate on every accepted type — as RBAC names them,
/// `{type}/{operation}/action`.
fn contract_actions(types: &[&str], list_op: &str, regenerate_op: &str, namespace: Option<&str>) -> BTreeSet<String> {
    let reads: Vec<String> = match namespace {
        Some(ns) => vec![format!("{ns}/read")],
        None => types.iter().map(|t| format!("{t}/read")).collect(),
    };
    let calls = types.iter().flat_map(|t| [format!("{t}/{list_op}/action"), format!("{t}/{regenerate_op}/action")]);
    reads.into_iter().chain(calls).collect()
}

pub fn provider_kinds() -> (Vec<ProviderKind>, Source) {
    let kinds = CONTRACT_KINDS
        .iter()
        .map(|(name, types, list_op, regenerate_op, namespace)| ProviderKind {
            name: name.to_string(),
            resource_types: types.iter().map(|t| t.to_string()).collect(),
            actions: contract_actions(types, list_op, regenerate_op, *namespace),
        })
        .collect();
    (kinds, Source::Contract("the ARM adapter's provider table, transcribed (src/adapters/azure/providers/ not in this checkout)"))
}

pub fn expected_actions() -> (BTreeMap<String, BTreeSet<String>>, Source) {
    let (kinds, source) = provider_kinds();
    (kinds.into_iter().map(|k| (k.name, k.actions)).collect(), source)
}
