use super::ParseError;
use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;

/// A Key Vault secret version: the last path segment of a secret id (32 hex characters in
/// Azure; the parser accepts any short alphanumeric so other secret stores fit).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct SecretVersion(String);

impl SecretVersion {
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let s = s.trim();
        if s.is_empty() || s.len() > 64 || !s.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(ParseError::new(
                "secret version",
                format!("{s:?} must be 1 to 64 letters or digits"),
            ));
        }
        Ok(SecretVersion(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SecretVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for SecretVersion {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        SecretVersion::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// A versioned Key Vault secret id, `https://{vault}/secrets/{name}/{version}`: what a step
/// names so a consumer fetches exactly the version the rotation published.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(into = "String")]
pub struct SecretId {
    pub vault: String,
    pub name: String,
    pub version: SecretVersion,
}

impl SecretId {
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let err = |why: &str| ParseError::new("secret id", format!("{s:?}: {why}"));
        let url = url::Url::parse(s.trim()).map_err(|e| err(&e.to_string()))?;
        if url.scheme() != "https" {
            return Err(err("must be an https URL"));
        }
        let host = url.host_str().ok_or_else(|| err("has no host"))?;
        let vault = match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_string(),
        };
        let segs: Vec<&str> = url.path_segments().map(|s| s.collect()).unwrap_or_default();
        match segs.as_slice() {
            ["secrets", name, version] if !name.is_empty() => Ok(SecretId {
                vault,
                name: name.to_string(),
                version: SecretVersion::parse(version).map_err(|e| err(&e.why))?,
            }),
            _ => Err(err("expected https://{vault}/secrets/{name}/{version}")),
        }
    }
}

impl fmt::Display for SecretId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "https://{}/secrets/{}/{}", self.vault, self.name, self.version)
    }
}

impl From<SecretId> for String {
    fn from(id: SecretId) -> String {
        id.to_string()
    }
}

impl<'de> Deserialize<'de> for SecretId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        SecretId::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_id_round_trips() {
        let s = "https://sample-kv.vault.azure.net/secrets/newsecret/ee059b2bb5bc48398a53b168c6cdcb10";
        let id = SecretId::parse(s).unwrap();
        assert_eq!(id.vault, "sample-kv.vault.azure.net");
        assert_eq!(id.name, "newsecret");
        assert_eq!(id.to_string(), s);
        assert!(SecretId::parse("http://v/secrets/a/b").is_err());
        assert!(SecretId::parse("https://v/keys/a/b").is_err());
    }
}
