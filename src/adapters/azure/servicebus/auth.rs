//! How requests to a Service Bus namespace are authorized.

use crate::domain::SecretValue;
use azure_core::credentials::TokenCredential;
use azure_core_021::error::{Error, ErrorKind};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::sync::Arc;

/// The Entra ID scope of Service Bus data-plane tokens: one audience in every cloud; only
/// the namespace host suffix differs.
pub const SERVICEBUS_SCOPE: &str = "https://servicebus.azure.net/.default";

/// How long a SAS this client signs stays valid.
const SAS_LIFETIME_SECS: i64 = 3_600;

/// Entra ID (the default: works with local auth disabled) or a shared access key, e.g. one
/// read from a Key Vault secret.
#[derive(Clone)]
pub enum ServiceBusAuth {
    Entra(Arc<dyn TokenCredential>),
    SharedAccessKey { key_name: String, key: SecretValue },
}

impl std::fmt::Debug for ServiceBusAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServiceBusAuth::Entra(_) => f.write_str("Entra"),
            ServiceBusAuth::SharedAccessKey { key_name, .. } => write!(f, "SharedAccessKey({key_name})"),
        }
    }
}

impl ServiceBusAuth {
    /// The `Authorization` header value for a request to `url`.
    pub(super) async fn authorization(&self, url: &url::Url) -> azure_core_021::Result<SecretValue> {
        match self {
            ServiceBusAuth::Entra(credential) => {
                let token = credential.get_token(&[SERVICEBUS_SCOPE], None).await.map_err(|e| {
                    Error::message(ErrorKind::Credential, format!("no Entra token for Service Bus: {e}"))
                })?;
                Ok(SecretValue::new(format!("Bearer {}", token.token.secret())))
            }
            ServiceBusAuth::SharedAccessKey { key_name, key } => {
                let expiry = chrono::Utc::now().timestamp() + SAS_LIFETIME_SECS;
                Ok(shared_access_signature(&namespace_uri(url), key_name, key, expiry))
            }
        }
    }
}

/// The resource a SAS is scoped to: the whole namespace, so one signature shape serves every
/// entity.
fn namespace_uri(url: &url::Url) -> String {
    format!("https://{}/", url.host_str().unwrap_or_default())
}

/// `SharedAccessSignature sr=..&sig=..&se=..&skn=..`: HMAC-SHA256 over
/// `urlencode(resource) + "\n" + expiry`, keyed with the key's UTF-8 bytes (how Service Bus
/// verifies it), base64, then URL-encoded.
pub fn shared_access_signature(resource: &str, key_name: &str, key: &SecretValue, expiry: i64) -> SecretValue {
    let sr = encode(resource);
    let mut mac = Hmac::<Sha256>::new_from_slice(key.expose().as_bytes()).expect("HMAC takes any key length");
    mac.update(format!("{sr}\n{expiry}").as_bytes());
    let sig = STANDARD.encode(mac.finalize().into_bytes());
    SecretValue::new(format!("SharedAccessSignature sr={sr}&sig={}&se={expiry}&skn={}", encode(&sig), encode(key_name)))
}

fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
