use std::fmt;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// A key, password or any other secret value.
///
/// It never prints itself (Debug and Display say `<redacted>`), is not `Serialize`, and
/// zeroes its memory on drop. The only ways to see the bytes are [`SecretValue::expose`],
/// whose call sites are the handful of places that must hand the value to Key Vault, a
/// provider, an HMAC or a consumer's reload target.
#[derive(Clone, Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
pub struct SecretValue(String);

impl SecretValue {
    pub fn new(value: impl Into<String>) -> Self {
        SecretValue(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretValue(<redacted>)")
    }
}

impl fmt::Display for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_itself() {
        let s = SecretValue::new("hunter2-very-secret");
        assert!(!format!("{s:?} {s}").contains("hunter2"));
        assert_eq!(s.expose(), "hunter2-very-secret");
    }
}
