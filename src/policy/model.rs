//! The checked policy: what each managed credential is, where its secret lives, who consumes
//! it and how often it rotates. Built from the raw TOML by [`Policy::parse`], which refuses
//! the whole file at its first mistake — a half-understood policy must not start rotating.

use super::raw::{RawConsumer, RawCredential, RawDefaults, RawPolicy, RawTiming};
use super::{AlertTarget, Location, PolicyError, ProviderKind, RedisPolicy};
use crate::core::Timing;
use crate::domain::{ConsumerId, CredentialName, HumanDuration, Slot, Wave};
use crate::ports::SecretRef;
use serde_spanned::Spanned;
use std::collections::BTreeMap;
use std::path::Path;

/// Ack deadline of a consumer that names none, and no `[defaults] ack_deadline`.
pub const DEFAULT_ACK_DEADLINE: HumanDuration = HumanDuration::from_secs(15 * 60);

#[derive(Debug, Clone)]
pub struct Policy {
    /// The file it was read from, for errors found later (`check_kinds`).
    pub origin: String,
    pub credentials: Vec<CredentialPolicy>,
    pub timing: Timing,
}

/// Where the provider finds the credential's resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderTarget {
    /// An Azure Resource Manager resource id.
    Resource(String),
    /// A provider outside ARM: the Redis Cloud API database URL, a `rediss://` host.
    Address(String),
}

impl ProviderTarget {
    pub fn as_str(&self) -> &str {
        match self {
            ProviderTarget::Resource(s) | ProviderTarget::Address(s) => s,
        }
    }
}

#[derive(Debug, Clone)]
pub struct CredentialPolicy {
    pub name: CredentialName,
    pub provider: ProviderKind,
    pub target: ProviderTarget,
    pub secret: SecretRef,
    pub content_type: String,
    /// The published version's `exp` is publication time + validity.
    pub validity: HumanDuration,
    /// The schedule rotates the credential when its last rotation is older than this; `None`
    /// leaves it to Key Vault expiry events and operators.
    pub rotate_every: Option<HumanDuration>,
    pub soak: HumanDuration,
    pub usage_guard: bool,
    /// The slot consumers use today, for a secret whose current version has no slot tag.
    pub initial_slot: Option<Slot>,
    pub alert: Option<AlertTarget>,
    /// What a Redis provider kind needs besides the address; `None` for every other kind.
    pub redis: Option<RedisPolicy>,
    pub consumers: Vec<ConsumerPolicy>,
    /// Where the credential is declared (its `name`), its `provider` and its
    /// `resource`/`address` lines.
    pub declared_at: Location,
    pub provider_at: Location,
    pub target_at: Location,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerPolicy {
    pub id: ConsumerId,
    pub wave: Wave,
    pub ack_deadline: HumanDuration,
    /// What the consumer checks with the new key before it acks (for operators and evidence).
    pub health: Option<String>,
}

impl Policy {
    /// Reads and checks a policy file; the error names the file as given.
    pub fn load(path: &Path) -> Result<Policy, PolicyError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| PolicyError::new(&origin, None, "(file)", format!("cannot read the policy file: {e}")))?;
        Policy::parse(&text, &origin)
    }

    /// Checks a policy's text; `origin` is what errors call the file.
    pub fn parse(text: &str, origin: &str) -> Result<Policy, PolicyError> {
        let raw: RawPolicy = toml::from_str(text).map_err(|e| PolicyError::from_toml(origin, text, &e))?;
        let ctx = Ctx { file: origin, text };
        let timing = ctx.timing(raw.timing)?;
        if raw.credentials.is_empty() {
            return Err(PolicyError::new(
                origin,
                Some(Location { line: 1, column: 1 }),
                "credential",
                "the policy declares no [[credential]]; keyrelay would have nothing to rotate",
            ));
        }
        let mut credentials: Vec<CredentialPolicy> = Vec::new();
        let mut secrets: BTreeMap<(String, String), Location> = BTreeMap::new();
        for raw_cred in raw.credentials {
            let name_span = raw_cred.name.span();
            let secret_span = raw_cred.secret.span();
            let cred = ctx.credential(raw_cred, &raw.defaults)?;
            if let Some(first) = credentials.iter().find(|c| c.name == cred.name) {
                return Err(ctx.err(
                    name_span,
                    "credential.name",
                    format!("credential {:?} is declared twice (first at line {})", cred.name.as_str(), first.declared_at.line),
                ));
            }
            let key = (cred.secret.vault.to_ascii_lowercase(), cred.secret.name.to_ascii_lowercase());
            if let Some(first) = secrets.insert(key, cred.declared_at) {
                return Err(ctx.err(
                    secret_span,
                    "credential.secret",
                    format!(
                        "secret {}/{} already belongs to the credential declared at line {}; one Key Vault secret holds one credential",
                        cred.secret.vault, cred.secret.name, first.line
                    ),
                ));
            }
            credentials.push(cred);
        }
        Ok(Policy { origin: origin.to_string(), credentials, timing })
    }

    /// Refuses a credential whose provider kind is not one of `known` (the kinds the running
    /// binary's adapters implement), pointing at its `provider` line.
    pub fn check_kinds(&self, known: &[&str]) -> Result<(), PolicyError> {
        match self.credentials.iter().find(|c| !known.contains(&c.provider.as_str())) {
            None => Ok(()),
            Some(c) => {
                let mut kinds: Vec<&str> = known.to_vec();
                kinds.sort_unstable();
                Err(PolicyError::new(
                    &self.origin,
                    Some(c.provider_at),
                    "credential.provider",
                    format!("unknown provider kind {:?} (credential {:?}); known kinds: {}", c.provider.as_str(), c.name.as_str(), kinds.join(", ")),
                ))
            }
        }
    }
}

