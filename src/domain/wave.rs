use super::ParseError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// An ordered group of consumers: wave 1 reloads and acks before wave 2 is sent anything,
/// so a canary wave catches a bad key before the whole fleet has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct Wave(u16);

impl Wave {
    pub const MAX: u16 = 100;

    pub fn parse(n: u32) -> Result<Wave, ParseError> {
        if n == 0 || n > Self::MAX as u32 {
            return Err(ParseError::new("wave", format!("{n} is outside 1..={}", Self::MAX)));
        }
        Ok(Wave(n as u16))
    }

    pub fn number(self) -> u16 {
        self.0
    }
}

impl TryFrom<u32> for Wave {
    type Error = ParseError;
    fn try_from(n: u32) -> Result<Self, ParseError> {
        Wave::parse(n)
    }
}

impl From<Wave> for u32 {
    fn from(w: Wave) -> u32 {
        w.0 as u32
    }
}

impl fmt::Display for Wave {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}
