//! What the Redis provider kinds need beyond a credential's common fields.
//!
//! Redis lives outside Resource Manager, so a Redis credential names its server (or the Redis
//! Cloud API) by `address` and says which ACL user(s) hold its two slots and which Key Vault
//! secret holds the admin credentials or API keys keyrelay acts with — never the keys
//! themselves. These fields are checked here, with the other policy mistakes, so a Redis
//! credential missing one stops `serve` with file:line:field instead of failing at its first
//! rotation.
//!
//! | kind | address | required | optional |
//! |---|---|---|---|
//! | `redis-selfhosted` | `redis://` or `rediss://host:port` | `user`, `admin_secret` | `staging_secret`, `ca_file` |
//! | `redis-cloud` | `https://api.redislabs.com/v1/subscriptions/{id}/databases/{id}` (Essentials: `.../v1/fixed/subscriptions/...`) | `users`, `api_keys_secret` | `staging_secret` |
//! | `redis-cloud-api-key` | the API root, `https://api.redislabs.com/v1` | — | `incoming_secret` |
//!
//! Secrets named here live in the credential's own vault.

use super::model::{secret_name, Ctx};
use super::raw::RawCredential;
use super::{Location, PolicyError, ProviderTarget};
use crate::ports::SecretRef;
use serde_spanned::Spanned;
use std::path::PathBuf;

/// Self-hosted Redis 6+: one ACL user with two passwords.
pub const REDIS_SELFHOSTED: &str = "redis-selfhosted";
/// A Redis Cloud database: two ACL users alternating.
pub const REDIS_CLOUD: &str = "redis-cloud";
/// The Redis Cloud API user key itself, rotated with an operator's help.
pub const REDIS_CLOUD_API_KEY: &str = "redis-cloud-api-key";
pub const REDIS_KINDS: &[&str] = &[REDIS_SELFHOSTED, REDIS_CLOUD, REDIS_CLOUD_API_KEY];

/// A Redis credential's checked provider settings. Locations are kept for what the wiring
/// still has to check when it builds the provider (the CA file is read then; the adapter
/// refuses a `default` user).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedisPolicy {
    SelfHosted {
        host: String,
        port: u16,
        tls: bool,
        user: String,
        user_at: Location,
        admin_secret: SecretRef,
        staging: Option<SecretRef>,
        /// A private CA (PEM file) to trust instead of the public roots.
        ca_file: Option<(PathBuf, Location)>,
    },
    Cloud {
        /// The API root, `https://api.redislabs.com/v1`.
        api_base: String,
        subscription_id: i64,
        database_id: i64,
        essentials: bool,
        users: [String; 2],
        users_at: Location,
        api_keys: SecretRef,
        staging: Option<SecretRef>,
    },
    CloudApiKey {
        api_base: String,
        incoming: Option<SecretRef>,
    },
}

/// The Redis-only fields of a raw credential, by policy name.
fn fields(raw: &RawCredential) -> [(&'static str, Option<std::ops::Range<usize>>); 7] {
    [
        ("user", raw.user.as_ref().map(Spanned::span)),
        ("users", raw.users.as_ref().map(Spanned::span)),
        ("admin_secret", raw.admin_secret.as_ref().map(Spanned::span)),
        ("api_keys_secret", raw.api_keys_secret.as_ref().map(Spanned::span)),
        ("staging_secret", raw.staging_secret.as_ref().map(Spanned::span)),
        ("incoming_secret", raw.incoming_secret.as_ref().map(Spanned::span)),
        ("ca_file", raw.ca_file.as_ref().map(Spanned::span)),
    ]
}

/// Which Redis-only fields a kind accepts.
fn allowed(kind: &str) -> &'static [&'static str] {
    match kind {
        REDIS_SELFHOSTED => &["user", "admin_secret", "staging_secret", "ca_file"],
        REDIS_CLOUD => &["users", "api_keys_secret", "staging_secret"],
        REDIS_CLOUD_API_KEY => &["incoming_secret"],
        _ => &[],
    }
}

