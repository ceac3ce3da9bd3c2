//! Redis Cloud API keys: the account key (`x-api-key`) and a user key (`x-api-secret-key`),
//! kept together in one Key Vault secret as JSON and never in plain settings.

use crate::domain::SecretValue;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// The content type keyrelay gives API-key secrets.
pub const CONTENT_TYPE: &str = "application/json";

/// The two API keys, and the user key's name as the console shows it (needed to tell keys
/// apart in an assisted rotation; optional otherwise). Debug never shows the keys.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKeys {
    pub account_key: SecretValue,
    pub user_key: SecretValue,
    pub user_key_name: Option<String>,
}

impl std::fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeys").field("user_key_name", &self.user_key_name).finish_non_exhaustive()
    }
}

#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
#[serde(rename_all = "camelCase")]
struct Wire {
    account_key: String,
    user_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    user_key_name: Option<String>,
}

impl ApiKeys {
    pub fn to_secret(&self) -> SecretValue {
        let wire = Wire {
            account_key: self.account_key.expose().to_string(),
            user_key: self.user_key.expose().to_string(),
            user_key_name: self.user_key_name.clone(),
        };
        SecretValue::new(serde_json::to_string(&wire).expect("strings serialise"))
    }

    /// Parses `{"accountKey": ..., "userKey": ..., "userKeyName": ...}`; errors never quote
    /// the value.
    pub fn parse(value: &SecretValue) -> Result<ApiKeys, String> {
        let wire: Wire = serde_json::from_str(value.expose()).map_err(|e| {
            format!(
                "not the JSON {{\"accountKey\": ..., \"userKey\": ..., \"userKeyName\": ...}} keyrelay expects for Redis \
                 Cloud API keys (line {}, column {})",
                e.line(),
                e.column()
            )
        })?;
        if wire.account_key.trim().is_empty() || wire.user_key.trim().is_empty() {
            return Err("accountKey or userKey is empty".into());
        }
        Ok(ApiKeys {
            account_key: SecretValue::new(wire.account_key.trim()),
            user_key: SecretValue::new(wire.user_key.trim()),
            user_key_name: wire.user_key_name.clone(),
        })
    }
}

/// The console's rule for API user key names: 10–50 characters, letters, digits, hyphens and
/// underscores, no spaces. Checked before a staged key is accepted, so a typo in the name the
/// operator recorded is caught before it reaches the evidence.
pub fn validate_key_name(name: &str) -> Result<(), String> {
    let len = name.chars().count();
    if !(10..=50).contains(&len) {
        return Err(format!("API user key name {name:?} has {len} characters; it must have 10 to 50"));
    }
    if let Some(bad) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_')) {
        let what = if bad == ' ' { "a space".to_string() } else { format!("{bad:?}") };
        return Err(format!(
            "API user key name {name:?} contains {what}; only letters, digits, hyphens and underscores are allowed (no spaces)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_names_follow_the_console_rules() {
        assert!(validate_key_name("keyrelay-2026_q1").is_ok());
        assert!(validate_key_name(&"a".repeat(50)).is_ok());
        assert!(validate_key_name("short").unwrap_err().contains("10 to 50"));
        assert!(validate_key_name(&"a".repeat(51)).unwrap_err().contains("51 characters"));
        assert!(validate_key_name("has a space here").unwrap_err().contains("a space"));
        assert!(validate_key_name("dots.are.not.ok").unwrap_err().contains("'.'"));
    }

    #[test]
    fn keys_round_trip_and_never_print() {
        let k = ApiKeys {
            account_key: SecretValue::new("acct-secret-1"),
            user_key: SecretValue::new("user-secret-2"),
            user_key_name: Some("keyrelay-key-1".into()),
        };
        assert_eq!(ApiKeys::parse(&k.to_secret()).unwrap(), k);
        let shown = format!("{k:?}");
        assert!(!shown.contains("secret-1") && !shown.contains("secret-2"));
        assert!(!ApiKeys::parse(&SecretValue::new("user-secret-2")).unwrap_err().contains("secret"));
    }
}
