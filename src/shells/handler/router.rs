//! The HTTP server the Functions host talks to: `GET /` answers the host's readiness probe,
//! `POST /{function}` runs one invocation.

use super::envelope::{Invocation, InvocationResponse};
use super::{poison, Handler, FUNCTIONS};
use axum::body::{Body, Bytes};
use futures::StreamExt;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use std::sync::Arc;
use tracing::Instrument;

/// Largest invocation accepted. Service Bus standard-tier messages are at most 256 KiB and the
/// host repeats a JSON body's top-level properties in Metadata; anything bigger is poison.
pub const MAX_INVOCATION_BYTES: usize = 1024 * 1024;

/// How much of an oversized body is read and dropped before answering. Answering while the
/// host is still sending makes the server close the connection, and the host then sees a
/// reset instead of the poison answer, and retries; past this much it may.
const DRAIN_LIMIT_BYTES: usize = 128 * 1024 * 1024;

pub fn router(handler: Arc<Handler>) -> Router {
    Router::new()
        .route("/", get(ready))
        .route("/{function}", post(invoke))
        .with_state(handler)
}

async fn ready() -> &'static str {
    "keyrelay ready"
}

async fn invoke(State(h): State<Arc<Handler>>, Path(function): Path<String>, headers: HeaderMap, body: Body) -> Response {
    let Some(spec) = FUNCTIONS.iter().find(|f| f.name == function) else {
        return (StatusCode::NOT_FOUND, format!("no function named {function:?}")).into_response();
    };
    let invocation_id = headers.get("x-azure-functions-invocationid").and_then(|v| v.to_str().ok()).unwrap_or("-").to_string();
    let span = tracing::info_span!("invocation", function = spec.name, id = %invocation_id);
    run(h, spec.name, body).instrument(span).await
}

async fn run(h: Arc<Handler>, function: &'static str, body: Body) -> Response {
    let Some(bytes) = read_limited(body).await else {
        return too_large(function);
    };
    let invocation = match Invocation::parse(&bytes) {
        Ok(inv) => inv,
        Err(why) => return ok(poison(&format!("{function} invocation"), why)),
    };
    match h.invoke(function, &invocation).await {
        Ok(resp) => ok(resp),
        Err(retry) => {
            tracing::warn!(function, error = %retry, "invocation failed; the host will retry");
            let resp = InvocationResponse { logs: vec![format!("failed, will be retried: {retry}")], ..InvocationResponse::default() };
            (StatusCode::INTERNAL_SERVER_ERROR, Json(resp)).into_response()
        }
    }
}

/// The body if it is at most [`MAX_INVOCATION_BYTES`] and could be read; otherwise `None`,
/// after reading the rest of it (up to [`DRAIN_LIMIT_BYTES`]) so the answer is delivered.
async fn read_limited(body: Body) -> Option<Bytes> {
    let mut stream = body.into_data_stream();
    let mut kept = Vec::new();
    let mut total = 0usize;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.ok()?;
        total += chunk.len();
        if total <= MAX_INVOCATION_BYTES {
            kept.extend_from_slice(&chunk);
        } else if total > DRAIN_LIMIT_BYTES {
            break;
        }
    }
    (total <= MAX_INVOCATION_BYTES).then(|| Bytes::from(kept))
}

fn ok(resp: InvocationResponse) -> Response {
    (StatusCode::OK, Json(resp)).into_response()
}

/// A body over the limit is poison for the triggers; the API caller gets a 413.
fn too_large(function: &str) -> Response {
    let why = format!("the invocation exceeds {MAX_INVOCATION_BYTES} bytes");
    if function == "api" {
        return ok(super::api::ApiResponse::error(413, why).into_invocation(Vec::new()));
    }
    ok(poison(&format!("{function} invocation"), why))
}