impl Ctx<'_> {
    /// The Redis settings of a credential of a Redis kind; refuses Redis fields on other kinds.
    pub(super) fn redis(&self, raw: &RawCredential, target: &ProviderTarget, secret: &SecretRef) -> Result<Option<RedisPolicy>, PolicyError> {
        let kind = raw.provider.get_ref().as_str();
        for (name, span) in fields(raw) {
            if let Some(span) = span.filter(|_| !allowed(kind).contains(&name)) {
                let owners: Vec<&str> = REDIS_KINDS.iter().copied().filter(|k| allowed(k).contains(&name)).collect();
                return Err(self.err(span, &format!("credential.{name}"), format!("only for provider {}, not {kind:?}", owners.join(" / "))));
            }
        }
        if !REDIS_KINDS.contains(&kind) {
            return Ok(None);
        }
        let address = match (target, &raw.address) {
            (ProviderTarget::Address(a), Some(spanned)) => (url::Url::parse(a).expect("checked by target()"), spanned.span()),
            _ => {
                let span = raw.resource.as_ref().map_or(raw.provider.span(), Spanned::span);
                return Err(self.err(span, "credential.address", format!("provider {kind} is outside Resource Manager: give its address, not an ARM resource id")));
            }
        };
        let required = |value: Option<&Spanned<String>>, name: &str, what: &str| {
            value.map(|v| (v.get_ref().trim().to_string(), v.span())).filter(|(v, _)| !v.is_empty()).ok_or_else(|| {
                self.err(raw.provider.span(), &format!("credential.{name}"), format!("missing: provider {kind} needs {name} ({what})"))
            })
        };
        let in_vault = |value: Option<&Spanned<String>>, name: &str| -> Result<Option<SecretRef>, PolicyError> {
            value
                .map(|v| {
                    secret_name(v.get_ref())
                        .map(|n| SecretRef { vault: secret.vault.clone(), name: n })
                        .map_err(|why| self.err(v.span(), &format!("credential.{name}"), why))
                })
                .transpose()
        };
        let staging = in_vault(raw.staging_secret.as_ref(), "staging_secret")?;
        let (url, url_span) = address;
        let policy = match kind {
            REDIS_SELFHOSTED => {
                if !matches!(url.scheme(), "redis" | "rediss") || !url.path().trim_matches('/').is_empty() || !url.username().is_empty() {
                    return Err(self.err(url_span, "credential.address", format!("provider {kind} needs redis://host:port or rediss://host:port (TLS), no user or path; the ACL user goes in `user`")));
                }
                let (user, user_span) = required(raw.user.as_ref(), "user", "the application's ACL user, whose two passwords are the two slots")?;
                required(raw.admin_secret.as_ref(), "admin_secret", "the Key Vault secret with {\"username\", \"password\"} of an ACL user allowed ACL SETUSER")?;
                RedisPolicy::SelfHosted {
                    host: url.host_str().expect("checked by target()").to_string(),
                    port: url.port().unwrap_or(6379),
                    tls: url.scheme() == "rediss",
                    user,
                    user_at: self.at(user_span),
                    admin_secret: in_vault(raw.admin_secret.as_ref(), "admin_secret")?.expect("required above"),
                    staging,
                    ca_file: raw.ca_file.as_ref().map(|f| (PathBuf::from(f.get_ref().trim()), self.at(f.span()))),
                }
            }
            REDIS_CLOUD => {
                let (api_base, essentials, ids) = cloud_database(&url).map_err(|why| self.err(url_span, "credential.address", why))?;
                let users = raw.users.as_ref().ok_or_else(|| {
                    self.err(raw.provider.span(), "credential.users", format!("missing: provider {kind} needs users = [\"app-a\", \"app-b\"] (two ACL users with the same role, the two slots)"))
                })?;
                let pair: [String; 2] = match users.get_ref().as_slice() {
                    [a, b] if !a.trim().is_empty() && !b.trim().is_empty() && a.trim() != b.trim() => [a.trim().to_string(), b.trim().to_string()],
                    _ => return Err(self.err(users.span(), "credential.users", "give exactly two different ACL user names, e.g. [\"app-a\", \"app-b\"]")),
                };
                required(raw.api_keys_secret.as_ref(), "api_keys_secret", "the Key Vault secret with {\"accountKey\", \"userKey\"} of the Redis Cloud API")?;
                RedisPolicy::Cloud {
                    api_base,
                    subscription_id: ids.0,
                    database_id: ids.1,
                    essentials,
                    users: pair,
                    users_at: self.at(users.span()),
                    api_keys: in_vault(raw.api_keys_secret.as_ref(), "api_keys_secret")?.expect("required above"),
                    staging,
                }
            }
            _ => {
                if url.scheme() != "https" || url.path().contains("/subscriptions") {
                    return Err(self.err(url_span, "credential.address", format!("provider {kind} needs the API root, e.g. https://api.redislabs.com/v1")));
                }
                RedisPolicy::CloudApiKey {
                    api_base: url.as_str().trim_end_matches('/').to_string(),
                    incoming: in_vault(raw.incoming_secret.as_ref(), "incoming_secret")?,
                }
            }
        };
        Ok(Some(policy))
    }
}

/// `https://host/v1[/fixed]/subscriptions/{id}/databases/{id}` → the API root, Essentials or
/// not, and the two ids.
fn cloud_database(url: &url::Url) -> Result<(String, bool, (i64, i64)), String> {
    let expected = || format!("{:?}: expected https://api.redislabs.com/v1/subscriptions/{{id}}/databases/{{id}}", url.as_str());
    if url.scheme() != "https" {
        return Err(expected());
    }
    let segments: Vec<&str> = url.path_segments().map(|s| s.filter(|p| !p.is_empty()).collect()).unwrap_or_default();
    let Some(at) = segments.iter().position(|s| *s == "subscriptions") else { return Err(expected()) };
    let [_, sub, databases, db] = segments[at..] else { return Err(expected()) };
    let (Ok(sub), true, Ok(db)) = (sub.parse::<i64>(), databases == "databases", db.parse::<i64>()) else { return Err(expected()) };
    let essentials = at > 0 && segments[at - 1] == "fixed";
    let root = &segments[..if essentials { at - 1 } else { at }];
    let mut base = format!("{}://{}", url.scheme(), url.host_str().unwrap_or(""));
    if let Some(port) = url.port() {
        base.push_str(&format!(":{port}"));
    }
    for s in root {
        base.push('/');
        base.push_str(s);
    }
    Ok((base, essentials, (sub, db)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cloud_database_urls() {
        let parse = |s: &str| cloud_database(&url::Url::parse(s).unwrap());
        assert_eq!(parse("https://api.redislabs.com/v1/subscriptions/12/databases/34").unwrap(), ("https://api.redislabs.com/v1".into(), false, (12, 34)));
        assert_eq!(parse("https://api.redislabs.com:8443/v1/fixed/subscriptions/1/databases/2/").unwrap(), ("https://api.redislabs.com:8443/v1".into(), true, (1, 2)));
        for bad in ["https://api.redislabs.com/v1", "https://api.redislabs.com/v1/subscriptions/x/databases/2", "https://a/v1/subscriptions/1/dbs/2", "https://a/v1/subscriptions/1/databases/2/users"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
