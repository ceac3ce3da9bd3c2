//! Which Entra ID credential keyrelay uses, and for which cloud.
//!
//! azure_identity 1.x has no `DefaultAzureCredential`, and a silent fallback chain would hide
//! misconfiguration anyway: the operator names the credential in `KEYRELAY_CREDENTIAL`. The
//! cloud (`KEYRELAY_CLOUD`) fixes the ARM endpoint, the authority and every audience at once,
//! so a China or US Government deployment cannot end up asking for a public-cloud token.
//!
//! Every credential talks HTTP through [`SdkTransport`] (our roots and name resolution), and
//! tokens are cached per scope until shortly before they expire.

use super::http::HttpOptions;
use super::sdk_transport::SdkTransport;
use azure_core::credentials::{AccessToken, Secret, TokenCredential, TokenRequestOptions};
use azure_core::cloud::CloudConfiguration;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// The sovereign cloud keyrelay runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cloud {
    Public,
    China,
    UsGovernment,
}

impl Cloud {
    /// The `KEYRELAY_CLOUD` spelling `parse` reads back.
    pub fn as_str(self) -> &'static str {
        match self {
            Cloud::Public => "public",
            Cloud::China => "china",
            Cloud::UsGovernment => "usgovernment",
        }
    }

    pub fn parse(value: &str) -> anyhow::Result<Cloud> {
        match value.trim().to_ascii_lowercase().as_str() {
            "" | "public" | "azurecloud" => Ok(Cloud::Public),
            "china" | "azurechinacloud" => Ok(Cloud::China),
            "usgovernment" | "azureusgovernment" => Ok(Cloud::UsGovernment),
            other => anyhow::bail!("KEYRELAY_CLOUD={other:?}: expected public, china or usgovernment"),
        }
    }

    /// The Resource Manager endpoint (no trailing slash).
    pub fn arm_endpoint(self) -> &'static str {
        match self {
            Cloud::Public => "https://management.azure.com",
            Cloud::China => "https://management.chinacloudapi.cn",
            Cloud::UsGovernment => "https://management.usgovcloudapi.net",
        }
    }

    /// The token audience (resource) for Resource Manager.
    pub fn arm_audience(self) -> &'static str {
        self.arm_endpoint()
    }

    /// The token audience for Key Vault data-plane calls.
    pub fn keyvault_audience(self) -> &'static str {
        match self {
            Cloud::Public => "https://vault.azure.net",
            Cloud::China => "https://vault.azure.cn",
            Cloud::UsGovernment => "https://vault.usgovcloudapi.net",
        }
    }

    /// The Entra ID authority host.
    pub fn authority_host(self) -> &'static str {
        match self {
            Cloud::Public => "https://login.microsoftonline.com",
            Cloud::China => "https://login.chinacloudapi.cn",
            Cloud::UsGovernment => "https://login.microsoftonline.us",
        }
    }

    /// The `.default` scope for an audience, as Entra ID v2 endpoints want it.
    pub fn scope(audience: &str) -> String {
        format!("{}/.default", audience.trim_end_matches('/'))
    }

    fn sdk_cloud(self) -> Option<Arc<CloudConfiguration>> {
        match self {
            // None lets azure_identity honour AZURE_AUTHORITY_HOST, as its docs promise.
            Cloud::Public => None,
            Cloud::China => Some(Arc::new(CloudConfiguration::AzureChina)),
            Cloud::UsGovernment => Some(Arc::new(CloudConfiguration::AzureGovernment)),
        }
    }
}

/// The credential kinds an operator can choose (`KEYRELAY_CREDENTIAL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    /// System- or user-assigned managed identity; honours `IDENTITY_ENDPOINT` +
    /// `IDENTITY_HEADER` (App Service, Functions) and falls back to IMDS.
    ManagedIdentity,
    /// AKS / federated workload identity (`AZURE_TENANT_ID`, `AZURE_FEDERATED_TOKEN_FILE`).
    WorkloadIdentity,
    /// The developer's `az login`, for local use.
    AzureCli,
    /// An app registration's client secret (`AZURE_TENANT_ID`, `AZURE_CLIENT_SECRET`).
    ClientSecret,
}

