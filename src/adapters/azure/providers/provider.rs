//! The one generic ARM two-key provider: a [`ResourceKind`] row plus a resource id.

use super::kinds::{KeyField, RegenerateShape, ResourceKind, SwitchOn};
use super::resource_id::ResourceId;
use crate::adapters::azure::arm::{ArmCall, ArmClient, ArmError, Operation, OperationState};
use crate::domain::{SecretValue, Slot};
use crate::ports::{KeyAuthStatus, KeyProvider, ProviderError, RegenerateOutcome, UsageEvidence};
use async_trait::async_trait;
use std::sync::Arc;

/// The body flag that overrides Cosmos DB's "key used in the last 12 hours" check. Sent only
/// for a recorded operator force.
pub const SKIP_USAGE_CHECK: &str = "SkipAccountKeysLastUsageCheck";

/// What `read` hands out: the bare key, or the connection string built around it (Service Bus,
/// Event Hubs, SignalR, Web PubSub consumers usually configure a connection string).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ValueForm {
    #[default]
    Key,
    ConnectionString,
}

pub struct ArmKeyProvider {
    kind: &'static ResourceKind,
    resource: ResourceId,
    client: Arc<ArmClient>,
    form: ValueForm,
}

impl std::fmt::Debug for ArmKeyProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArmKeyProvider").field("kind", &self.kind.name).field("resource", &self.resource.as_str()).finish()
    }
}

fn unexpected(detail: String) -> ProviderError {
    ProviderError::Failed { detail, transient: false }
}

impl ArmKeyProvider {
    /// `kind` is a [`ResourceKind`] name; the resource id must be of a type the kind accepts.
    pub fn new(kind: &str, resource_id: &str, client: Arc<ArmClient>) -> Result<ArmKeyProvider, String> {
        let kind = ResourceKind::by_name(kind)?;
        let resource = ResourceId::for_kind(resource_id, kind)?;
        Ok(ArmKeyProvider { kind, resource, client, form: ValueForm::Key })
    }

    /// Chooses what `read` returns; a connection string only where the kind's list has one.
    pub fn with_form(mut self, form: ValueForm) -> Result<ArmKeyProvider, String> {
        if form == ValueForm::ConnectionString && self.kind.connection_strings.is_none() {
            return Err(format!("kind {:?} has no connection strings; use the key", self.kind.name));
        }
        self.form = form;
        Ok(self)
    }

