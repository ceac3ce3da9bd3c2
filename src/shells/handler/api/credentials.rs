//! Credentials from the policy, and starting a rotation of one: `dryRun` answers the plan
//! (slots, waves, deadlines, guards that would block) without side effects; otherwise a
//! rotate command is enqueued and the answer is 202 — the rotation runs in the orchestrator.

use super::operator::{required, MAX_OPERATOR, MAX_REASON};
use super::{failed, ApiRequest, ApiResponse};
use crate::core::Trigger;
use crate::shells::handler::command::{queued, rotate_message_id, Command};
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RotateBody {
    dry_run: Option<bool>,
    operator: Option<String>,
    reason: Option<String>,
}

pub(super) async fn list(h: &super::Handler) -> Result<ApiResponse, ApiResponse> {
    let mut items = Vec::new();
    for entry in h.catalog.entries() {
        let p = &entry.plan;
        let in_flight = h.store.in_flight(&p.credential).await.map_err(failed)?.map(|s| s.rotation.id);
        items.push(json!({
            "credential": p.credential,
            "provider": p.provider,
            "resourceId": p.resource_id,
            "secret": { "vault": p.secret.vault, "name": p.secret.name },
            "cadence": entry.cadence,
            "consumers": p.consumers.len(),
            "inFlight": in_flight,
        }));
    }
    Ok(ApiResponse::json(200, &json!({ "credentials": items })))
}

pub(super) async fn rotate(h: &super::Handler, req: &ApiRequest, name: crate::domain::CredentialName) -> Result<ApiResponse, ApiResponse> {
    let body: RotateBody = req.body_as()?;
    let entry = h.catalog.find(&name).ok_or_else(|| ApiResponse::error(404, format!("credential {name} is not in the policy")))?;
    let dry_run = req.query_flag("dryRun")?.or(body.dry_run).unwrap_or(false);
    if dry_run {
        let plan = h.orchestrator.dry_run(&entry.plan).await.map_err(failed)?;
        let plan = serde_json::to_value(plan).map_err(|e| ApiResponse::error(500, e.to_string()))?;
        return Ok(ApiResponse::json(200, &json!({ "dryRun": true, "plan": plan })));
    }
    let operator = required("operator", body.operator.as_ref(), MAX_OPERATOR)?;
    if let Some(reason) = &body.reason {
        required("reason", Some(reason), MAX_REASON)?;
    }
    let current = h.secrets.current(&entry.plan.secret).await.map_err(|e| ApiResponse::error(503, e.to_string()))?;
    let version = current.map(|c| c.id.version);
    let command = Command::Rotate { credential: name.clone(), trigger: Trigger::Manual { operator }, expected_version: None };
    let message = queued(&command, rotate_message_id(&entry.plan.secret, version.as_ref()), None);
    h.commands.enqueue(&message).await.map_err(|e| ApiResponse::error(503, format!("could not enqueue: {e}")))?;
    let in_flight: Option<Value> = h.store.in_flight(&name).await.map_err(failed)?.map(|s| json!(s.rotation.id));
    let body = json!({ "credential": name, "state": "queued", "messageId": message.message_id, "inFlight": in_flight });
    Ok(ApiResponse::json(202, &body).with_location(format!("/api/{}/rotations?credential={name}", super::ROUTE_PREFIX)))
}
