//! One Service Bus namespace: its name, our HTTP client, and the crate's clients for its
//! queues and topics.

use super::auth::ServiceBusAuth;
use super::transport::ServiceBusHttp;
use crate::adapters::azure::http::HttpOptions;
use azure_messaging_servicebus::service_bus::{QueueClient, SubscriptionReceiver, TopicClient};
use std::sync::Arc;

/// The only DNS suffix the 0.21 crate can address (it formats `https://{ns}.servicebus.windows.net`).
pub const NAMESPACE_SUFFIX: &str = ".servicebus.windows.net";

/// The crate insists on signing every request with a SAS. [`ServiceBusHttp`] replaces that
/// header, so the crate gets a placeholder it can "sign" with (it must be valid base64).
const PLACEHOLDER_KEY_NAME: &str = "keyrelay-replaced-by-transport";
const PLACEHOLDER_KEY: &str = "a2V5cmVsYXk=";

#[derive(Clone, Debug)]
pub struct ServiceBusNamespace {
    /// The short name, `contoso` for `contoso.servicebus.windows.net`.
    name: String,
    http: Arc<ServiceBusHttp>,
}

impl ServiceBusNamespace {
    /// `namespace` is `KEYRELAY_SERVICEBUS_NAMESPACE`: `<ns>.servicebus.windows.net` (a bare
    /// `<ns>` is accepted too).
    pub fn new(namespace: &str, auth: ServiceBusAuth, http: &HttpOptions) -> anyhow::Result<ServiceBusNamespace> {
        Ok(ServiceBusNamespace { name: parse_namespace(namespace)?, http: Arc::new(ServiceBusHttp::new(http, auth)?) })
    }

    /// The fully qualified host name.
    pub fn host(&self) -> String {
        format!("{}{NAMESPACE_SUFFIX}", self.name)
    }

    pub fn queue(&self, queue: &str) -> anyhow::Result<QueueClient> {
        Ok(QueueClient::new(self.http.clone(), &self.name, queue, PLACEHOLDER_KEY_NAME, PLACEHOLDER_KEY)?)
    }

    pub fn topic(&self, topic: &str) -> anyhow::Result<TopicClient> {
        Ok(TopicClient::new(self.http.clone(), &self.name, topic, PLACEHOLDER_KEY_NAME, PLACEHOLDER_KEY)?)
    }

    pub fn subscription(&self, topic: &str, subscription: &str) -> anyhow::Result<SubscriptionReceiver> {
        Ok(self.topic(topic)?.subscription_receiver(subscription))
    }
}

/// Accepts `contoso.servicebus.windows.net`, `https://contoso.servicebus.windows.net/` or
/// `contoso`; anything in another cloud is refused with the reason.
pub fn parse_namespace(namespace: &str) -> anyhow::Result<String> {
    let trimmed = namespace.trim().trim_start_matches("https://").trim_end_matches('/').to_ascii_lowercase();
    let name = match trimmed.strip_suffix(NAMESPACE_SUFFIX) {
        Some(name) => name.to_string(),
        None if !trimmed.contains('.') => trimmed.clone(),
        None => anyhow::bail!(
            "Service Bus namespace {namespace:?}: only *{NAMESPACE_SUFFIX} is supported (azure_messaging_servicebus 0.21 fixes that suffix)"
        ),
    };
    let valid = (6..=50).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if !valid {
        anyhow::bail!("Service Bus namespace {namespace:?}: a name is 6-50 letters, digits or hyphens, starting with a letter");
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::parse_namespace;

    #[test]
    fn namespace_forms() {
        assert_eq!(parse_namespace("Contoso-rotation.servicebus.windows.net").unwrap(), "contoso-rotation");
        assert_eq!(parse_namespace("https://contoso-rotation.servicebus.windows.net/").unwrap(), "contoso-rotation");
        assert_eq!(parse_namespace("contoso-rotation").unwrap(), "contoso-rotation");
        assert!(parse_namespace("contoso.servicebus.chinacloudapi.cn").unwrap_err().to_string().contains("only"));
        assert!(parse_namespace("ab").is_err());
    }
}
