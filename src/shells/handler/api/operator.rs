//! Operator commands: retry, roll back, force. Each names who gave it; rollback and force also
//! say why (they override the protocol and are recorded in the evidence).

use super::rotations::summary;
use super::{failed, ApiRequest, ApiResponse};
use crate::core::{Event, OperatorCommand, Verdict};
use crate::domain::RotationId;
use serde::Deserialize;
use serde_json::json;

pub(super) const MAX_OPERATOR: usize = 100;
pub(super) const MAX_REASON: usize = 1000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OperatorBody {
    operator: Option<String>,
    reason: Option<String>,
}

/// A required, bounded, printable text field.
pub(super) fn required(field: &str, value: Option<&String>, max: usize) -> Result<String, ApiResponse> {
    let v = value.map(|s| s.trim()).filter(|s| !s.is_empty()).ok_or_else(|| ApiResponse::error(400, format!("{field} is required")))?;
    if v.chars().count() > max {
        return Err(ApiResponse::error(400, format!("{field} is longer than {max} characters")));
    }
    if v.chars().any(char::is_control) {
        return Err(ApiResponse::error(400, format!("{field} contains control characters")));
    }
    Ok(v.to_string())
}

pub(super) async fn run(h: &super::Handler, req: &ApiRequest, id: RotationId, action: &str) -> Result<ApiResponse, ApiResponse> {
    let body: OperatorBody = req.body_as()?;
    let operator = required("operator", body.operator.as_ref(), MAX_OPERATOR)?;
    let command = match action {
        "retry" => OperatorCommand::Retry { operator },
        "rollback" => OperatorCommand::Rollback { operator, reason: required("reason", body.reason.as_ref(), MAX_REASON)? },
        _ => OperatorCommand::Force { operator, reason: required("reason", body.reason.as_ref(), MAX_REASON)? },
    };
    let handled = h.orchestrator.handle(&id, Event::Operator(command)).await.map_err(failed)?;
    let mut logs = crate::shells::handler::InvocationResponse::default();
    h.schedule_wake(&handled.rotation, &mut logs).await.map_err(|e| ApiResponse::error(503, e.0))?;
    let (status, verdict, detail) = match &handled.verdict {
        Verdict::Accepted => (200, "accepted", None),
        Verdict::Ignored(why) => (200, "ignored", Some(why.clone())),
        Verdict::Rejected(why) => (409, "rejected", Some(why.clone())),
    };
    Ok(ApiResponse::json(status, &json!({ "verdict": verdict, "detail": detail, "rotation": summary(&handled.rotation) })))
}
