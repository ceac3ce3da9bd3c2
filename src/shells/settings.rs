//! Every app setting `keyrelay serve` reads, in one place.
//!
//! The Functions host passes app settings to the handler as environment variables. Reading them
//! all here (and nowhere else) means one table documents them: [`SETTINGS`] is what
//! `docs/settings.md` and `local.settings.sample.json` must list, and a test checks they do.
//! A bad value is refused at start-up with the setting's name and what was wrong, so a typo in
//! infra shows in the host's start-up log instead of as a half-working rotator.

use crate::domain::HumanDuration;
use std::fmt;
use std::path::PathBuf;

/// One documented setting: its name, its default (None = required or optional without
/// default), and what it means.
#[derive(Debug, Clone, Copy)]
pub struct SettingDoc {
    pub name: &'static str,
    pub default: Option<&'static str>,
    pub meaning: &'static str,
}

pub const POLICY: &str = "KEYRELAY_POLICY";
pub const STATE_STORE: &str = "KEYRELAY_STATE_STORE";
pub const SERVICEBUS_NAMESPACE: &str = "KEYRELAY_SERVICEBUS_NAMESPACE";
pub const COMMANDS_QUEUE: &str = "KEYRELAY_COMMANDS_QUEUE";
pub const ACKS_QUEUE: &str = "KEYRELAY_ACKS_QUEUE";
pub const STEPS_TOPIC: &str = "KEYRELAY_STEPS_TOPIC";
pub const EXPIRY_LEAD: &str = "KEYRELAY_EXPIRY_LEAD";
pub const CREDENTIAL: &str = "KEYRELAY_CREDENTIAL";
pub const CLIENT_ID: &str = "KEYRELAY_CLIENT_ID";
pub const CLOUD: &str = "KEYRELAY_CLOUD";
pub const LOG: &str = "KEYRELAY_LOG";
/// Overrides the cloud's Resource Manager endpoint (Azure Stack Hub; the twin in tests).
pub const ARM_ENDPOINT: &str = "KEYRELAY_ARM_ENDPOINT";
/// Set by the Functions host, not by infra: the port the host calls the handler on.
pub const PORT: &str = "FUNCTIONS_CUSTOMHANDLER_PORT";

/// The settings keyrelay itself reads (BRIEF's contract table), plus the host-provided port.
pub const SETTINGS: &[SettingDoc] = &[
    SettingDoc { name: POLICY, default: Some("policy.toml"), meaning: "path of the policy TOML (relative paths are resolved from the working directory, which is the app root beside host.json)" },
    SettingDoc { name: STATE_STORE, default: Some("sqlite:.keyrelay/state.db"), meaning: "`sqlite:<path>` or `blob:https://<account>.blob.core.windows.net/<container>`" },
    SettingDoc { name: SERVICEBUS_NAMESPACE, default: None, meaning: "`<ns>.servicebus.windows.net`: where keyrelay sends steps and commands (required for serve)" },
    SettingDoc { name: COMMANDS_QUEUE, default: Some("rotation-commands"), meaning: "queue of rotation commands (the rotation-commands function's trigger)" },
    SettingDoc { name: ACKS_QUEUE, default: Some("reload-acks"), meaning: "queue consumers ack to (the reload-acks function's trigger)" },
    SettingDoc { name: STEPS_TOPIC, default: Some("reload-steps"), meaning: "topic of reload steps; one subscription per consumer filtering on `consumer`" },
    SettingDoc { name: EXPIRY_LEAD, default: Some("7d"), meaning: "the schedule rotates a credential whose Key Vault secret expires within this" },
    SettingDoc { name: CREDENTIAL, default: Some("managed-identity"), meaning: "`managed-identity` | `workload-identity` | `azure-cli` | `client-secret`" },
    SettingDoc { name: CLIENT_ID, default: None, meaning: "client id of a user-assigned managed identity or app registration (unset: system-assigned)" },
    SettingDoc { name: CLOUD, default: Some("public"), meaning: "`public` | `china` | `usgovernment`: ARM endpoint and token audiences" },
    SettingDoc { name: ARM_ENDPOINT, default: None, meaning: "`https://` Resource Manager endpoint overriding the cloud's (Azure Stack Hub); unset: the `KEYRELAY_CLOUD` endpoint" },
    SettingDoc { name: LOG, default: Some("info"), meaning: "tracing filter (e.g. `info`, `keyrelay=debug`)" },
    SettingDoc { name: PORT, default: None, meaning: "set by the Functions host: the port `keyrelay serve` listens on (127.0.0.1)" },
];

