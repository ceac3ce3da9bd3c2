//! Reading `ACL GETUSER` replies and naming passwords by hash.
//!
//! Redis never gives a password back; it stores and reports SHA-256 hashes (`#<hex>` adds or
//! keeps a password by hash, `!<hex>` removes one). So keyrelay can check which of a user's
//! passwords a value is, and keep a password it does not hold in memory, without ever reading
//! one.

use crate::domain::SecretValue;
use ::redis::Value;
use sha2::{Digest, Sha256};

/// The hex SHA-256 of a password, as `ACL GETUSER` lists it.
pub fn password_hash(password: &SecretValue) -> String {
    hex::encode(Sha256::digest(password.expose().as_bytes()))
}

/// One field of an `ACL GETUSER` reply (a flat name/value array in RESP2, a map in RESP3).
fn field<'a>(reply: &'a Value, name: &str) -> Option<&'a Value> {
    match reply {
        Value::Array(items) => items.chunks(2).find_map(|pair| match pair {
            [k, v] if as_text(k).as_deref() == Some(name) => Some(v),
            _ => None,
        }),
        Value::Map(pairs) => pairs.iter().find_map(|(k, v)| (as_text(k).as_deref() == Some(name)).then_some(v)),
        _ => None,
    }
}

fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

fn text_list(v: &Value) -> Option<Vec<String>> {
    match v {
        Value::Array(items) | Value::Set(items) => items.iter().map(as_text).collect(),
        _ => None,
    }
}

/// The `passwords` field: hex SHA-256 hashes. `None` if the reply has no such field (no user).
pub fn passwords_field(reply: &Value) -> Option<Vec<String>> {
    field(reply, "passwords").and_then(text_list)
}

/// The `flags` field (`on`/`off`, `nopass`, ...).
pub fn flags_field(reply: &Value) -> Option<Vec<String>> {
    field(reply, "flags").and_then(text_list)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn reads_resp2_getuser_reply() {
        let reply = Value::Array(vec![
            bulk("flags"),
            Value::Array(vec![bulk("on")]),
            bulk("passwords"),
            Value::Array(vec![bulk("aa"), bulk("bb")]),
            bulk("commands"),
            bulk("+@all"),
        ]);
        assert_eq!(passwords_field(&reply).unwrap(), vec!["aa", "bb"]);
        assert_eq!(flags_field(&reply).unwrap(), vec!["on"]);
        assert_eq!(passwords_field(&Value::Nil), None);
    }

    #[test]
    fn hash_is_sha256_hex() {
        // sha256("foobar"), as `ACL SETUSER u >foobar` then `ACL GETUSER u` shows it.
        assert_eq!(
            password_hash(&SecretValue::new("foobar")),
            "c3ab8ff13720e8ad9047dd39466b3c8974e592c2fa383d4a3960714caef0c4f2"
        );
    }
}
