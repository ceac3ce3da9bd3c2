//! Shared Key authorization for Blob Storage, as an azure_core pipeline policy.
//!
//! In Azure keyrelay reaches its state container with its managed identity (a bearer token,
//! the Blob client's own policy). The Blob 1.x crate has no shared-key support, and Azurite —
//! the real Blob service implementation the contract tests run against — authenticates with
//! its well-known account key, so this policy signs each request the documented way
//! (<https://learn.microsoft.com/rest/api/storageservices/authorize-with-shared-key>). It also
//! serves accounts where an operator chooses key auth. It runs last in the pipeline so it
//! signs the headers that are actually sent.

use crate::domain::SecretValue;
use async_trait::async_trait;
use azure_core::http::policies::{Policy, PolicyResult};
use azure_core::http::{Context, Request};
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::sync::Arc;

/// Signs requests for one storage account. The key is checked (base64) once, never printed,
/// and its decoded bytes live only while one signature is computed, zeroed after.
pub struct SharedKeyPolicy {
    account: String,
    key: SecretValue,
}

impl std::fmt::Debug for SharedKeyPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedKeyPolicy").field("account", &self.account).finish_non_exhaustive()
    }
}

impl SharedKeyPolicy {
    /// `key` is the account key as the portal shows it (base64).
    pub fn new(account: &str, key: SecretValue) -> anyhow::Result<SharedKeyPolicy> {
        base64::engine::general_purpose::STANDARD
            .decode(key.expose().trim())
            .map_err(|_| anyhow::anyhow!("the account key of {account} is not base64"))?;
        Ok(SharedKeyPolicy { account: account.to_string(), key })
    }

    fn signature(&self, string_to_sign: &str) -> String {
        let key = zeroize::Zeroizing::new(base64::engine::general_purpose::STANDARD.decode(self.key.expose().trim()).expect("checked in new"));
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes any key length");
        mac.update(string_to_sign.as_bytes());
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    }
}

/// The string to sign for the Blob service (version 2015-02-21 and later): the verb, the
/// standard headers in their fixed order (Content-Length empty when zero), the `x-ms-*`
/// headers sorted, and the canonicalized resource `/{account}{path}` with its query
/// parameters sorted, one per line.
pub fn string_to_sign(account: &str, method: &str, headers: &[(String, String)], url: &url::Url) -> String {
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_default()
    };
    let length = header("content-length");
    let length = if length == "0" { String::new() } else { length };
    let mut out = String::new();
    for part in [
        method.to_ascii_uppercase(),
        header("content-encoding"),
        header("content-language"),
        length,
        header("content-md5"),
        header("content-type"),
        String::new(), // Date: x-ms-date is sent instead
        header("if-modified-since"),
        header("if-match"),
        header("if-none-match"),
        header("if-unmodified-since"),
        header("range"),
    ] {
        out.push_str(&part);
        out.push('\n');
    }
    let mut ms: Vec<(String, String)> = headers
        .iter()
        .filter(|(n, _)| n.to_ascii_lowercase().starts_with("x-ms-"))
        .map(|(n, v)| (n.to_ascii_lowercase(), v.split_whitespace().collect::<Vec<_>>().join(" ")))
        .collect();
    ms.sort();
    for (n, v) in ms {
        out.push_str(&format!("{n}:{v}\n"));
    }
    out.push_str(&format!("/{account}{}", url.path()));
    let mut params: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (k, v) in url.query_pairs() {
        params.entry(k.to_ascii_lowercase()).or_default().push(v.into_owned());
    }
    for (k, mut vs) in params {
        vs.sort();
        out.push_str(&format!("\n{k}:{}", vs.join(",")));
    }
    out
}

#[async_trait]
impl Policy for SharedKeyPolicy {
    async fn send(&self, ctx: &Context, request: &mut Request, next: &[Arc<dyn Policy>]) -> PolicyResult {
        let now = time::OffsetDateTime::now_utc();
        request.insert_header("x-ms-date", azure_core::time::to_rfc7231(&now));
        let length = request.body().len().unwrap_or(0);
        let mut headers: Vec<(String, String)> = request
            .headers()
            .iter()
            .map(|(n, v)| (n.as_str().to_string(), v.as_str().to_string()))
            .filter(|(n, _)| !n.eq_ignore_ascii_case("content-length"))
            .collect();
        headers.push(("content-length".into(), length.to_string()));
        let method = request.method().to_string();
        let sts = string_to_sign(&self.account, &method, &headers, request.url());
        request.insert_header("authorization", format!("SharedKey {}:{}", self.account, self.signature(&sts)));
        next[0].send(ctx, request, &next[1..]).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_form_orders_headers_and_query() {
        let url = url::Url::parse("https://acct.blob.core.windows.net/c/b%20x?restype=container&comp=list&prefix=a").unwrap();
        let headers = vec![
            ("x-ms-version".to_string(), "2025-01-05".to_string()),
            ("X-MS-Date".to_string(), "Mon, 01 Jan 2026 00:00:00 GMT".to_string()),
            ("If-Match".to_string(), "\"0x1\"".to_string()),
            ("content-length".to_string(), "0".to_string()),
        ];
        let sts = string_to_sign("acct", "get", &headers, &url);
        assert_eq!(
            sts,
            "GET\n\n\n\n\n\n\n\n\"0x1\"\n\n\n\nx-ms-date:Mon, 01 Jan 2026 00:00:00 GMT\nx-ms-version:2025-01-05\n/acct/c/b%20x\ncomp:list\nprefix:a\nrestype:container"
        );
    }

    #[test]
    fn never_prints_the_key() {
        let p = SharedKeyPolicy::new("acct", SecretValue::new("c2VjcmV0LWtleS1ieXRlcw==")).unwrap();
        assert!(!format!("{p:?}").contains("c2VjcmV0"));
        assert!(SharedKeyPolicy::new("acct", SecretValue::new("not base64!")).is_err());
    }
}
