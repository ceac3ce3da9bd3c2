//! Read-only views of rotation records: list, show, evidence. Records hold no secret value
//! (I5), so they can be shown as they are.

use super::{failed, ApiRequest, ApiResponse};
use crate::core::Rotation;
use crate::domain::{CredentialName, RotationId};
use crate::ports::RotationFilter;
use serde_json::{json, Value};

/// Phase names a `state` filter may use.
const PHASES: &[&str] = &[
    "guard", "regenerate-standby", "publish", "reload", "soak", "usage-guard", "retire", "completed", "stalled",
    "rollback-publish", "rollback-reload", "rolled-back",
];

const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;

pub(super) fn summary(r: &Rotation) -> Value {
    json!({
        "id": r.id,
        "credential": r.plan.credential,
        "phase": r.phase.name(),
        "trigger": r.trigger,
        "startedAt": r.started_at,
        "updatedAt": r.updated_at,
        "finishedAt": r.finished_at,
        "oldSlot": r.old_slot,
        "newSlot": r.new_slot(),
        "newVersion": r.new_version,
        "stall": r.stall,
    })
}

pub(super) async fn list(h: &super::Handler, req: &ApiRequest) -> Result<ApiResponse, ApiResponse> {
    let mut filter = RotationFilter::default();
    if let Some(states) = req.query.get("state") {
        for s in states.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match s {
                "in-flight" => filter.in_flight_only = true,
                s if PHASES.contains(&s) => filter.phases.push(s.to_string()),
                other => return Err(ApiResponse::error(400, format!("unknown state {other:?}; use one of {} or in-flight", PHASES.join(", ")))),
            }
        }
    }
    if let Some(c) = req.query.get("credential") {
        filter.credential = Some(CredentialName::parse(c).map_err(|e| ApiResponse::error(400, e.to_string()))?);
    }
    let limit = match req.query.get("limit") {
        None => DEFAULT_LIMIT,
        Some(l) => l.parse::<usize>().ok().filter(|n| (1..=MAX_LIMIT).contains(n)).ok_or_else(|| {
            ApiResponse::error(400, format!("limit={l:?} must be a number from 1 to {MAX_LIMIT}"))
        })?,
    };
    filter.limit = Some(limit);
    let rotations = h.store.list(&filter).await.map_err(failed)?;
    let items: Vec<Value> = rotations.iter().map(|s| summary(&s.rotation)).collect();
    Ok(ApiResponse::json(200, &json!({ "rotations": items })))
}

async fn load(h: &super::Handler, id: &RotationId) -> Result<Rotation, ApiResponse> {
    match h.store.load(id).await.map_err(failed)? {
        Some(stored) => Ok(stored.rotation),
        None => Err(ApiResponse::error(404, format!("no rotation {id}"))),
    }
}

pub(super) async fn show(h: &super::Handler, id: RotationId) -> Result<ApiResponse, ApiResponse> {
    let rotation = load(h, &id).await?;
    let record = serde_json::to_value(&rotation).map_err(|e| ApiResponse::error(500, e.to_string()))?;
    Ok(ApiResponse::json(200, &record))
}

pub(super) async fn evidence(h: &super::Handler, req: &ApiRequest, id: RotationId) -> Result<ApiResponse, ApiResponse> {
    let rotation = load(h, &id).await?;
    match req.query.get("format").map(String::as_str) {
        None | Some("json") => Ok(ApiResponse::json(200, &crate::evidence::render_json(&rotation))),
        Some("markdown") => Ok(ApiResponse {
            status: 200,
            content_type: "text/markdown; charset=utf-8",
            body: crate::evidence::render_markdown(&rotation),
            location: None,
        }),
        Some(other) => Err(ApiResponse::error(400, format!("format={other:?}; use json or markdown"))),
    }
}
