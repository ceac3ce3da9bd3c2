use std::fmt;

/// Why a value from outside was refused. It names the kind of value and the rule it broke,
/// and echoes the input only when the input cannot be a secret (identifiers, durations).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub what: &'static str,
    pub why: String,
}

impl ParseError {
    pub fn new(what: &'static str, why: impl Into<String>) -> Self {
        Self { what, why: why.into() }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {}: {}", self.what, self.why)
    }
}

impl std::error::Error for ParseError {}
