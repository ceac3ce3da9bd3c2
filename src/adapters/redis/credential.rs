//! The value a Redis credential's Key Vault secret holds: an ACL user name and its password.
//!
//! Redis ACL passwords belong to a user, so the user name travels with the password: with
//! alternating users the name changes at every rotation, and a consumer must sign in as the
//! user the secret names. JSON (`{"username": "...", "password": "..."}`), content type
//! `application/json`.

use crate::domain::SecretValue;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// The Key Vault content type keyrelay writes for these values.
pub const CONTENT_TYPE: &str = "application/json";

/// An ACL user and its password. Never printed: Debug redacts the password.
#[derive(Clone, PartialEq, Eq)]
pub struct UserPassword {
    pub username: String,
    pub password: SecretValue,
}

impl std::fmt::Debug for UserPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserPassword").field("username", &self.username).field("password", &self.password).finish()
    }
}

#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
struct Wire {
    username: String,
    password: String,
}

impl UserPassword {
    pub fn new(username: &str, password: SecretValue) -> Self {
        UserPassword { username: username.to_string(), password }
    }

    /// The JSON secret value.
    pub fn to_secret(&self) -> SecretValue {
        let wire = Wire { username: self.username.clone(), password: self.password.expose().to_string() };
        SecretValue::new(serde_json::to_string(&wire).expect("two strings serialise"))
    }

    /// Parses a secret value; the error names what is wrong, never the value.
    pub fn parse(value: &SecretValue) -> Result<UserPassword, String> {
        let wire: Wire = serde_json::from_str(value.expose()).map_err(|e| {
            format!(
                "the secret value is not the JSON {{\"username\": ..., \"password\": ...}} keyrelay expects for Redis \
                 (line {}, column {})",
                e.line(),
                e.column()
            )
        })?;
        if wire.username.trim().is_empty() || wire.password.is_empty() {
            return Err("the secret value has an empty username or password".into());
        }
        Ok(UserPassword { username: wire.username.clone(), password: SecretValue::new(wire.password.clone()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_errors_do_not_leak() {
        let c = UserPassword::new("app-a", SecretValue::new("s3cr3t-pw"));
        let v = c.to_secret();
        assert_eq!(UserPassword::parse(&v).unwrap(), c);
        assert!(!format!("{c:?}").contains("s3cr3t"));
        let err = UserPassword::parse(&SecretValue::new("s3cr3t-pw")).unwrap_err();
        assert!(!err.contains("s3cr3t") && err.contains("JSON"), "{err}");
        assert!(UserPassword::parse(&SecretValue::new(r#"{"username":"","password":"x"}"#)).is_err());
    }
}
