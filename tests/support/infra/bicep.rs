//! A small, honest parser for the subset of Bicep that `infra/` uses.
//!
//! The Bicep compiler cannot run on the machines keyrelay is built on, so the consistency tests
//! read the Bicep text themselves. This parser understands the statements (`targetScope`,
//! `param`, `var`, `resource`, `module`, `output`, decorators) and the literal structure of
//! values (objects, arrays, strings with `${...}` interpolations kept verbatim, numbers,
//! booleans, `null`, `[for ...]` loops and `if (...)` conditions). Everything else — function
//! calls, ternaries, property access — is kept as raw expression text: the tests compare
//! literals and name references, never evaluate. A statement it does not know is an error with
//! its line number, never skipped silently.

use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A string literal's content; interpolations stay as `${...}` text.
    Str(String),
    Number(i64),
    Bool(bool),
    Null,
    Object(Vec<(String, Value)>),
    Array(Vec<Value>),
    /// `[for <header>: <body>]`
    For { header: String, body: Box<Value> },
    /// `if (<cond>) <body>` (resource and module conditions)
    If { cond: String, body: Box<Value> },
    /// Any other expression, as written (whitespace trimmed).
    Expr(String),
}

impl Value {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_expr(&self) -> Option<&str> {
        match self {
            Value::Expr(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_object(&self) -> Option<&[(String, Value)]> {
        match self {
            Value::Object(entries) => Some(entries),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(items) => Some(items),
            _ => None,
        }
    }

    /// The value under `key` of an object (looking through `if`/`for` wrappers).
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Object(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            Value::If { body, .. } | Value::For { body, .. } => body.get(key),
            _ => None,
        }
    }

    /// Follows a dotted path of object keys.
    pub fn path(&self, dotted: &str) -> Option<&Value> {
        dotted.split('.').try_fold(self, |v, key| v.get(key))
    }

    /// The keys of an object, in order.
    pub fn keys(&self) -> Vec<&str> {
        self.as_object().map(|e| e.iter().map(|(k, _)| k.as_str()).collect()).unwrap_or_default()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Decorator {
    pub name: String,
    /// The text between the parentheses, as written.
    pub args: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Statement {
    TargetScope { value: Value },
    Param { name: String, ty: String, default: Option<Value>, decorators: Vec<Decorator>, line: usize },
    Var { name: String, value: Value, line: usize },
    Resource { symbol: String, type_version: String, existing: bool, value: Value, line: usize },
    Module { symbol: String, path: String, value: Value, line: usize },
    Output { name: String, ty: String, value: Value, line: usize },
}

#[derive(Debug, Clone)]
pub struct BicepFile {
    pub statements: Vec<Statement>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

impl BicepFile {
    pub fn parse(text: &str) -> Result<BicepFile, ParseError> {
        let mut p = Parser { src: text.chars().collect(), pos: 0 };
        let mut statements = Vec::new();
        loop {
            p.skip_trivia(true);
            if p.at_end() {
                break;
            }
            statements.push(p.statement()?);
        }
        Ok(BicepFile { statements })
    }

    pub fn params(&self) -> impl Iterator<Item = (&str, &str, Option<&Value>, &[Decorator])> {
        self.statements.iter().filter_map(|s| match s {
            Statement::Param { name, ty, default, decorators, .. } => {
                Some((name.as_str(), ty.as_str(), default.as_ref(), decorators.as_slice()))
            }
            _ => None,
        })
    }

    pub fn param_default(&self, name: &str) -> Option<&Value> {
        self.params().find(|(n, ..)| *n == name).and_then(|(_, _, d, _)| d)
    }

    pub fn var(&self, name: &str) -> Option<&Value> {
        self.statements.iter().find_map(|s| match s {
            Statement::Var { name: n, value, .. } if n == name => Some(value),
            _ => None,
        })
    }

    /// `(symbol, type@version, existing, body)` of every resource.
    pub fn resources(&self) -> impl Iterator<Item = (&str, &str, bool, &Value)> {
        self.statements.iter().filter_map(|s| match s {
            Statement::Resource { symbol, type_version, existing, value, .. } => {
                Some((symbol.as_str(), type_version.as_str(), *existing, value))
            }
            _ => None,
        })
    }

    pub fn resource(&self, symbol: &str) -> Option<&Value> {
        self.resources().find(|(s, ..)| *s == symbol).map(|(.., v)| v)
    }

    pub fn module(&self, symbol: &str) -> Option<(&str, &Value)> {
        self.statements.iter().find_map(|s| match s {
            Statement::Module { symbol: sym, path, value, .. } if sym == symbol => Some((path.as_str(), value)),
            _ => None,
        })
    }

    pub fn modules(&self) -> impl Iterator<Item = (&str, &str, &Value)> {
        self.statements.iter().filter_map(|s| match s {
            Statement::Module { symbol, path, value, .. } => Some((symbol.as_str(), path.as_str(), value)),
            _ => None,
        })
    }

    pub fn outputs(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.statements.iter().filter_map(|s| match s {
            Statement::Output { name, value, .. } => Some((name.as_str(), value)),
            _ => None,
        })
    }

    pub fn output(&self, name: &str) -> Option<&Value> {
        self.outputs().find(|(n, _)| *n == name).map(|(_, v)| v)
    }
}

struct Parser {
    src: Vec<char>,
    pos: usize,
}

impl Parser {
    fn at_end(&self) -> bool {
        self.pos >= self.src.len()
    }

    fn peek(&self) -> Option<char> {
        self.src.get(self.pos).copied()
    }

    fn peek_at(&self, offset: usize) -> Option<char> {
        self.src.get(self.pos + offset).copied()
    }

    fn starts_with(&self, s: &str) -> bool {
        s.chars().enumerate().all(|(i, c)| self.peek_at(i) == Some(c))
    }

    fn line(&self) -> usize {
        1 + self.src[..self.pos.min(self.src.len())].iter().filter(|&&c| c == '\n').count()
    }

    fn error<T>(&self, message: impl Into<String>) -> Result<T, ParseError> {
        Err(ParseError { line: self.line(), message: message.into() })
    }

    /// Skips spaces, tabs and comments; newlines too when `newlines` is set.
    fn skip_trivia(&mut self, newlines: bool) {
        loop {
            match self.peek() {
                Some(' ' | '\t' | '\r') => self.pos += 1,
                Some('\n') if newlines => self.pos += 1,
                Some('/') if self.peek_at(1) == Some('/') => {
                    while !matches!(self.peek(), None | Some('\n')) {
                        self.pos += 1;
                    }
                }
                Some('/') if self.peek_at(1) == Some('*') => {
                    self.pos += 2;
                    while !self.at_end() && !self.starts_with("*/") {
                        self.pos += 1;
                    }
                    self.pos = (self.pos + 2).min(self.src.len());
                }
                _ => return,
            }
        }
    }

    fn ident(&mut self) -> Result<String, ParseError> {
        let start = self.pos;
        while matches!(self.peek(), Some(c) if c.is_ascii_alphanumeric() || c == '_') {
            self.pos += 1;
        }
        if start == self.pos {
            return self.error(format!("expected a name, found {:?}", self.peek()));
        }
        Ok(self.src[start..self.pos].iter().collect())
    }

    fn expect(&mut self, c: char) -> Result<(), ParseError> {
        self.skip_trivia(false);
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            self.error(format!("expected {c:?}, found {:?}", self.peek()))
        }
    }

    fn statement(&mut self) -> Result<Statement, ParseError> {
        let mut decorators = Vec::new();
        while self.peek() == Some('@') {
            self.pos += 1;
            let name = self.ident()?;
            let args = if self.peek() == Some('(') { self.balanced('(', ')')? } else { String::new() };
            decorators.push(Decorator { name, args });
            self.skip_trivia(true);
        }
        let line = self.line();
        let keyword = self.ident()?;
        self.skip_trivia(false);
        let statement = match keyword.as_str() {
            "targetScope" => {
                self.expect('=')?;
                Statement::TargetScope { value: self.value()? }
            }
            "param" => {
                let name = self.ident()?;
                self.skip_trivia(false);
                let ty = self.type_name()?;
                self.skip_trivia(false);
                let default = if self.peek() == Some('=') {
                    self.pos += 1;
                    Some(self.value()?)
                } else {
                    None
                };
                Statement::Param { name, ty, default, decorators, line }
            }
            "var" => {
                let name = self.ident()?;
                self.expect('=')?;
                Statement::Var { name, value: self.value()?, line }
            }
            "resource" | "module" => {
                let symbol = self.ident()?;
                self.skip_trivia(false);
                if self.peek() != Some('\'') {
                    return self.error(format!("{keyword} {symbol}: expected a quoted type or path"));
                }
                let target = self.string()?;
                self.skip_trivia(false);
                let existing = keyword == "resource" && self.starts_with("existing");
                if existing {
                    self.pos += "existing".len();
                }
                self.expect('=')?;
                let value = self.value()?;
                if keyword == "resource" {
                    Statement::Resource { symbol, type_version: target, existing, value, line }
                } else {
                    Statement::Module { symbol, path: target, value, line }
                }
            }
            "output" => {
                let name = self.ident()?;
                self.skip_trivia(false);
                let ty = self.type_name()?;
                self.expect('=')?;
                Statement::Output { name, ty, value: self.value()?, line }
            }
            other => return Err(ParseError { line, message: format!("unsupported statement {other:?}") }),
        };
        self.end_of_statement()?;
        Ok(statement)
    }

    fn type_name(&mut self) -> Result<String, ParseError> {
        let mut ty = self.ident()?;
        while self.starts_with("[]") {
            self.pos += 2;
            ty.push_str("[]");
        }
        if self.peek() == Some('?') {
            self.pos += 1;
            ty.push('?');
        }
        Ok(ty)
    }

    fn end_of_statement(&mut self) -> Result<(), ParseError> {
        self.skip_trivia(false);
        match self.peek() {
            None | Some('\n') => Ok(()),
            other => self.error(format!("unexpected {other:?} after the statement")),
        }
    }

    /// A value at the current position. Literals are structured; anything else (or a literal
    /// followed by an operator) is kept as raw expression text.
    fn value(&mut self) -> Result<Value, ParseError> {
        self.skip_trivia(false);
        let start = self.pos;
        let structured = match self.peek() {
            Some('{') => Some(self.object()?),
            Some('[') => Some(self.array()?),
            Some('\'') => Some(Value::Str(self.string()?)),
            _ if self.keyword_at("if") => {
                self.pos += 2;
                self.skip_trivia(false);
                let cond = self.balanced('(', ')')?;
                self.skip_trivia(false);
                Some(Value::If { cond: cond.trim().to_string(), body: Box::new(self.value()?) })
            }
            _ => None,
        };
        if let Some(v) = structured {
            if self.value_ends_here() {
                return Ok(v);
            }
            self.pos = start;
        }
        let raw = self.raw_expression()?;
        Ok(match raw.as_str() {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            "null" => Value::Null,
            _ => match raw.parse::<i64>() {
                Ok(n) => Value::Number(n),
                Err(_) if raw.is_empty() => return self.error("expected a value"),
                Err(_) => Value::Expr(raw),
            },
        })
    }

    fn keyword_at(&self, word: &str) -> bool {
        self.starts_with(word)
            && !matches!(self.peek_at(word.len()), Some(c) if c.is_ascii_alphanumeric() || c == '_')
    }

    fn value_ends_here(&mut self) -> bool {
        let save = self.pos;
        self.skip_trivia(false);
        let ends = matches!(self.peek(), None | Some('\n' | ',' | '}' | ']' | ')'));
        self.pos = save;
        ends
    }

    fn object(&mut self) -> Result<Value, ParseError> {
        self.pos += 1;
        let entries = self.delimited('}', "object", |p| {
            let key = if p.peek() == Some('\'') { p.string()? } else { p.ident()? };
            p.expect(':')?;
            Ok((key, p.value()?))
        })?;
        Ok(Value::Object(entries))
    }

    /// Entries separated by newlines or commas up to `close` (consumed); `what` names the
    /// construct in the error for a missing `close`.
    fn delimited<T>(
        &mut self,
        close: char,
        what: &str,
        mut entry: impl FnMut(&mut Self) -> Result<T, ParseError>,
    ) -> Result<Vec<T>, ParseError> {
        let mut out = Vec::new();
        loop {
            self.skip_separators();
            match self.peek() {
                None => return self.error(format!("unterminated {what}")),
                Some(c) if c == close => {
                    self.pos += 1;
                    return Ok(out);
                }
                _ => out.push(entry(self)?),
            }
        }
    }

    fn array(&mut self) -> Result<Value, ParseError> {
        self.pos += 1;
        self.skip_trivia(true);
        if self.keyword_at("for") {
            self.pos += 3;
            let start = self.pos;
            let mut depth = 0usize;
            loop {
                match self.peek() {
                    None => return self.error("unterminated for expression"),
                    Some('(' | '[' | '{') => depth += 1,
                    Some(')' | ']' | '}') => depth = depth.saturating_sub(1),
                    Some('\'') => {
                        self.string()?;
                        continue;
                    }
                    Some(':') if depth == 0 => break,
                    _ => {}
                }
                self.pos += 1;
            }
            let header: String = self.src[start..self.pos].iter().collect();
            self.pos += 1;
            let body = self.value()?;
            self.skip_trivia(true);
            self.expect(']')?;
            return Ok(Value::For { header: header.trim().to_string(), body: Box::new(body) });
        }
        Ok(Value::Array(self.delimited(']', "array", Self::value)?))
    }

    fn skip_separators(&mut self) {
        loop {
            self.skip_trivia(true);
            if self.peek() == Some(',') {
                self.pos += 1;
            } else {
                return;
            }
        }
    }

    /// A string literal (the opening quote is at the current position); returns its content
    /// with escapes resolved and interpolations kept as `${...}`.
    fn string(&mut self) -> Result<String, ParseError> {
        if self.starts_with("'''") {
            self.pos += 3;
            let start = self.pos;
            while !self.starts_with("'''") {
                if self.at_end() {
                    return self.error("unterminated multi-line string");
                }
                self.pos += 1;
            }
            let s = self.src[start..self.pos].iter().collect();
            self.pos += 3;
            return Ok(s);
        }
        self.pos += 1;
        let mut out = String::new();
        loop {
            match self.peek() {
                None | Some('\n') => return self.error("unterminated string"),
                Some('\'') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some('\\') => {
                    let escaped = match self.peek_at(1) {
                        Some('n') => '\n',
                        Some('r') => '\r',
                        Some('t') => '\t',
                        Some(c @ ('\'' | '\\' | '$')) => c,
                        other => return self.error(format!("unknown escape \\{other:?}")),
                    };
                    out.push(escaped);
                    self.pos += 2;
                }
                Some('$') if self.peek_at(1) == Some('{') => {
                    self.pos += 1;
                    out.push('$');
                    out.push_str(&self.balanced('{', '}')?);
                }
                Some(c) => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    /// The text from `open` to its matching `close`, both included in the scan; returns the
    /// inner text for parentheses, the whole text for braces (interpolations keep `{...}`).
    fn balanced(&mut self, open: char, close: char) -> Result<String, ParseError> {
        let start = self.pos;
        let mut depth = 0usize;
        loop {
            match self.peek() {
                None => return self.error(format!("unbalanced {open:?}")),
                Some('\'') => {
                    self.string()?;
                    continue;
                }
                Some(c) if c == open => depth += 1,
                Some(c) if c == close => {
                    depth -= 1;
                    if depth == 0 {
                        self.pos += 1;
                        let text: String = self.src[start..self.pos].iter().collect();
                        return Ok(if open == '(' { text[1..text.len() - 1].to_string() } else { text });
                    }
                }
                _ => {}
            }
            self.pos += 1;
        }
    }

    /// Raw expression text up to the end of the line, a separator or an unmatched closer, at
    /// bracket depth 0 (so a ternary whose branches are multi-line objects stays whole).
    fn raw_expression(&mut self) -> Result<String, ParseError> {
        let start = self.pos;
        let mut depth = 0usize;
        loop {
            match self.peek() {
                None => break,
                Some('\'') => {
                    self.string()?;
                    continue;
                }
                Some('(' | '[' | '{') => depth += 1,
                Some(')' | ']' | '}') if depth == 0 => break,
                Some(')' | ']' | '}') => depth -= 1,
                Some('\n' | ',') if depth == 0 => break,
                Some('/') if depth == 0 && self.peek_at(1) == Some('/') => break,
                _ => {}
            }
            self.pos += 1;
        }
        Ok(self.src[start..self.pos].iter().collect::<String>().trim().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_shapes_infra_uses() {
        let text = r#"
targetScope = 'subscription'
// a comment
@description('A name, with \'quotes\'.')
@allowed([
  'a'
  'b'
])
param name string = 'a'
param count int = 3
param list array = []
var settings = {
  KEY: 'blob:${storage.outputs.url}'
  'quoted-key': name
  flag: true
  nothing: null
  pick: isFlex ? {
    a: 1
  } : null
}
resource sub 'Microsoft.X/y@2024-01-01' = [for (c, i) in list: {
  parent: topic
  name: '$Default'
  sql: 'consumer = \'${c}\''
}]
resource maybe 'Microsoft.X/z@2024-01-01' existing = if (kind == 'z') {
  name: n
}
module m 'modules/m.bicep' = {
  name: 'm'
  params: {
    items: [
      'x', 'y'
    ]
  }
}
output host string = split(split(ns.properties.endpoint, '//')[1], ':')[0]
"#;
        let file = BicepFile::parse(text).unwrap();
        assert_eq!(file.param_default("name"), Some(&Value::Str("a".into())));
        assert_eq!(file.param_default("count"), Some(&Value::Number(3)));
        let (_, _, _, decorators) = file.params().next().unwrap();
        assert_eq!(decorators[0].args, "'A name, with \\'quotes\\'.'");
        let settings = file.var("settings").unwrap();
        assert_eq!(settings.keys(), ["KEY", "quoted-key", "flag", "nothing", "pick"]);
        assert_eq!(settings.get("KEY"), Some(&Value::Str("blob:${storage.outputs.url}".into())));
        assert_eq!(settings.get("quoted-key"), Some(&Value::Expr("name".into())));
        assert_eq!(settings.get("nothing"), Some(&Value::Null));
        assert!(settings.get("pick").unwrap().as_expr().unwrap().starts_with("isFlex ? {"));
        let sub = file.resource("sub").unwrap();
        assert_eq!(sub.get("name"), Some(&Value::Str("$Default".into())));
        assert_eq!(sub.get("sql"), Some(&Value::Str("consumer = '${c}'".into())));
        match sub {
            Value::For { header, .. } => assert_eq!(header, "(c, i) in list"),
            other => panic!("expected a for loop, got {other:?}"),
        }
        let (_, _, existing, maybe) = file.resources().find(|r| r.0 == "maybe").unwrap();
        assert!(existing);
        assert!(matches!(maybe, Value::If { cond, .. } if cond == "kind == 'z'"));
        let (path, m) = file.module("m").unwrap();
        assert_eq!(path, "modules/m.bicep");
        assert_eq!(m.path("params.items").unwrap().as_array().unwrap().len(), 2);
        assert!(file.output("host").unwrap().as_expr().unwrap().starts_with("split("));
    }

    #[test]
    fn unknown_statements_and_broken_text_are_errors_with_lines() {
        let err = BicepFile::parse("param a string\nfunc f() string => 'x'\n").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.message.contains("func"), "{err}");
        let err = BicepFile::parse("var a = {\n  b: 'open\n}\n").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.message.contains("unterminated string"), "{err}");
    }
}
