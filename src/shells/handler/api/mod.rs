//! `api` (HTTP trigger, function-key auth by the host): list and show rotations, start one
//! (or plan it with `dryRun`), retry, roll back, force, evidence. `openapi/keyrelay-api.json`
//! documents exactly these routes; a test checks the handler against it.
//!
//! The handler validates sizes and shapes; an API error is an HTTP error *inside* a 2xx
//! invocation response, so the caller sees it and the host does not retry it.

mod credentials;
mod operator;
mod request;
mod response;
mod rotations;

pub use request::{ApiRequest, MAX_API_BODY, ROUTE_PREFIX};
pub use response::ApiResponse;

use super::{Handler, Invocation, InvocationResponse};
use crate::domain::{CredentialName, RotationId};
use crate::driver::DriverError;

pub(crate) async fn run(h: &Handler, invocation: &Invocation) -> InvocationResponse {
    let response = match invocation.trigger("req").map(ApiRequest::parse) {
        None => ApiResponse::error(400, "the invocation has no Data.req"),
        Some(Err(resp)) => resp,
        Some(Ok(req)) => route(h, &req).await,
    };
    tracing::info!(target: "keyrelay::api", status = response.status, "api request");
    response.into_invocation(Vec::new())
}

async fn route(h: &Handler, req: &ApiRequest) -> ApiResponse {
    dispatch(h, req).await.unwrap_or_else(|e| e)
}

async fn dispatch(h: &Handler, req: &ApiRequest) -> Result<ApiResponse, ApiResponse> {
    let segs: Vec<&str> = req.segments.iter().map(String::as_str).collect();
    let method = req.method.as_str();
    match (method, segs.as_slice()) {
        ("GET", ["credentials"]) => credentials::list(h).await,
        ("POST", ["credentials", name, "rotate"]) => credentials::rotate(h, req, credential(name)?).await,
        ("GET", ["rotations"]) => rotations::list(h, req).await,
        ("GET", ["rotations", id]) => rotations::show(h, rotation(id)?).await,
        ("GET", ["rotations", id, "evidence"]) => rotations::evidence(h, req, rotation(id)?).await,
        ("POST", ["rotations", id, action @ ("retry" | "rollback" | "force")]) => operator::run(h, req, rotation(id)?, action).await,
        (_, ["credentials"] | ["credentials", _, "rotate"] | ["rotations"] | ["rotations", _] | ["rotations", _, _]) => {
            Err(ApiResponse::error(405, format!("{method} is not allowed on /{}", req.segments.join("/"))))
        }
        _ => Err(ApiResponse::error(404, format!("no API route /{ROUTE_PREFIX}/{}", req.segments.join("/")))),
    }
}

fn credential(name: &str) -> Result<CredentialName, ApiResponse> {
    CredentialName::parse(name).map_err(|e| ApiResponse::error(400, e.to_string()))
}

fn rotation(id: &str) -> Result<RotationId, ApiResponse> {
    RotationId::parse(id).map_err(|e| ApiResponse::error(400, e.to_string()))
}

/// A driver or store failure as an API error: not found is 404, bad input 400, the rest 503
/// (worth retrying later).
fn failed(e: impl Into<DriverError>) -> ApiResponse {
    match e.into() {
        DriverError::NotFound(what) => ApiResponse::error(404, format!("not found: {what}")),
        DriverError::Invalid(why) => ApiResponse::error(400, why),
        DriverError::Transient(why) => ApiResponse::error(503, format!("temporarily unavailable: {why}")),
    }
}
