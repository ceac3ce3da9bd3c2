//! Reload hooks: the ways the new key reaches the application. Each hook reports what it did
//! (for the ack's detail) or what failed; the first failure stops the reload and the agent
//! acks unhealthy with that failure.

mod app_service;
mod command;
mod file;
mod http_post;

pub use app_service::refresh_url;
pub use command::run_with_stdin as run_command;
pub use file::{signal_number, write_atomically};
pub(crate) use http_post::without_url;

use super::config::HookConfig;
use crate::domain::SecretValue;
use azure_core::credentials::TokenCredential;
use std::sync::Arc;

/// What hooks need besides the key: an HTTP client (the one [`HttpOptions`] builds, so private
/// CAs and name overrides apply) and, for App Service references, a Resource Manager token.
///
/// [`HttpOptions`]: crate::adapters::azure::http::HttpOptions
#[derive(Clone)]
pub struct HookContext {
    pub http: reqwest::Client,
    pub arm: Option<Arc<dyn TokenCredential>>,
    /// `https://management.azure.com` in the public cloud.
    pub arm_endpoint: String,
}

/// Runs one hook with the key.
pub async fn run_hook(hook: &HookConfig, key: &SecretValue, ctx: &HookContext) -> Result<String, String> {
    match hook {
        HookConfig::File { path, signal, pid_file } => {
            file::write_atomically(path, key).await?;
            match (signal, pid_file) {
                (Some(signal), Some(pid_file)) => {
                    let pid = file::send_signal(signal, pid_file)?;
                    Ok(format!("wrote {} and sent {signal} to pid {pid}", path.display()))
                }
                _ => Ok(format!("wrote {}", path.display())),
            }
        }
        HookConfig::Command { command, timeout } => command::run_with_stdin(command, key, timeout.as_secs()).await,
        HookConfig::Http { url, timeout } => http_post::post_key(&ctx.http, url, key, timeout.as_secs()).await,
        HookConfig::AppServiceReferences { resource_id, timeout } => {
            app_service::refresh(ctx, resource_id, timeout.as_secs()).await
        }
    }
}
