//! The SQL filter subset subscriptions use: comparisons of an application property with a
//! literal (`consumer = 'orders-api'`, `attempt > 1`), joined by AND / OR (AND binds tighter),
//! and the TrueFilter `1=1`. Property names may be written `user.consumer`.

use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    True,
    Compare { property: String, op: Op, value: Value },
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Str(String),
    Num(f64),
    Op(Op),
}

fn tokenize(sql: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = sql.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '\'' {
            let mut s = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err(format!("unterminated string in {sql:?}")),
                    Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                        s.push('\'');
                        i += 2;
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some(ch) => {
                        s.push(*ch);
                        i += 1;
                    }
                }
            }
            out.push(Token::Str(s));
        } else if "=<>!".contains(c) {
            let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
            let (op, len) = match two.as_str() {
                "<>" | "!=" => (Op::Ne, 2),
                "<=" => (Op::Le, 2),
                ">=" => (Op::Ge, 2),
                _ => match c {
                    '=' => (Op::Eq, 1),
                    '<' => (Op::Lt, 1),
                    '>' => (Op::Gt, 1),
                    _ => return Err(format!("unexpected {c:?} in {sql:?}")),
                },
            };
            out.push(Token::Op(op));
            i += len;
        } else if c.is_ascii_digit() || c == '-' {
            let start = i;
            i += 1;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            let text: String = chars[start..i].iter().collect();
            out.push(Token::Num(text.parse().map_err(|_| format!("bad number {text:?} in {sql:?}"))?));
        } else if c.is_ascii_alphabetic() || c == '_' || c == '[' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || "_.-[]".contains(chars[i])) {
                i += 1;
            }
            let word: String = chars[start..i].iter().filter(|c| **c != '[' && **c != ']').collect();
            out.push(Token::Word(word));
        } else {
            return Err(format!("unexpected {c:?} in {sql:?}"));
        }
    }
    Ok(out)
}

impl Filter {
    pub fn parse(sql: &str) -> Result<Filter, String> {
        let tokens = tokenize(sql)?;
        let mut pos = 0;
        let filter = parse_or(&tokens, &mut pos, sql)?;
        if pos != tokens.len() {
            return Err(format!("unexpected trailing input in {sql:?}"));
        }
        Ok(filter)
    }

    pub fn matches(&self, properties: &BTreeMap<String, Value>) -> bool {
        match self {
            Filter::True => true,
            Filter::And(a, b) => a.matches(properties) && b.matches(properties),
            Filter::Or(a, b) => a.matches(properties) || b.matches(properties),
            Filter::Compare { property, op, value } => {
                let Some(actual) = properties.get(property) else { return false };
                let ordering = match (actual, value) {
                    (Value::String(a), Value::String(b)) => a.partial_cmp(b),
                    (Value::Number(a), Value::Number(b)) => a.as_f64().partial_cmp(&b.as_f64()),
                    (Value::Bool(a), Value::Bool(b)) => a.partial_cmp(b),
                    _ => None,
                };
                let Some(ordering) = ordering else { return false };
                match op {
                    Op::Eq => ordering.is_eq(),
                    Op::Ne => ordering.is_ne(),
                    Op::Lt => ordering.is_lt(),
                    Op::Le => ordering.is_le(),
                    Op::Gt => ordering.is_gt(),
                    Op::Ge => ordering.is_ge(),
                }
            }
        }
    }
}

fn parse_or(t: &[Token], pos: &mut usize, sql: &str) -> Result<Filter, String> {
    let mut left = parse_and(t, pos, sql)?;
    while matches!(t.get(*pos), Some(Token::Word(w)) if w.eq_ignore_ascii_case("or")) {
        *pos += 1;
        left = Filter::Or(Box::new(left), Box::new(parse_and(t, pos, sql)?));
    }
    Ok(left)
}

fn parse_and(t: &[Token], pos: &mut usize, sql: &str) -> Result<Filter, String> {
    let mut left = parse_comparison(t, pos, sql)?;
    while matches!(t.get(*pos), Some(Token::Word(w)) if w.eq_ignore_ascii_case("and")) {
        *pos += 1;
        left = Filter::And(Box::new(left), Box::new(parse_comparison(t, pos, sql)?));
    }
    Ok(left)
}

fn literal(token: Option<&Token>) -> Option<Value> {
    match token? {
        Token::Str(s) => Some(Value::String(s.clone())),
        Token::Num(n) => serde_json::Number::from_f64(*n).map(Value::Number),
        Token::Word(w) if w.eq_ignore_ascii_case("true") => Some(Value::Bool(true)),
        Token::Word(w) if w.eq_ignore_ascii_case("false") => Some(Value::Bool(false)),
        _ => None,
    }
}

fn parse_comparison(t: &[Token], pos: &mut usize, sql: &str) -> Result<Filter, String> {
    let err = || format!("expected `property op literal` in {sql:?}");
    let (left, op, right) = (t.get(*pos), t.get(*pos + 1), t.get(*pos + 2));
    let Some(Token::Op(op)) = op else { return Err(err()) };
    *pos += 3;
    match (left, right) {
        (Some(Token::Num(a)), Some(Token::Num(b))) if a == b && *op == Op::Eq => Ok(Filter::True),
        (Some(Token::Word(name)), right) => {
            let value = literal(right).ok_or_else(err)?;
            let property = name.strip_prefix("user.").unwrap_or(name).to_string();
            Ok(Filter::Compare { property, op: *op, value })
        }
        _ => Err(err()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn props(v: Value) -> BTreeMap<String, Value> {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn consumer_filters() {
        let f = Filter::parse("consumer = 'orders-api'").unwrap();
        assert!(f.matches(&props(json!({"consumer": "orders-api"}))));
        assert!(!f.matches(&props(json!({"consumer": "billing"}))));
        assert!(!f.matches(&props(json!({}))));
        let f = Filter::parse("user.consumer = 'a' OR consumer='b' AND attempt >= 2").unwrap();
        assert!(f.matches(&props(json!({"consumer": "a"}))));
        assert!(f.matches(&props(json!({"consumer": "b", "attempt": 2}))));
        assert!(!f.matches(&props(json!({"consumer": "b", "attempt": 1}))));
        assert_eq!(Filter::parse("1=1").unwrap(), Filter::True);
        assert!(Filter::parse("consumer = ").is_err());
        assert!(Filter::parse("consumer = 'x").is_err());
    }
}