    pub fn kind(&self) -> &'static ResourceKind {
        self.kind
    }

    /// `{resource type}/{op}/action` for the id at hand (entity-level rules differ from
    /// namespace-level ones), as RBAC names it.
    fn call(&self, op: &str, resource: &str) -> ArmCall {
        let action = if op == "read" {
            let rtype = match self.kind.switch_on {
                SwitchOn::Namespace if resource != self.resource.as_str() => self.kind.namespace_type.unwrap_or_default(),
                _ => self.resource.resource_type(),
            };
            format!("{rtype}/read")
        } else {
            format!("{}/{op}/action", self.resource.resource_type())
        };
        self.client.call(&action, resource)
    }

    async fn get_resource(&self, id: &str) -> Result<serde_json::Value, ProviderError> {
        let call = self.call("read", id);
        let response = self.client.send(reqwest::Method::GET, id, "", self.kind.api_version, None, &call).await?;
        response.json().map_err(|detail| ArmError::Unexpected { call, detail }.into())
    }

    async fn list(&self) -> Result<serde_json::Value, ProviderError> {
        let call = self.call(self.kind.list_op, self.resource.as_str());
        let suffix = format!("/{}", self.kind.list_op);
        let response =
            self.client.send(reqwest::Method::POST, self.resource.as_str(), &suffix, self.kind.api_version, None, &call).await?;
        response.json().map_err(|detail| ArmError::Unexpected { call, detail }.into())
    }

    /// Extracts a slot's value, in the provider's form, from a list response.
    pub fn key_from(&self, listing: &serde_json::Value, slot: Slot) -> Result<SecretValue, ProviderError> {
        let value = match (self.form, self.kind.connection_strings) {
            (ValueForm::ConnectionString, Some(pointers)) => {
                let pointer = pointers[usize::from(slot == Slot::Secondary)];
                listing.pointer(pointer).and_then(|v| v.as_str()).filter(|v| !v.is_empty()).map(SecretValue::new)
            }
            _ => extract_key(self.kind, listing, slot),
        };
        value.ok_or_else(|| {
            unexpected(format!(
                "the {} response for {} has no value for slot {slot} ({:?})",
                self.kind.list_op,
                self.resource,
                self.kind.slot(slot).field
            ))
        })
    }

    /// Regenerates and, for a long-running regenerate, polls it to its end within the
    /// client's LRO timeout. For callers outside the rotation core (CLI, tests).
    pub async fn regenerate_and_wait(&self, slot: Slot, force: bool) -> Result<(), ProviderError> {
        let mut outcome = self.regenerate(slot, force).await?;
        let deadline = tokio::time::Instant::now() + self.client.lro.timeout;
        while let RegenerateOutcome::Pending { operation, retry_after } = outcome {
            let pause = retry_after.min(self.client.lro.max_poll);
            if tokio::time::Instant::now() + pause > deadline {
                let call = self.call(self.kind.regenerate_op, self.resource.as_str());
                return Err(ArmError::OperationTimedOut { call, timeout: self.client.lro.timeout }.into());
            }
            tokio::time::sleep(pause).await;
            outcome = self.poll(&operation).await?;
        }
        Ok(())
    }
}

/// A slot's value in a list response, per the kind's field description.
pub fn extract_key(kind: &ResourceKind, listing: &serde_json::Value, slot: Slot) -> Option<SecretValue> {
    let value = match kind.slot(slot).field {
        KeyField::Pointer(pointer) => listing.pointer(pointer)?.as_str()?,
        KeyField::StorageKeyName(name) => listing
            .get("keys")?
            .as_array()?
            .iter()
            .find(|k| k.get("keyName").and_then(|n| n.as_str()).is_some_and(|n| n.eq_ignore_ascii_case(name)))?
            .get("value")?
            .as_str()?,
    };
    (!value.is_empty()).then(|| SecretValue::new(value))
}

/// The regenerate request for a slot: path suffix and body.
pub fn regenerate_request(kind: &ResourceKind, slot: Slot, force: bool) -> (String, Option<serde_json::Value>) {
    let wire = kind.slot(slot).wire;
    match kind.regenerate {
        RegenerateShape::PathSegment => (format!("/{}/{wire}", kind.regenerate_op), None),
        RegenerateShape::BodyField(field) => {
            let mut body = serde_json::json!({ field: wire });
            if force && kind.usage_check {
                body[SKIP_USAGE_CHECK] = serde_json::Value::Bool(true);
            }
            (format!("/{}", kind.regenerate_op), Some(body))
        }
    }
}

/// Cosmos DB's safe key rotation refuses with an error whose code is not published; its
/// documented wording is that the key "was used within the last 12 hours", and the override
/// flag is named in the message. Recognise either, whether the refusal comes at once or as
/// the end of a long-running operation.
fn is_used_recently(error: &ArmError) -> bool {
    let (ArmError::Status { body, .. } | ArmError::Conflict { body, .. } | ArmError::OperationFailed { body, .. }) = error else {
        return false;
    };
    let text = format!("{} {}", body.code, body.message).to_ascii_lowercase();
    text.contains("lastusage") || text.contains(&SKIP_USAGE_CHECK.to_ascii_lowercase()) || text.contains("last 12 hours")
}

#[async_trait]
impl KeyProvider for ArmKeyProvider {
    fn describe(&self) -> String {
        format!("{} {} ({})", self.resource.resource_type(), self.resource.name(), self.kind.name)
    }

