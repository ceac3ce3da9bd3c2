//! Identifier newtypes. They all share one shape (a bounded string over a small alphabet), so
//! one macro defines them; what differs — the alphabet and the length — is stated per type,
//! because each identifier ends up somewhere with its own rules (Service Bus subscription
//! names and SQL filters, Key Vault tags, blob names, MessageIds).

use super::ParseError;
use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;

macro_rules! identifier {
    ($(#[$doc:meta])* $name:ident, $what:literal, max = $max:expr, extra = $extra:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Accepts 1..=max characters of ASCII letters, digits and the type's extra
            /// punctuation; the first character must be a letter or digit.
            pub fn parse(s: &str) -> Result<Self, ParseError> {
                let s = s.trim();
                if s.is_empty() {
                    return Err(ParseError::new($what, "must not be empty"));
                }
                if s.len() > $max {
                    return Err(ParseError::new($what, format!("{:?} is longer than {} characters", s, $max)));
                }
                if !s.chars().next().map_or(false, |c| c.is_ascii_alphanumeric()) {
                    return Err(ParseError::new($what, format!("{:?} must start with a letter or digit", s)));
                }
                if let Some(bad) = s.chars().find(|c| !(c.is_ascii_alphanumeric() || $extra.contains(*c))) {
                    return Err(ParseError::new(
                        $what,
                        format!("{:?} contains {:?}; allowed are letters, digits and {:?}", s, bad, $extra),
                    ));
                }
                Ok(Self(s.to_string()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = ParseError;
            fn from_str(s: &str) -> Result<Self, ParseError> {
                Self::parse(s)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

identifier!(
    /// The name of one managed credential in the policy file. It appears in blob names,
    /// MessageIds and Service Bus filters, so it stays lower-case-friendly and short.
    CredentialName, "credential name", max = 63, extra = "-_."
);

identifier!(
    /// A consumer's id. A per-consumer Service Bus subscription filters on it, and Service Bus
    /// subscription names allow at most 50 characters.
    ConsumerId, "consumer id", max = 50, extra = "-_."
);

identifier!(
    /// A rotation's id: the shell mints it (credential, UTC time, random suffix) so ids sort by
    /// start time and say which credential they belong to.
    RotationId, "rotation id", max = 120, extra = "-_."
);

identifier!(
    /// A step's nonce: random hex the orchestrator mints per step and the consumer signs over,
    /// so an old ack cannot be replayed for a new attempt.
    Nonce, "nonce", max = 64, extra = ""
);
