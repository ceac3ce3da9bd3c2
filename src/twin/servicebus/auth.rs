//! Who may talk to the Service Bus twin: an Entra bearer token for
//! `https://servicebus.azure.net` from the identity twin, or a SAS signed with one of the
//! namespace's keys (HMAC-SHA256 keyed with the key's UTF-8 bytes over
//! `urlencode(resource) + "\n" + expiry`), scoped to a prefix of the request URL.

use crate::twin::IdentityTwin;
use axum::http::HeaderMap;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::BTreeMap;

pub const SERVICEBUS_AUDIENCE: &str = "https://servicebus.azure.net";

fn decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes()).next().map(|(_, v)| v.into_owned()).unwrap_or_default()
}

/// Checks the `Authorization` header of a request to `request_url`.
pub fn authorized(headers: &HeaderMap, request_url: &str, keys: &BTreeMap<String, String>, now: i64) -> Result<(), String> {
    let Some(value) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
        return Err("missing Authorization".into());
    };
    if value.starts_with("Bearer ") {
        return if IdentityTwin::authorized(headers, SERVICEBUS_AUDIENCE) {
            Ok(())
        } else {
            Err("the bearer token is not for https://servicebus.azure.net".into())
        };
    }
    let Some(sas) = value.strip_prefix("SharedAccessSignature ") else {
        return Err("unsupported authorization scheme".into());
    };
    let fields: BTreeMap<&str, &str> = sas.split('&').filter_map(|kv| kv.split_once('=')).collect();
    let (Some(sr), Some(sig), Some(se), Some(skn)) = (fields.get("sr"), fields.get("sig"), fields.get("se"), fields.get("skn")) else {
        return Err("SAS needs sr, sig, se and skn".into());
    };
    let key = keys.get(&decode(skn)).ok_or("unknown SAS key name")?;
    let expiry: i64 = se.parse().map_err(|_| "bad SAS expiry")?;
    if expiry <= now {
        return Err("SAS expired".into());
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("any key length");
    mac.update(format!("{sr}\n{se}").as_bytes());
    let expected = STANDARD.encode(mac.finalize().into_bytes());
    if expected != decode(sig) {
        return Err("SAS signature does not match".into());
    }
    let resource = decode(sr).to_ascii_lowercase();
    let resource = resource.trim_start_matches("https://").trim_start_matches("http://").trim_end_matches('/');
    let url = request_url.to_ascii_lowercase();
    if !url.trim_start_matches("https://").starts_with(resource) {
        return Err("SAS resource does not cover this URL".into());
    }
    Ok(())
}
