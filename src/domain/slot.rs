use super::ParseError;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// One of the two keys of a credential.
///
/// Providers name them differently (Primary/Secondary, key1/key2, PrimaryKey, user A/user B);
/// the core only needs "this one" and "the other one", and each adapter maps the two values
/// to its wire names. Parsing accepts every provider's spelling so that a Key Vault tag
/// written by Azure's rotation samples (`CredentialId=key1`) is understood.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Slot {
    Primary,
    Secondary,
}

impl Slot {
    pub const BOTH: [Slot; 2] = [Slot::Primary, Slot::Secondary];

    pub fn other(self) -> Slot {
        match self {
            Slot::Primary => Slot::Secondary,
            Slot::Secondary => Slot::Primary,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Slot::Primary => "primary",
            Slot::Secondary => "secondary",
        }
    }

    pub fn parse(s: &str) -> Result<Slot, ParseError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "primary" | "primarykey" | "key1" | "a" | "user-a" | "usera" | "1" => Ok(Slot::Primary),
            "secondary" | "secondarykey" | "key2" | "b" | "user-b" | "userb" | "2" => Ok(Slot::Secondary),
            other => Err(ParseError::new(
                "slot",
                format!("{other:?} is not a slot; use primary/secondary (also key1/key2, a/b)"),
            )),
        }
    }
}

impl fmt::Display for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Slot {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Slot {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Slot::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_provider_spelling_parses() {
        for s in ["Primary", "PrimaryKey", "key1", "A"] {
            assert_eq!(Slot::parse(s).unwrap(), Slot::Primary);
        }
        for s in ["secondary", "SecondaryKey", "KEY2", "b"] {
            assert_eq!(Slot::parse(s).unwrap(), Slot::Secondary);
        }
        assert!(Slot::parse("kerb1").is_err());
        assert_eq!(Slot::Primary.other(), Slot::Secondary);
        assert_eq!(Slot::Secondary.other(), Slot::Primary);
    }
}
