//! The agent's TOML configuration: who it is, where its steps and acks travel, which
//! credentials it holds, how each is reloaded and how its health is checked.
//!
//! Every value is parsed into a domain type while the file is read, so a wrong value is
//! reported with the file, line and field it came from (`agent.toml:14:9: [[credential.probe]]
//! port: invalid value ...`) instead of failing later in the middle of a rotation.

use crate::adapters::azure::identity::IdentitySettings;
use crate::domain::{ConsumerId, CredentialName, HumanDuration};
use crate::shells::settings;
use serde::Deserialize;
use serde_spanned::Spanned;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// The consumer id keyrelay's policy lists; steps for any other consumer are not applied.
    pub consumer: ConsumerId,
    /// How often a heartbeat reports the version in use; `0s` turns heartbeats off.
    #[serde(default = "defaults::heartbeat_every")]
    pub heartbeat_every: HumanDuration,
    /// Where the agent remembers the versions in use across restarts, so heartbeats report
    /// them before the next rotation (optional).
    #[serde(default)]
    pub state_file: Option<PathBuf>,
    pub service_bus: ServiceBusConfig,
    #[serde(default)]
    pub azure: AzureAccess,
    #[serde(rename = "credential")]
    pub credentials: Vec<CredentialConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceBusConfig {
    /// `<ns>.servicebus.windows.net`.
    pub namespace: String,
    #[serde(default = "defaults::steps_topic")]
    pub steps_topic: String,
    /// The consumer's subscription on the steps topic; defaults to the consumer id (the name
    /// keyrelay's infra creates, with the SQL filter `consumer = '<id>'`).
    #[serde(default)]
    pub subscription: Option<String>,
    #[serde(default = "defaults::acks_queue")]
    pub acks_queue: String,
    /// How long one receive call waits for a message.
    #[serde(default = "defaults::receive_wait")]
    pub receive_wait: HumanDuration,
    /// How often the lock of a step being processed is renewed (keep it under the
    /// subscription's lock duration, 60 s by default).
    #[serde(default = "defaults::lock_renew_every")]
    pub lock_renew_every: HumanDuration,
}

/// How the agent signs in to Key Vault, Service Bus and Resource Manager: the same values
/// as keyrelay's `KEYRELAY_CREDENTIAL`, `KEYRELAY_CLIENT_ID` and `KEYRELAY_CLOUD`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AzureAccess {
    #[serde(default = "defaults::credential")]
    pub credential: String,
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default = "defaults::cloud")]
    pub cloud: String,
}

impl Default for AzureAccess {
    fn default() -> Self {
        AzureAccess { credential: defaults::credential(), client_id: None, cloud: defaults::cloud() }
    }
}

/// One credential the consumer holds: the Key Vault secret keyrelay publishes it to, and what
/// to do when a step names a new version of it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialConfig {
    pub name: Spanned<CredentialName>,
    /// The vault host, `<vault>.vault.azure.net`. A step naming another vault or secret is
    /// refused, so a wrong step can never make the agent load someone else's secret.
    pub vault: String,
    pub secret: String,
    #[serde(default)]
    pub reload: Vec<HookConfig>,
    #[serde(default)]
    pub probe: Vec<ProbeConfig>,
}

impl CredentialConfig {
    pub fn name(&self) -> &CredentialName {
        self.name.get_ref()
    }
}

/// A reload hook: how the application gets the new key.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum HookConfig {
    /// Write the value to a file (mode 0600, written beside it and renamed into place), then
    /// optionally signal the process whose pid is in `pid_file`.
    File {
        path: PathBuf,
        #[serde(default)]
        signal: Option<String>,
        #[serde(default)]
        pid_file: Option<PathBuf>,
    },
    /// Run a program with the value on its standard input (never in its arguments, which any
    /// local user can read in `/proc`). A non-zero exit fails the reload.
    Command {
        command: Vec<String>,
        #[serde(default = "defaults::hook_timeout")]
        timeout: HumanDuration,
    },
    /// POST the value (`text/plain` body) to an endpoint of the application.
    Http {
        url: String,
        #[serde(default = "defaults::hook_timeout")]
        timeout: HumanDuration,
    },
    /// Make an App Service / Functions app re-read its Key Vault references now instead of
    /// within 24 hours: `POST {site}/config/configreferences/appsettings/refresh`.
    AppServiceReferences {
        /// `/subscriptions/.../resourceGroups/.../providers/Microsoft.Web/sites/<app>`
        /// (or `.../sites/<app>/slots/<slot>`).
        resource_id: String,
        #[serde(default = "defaults::hook_timeout")]
        timeout: HumanDuration,
    },
}

