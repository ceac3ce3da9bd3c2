//! Builds the Redis key providers (`redis-selfhosted`, `redis-cloud`, `redis-cloud-api-key`)
//! from the policy's checked Redis settings, on the production Key Vault secret store.
//!
//! They are built once at start-up, so what only construction can check (the private CA file,
//! an ACL user the adapter refuses) stops `serve` with the policy's file:line:field. Building
//! them opens no connection and reads no secret: admin credentials and API keys are read from
//! Key Vault at each use, so a rotated admin password or API key needs no restart.

use crate::adapters::azure::http::HttpOptions;
use crate::adapters::redis::cloud::{AlternatingConfig, AlternatingUsersProvider, ApiKeyRotation, ApiKeyRotationConfig, CloudClient, CloudOptions};
use crate::adapters::redis::{RedisEndpoint, SelfHostedConfig, SelfHostedProvider, Staging};
use crate::domain::CredentialName;
use crate::policy::{CredentialPolicy, Location, Policy, PolicyError, RedisPolicy};
use crate::ports::{KeyProvider, SecretStore};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The Redis credentials' providers, by credential name.
pub type RedisProviders = BTreeMap<CredentialName, Arc<dyn KeyProvider>>;

/// One provider per Redis credential of `policy`. `http` is how the Redis Cloud API is reached
/// (the app's [`HttpOptions::from_env`]; tests resolve `api.redislabs.com` to the twin).
pub fn redis_providers(policy: &Policy, secrets: Arc<dyn SecretStore>, http: &HttpOptions) -> Result<RedisProviders, PolicyError> {
    let mut out = RedisProviders::new();
    for credential in &policy.credentials {
        let Some(redis) = &credential.redis else { continue };
        let at = |at: Location, field: &str, why: String| PolicyError::new(&policy.origin, Some(at), field, format!("credential {:?}: {why}", credential.name.as_str()));
        let provider: Arc<dyn KeyProvider> = match redis {
            RedisPolicy::SelfHosted { host, port, tls, user, user_at, admin_secret, staging, ca_file } => {
                let ca_pem = match ca_file {
                    None => None,
                    Some((path, file_at)) => Some(
                        std::fs::read_to_string(path).map_err(|e| at(*file_at, "credential.ca_file", format!("cannot read {}: {e}", path.display())))?,
                    ),
                };
                let config = SelfHostedConfig {
                    endpoint: RedisEndpoint { host: host.clone(), port: *port, tls: *tls, ca_pem },
                    user: user.clone(),
                    admin_secret: admin_secret.clone(),
                    secret: credential.secret.clone(),
                    staging: staging_of(credential, staging.as_ref()),
                };
                Arc::new(SelfHostedProvider::new(config, secrets.clone()).map_err(|why| at(*user_at, "credential.user", why))?)
            }
            RedisPolicy::Cloud { api_base, subscription_id, database_id, essentials, users, users_at, api_keys, staging } => {
                let client = cloud_client(api_base, http, secrets.clone(), api_keys.clone()).map_err(|why| at(credential.target_at, "credential.address", why))?;
                let config = AlternatingConfig {
                    subscription_id: *subscription_id,
                    database_id: *database_id,
                    essentials: *essentials,
                    users: users.clone(),
                    secret: credential.secret.clone(),
                    staging: staging_of(credential, staging.as_ref()),
                };
                Arc::new(AlternatingUsersProvider::new(client, config, secrets.clone()).map_err(|why| at(*users_at, "credential.users", why))?)
            }
            RedisPolicy::CloudApiKey { api_base, incoming } => {
                // The API is called with the keys being rotated: the credential's own secret.
                let client = cloud_client(api_base, http, secrets.clone(), credential.secret.clone())
                    .map_err(|why| at(credential.target_at, "credential.address", why))?;
                let incoming = incoming.clone().unwrap_or_else(|| ApiKeyRotationConfig::default_incoming(&credential.secret));
                Arc::new(ApiKeyRotation::new(client, ApiKeyRotationConfig { secret: credential.secret.clone(), incoming }, secrets.clone()))
            }
        };
        tracing::info!(credential = %credential.name, provider = %provider.describe(), "Redis provider ready");
        out.insert(credential.name.clone(), provider);
    }
    Ok(out)
}

fn staging_of(credential: &CredentialPolicy, staging: Option<&crate::ports::SecretRef>) -> crate::ports::SecretRef {
    staging.cloned().unwrap_or_else(|| Staging::default_ref(&credential.secret))
}

/// A Redis Cloud API client on `api_base`, reading its keys from `keys_secret`.
fn cloud_client(api_base: &str, http: &HttpOptions, secrets: Arc<dyn SecretStore>, keys_secret: crate::ports::SecretRef) -> Result<CloudClient, String> {
    let options = CloudOptions { base_url: api_base.to_string(), http: http.clone(), ..CloudOptions::default() };
    CloudClient::new(options, secrets, keys_secret).map_err(|e| format!("the Redis Cloud API client for {api_base}: {e}"))
}
