//! Refreshing App Service / Functions Key Vault references. Apps that read the key through
//! `@Microsoft.KeyVault(...)` app settings cache it for up to 24 hours; this Resource Manager
//! call makes them re-read it now.

use super::http_post::send_expecting_success;
use super::HookContext;
use std::time::Duration;

const API_VERSION: &str = "2022-03-01";

pub fn refresh_url(arm_endpoint: &str, resource_id: &str) -> String {
    format!(
        "{}/{}/config/configreferences/appsettings/refresh?api-version={API_VERSION}",
        arm_endpoint.trim_end_matches('/'),
        resource_id.trim_matches('/')
    )
}

pub async fn refresh(ctx: &HookContext, resource_id: &str, timeout_secs: u64) -> Result<String, String> {
    let credential = ctx.arm.as_ref().ok_or("app-service-references: no Azure credential is configured")?;
    let scope = crate::adapters::azure::identity::Cloud::scope(&ctx.arm_endpoint);
    let token = credential
        .get_token(&[scope.as_str()], None)
        .await
        .map_err(|e| format!("app-service-references: cannot get a Resource Manager token: {e}"))?;
    let url = refresh_url(&ctx.arm_endpoint, resource_id);
    let request = ctx
        .http
        .post(&url)
        .bearer_auth(token.token.secret())
        .header("content-length", "0")
        .timeout(Duration::from_secs(timeout_secs.max(1)));
    send_expecting_success(request, &format!("Key Vault reference refresh of {resource_id}")).await?;
    Ok(format!("refreshed the Key Vault references of {resource_id}"))
}