/// A health probe with the new key, retried `retries` times `retry_delay` apart, each try
/// bounded by `timeout`.
#[derive(Debug, Clone, Deserialize)]
pub struct ProbeConfig {
    #[serde(flatten)]
    pub target: ProbeTarget,
    #[serde(default = "defaults::probe_timeout")]
    pub timeout: HumanDuration,
    #[serde(default = "defaults::probe_retries")]
    pub retries: u32,
    #[serde(default = "defaults::probe_retry_delay")]
    pub retry_delay: HumanDuration,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ProbeTarget {
    /// AUTH with the new key (and `username`, for ACL users), then PING.
    Redis {
        host: String,
        port: u16,
        #[serde(default)]
        tls: bool,
        #[serde(default)]
        username: Option<String>,
        /// Extra trusted root (PEM) for a server with a private CA.
        #[serde(default)]
        ca_file: Option<PathBuf>,
    },
    /// GET `url` (the key is not sent: this checks the application, which has reloaded);
    /// the status must be `expect_status` and the body contain `expect_body` if given.
    Http {
        url: String,
        #[serde(default = "defaults::expect_status")]
        expect_status: u16,
        #[serde(default)]
        expect_body: Option<String>,
    },
    /// A TCP connection to `address` (`host:port`) opens.
    Tcp { address: String },
    /// A program exits 0; it gets the value on its standard input.
    Command { command: Vec<String> },
}

mod defaults {
    use crate::domain::HumanDuration;

    pub fn heartbeat_every() -> HumanDuration {
        HumanDuration::from_secs(300)
    }
    pub fn steps_topic() -> String {
        "reload-steps".into()
    }
    pub fn acks_queue() -> String {
        "reload-acks".into()
    }
    pub fn receive_wait() -> HumanDuration {
        HumanDuration::from_secs(20)
    }
    pub fn lock_renew_every() -> HumanDuration {
        HumanDuration::from_secs(20)
    }
    pub fn credential() -> String {
        "managed-identity".into()
    }
    pub fn cloud() -> String {
        "public".into()
    }
    pub fn hook_timeout() -> HumanDuration {
        HumanDuration::from_secs(30)
    }
    pub fn probe_timeout() -> HumanDuration {
        HumanDuration::from_secs(5)
    }
    pub fn probe_retries() -> u32 {
        2
    }
    pub fn probe_retry_delay() -> HumanDuration {
        HumanDuration::from_secs(2)
    }
    pub fn expect_status() -> u16 {
        200
    }
}

/// A configuration the agent cannot run with: where, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}:{line}:{column}: {field}{why}")]
pub struct ConfigError {
    pub origin: String,
    pub line: usize,
    pub column: usize,
    /// `[[credential.probe]] port`, or empty when the error is about the whole file.
    pub field: String,
    pub why: String,
}

impl AgentConfig {
    pub fn load(path: &Path) -> Result<AgentConfig, ConfigError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            origin: origin.clone(),
            line: 0,
            column: 0,
            field: String::new(),
            why: format!("cannot read the file: {e}"),
        })?;
        AgentConfig::parse(&text, &origin)
    }

    /// Parses and checks a configuration; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<AgentConfig, ConfigError> {
        let config: AgentConfig = toml::from_str(text).map_err(|e| {
            let at = e.span().map(|s| s.start).unwrap_or(0);
            error_at(text, origin, at, e.message().trim())
        })?;
        config.check(text, origin)?;
        Ok(config)
    }

    /// The rules a single field cannot express.
    fn check(&self, text: &str, origin: &str) -> Result<(), ConfigError> {
        let at_name = |c: &CredentialConfig, why: String| error_at(text, origin, c.name.span().start, &why);
        if self.credentials.is_empty() {
            return Err(error_at(text, origin, 0, "no [[credential]]: the agent holds at least one credential"));
        }
        let is_host = |s: &str| !s.is_empty() && s.contains('.') && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == ':');
        if !is_host(&self.service_bus.namespace) {
            return Err(error_at(text, origin, find(text, "namespace"), "must be a host name like <ns>.servicebus.windows.net (no scheme, no path)"));
        }
        self.identity_settings()
            .map_err(|e| error_at(text, origin, find(text, "[azure]"), &e.to_string()))?;
        for (i, c) in self.credentials.iter().enumerate() {
            if self.credentials[..i].iter().any(|d| d.name() == c.name()) {
                return Err(at_name(c, format!("credential {} is listed twice", c.name())));
            }
            if !is_host(&c.vault) {
                return Err(at_name(c, format!("credential {}: vault {:?} must be a host name like <vault>.vault.azure.net", c.name(), c.vault)));
            }
            if c.secret.is_empty() || !c.secret.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '-') {
                return Err(at_name(c, format!("credential {}: secret {:?} is not a Key Vault secret name (letters, digits, -)", c.name(), c.secret)));
            }
            if c.reload.is_empty() {
                return Err(at_name(
                    c,
                    format!("credential {} has no [[credential.reload]] hook: an agent that acks without handing the key to the application would prove nothing", c.name()),
                ));
            }
            for hook in &c.reload {
                hook.check().map_err(|why| at_name(c, format!("credential {}: reload hook: {why}", c.name())))?;
            }
            for probe in &c.probe {
                probe.check().map_err(|why| at_name(c, format!("credential {}: probe: {why}", c.name())))?;
            }
        }
        Ok(())
    }

    pub fn credential(&self, name: &CredentialName) -> Option<&CredentialConfig> {
        self.credentials.iter().find(|c| c.name() == name)
    }

    /// How the agent signs in: the `[azure]` table in place of keyrelay's `KEYRELAY_CREDENTIAL`,
    /// `KEYRELAY_CLIENT_ID` and `KEYRELAY_CLOUD`; the rest (`AZURE_TENANT_ID`,
    /// `AZURE_CLIENT_SECRET` for client-secret, `KEYRELAY_ARM_ENDPOINT`) from the environment,
    /// so no secret is ever written into the configuration file.
    pub fn identity_settings(&self) -> anyhow::Result<IdentitySettings> {
        let azure = &self.azure;
        IdentitySettings::from_lookup(|name| match name {
            settings::CREDENTIAL => Some(azure.credential.clone()),
            settings::CLIENT_ID => azure.client_id.clone(),
            settings::CLOUD => Some(azure.cloud.clone()),
            other => std::env::var(other).ok(),
        })
    }

    /// The subscription the agent receives from.
    pub fn subscription(&self) -> String {
        self.service_bus.subscription.clone().unwrap_or_else(|| self.consumer.to_string())
    }
}

