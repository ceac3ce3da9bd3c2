use crate::domain::ParseError;
use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;

/// The kind of provider that holds a credential's two keys: `redis`, `storage`,
/// `cosmos-readonly`, `redis-cloud`, ...
///
/// The policy only checks the spelling (kebab-case). Which kinds exist is decided by the
/// adapters (the ARM kind table, the Redis adapters); a shell that knows them calls
/// [`crate::policy::Policy::check_kinds`], which points at the line of an unknown kind.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct ProviderKind(String);

impl ProviderKind {
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let s = s.trim();
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.starts_with(|c: char| c.is_ascii_lowercase())
            && !s.ends_with('-')
            && !s.contains("--")
            && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !ok {
            return Err(ParseError::new(
                "provider kind",
                format!("{s:?} is not kebab-case (lower-case letters, digits, single hyphens, e.g. \"redis-cloud\")"),
            ));
        }
        Ok(ProviderKind(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ProviderKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        ProviderKind::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kebab_case_only() {
        for ok in ["redis", "cosmos-readonly", "search-admin", "redis-cloud", "s3"] {
            assert_eq!(ProviderKind::parse(ok).unwrap().as_str(), ok);
        }
        for bad in ["", "Redis", "redis_cloud", "-redis", "redis-", "redis--cloud", "1redis", "red is"] {
            assert!(ProviderKind::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