/// Where rotation records live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateStoreSetting {
    Sqlite(PathBuf),
    /// The container URL, `https://<account>.blob.core.windows.net/<container>`.
    Blob(url::Url),
}

/// The credential and cloud kinds are the identity adapter's own types, parsed by it.
pub use crate::adapters::azure::identity::{parse_arm_endpoint, Cloud, CredentialKind};

/// A setting whose value could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingError {
    pub name: &'static str,
    pub why: String,
}

impl fmt::Display for SettingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "app setting {}: {}", self.name, self.why)
    }
}

impl std::error::Error for SettingError {}

/// The parsed settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub policy: PathBuf,
    pub state_store: StateStoreSetting,
    /// Required by `serve` (see [`Settings::require_servicebus`]); optional so that commands
    /// that never touch Service Bus can share this parser.
    pub servicebus_namespace: Option<String>,
    pub commands_queue: String,
    pub acks_queue: String,
    pub steps_topic: String,
    pub expiry_lead: HumanDuration,
    pub credential: CredentialKind,
    pub client_id: Option<String>,
    pub cloud: Cloud,
    /// `KEYRELAY_ARM_ENDPOINT`, checked (https, no trailing slash); `None`: the cloud's.
    pub arm_endpoint: Option<String>,
    pub log: String,
    pub port: Option<u16>,
}

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Settings, SettingError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup` (tests pass a map). An empty or blank value counts as
    /// unset, because app settings cannot easily be deleted from some deployment tools.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Settings, SettingError> {
        let get = |name: &'static str| lookup(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let or_default = |name: &'static str| get(name).unwrap_or_else(|| default_of(name).to_string());
        Ok(Settings {
            policy: PathBuf::from(or_default(POLICY)),
            state_store: parse_state_store(&or_default(STATE_STORE))?,
            servicebus_namespace: get(SERVICEBUS_NAMESPACE).map(|v| parse_namespace(&v)).transpose()?,
            commands_queue: parse_entity(COMMANDS_QUEUE, &or_default(COMMANDS_QUEUE))?,
            acks_queue: parse_entity(ACKS_QUEUE, &or_default(ACKS_QUEUE))?,
            steps_topic: parse_entity(STEPS_TOPIC, &or_default(STEPS_TOPIC))?,
            expiry_lead: HumanDuration::parse(&or_default(EXPIRY_LEAD))
                .map_err(|e| SettingError { name: EXPIRY_LEAD, why: e.why })?,
            credential: parse_credential(&or_default(CREDENTIAL))?,
            client_id: get(CLIENT_ID),
            cloud: parse_cloud(&or_default(CLOUD))?,
            arm_endpoint: get(ARM_ENDPOINT)
                .map(|v| parse_arm_endpoint(&v).map_err(|e| SettingError { name: ARM_ENDPOINT, why: e.to_string() }))
                .transpose()?,
            log: or_default(LOG),
            port: get(PORT)
                .map(|v| v.parse::<u16>().map_err(|_| SettingError { name: PORT, why: format!("{v:?} is not a port number") }))
                .transpose()?,
        })
    }

    /// The Service Bus namespace, which `serve` cannot run without.
    pub fn require_servicebus(&self) -> Result<&str, SettingError> {
        self.servicebus_namespace.as_deref().ok_or(SettingError {
            name: SERVICEBUS_NAMESPACE,
            why: "is required for serve; set it to <namespace>.servicebus.windows.net".into(),
        })
    }

    /// The port the host assigned.
    pub fn require_port(&self) -> Result<u16, SettingError> {
        self.port.ok_or(SettingError {
            name: PORT,
            why: "is not set; the Functions host sets it when it starts the handler (set it yourself to run serve by hand)".into(),
        })
    }
}

fn default_of(name: &'static str) -> &'static str {
    SETTINGS.iter().find(|s| s.name == name).and_then(|s| s.default).unwrap_or("")
}

fn parse_state_store(v: &str) -> Result<StateStoreSetting, SettingError> {
    let err = |why: String| SettingError { name: STATE_STORE, why };
    if let Some(path) = v.strip_prefix("sqlite:") {
        if path.trim().is_empty() {
            return Err(err("sqlite: needs a path, e.g. sqlite:.keyrelay/state.db".into()));
        }
        return Ok(StateStoreSetting::Sqlite(PathBuf::from(path.trim())));
    }
    if let Some(rest) = v.strip_prefix("blob:") {
        let url = url::Url::parse(rest.trim()).map_err(|e| err(format!("{rest:?} is not a URL: {e}")))?;
        let container = url.path_segments().and_then(|mut s| s.next()).unwrap_or("");
        if url.scheme() != "https" || url.host_str().is_none() || container.is_empty() {
            return Err(err(format!("{rest:?} must be https://<account>.blob.core.windows.net/<container>")));
        }
        return Ok(StateStoreSetting::Blob(url));
    }
    Err(err(format!("{v:?} must start with sqlite: or blob:")))
}

fn parse_namespace(v: &str) -> Result<String, SettingError> {
    let host = v.trim_start_matches("https://").trim_start_matches("sb://").trim_end_matches('/');
    let ok = host.contains('.') && host.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    if !ok {
        return Err(SettingError { name: SERVICEBUS_NAMESPACE, why: format!("{v:?} must be <namespace>.servicebus.windows.net") });
    }
    Ok(host.to_ascii_lowercase())
}

/// Service Bus entity names: letters, digits, `-`, `_`, `.`, `/`, at most 260 characters.
fn parse_entity(name: &'static str, v: &str) -> Result<String, SettingError> {
    let ok = v.len() <= 260 && v.chars().all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c));
    if !ok {
        return Err(SettingError { name, why: format!("{v:?} is not a Service Bus entity name") });
    }
    Ok(v.to_string())
}

fn parse_credential(v: &str) -> Result<CredentialKind, SettingError> {
    CredentialKind::parse(v).map_err(|e| SettingError { name: CREDENTIAL, why: e.to_string() })
}

fn parse_cloud(v: &str) -> Result<Cloud, SettingError> {
    Cloud::parse(v).map_err(|e| SettingError { name: CLOUD, why: e.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn parse(pairs: &[(&str, &str)]) -> Result<Settings, SettingError> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Settings::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_match_the_contract() {
        let s = parse(&[]).unwrap();
        assert_eq!(s.policy, PathBuf::from("policy.toml"));
        assert_eq!(s.state_store, StateStoreSetting::Sqlite(".keyrelay/state.db".into()));
        assert_eq!((s.commands_queue.as_str(), s.acks_queue.as_str(), s.steps_topic.as_str()), ("rotation-commands", "reload-acks", "reload-steps"));
        assert_eq!(s.expiry_lead, HumanDuration::parse("7d").unwrap());
        assert_eq!((s.credential, s.cloud), (CredentialKind::ManagedIdentity, Cloud::Public));
        assert_eq!(s.log, "info");
        assert!(s.require_servicebus().unwrap_err().to_string().contains(SERVICEBUS_NAMESPACE));
    }

    #[test]
    fn bad_values_name_the_setting() {
        for (name, value) in [
            (STATE_STORE, "postgres://x"),
            (STATE_STORE, "blob:http://a/c"),
            (EXPIRY_LEAD, "7 days"),
            (CREDENTIAL, "password"),
            (CLOUD, "mars"),
            (PORT, "70000"),
            (SERVICEBUS_NAMESPACE, "not a host"),
            (COMMANDS_QUEUE, "bad queue"),
            (ARM_ENDPOINT, "http://127.0.0.1:80"),
        ] {
            let err = parse(&[(name, value)]).unwrap_err();
            assert_eq!(err.name, name, "{value}");
            assert!(err.to_string().contains(name));
        }
    }

    #[test]
    fn parses_real_values() {
        let s = parse(&[
            (STATE_STORE, "blob:https://acct.blob.core.windows.net/keyrelay"),
            (SERVICEBUS_NAMESPACE, "Contoso.servicebus.windows.net"),
            (CLOUD, "usgovernment"),
            (PORT, "7071"),
            (CLIENT_ID, "  "),
        ])
        .unwrap();
        assert!(matches!(s.state_store, StateStoreSetting::Blob(_)));
        assert_eq!(s.require_servicebus().unwrap(), "contoso.servicebus.windows.net");
        assert_eq!(s.cloud.arm_endpoint(), "https://management.usgovcloudapi.net");
        assert_eq!(s.require_port().unwrap(), 7071);
        assert_eq!(s.client_id, None);
        assert_eq!(s.arm_endpoint, None);
        let s = parse(&[(ARM_ENDPOINT, "https://management.local.azurestack.external/")]).unwrap();
        assert_eq!(s.arm_endpoint.as_deref(), Some("https://management.local.azurestack.external"));
    }
}