impl HookConfig {
    fn check(&self) -> Result<(), String> {
        match self {
            HookConfig::File { path, signal, pid_file } => {
                if path.as_os_str().is_empty() {
                    return Err("file: path is empty".into());
                }
                match (signal, pid_file) {
                    (Some(s), Some(_)) => super::reload::signal_number(s).map(|_| ()),
                    (Some(_), None) => Err("file: signal needs pid_file (whose process to signal)".into()),
                    (None, Some(_)) => Err("file: pid_file without signal".into()),
                    (None, None) => Ok(()),
                }
            }
            HookConfig::Command { command, .. } => check_command(command),
            HookConfig::Http { url, .. } => check_url(url),
            HookConfig::AppServiceReferences { resource_id, .. } => {
                let lower = resource_id.to_ascii_lowercase();
                if lower.starts_with("/subscriptions/") && lower.contains("/providers/microsoft.web/sites/") {
                    Ok(())
                } else {
                    Err(format!("app-service-references: resource_id {resource_id:?} is not /subscriptions/.../providers/Microsoft.Web/sites/<app>"))
                }
            }
        }
    }
}

impl ProbeConfig {
    fn check(&self) -> Result<(), String> {
        if self.timeout.as_secs() == 0 {
            return Err("timeout must be at least 1s".into());
        }
        match &self.target {
            ProbeTarget::Redis { host, .. } if host.is_empty() => Err("redis: host is empty".into()),
            ProbeTarget::Redis { .. } => Ok(()),
            ProbeTarget::Http { url, .. } => check_url(url),
            ProbeTarget::Tcp { address } if !address.contains(':') => Err(format!("tcp: address {address:?} is not host:port")),
            ProbeTarget::Tcp { .. } => Ok(()),
            ProbeTarget::Command { command } => check_command(command),
        }
    }
}

fn check_command(command: &[String]) -> Result<(), String> {
    match command.first() {
        Some(program) if !program.is_empty() => Ok(()),
        _ => Err("command: give the program and its arguments as a list, e.g. [\"/usr/bin/reload\", \"--quiet\"]".into()),
    }
}

fn check_url(url: &str) -> Result<(), String> {
    match url::Url::parse(url) {
        Ok(u) if u.scheme() == "http" || u.scheme() == "https" => Ok(()),
        Ok(u) => Err(format!("url {url:?}: scheme {:?} is not http or https", u.scheme())),
        Err(e) => Err(format!("url {url:?}: {e}")),
    }
}

fn find(text: &str, key: &str) -> usize {
    text.find(key).unwrap_or(0)
}

/// Builds an error for byte offset `at`: its line and column, and the field it belongs to
/// (the table header above it and the key on its line).
fn error_at(text: &str, origin: &str, at: usize, why: &str) -> ConfigError {
    let at = at.min(text.len());
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let column = before[line_start..].chars().count() + 1;
    let this_line = text[line_start..].lines().next().unwrap_or("");
    let key = this_line.split_once('=').map(|(k, _)| k.trim()).filter(|k| !k.is_empty() && !k.starts_with('['));
    let table = Some(this_line.trim())
        .filter(|l| l.starts_with('['))
        .or_else(|| before.lines().rev().map(str::trim).find(|l| l.starts_with('[')));
    let field = match (table, key) {
        (Some(t), Some(k)) => format!("{t} {k}: "),
        (None, Some(k)) => format!("{k}: "),
        (Some(t), None) => format!("{t}: "),
        (None, None) => String::new(),
    };
    ConfigError { origin: origin.to_string(), line, column, field, why: why.to_string() }
}
