use super::ParseError;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A duration written the way operators write them in a policy file: `90d`, `12h`, `1h30m`,
/// `45s`. Stored as whole seconds: nothing in a rotation needs sub-second precision, and
/// whole seconds serialize the same everywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HumanDuration(u64);

impl HumanDuration {
    pub const ZERO: HumanDuration = HumanDuration(0);

    pub const fn from_secs(secs: u64) -> Self {
        HumanDuration(secs)
    }

    pub fn as_secs(self) -> u64 {
        self.0
    }

    pub fn to_chrono(self) -> chrono::Duration {
        chrono::Duration::seconds(self.0 as i64)
    }

    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let text = s.trim();
        if text.is_empty() {
            return Err(ParseError::new("duration", "must not be empty; write e.g. 30s, 5m, 12h or 90d"));
        }
        let mut total: u64 = 0;
        let mut digits = String::new();
        for c in text.chars() {
            if c.is_ascii_digit() {
                digits.push(c);
                continue;
            }
            let unit = match c {
                's' => 1,
                'm' => 60,
                'h' => 3_600,
                'd' => 86_400,
                'w' => 604_800,
                _ => {
                    return Err(ParseError::new(
                        "duration",
                        format!("{text:?}: unknown unit {c:?}; use s, m, h, d or w"),
                    ))
                }
            };
            if digits.is_empty() {
                return Err(ParseError::new("duration", format!("{text:?}: unit {c:?} has no number before it")));
            }
            let n: u64 = digits
                .parse()
                .map_err(|_| ParseError::new("duration", format!("{text:?}: number too large")))?;
            total = n
                .checked_mul(unit)
                .and_then(|v| total.checked_add(v))
                .ok_or_else(|| ParseError::new("duration", format!("{text:?}: too large")))?;
            digits.clear();
        }
        if !digits.is_empty() {
            return Err(ParseError::new("duration", format!("{text:?}: number without a unit; write e.g. {digits}s")));
        }
        Ok(HumanDuration(total))
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        if rest == 0 {
            return f.write_str("0s");
        }
        for (unit, secs) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
            if rest >= secs {
                write!(f, "{}{}", rest / secs, unit)?;
                rest %= secs;
            }
        }
        Ok(())
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        HumanDuration::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_compound_durations() {
        assert_eq!(HumanDuration::parse("1h30m").unwrap().as_secs(), 5_400);
        assert_eq!(HumanDuration::parse("90d").unwrap().as_secs(), 90 * 86_400);
        assert_eq!(HumanDuration::parse("1h30m").unwrap().to_string(), "1h30m");
        assert_eq!(HumanDuration::from_secs(0).to_string(), "0s");
    }

    #[test]
    fn refuses_what_an_operator_might_mistype() {
        for bad in ["", "10", "h", "5 minutes", "3y", "99999999999999999999d"] {
            assert!(HumanDuration::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