impl CredentialKind {
    pub fn parse(value: &str) -> anyhow::Result<CredentialKind> {
        match value.trim().to_ascii_lowercase().as_str() {
            "" | "managed-identity" => Ok(CredentialKind::ManagedIdentity),
            "workload-identity" => Ok(CredentialKind::WorkloadIdentity),
            "azure-cli" => Ok(CredentialKind::AzureCli),
            "client-secret" => Ok(CredentialKind::ClientSecret),
            other => anyhow::bail!(
                "KEYRELAY_CREDENTIAL={other:?}: expected managed-identity, workload-identity, azure-cli or client-secret"
            ),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CredentialKind::ManagedIdentity => "managed-identity",
            CredentialKind::WorkloadIdentity => "workload-identity",
            CredentialKind::AzureCli => "azure-cli",
            CredentialKind::ClientSecret => "client-secret",
        }
    }
}

/// A Resource Manager endpoint override: an `https://` URL, returned without its trailing
/// slash. The handler's settings and the identity settings both check it with this.
pub fn parse_arm_endpoint(endpoint: &str) -> anyhow::Result<String> {
    let endpoint = endpoint.trim();
    let url = url::Url::parse(endpoint).map_err(|e| anyhow::anyhow!("{endpoint:?}: {e}"))?;
    anyhow::ensure!(url.scheme() == "https", "{endpoint:?}: Resource Manager is HTTPS only");
    Ok(endpoint.trim_end_matches('/').to_string())
}

/// Identity settings, read once at start: the handler's from its parsed app settings
/// (`shells::cli::wiring`), the agent's from its configuration file (`[azure]`).
#[derive(Clone)]
pub struct IdentitySettings {
    pub credential: CredentialKind,
    /// User-assigned identity / app registration client id; `None` = system-assigned.
    pub client_id: Option<String>,
    pub cloud: Cloud,
    /// Resource Manager endpoint: the cloud's, unless `KEYRELAY_ARM_ENDPOINT` overrides it
    /// (Azure Stack, or a twin on a random port).
    pub arm_endpoint: String,
    /// Tenant for workload identity and client secret (`AZURE_TENANT_ID`).
    pub tenant_id: Option<String>,
    /// Client secret (`AZURE_CLIENT_SECRET`); only for `client-secret`.
    client_secret: Option<crate::domain::SecretValue>,
}