impl Policy {
    /// Lets a shell check each credential's resource or address against what its provider
    /// kind expects (the ARM kind table knows each kind's resource type); a refusal is
    /// reported at the `resource`/`address` line.
    pub fn check_targets(&self, check: impl Fn(&CredentialPolicy) -> Result<(), String>) -> Result<(), PolicyError> {
        for c in &self.credentials {
            if let Err(why) = check(c) {
                let field = match c.target {
                    ProviderTarget::Resource(_) => "credential.resource",
                    ProviderTarget::Address(_) => "credential.address",
                };
                return Err(PolicyError::new(&self.origin, Some(c.target_at), field, format!("credential {:?}: {why}", c.name.as_str())));
            }
        }
        Ok(())
    }
}

/// The file being checked, to turn spans into located errors.
pub(super) struct Ctx<'a> {
    file: &'a str,
    text: &'a str,
}

impl Ctx<'_> {
    pub(super) fn err(&self, span: std::ops::Range<usize>, field: &str, why: impl Into<String>) -> PolicyError {
        PolicyError::new(self.file, Some(Location::of(self.text, span.start)), field, why)
    }

    pub(super) fn at(&self, span: std::ops::Range<usize>) -> Location {
        Location::of(self.text, span.start)
    }

    fn timing(&self, raw: RawTiming) -> Result<Timing, PolicyError> {
        let d = Timing::default();
        if let Some(r) = &raw.resend_every {
            if r.get_ref().as_secs() == 0 {
                return Err(self.err(r.span(), "timing.resend_every", "must be longer than 0s"));
            }
        }
        let lease_span = raw.action_lease.as_ref().map(Spanned::span);
        let action_lease = raw.action_lease.map_or(d.action_lease, Spanned::into_inner);
        let action_time_limit = match raw.action_time_limit {
            Some(limit) if limit.get_ref().as_secs() == 0 || limit.get_ref().as_secs() >= action_lease.as_secs() => {
                return Err(self.err(limit.span(), "timing.action_time_limit", "must be longer than 0s and shorter than timing.action_lease"));
            }
            Some(limit) => limit.into_inner(),
            None if d.action_time_limit.as_secs() >= action_lease.as_secs() => {
                return Err(self.err(
                    lease_span.unwrap_or(0..0),
                    "timing.action_lease",
                    format!("must be longer than the default action_time_limit ({}), or set timing.action_time_limit", d.action_time_limit),
                ));
            }
            None => d.action_time_limit,
        };
        Ok(Timing {
            action_lease,
            action_time_limit,
            resend_every: raw.resend_every.map_or(d.resend_every, Spanned::into_inner),
            operation_timeout: raw.operation_timeout.unwrap_or(d.operation_timeout),
            max_transient_failures: raw.max_transient_failures.unwrap_or(d.max_transient_failures),
            backoff: raw.backoff.unwrap_or(d.backoff),
            usage_guard_timeout: raw.usage_guard_timeout.unwrap_or(d.usage_guard_timeout),
        })
    }

    fn credential(&self, raw: RawCredential, defaults: &RawDefaults) -> Result<CredentialPolicy, PolicyError> {
        let name_span = raw.name.span();
        let target = self.target(&raw)?;
        let target_span = raw.resource.as_ref().or(raw.address.as_ref()).map_or(name_span.clone(), Spanned::span);
        let secret = SecretRef {
            vault: vault_host(raw.vault.get_ref()).map_err(|why| self.err(raw.vault.span(), "credential.vault", why))?,
            name: secret_name(raw.secret.get_ref()).map_err(|why| self.err(raw.secret.span(), "credential.secret", why))?,
        };
        let validity = raw.validity.as_ref().or(defaults.validity.as_ref()).ok_or_else(|| {
            self.err(name_span.clone(), "credential.validity", "missing: how long a published key stays valid (e.g. validity = \"90d\"), here or in [defaults]")
        })?;
        if validity.get_ref().as_secs() == 0 {
            return Err(self.err(validity.span(), "credential.validity", "must be longer than 0s"));
        }
        let rotate_every = raw.rotate_every.as_ref().or(defaults.rotate_every.as_ref());
        if let Some(every) = rotate_every {
            if every.get_ref().as_secs() == 0 {
                return Err(self.err(every.span(), "credential.rotate_every", "must be longer than 0s"));
            }
            if validity.get_ref() <= every.get_ref() {
                return Err(self.err(
                    validity.span(),
                    "credential.validity",
                    format!(
                        "validity {} is not longer than rotate_every {}: the key would expire before the next rotation",
                        validity.get_ref(),
                        every.get_ref()
                    ),
                ));
            }
        }
        let alert = match raw.alert.as_ref().or(defaults.alert.as_ref()) {
            None => None,
            Some(a) => Some(AlertTarget::parse(a.get_ref()).map_err(|e| self.err(a.span(), "credential.alert", e.why))?),
        };
        let ack_default = defaults.ack_deadline.unwrap_or(DEFAULT_ACK_DEADLINE);
        let consumers = self.consumers(&raw.consumers, ack_default, name_span.clone())?;
        let redis = self.redis(&raw, &target, &secret)?;
        Ok(CredentialPolicy {
            name: raw.name.get_ref().clone(),
            provider: raw.provider.get_ref().clone(),
            provider_at: self.at(raw.provider.span()),
            declared_at: self.at(name_span),
            target_at: self.at(target_span),
            target,
            secret,
            content_type: raw.content_type.or_else(|| defaults.content_type.clone()).unwrap_or_else(|| "text/plain".into()),
            validity: *validity.get_ref(),
            rotate_every: rotate_every.map(|e| *e.get_ref()),
            soak: raw.soak.or(defaults.soak).unwrap_or(HumanDuration::ZERO),
            usage_guard: raw.usage_guard.or(defaults.usage_guard).unwrap_or(false),
            initial_slot: raw.initial_slot,
            alert,
            redis,
            consumers,
        })
    }

    fn target(&self, raw: &RawCredential) -> Result<ProviderTarget, PolicyError> {
        match (&raw.resource, &raw.address) {
            (Some(_), Some(a)) => Err(self.err(a.span(), "credential.address", "give either resource (ARM) or address (outside ARM), not both")),
            (None, None) => Err(self.err(
                raw.name.span(),
                "credential.resource",
                "missing: give resource (an ARM resource id /subscriptions/...) or address (a provider URL such as https://api.redislabs.com/v1/subscriptions/1/databases/2 or rediss://host:port)",
            )),
            (Some(r), None) => {
                let id = r.get_ref().trim();
                let lower = id.to_ascii_lowercase();
                if !lower.starts_with("/subscriptions/") || !lower.contains("/providers/") || id.ends_with('/') {
                    return Err(self.err(r.span(), "credential.resource", format!("{id:?} is not an ARM resource id (/subscriptions/{{id}}/resourceGroups/{{rg}}/providers/{{namespace}}/{{type}}/{{name}})")));
                }
                Ok(ProviderTarget::Resource(id.to_string()))
            }
            (None, Some(a)) => {
                let text = a.get_ref().trim();
                // The text is echoed only once it is known to hold no password: an address
                // pasted from a connection string may carry one, and errors reach logs.
                let url = url::Url::parse(text).map_err(|e| self.err(a.span(), "credential.address", format!("not a URL: {e}")))?;
                if !url.password().unwrap_or("").is_empty() {
                    return Err(self.err(a.span(), "credential.address", "must not contain a password; keys live in Key Vault"));
                }
                if !matches!(url.scheme(), "https" | "redis" | "rediss") || url.host_str().is_none() {
                    return Err(self.err(a.span(), "credential.address", format!("{text:?}: expected an https://, rediss:// or redis:// URL with a host")));
                }
                Ok(ProviderTarget::Address(text.to_string()))
            }
        }
    }

    fn consumers(
        &self,
        raw: &[RawConsumer],
        ack_default: HumanDuration,
        name_span: std::ops::Range<usize>,
    ) -> Result<Vec<ConsumerPolicy>, PolicyError> {
        if raw.is_empty() {
            return Err(self.err(
                name_span,
                "credential.consumer",
                "no consumers: the old key is retired only after every consumer acked the new one; declare at least one [[credential.consumer]]",
            ));
        }
        let mut out: Vec<ConsumerPolicy> = Vec::new();
        for (i, c) in raw.iter().enumerate() {
            if let Some(j) = raw[..i].iter().position(|p| p.id.get_ref() == c.id.get_ref()) {
                return Err(self.err(
                    c.id.span(),
                    "credential.consumer.id",
                    format!("consumer {:?} is declared twice in this credential (first at line {})", c.id.get_ref().as_str(), self.at(raw[j].id.span()).line),
                ));
            }
            let ack_deadline = match &c.ack_deadline {
                Some(d) if d.get_ref().as_secs() == 0 => return Err(self.err(d.span(), "credential.consumer.ack_deadline", "must be longer than 0s")),
                Some(d) => *d.get_ref(),
                None => ack_default,
            };
            let health = match &c.health {
                Some(h) if h.get_ref().trim().is_empty() => return Err(self.err(h.span(), "credential.consumer.health", "must describe the check, or be left out")),
                Some(h) => Some(h.get_ref().trim().to_string()),
                None => None,
            };
            let wave = c.wave.as_ref().map_or(Wave::parse(1).expect("1 is a wave"), |w| *w.get_ref());
            out.push(ConsumerPolicy { id: c.id.get_ref().clone(), wave, ack_deadline, health });
        }
        // Waves run in order, each waiting for the last; a gap is almost always a typo.
        let mut waves: Vec<u16> = out.iter().map(|c| c.wave.number()).collect();
        waves.sort_unstable();
        waves.dedup();
        for (expected, &actual) in (1u16..).zip(&waves) {
            if actual != expected {
                let (c, raw_c) = out.iter().zip(raw).find(|(c, _)| c.wave.number() == actual).expect("wave comes from a consumer");
                let span = raw_c.wave.as_ref().map_or(raw_c.id.span(), Spanned::span);
                return Err(self.err(
                    span,
                    "credential.consumer.wave",
                    format!(
                        "consumer {:?} is in wave {actual} but no consumer is in wave {expected}; number waves 1, 2, 3, ... without gaps",
                        c.id.as_str()
                    ),
                ));
            }
        }
        Ok(out)
    }
}

/// `kv.vault.azure.net`, `https://kv.vault.azure.net/` → `kv.vault.azure.net`.
pub(super) fn vault_host(text: &str) -> Result<String, String> {
    let t = text.trim();
    let host = t.strip_prefix("https://").unwrap_or(t).trim_end_matches('/');
    if t.starts_with("http://") {
        return Err(format!("{t:?}: Key Vault is reached over https only"));
    }
    if !host.contains('.') {
        return Err(format!("{t:?}: write the vault's host name, e.g. {host}.vault.azure.net"));
    }
    if !host.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == ':') {
        return Err(format!("{t:?} is not a vault host name or URL"));
    }
    Ok(host.to_ascii_lowercase())
}

/// Key Vault secret names: 1 to 127 letters, digits and hyphens.
pub(super) fn secret_name(text: &str) -> Result<String, String> {
    let t = text.trim();
    if t.is_empty() || t.len() > 127 || !t.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(format!("{t:?} is not a Key Vault secret name (1 to 127 letters, digits and hyphens)"));
    }
    Ok(t.to_string())
}
