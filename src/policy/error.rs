//! Errors that point at the policy file: the file, the line, the field and why.
//!
//! A wrong policy must stop keyrelay before anything starts, and the operator reading the
//! error should not need to guess which of forty credentials is wrong. So every error carries
//! the place it comes from: TOML syntax and type errors get it from the parser's span, our own
//! checks (duplicate consumers, wave gaps, unknown kinds) from the spans kept while parsing.

use std::fmt;
use std::ops::Range;

/// A line and column in the policy file, both counted from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    pub line: usize,
    pub column: usize,
}

impl Location {
    /// The location of a byte offset in `text`.
    pub fn of(text: &str, offset: usize) -> Location {
        let offset = offset.min(text.len());
        let before = &text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Location { line, column: before[line_start..].chars().count() + 1 }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    /// The file as the operator named it (or the origin given to `Policy::parse`).
    pub file: String,
    /// `None` when the problem is the whole file (it cannot be read).
    pub at: Option<Location>,
    /// The dotted path of the field, `credential.consumer.wave`.
    pub field: String,
    pub why: String,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.at {
            Some(at) => write!(f, "{}:{}:{}: {}: {}", self.file, at.line, at.column, self.field, self.why),
            None => write!(f, "{}: {}: {}", self.file, self.field, self.why),
        }
    }
}

impl std::error::Error for PolicyError {}

impl PolicyError {
    pub fn new(file: &str, at: Option<Location>, field: impl Into<String>, why: impl Into<String>) -> Self {
        PolicyError { file: file.to_string(), at, field: field.into(), why: why.into() }
    }

    /// Turns a TOML parse or type error into one naming the line and the field. The parser
    /// reports a span and a message; the field is the key on the span's line under the
    /// nearest table header (or, for a missing field, the field the message names).
    pub fn from_toml(file: &str, text: &str, err: &toml::de::Error) -> Self {
        let message = err.message().trim().to_string();
        let Some(span) = err.span() else {
            return PolicyError::new(file, None, backticked(&message).unwrap_or_else(|| "(file)".into()), message);
        };
        let field = field_at(text, &span, &message);
        PolicyError::new(file, Some(Location::of(text, span.start)), field, message)
    }
}

/// The dotted field path for an error whose span starts on some line of `text`.
fn field_at(text: &str, span: &Range<usize>, message: &str) -> String {
    let start = span.start.min(text.len());
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    let line = text[line_start..line_end].trim();
    let header = text[..line_start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(header_path)
        .unwrap_or_default();
    let join = |a: &str, b: &str| if a.is_empty() { b.to_string() } else { format!("{a}.{b}") };
    if line.starts_with('[') {
        let table = header_path(line);
        return match message.strip_prefix("missing field ").and_then(|_| backticked(message)) {
            Some(missing) => join(&table, &missing),
            None => table,
        };
    }
    match line.split_once('=') {
        Some((key, _)) => join(&header, key.trim().trim_matches(|c| c == '"' || c == '\'')),
        None => backticked(message).map_or(header.clone(), |k| join(&header, &k)),
    }
}

/// `[[credential.consumer]]` → `credential.consumer`.
fn header_path(line: &str) -> String {
    let inner = line.split('#').next().unwrap_or("").trim();
    inner.trim_start_matches('[').trim_end_matches(']').trim().to_string()
}

/// The first `quoted` word of a serde message (`unknown field `waev``, `missing field `vault``).
fn backticked(message: &str) -> Option<String> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(message[start..start + len].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_count_from_one() {
        let text = "a = 1\nbb = 2\n";
        assert_eq!(Location::of(text, 0), Location { line: 1, column: 1 });
        assert_eq!(Location::of(text, 9), Location { line: 2, column: 4 });
    }

    #[test]
    fn field_comes_from_the_key_under_its_header() {
        let text = "[[credential]]\nname = 'x'\n[[credential.consumer]]\nwave = 'q'\n";
        let at = text.find("'q'").unwrap();
        assert_eq!(field_at(text, &(at..at + 3), "bad"), "credential.consumer.wave");
        let hdr = text.find("[[credential.consumer]]").unwrap();
        assert_eq!(field_at(text, &(hdr..hdr + 5), "missing field `id`"), "credential.consumer.id");
    }
}