impl std::fmt::Debug for IdentitySettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentitySettings")
            .field("credential", &self.credential)
            .field("client_id", &self.client_id)
            .field("cloud", &self.cloud)
            .field("arm_endpoint", &self.arm_endpoint)
            .field("tenant_id", &self.tenant_id)
            .field("client_secret", &self.client_secret.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl IdentitySettings {
    /// Reads the settings through `lookup` (the handler's settings, or a test's map).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<IdentitySettings> {
        let get = |name: &str| lookup(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let credential = CredentialKind::parse(&get("KEYRELAY_CREDENTIAL").unwrap_or_default())?;
        let cloud = Cloud::parse(&get("KEYRELAY_CLOUD").unwrap_or_default())?;
        let arm_endpoint = match get("KEYRELAY_ARM_ENDPOINT") {
            Some(endpoint) => parse_arm_endpoint(&endpoint).map_err(|e| anyhow::anyhow!("KEYRELAY_ARM_ENDPOINT={e}"))?,
            None => cloud.arm_endpoint().to_string(),
        };
        let client_id = get("KEYRELAY_CLIENT_ID").or_else(|| {
            // Workload identity and client secret name their app in AZURE_CLIENT_ID by convention.
            matches!(credential, CredentialKind::WorkloadIdentity | CredentialKind::ClientSecret)
                .then(|| get("AZURE_CLIENT_ID"))
                .flatten()
        });
        let settings = IdentitySettings {
            credential,
            client_id,
            cloud,
            arm_endpoint,
            tenant_id: get("AZURE_TENANT_ID"),
            client_secret: get("AZURE_CLIENT_SECRET").map(crate::domain::SecretValue::new),
        };
        if credential == CredentialKind::ClientSecret {
            anyhow::ensure!(settings.tenant_id.is_some(), "KEYRELAY_CREDENTIAL=client-secret needs AZURE_TENANT_ID");
            anyhow::ensure!(settings.client_id.is_some(), "KEYRELAY_CREDENTIAL=client-secret needs KEYRELAY_CLIENT_ID (or AZURE_CLIENT_ID)");
            anyhow::ensure!(settings.client_secret.is_some(), "KEYRELAY_CREDENTIAL=client-secret needs AZURE_CLIENT_SECRET");
        }
        Ok(settings)
    }

    /// Who keyrelay acts as, for error messages ("managed-identity (client id ...)").
    pub fn identity_description(&self) -> String {
        match &self.client_id {
            Some(id) => format!("{} (client id {id})", self.credential.as_str()),
            None if self.credential == CredentialKind::ManagedIdentity => "managed-identity (system-assigned)".to_string(),
            None => self.credential.as_str().to_string(),
        }
    }

    /// Builds the credential, with our transport and a token cache in front of it.
    pub fn credential(&self, http: &HttpOptions) -> anyhow::Result<Arc<dyn TokenCredential>> {
        let mut client_options = SdkTransport::client_options(http)?;
        client_options.cloud = self.cloud.sdk_cloud();
        let inner: Arc<dyn TokenCredential> = match self.credential {
            CredentialKind::ManagedIdentity => {
                let options = azure_identity::ManagedIdentityCredentialOptions {
                    user_assigned_id: self.client_id.clone().map(azure_identity::UserAssignedId::ClientId),
                    client_options,
                };
                azure_identity::ManagedIdentityCredential::new(Some(options))?
            }
            CredentialKind::WorkloadIdentity => {
                let options = azure_identity::WorkloadIdentityCredentialOptions {
                    credential_options: azure_identity::ClientAssertionCredentialOptions { client_options },
                    client_id: self.client_id.clone(),
                    tenant_id: self.tenant_id.clone(),
                    token_file_path: None,
                };
                azure_identity::WorkloadIdentityCredential::new(Some(options))?
            }
            CredentialKind::AzureCli => azure_identity::AzureCliCredential::new(Some(
                azure_identity::AzureCliCredentialOptions { tenant_id: self.tenant_id.clone(), ..Default::default() },
            ))?,
            CredentialKind::ClientSecret => {
                let (Some(tenant), Some(client_id), Some(secret)) = (&self.tenant_id, &self.client_id, &self.client_secret)
                else {
                    anyhow::bail!("KEYRELAY_CREDENTIAL=client-secret needs AZURE_TENANT_ID, a client id and AZURE_CLIENT_SECRET");
                };
                azure_identity::ClientSecretCredential::new(
                    tenant,
                    client_id.clone(),
                    Secret::new(secret.expose().to_string()),
                    Some(azure_identity::ClientSecretCredentialOptions { client_options }),
                )?
            }
        };
        Ok(Arc::new(CachedCredential::new(inner)))
    }
}

/// Tokens are reused until this long before they expire.
const REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// A per-scope token cache in front of any credential. Some azure_identity credentials cache
/// on their own and some (Azure CLI) do not; this makes it uniform, and keeps a busy rotation
/// from asking the identity endpoint for a token on every ARM call.
pub struct CachedCredential {
    inner: Arc<dyn TokenCredential>,
    cache: tokio::sync::Mutex<HashMap<String, AccessToken>>,
}

impl std::fmt::Debug for CachedCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedCredential").field("inner", &self.inner).finish_non_exhaustive()
    }
}

impl CachedCredential {
    pub fn new(inner: Arc<dyn TokenCredential>) -> CachedCredential {
        CachedCredential { inner, cache: tokio::sync::Mutex::new(HashMap::new()) }
    }
}