    async fn key_auth(&self) -> Result<KeyAuthStatus, ProviderError> {
        let target = match self.kind.switch_on {
            SwitchOn::Resource => self.resource.as_str(),
            SwitchOn::Namespace => self.resource.top_level(),
        };
        let resource = self.get_resource(target).await?;
        Ok(if self.kind.key_auth.disabled_in(&resource) {
            KeyAuthStatus::Disabled { switch: format!("{} on {target}", self.kind.key_auth.describe()) }
        } else {
            KeyAuthStatus::Enabled
        })
    }

    async fn read(&self, slot: Slot) -> Result<SecretValue, ProviderError> {
        let listing = self.list().await?;
        self.key_from(&listing, slot)
    }

    async fn regenerate(&self, slot: Slot, force: bool) -> Result<RegenerateOutcome, ProviderError> {
        // Refuse before touching anything: regenerating keys nobody can use only makes noise.
        if let KeyAuthStatus::Disabled { switch } = self.key_auth().await? {
            return Err(ProviderError::KeyAuthDisabled { switch });
        }
        let call = self.call(self.kind.regenerate_op, self.resource.as_str());
        let (suffix, body) = regenerate_request(self.kind, slot, force);
        let response = match self
            .client
            .send(reqwest::Method::POST, self.resource.as_str(), &suffix, self.kind.api_version, body.as_ref(), &call)
            .await
        {
            Ok(response) => response,
            Err(e) if self.kind.usage_check && is_used_recently(&e) => {
                return Err(ProviderError::KeyUsedRecently { detail: e.to_string() })
            }
            Err(e) => return Err(e.into()),
        };
        match response.operation() {
            Some(operation) => Ok(RegenerateOutcome::Pending {
                operation: operation.encode(),
                retry_after: response.retry_after().unwrap_or(self.client.lro.default_poll),
            }),
            None if matches!(response.status, 201 | 202) => Err(ArmError::Unexpected {
                call,
                detail: format!("HTTP {} without Azure-AsyncOperation or Location", response.status),
            }
            .into()),
            None => Ok(RegenerateOutcome::Done),
        }
    }

    async fn poll(&self, operation: &str) -> Result<RegenerateOutcome, ProviderError> {
        let call = self.call(self.kind.regenerate_op, self.resource.as_str());
        let parsed = Operation::decode(operation).map_err(|detail| ArmError::Unexpected { call: call.clone(), detail })?;
        match self.client.poll(&parsed, &call).await? {
            OperationState::Succeeded => Ok(RegenerateOutcome::Done),
            OperationState::Running { retry_after } => Ok(RegenerateOutcome::Pending {
                operation: operation.to_string(),
                retry_after: retry_after.unwrap_or(self.client.lro.default_poll),
            }),
            OperationState::Ended { status, code, message } => {
                let error = ArmError::OperationFailed { call, status, body: crate::adapters::azure::arm::ArmErrorBody { code, message } };
                if self.kind.usage_check && is_used_recently(&error) {
                    return Err(ProviderError::KeyUsedRecently { detail: error.to_string() });
                }
                Err(error.into())
            }
        }
    }

    async fn usage(&self, slot: Slot) -> Result<UsageEvidence, ProviderError> {
        let Some(metadata) = self.kind.slot(slot).metadata else {
            return Ok(UsageEvidence::default());
        };
        let resource = self.get_resource(self.resource.as_str()).await?;
        let pointer = format!("/properties/keysMetadata/{metadata}/approximateLastUsageTime");
        let last_used = match resource.pointer(&pointer).and_then(|v| v.as_str()) {
            Some(text) => Some(
                chrono::DateTime::parse_from_rfc3339(text)
                    .map_err(|e| unexpected(format!("{} of {}: {e}", pointer, self.resource)))?
                    .with_timezone(&chrono::Utc),
            ),
            None => None,
        };
        Ok(UsageEvidence { last_used, source: format!("Cosmos DB keysMetadata.{metadata}.approximateLastUsageTime") })
    }
}