#[async_trait::async_trait]
impl TokenCredential for CachedCredential {
    async fn get_token(&self, scopes: &[&str], options: Option<TokenRequestOptions<'_>>) -> azure_core::Result<AccessToken> {
        let key = scopes.join(" ");
        // Held across the fetch on purpose: concurrent callers wait for one token request.
        let mut cache = self.cache.lock().await;
        let fresh_until = time::OffsetDateTime::now_utc() + REFRESH_MARGIN;
        if let Some(token) = cache.get(&key).filter(|t| t.expires_on > fresh_until) {
            return Ok(token.clone());
        }
        let token = self.inner.get_token(scopes, options).await?;
        cache.insert(key, token.clone());
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> anyhow::Result<IdentitySettings> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        IdentitySettings::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_are_system_assigned_managed_identity_in_the_public_cloud() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.credential, CredentialKind::ManagedIdentity);
        assert_eq!(s.cloud, Cloud::Public);
        assert_eq!(s.arm_endpoint, "https://management.azure.com");
        assert_eq!(s.client_id, None);
        assert_eq!(s.identity_description(), "managed-identity (system-assigned)");
    }

    #[test]
    fn one_setting_moves_endpoint_and_audiences_to_a_sovereign_cloud() {
        let s = settings(&[("KEYRELAY_CLOUD", "china"), ("KEYRELAY_CLIENT_ID", "abc")]).unwrap();
        assert_eq!(s.arm_endpoint, "https://management.chinacloudapi.cn");
        assert_eq!(s.cloud.keyvault_audience(), "https://vault.azure.cn");
        assert_eq!(s.identity_description(), "managed-identity (client id abc)");
        let gov = settings(&[("KEYRELAY_CLOUD", "usgovernment")]).unwrap();
        assert_eq!(gov.arm_endpoint, "https://management.usgovcloudapi.net");
        assert_eq!(Cloud::scope(gov.cloud.arm_audience()), "https://management.usgovcloudapi.net/.default");
    }

    #[test]
    fn the_arm_endpoint_can_be_overridden_but_only_with_https() {
        let s = settings(&[("KEYRELAY_ARM_ENDPOINT", "https://management.azure.com:8443/")]).unwrap();
        assert_eq!(s.arm_endpoint, "https://management.azure.com:8443");
        assert_eq!(s.cloud.arm_audience(), "https://management.azure.com");
        let err = settings(&[("KEYRELAY_ARM_ENDPOINT", "http://127.0.0.1:80")]).unwrap_err();
        assert!(err.to_string().contains("HTTPS only"), "{err}");
    }

    #[test]
    fn bad_values_name_the_setting_and_the_choices() {
        let err = settings(&[("KEYRELAY_CREDENTIAL", "default")]).unwrap_err().to_string();
        assert!(err.contains("KEYRELAY_CREDENTIAL") && err.contains("workload-identity"), "{err}");
        let err = settings(&[("KEYRELAY_CLOUD", "mars")]).unwrap_err().to_string();
        assert!(err.contains("KEYRELAY_CLOUD") && err.contains("usgovernment"), "{err}");
        let err = settings(&[("KEYRELAY_CREDENTIAL", "client-secret"), ("AZURE_TENANT_ID", "t")]).unwrap_err().to_string();
        assert!(err.contains("KEYRELAY_CLIENT_ID"), "{err}");
    }

    #[test]
    fn the_client_secret_never_shows_in_debug_output() {
        let s = settings(&[
            ("KEYRELAY_CREDENTIAL", "client-secret"),
            ("AZURE_TENANT_ID", "tenant"),
            ("AZURE_CLIENT_ID", "app"),
            ("AZURE_CLIENT_SECRET", "very-secret-value"),
        ])
        .unwrap();
        assert_eq!(s.client_id.as_deref(), Some("app"));
        assert!(!format!("{s:?}").contains("very-secret-value"));
    }
}
