//! Request handling of the ARM twin: authentication, faults, then the resource operations.

use super::shapes::{namespace_id, Shape};
use super::state::{KeyChange, LroHeaders, Operation, OperationStatus, SeenRequest, State};
use crate::twin::IdentityTwin;
use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

/// The audience ARM tokens must be issued for.
pub const ARM_AUDIENCE: &str = "https://management.azure.com";

pub type Shared = Arc<Mutex<State>>;

fn arm_error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, axum::Json(json!({"error": {"code": code, "message": message}}))).into_response()
}

fn with_headers(mut response: Response, headers: &[(&'static str, String)]) -> Response {
    for (name, value) in headers {
        if let Ok(v) = HeaderValue::from_str(value) {
            response.headers_mut().insert(*name, v);
        }
    }
    response
}

/// The single entry point: every ARM path goes through here.
pub async fn handle(
    axum::extract::State(shared): axum::extract::State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().trim_end_matches('/').to_string();
    let api_version = uri.query().and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "api-version").map(|(_, v)| v.into_owned())
    });
    let json_body: Option<Value> = serde_json::from_slice(&body).ok();
    // HTTP/2 carries the host in the URI authority, HTTP/1.1 in the Host header.
    let host = uri
        .authority()
        .map(|a| a.to_string())
        .or_else(|| headers.get("host").and_then(|h| h.to_str().ok()).map(str::to_string))
        .unwrap_or_else(|| "management.azure.com".to_string());
    let (response, changes) = respond(&shared, &method, &path, api_version.as_deref(), json_body.as_ref(), &headers, &host);
    shared.lock().unwrap().seen.push(SeenRequest {
        method: method.to_string(),
        path,
        api_version,
        body: json_body,
        status: response.status().as_u16(),
    });
    notify(&shared, changes).await;
    response
}

/// Tells the listeners about key changes, outside the state lock.
pub async fn notify(shared: &Shared, changes: Vec<KeyChange>) {
    if changes.is_empty() {
        return;
    }
    let listeners = shared.lock().unwrap().listeners.clone();
    for change in &changes {
        for listener in &listeners {
            listener.key_changed(change).await;
        }
    }
}

fn respond(
    shared: &Shared,
    method: &Method,
    path: &str,
    api_version: Option<&str>,
    body: Option<&Value>,
    headers: &HeaderMap,
    host: &str,
) -> (Response, Vec<KeyChange>) {
    if !IdentityTwin::authorized(headers, ARM_AUDIENCE) {
        let r = arm_error(StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken", "The access token is missing or invalid for audience https://management.azure.com.");
        return (with_headers(r, &[("www-authenticate", "Bearer authorization_uri=\"https://login.microsoftonline.com/common\", error=\"invalid_token\"".to_string())]), vec![]);
    }
    if api_version.is_none_or(str::is_empty) {
        return (arm_error(StatusCode::BAD_REQUEST, "MissingApiVersionParameter", "The api-version query parameter (?api-version=) is required for all requests."), vec![]);
    }
    let mut state = shared.lock().unwrap();
    if state.faults.throttle_next > 0 {
        state.faults.throttle_next -= 1;
        let retry = state.faults.throttle_retry_after.to_string();
        let r = arm_error(StatusCode::TOO_MANY_REQUESTS, "TooManyRequests", "The request is being throttled.");
        return (with_headers(r, &[("retry-after", retry), ("x-ms-ratelimit-remaining-subscription-writes", "0".into())]), vec![]);
    }
    if state.faults.fail_next > 0 {
        state.faults.fail_next -= 1;
        let status = StatusCode::from_u16(state.faults.fail_status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        return (arm_error(status, "ServiceUnavailable", "The service is temporarily unavailable."), vec![]);
    }
    let lower = path.to_ascii_lowercase();
    if lower.contains("/operationsstatus/") || lower.contains("/operationresults/") {
        return (operation(&state, path, method), vec![]);
    }
    // The longest registered id that prefixes the path is the addressed resource.
    let Some(id) = state
        .resources
        .keys()
        .filter(|k| lower == **k || lower.starts_with(&format!("{k}/")))
        .max_by_key(|k| k.len())
        .cloned()
    else {
        return (namespace_or_not_found(&state, path, method), vec![]);
    };
    let resource = state.resources.get(&id).expect("key from the map");
    let (shape, rid) = (resource.shape, resource.id.clone());
    let op = path[id.len()..].trim_start_matches('/').to_string();
    if resource.denied {
        let action = if op.is_empty() { format!("{}/read", super::shapes::resource_type_of(&rid)) } else {
            format!("{}/{}/action", super::shapes::resource_type_of(&rid), op.split('/').next().unwrap_or_default())
        };
        let message = format!("The client '00000000-0000-0000-0000-000000000000' with object id '00000000-0000-0000-0000-000000000000' does not have authorization to perform action '{action}' over scope '{rid}' or the scope is invalid.");
        return (arm_error(StatusCode::FORBIDDEN, "AuthorizationFailed", &message), vec![]);
    }
    match (method.clone(), op.as_str()) {
        (Method::GET, "") => {
            let r = state.resources.get(&id).expect("present");
            let mut body = shape.resource_body(&rid, r.key_auth_disabled);
            if shape == Shape::Cosmos {
                let metadata: serde_json::Map<String, Value> = shape
                    .key_names()
                    .iter()
                    .enumerate()
                    .map(|(i, name)| {
                        let mut m = json!({"generationTime": r.generated[i]});
                        if let Some(used) = r.last_used[i] {
                            m["approximateLastUsageTime"] = json!(used.to_rfc3339());
                        }
                        (name.to_string(), m)
                    })
                    .collect();
                body["properties"]["keysMetadata"] = Value::Object(metadata);
            }
            (axum::Json(body).into_response(), vec![])
        }
        (Method::POST, op) if shape.list_ops().iter().any(|l| l.eq_ignore_ascii_case(op)) => {
            let r = state.resources.get(&id).expect("present");
            (axum::Json(shape.list_body(op, &rid, &r.keys, &r.generated)).into_response(), vec![])
        }
        (Method::POST, op) if op.split('/').next().is_some_and(|o| o.eq_ignore_ascii_case(shape.regenerate_op())) => {
            regenerate(&mut state, &id, shape, op, body, host)
        }
        _ => (arm_error(StatusCode::NOT_FOUND, "InvalidResourceType", &format!("No route for {method} {path}.")), vec![]),
    }
}

fn namespace_or_not_found(state: &State, path: &str, method: &Method) -> Response {
    let lower = path.to_ascii_lowercase();
    if *method == Method::GET {
        let rule = state.resources.values().find(|r| {
            matches!(r.shape, Shape::ServiceBusRule | Shape::EventHubsRule)
                && namespace_id(&r.id).is_some_and(|ns| ns.to_ascii_lowercase() == lower)
        });
        if let Some(rule) = rule {
            return axum::Json(rule.shape.namespace_body(path, rule.key_auth_disabled)).into_response();
        }
    }
    arm_error(StatusCode::NOT_FOUND, "ResourceNotFound", &format!("The Resource '{path}' was not found."))
}

/// Which key a regenerate request names, or the 400 ARM would answer.
fn requested_key(shape: Shape, op: &str, body: Option<&Value>) -> Result<usize, String> {
    let value = match shape.regenerate_field() {
        None => op.split('/').nth(1).map(str::to_string),
        Some(field) => body.and_then(|b| b.get(field)).and_then(|v| v.as_str()).map(str::to_string),
    };
    let allowed = shape.regenerate_values();
    let Some(value) = value else {
        let what = shape.regenerate_field().unwrap_or("keyKind path segment");
        return Err(format!("The request must name the key to regenerate in '{what}'."));
    };
    allowed
        .iter()
        .position(|a| a.eq_ignore_ascii_case(&value))
        .ok_or_else(|| format!("'{value}' is not a valid value; expected one of {}.", allowed.join(", ")))
}

fn regenerate(state: &mut State, id: &str, shape: Shape, op: &str, body: Option<&Value>, host: &str) -> (Response, Vec<KeyChange>) {
    let index = match requested_key(shape, op, body) {
        Ok(i) => i,
        Err(message) => return (arm_error(StatusCode::BAD_REQUEST, "InvalidRequestContent", &message), vec![]),
    };
    if state.faults.conflict_next > 0 {
        state.faults.conflict_next -= 1;
        return (arm_error(StatusCode::CONFLICT, "Conflict", "Another operation is in progress on the resource."), vec![]);
    }
    let resource = state.resources.get(id).expect("present");
    if resource.key_auth_disabled {
        return (arm_error(StatusCode::BAD_REQUEST, "LocalAuthDisabled", "Key based authentication is disabled for this resource."), vec![]);
    }
    let skip = body.and_then(|b| b.get("SkipAccountKeysLastUsageCheck")).and_then(Value::as_bool) == Some(true);
    if shape == Shape::Cosmos && resource.usage_check && !skip {
        if let Some(used) = resource.last_used[index].filter(|t| Utc::now() - *t < chrono::Duration::hours(12)) {
            let message = format!(
                "The key {} was used within the last 12 hours (approximateLastUsageTime {}). Regeneration is blocked; set SkipAccountKeysLastUsageCheck to true to override.",
                shape.key_names()[index],
                used.to_rfc3339()
            );
            return (arm_error(StatusCode::BAD_REQUEST, "BadRequest", &message), vec![]);
        }
    }
    let rid = resource.id.clone();
    if shape.long_running() || state.faults.lro_everywhere {
        return (start_operation(state, &rid, shape, index, host), vec![]);
    }
    let change = state.regenerate(id, index).into_iter().collect();
    let r = state.resources.get(id).expect("present");
    (axum::Json(shape.list_body("listKeys", &rid, &r.keys, &r.generated)).into_response(), change)
}

/// Answers 202 and completes the regeneration after `lro_duration` in the background.
fn start_operation(state: &mut State, rid: &str, shape: Shape, index: usize, host: &str) -> Response {
    let op_id = uuid::Uuid::new_v4().to_string();
    let fail = std::mem::take(&mut state.faults.lro_fail_next);
    state.operations.insert(
        op_id.clone(),
        Operation { resource_id: rid.to_string(), namespace: shape.namespace(), status: OperationStatus::InProgress, started: Utc::now(), ended: None },
    );
    let sub = rid.split('/').nth(2).unwrap_or("sub");
    let base = format!("https://{host}/subscriptions/{sub}/providers/{}/locations/westus", shape.namespace());
    let status_url = format!("{base}/operationsStatus/{op_id}?api-version=2025-04-01");
    let result_url = format!("{base}/operationResults/{op_id}?api-version=2025-04-01");
    let mut headers = vec![("retry-after", state.faults.lro_retry_after.to_string())];
    match state.faults.lro_headers {
        LroHeaders::Both => {
            headers.push(("azure-asyncoperation", status_url));
            headers.push(("location", result_url));
        }
        LroHeaders::AsyncOperationOnly => headers.push(("azure-asyncoperation", status_url)),
        LroHeaders::LocationOnly => headers.push(("location", result_url)),
    }
    let duration = state.faults.lro_duration;
    let shared = state.self_ref.clone();
    let id_key = rid.to_ascii_lowercase();
    tokio::spawn(async move {
        tokio::time::sleep(duration).await;
        let Some(shared) = shared.and_then(|w| w.upgrade()) else { return };
        let change = if fail { None } else { shared.lock().unwrap().regenerate(&id_key, index) };
        // Listeners (a mirrored data plane) hear of the new key before any poller can see
        // the operation succeed.
        notify(&shared, change.into_iter().collect()).await;
        let mut state = shared.lock().unwrap();
        if let Some(op) = state.operations.get_mut(&op_id) {
            op.ended = Some(Utc::now());
            op.status = if fail { OperationStatus::Failed } else { OperationStatus::Succeeded };
        }
    });
    with_headers(StatusCode::ACCEPTED.into_response(), &headers)
}

fn operation(state: &State, path: &str, method: &Method) -> Response {
    if *method != Method::GET {
        return arm_error(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed", "Operations are read with GET.");
    }
    let op_id = path.rsplit('/').next().unwrap_or_default();
    let Some(op) = state.operations.get(op_id) else {
        return arm_error(StatusCode::NOT_FOUND, "OperationNotFound", &format!("Operation {op_id} was not found."));
    };
    let retry = [("retry-after", state.faults.lro_retry_after.to_string())];
    let is_status = path.to_ascii_lowercase().contains("/operationsstatus/");
    match (is_status, op.status) {
        (false, OperationStatus::InProgress) => with_headers(StatusCode::ACCEPTED.into_response(), &retry),
        (false, OperationStatus::Succeeded) => StatusCode::NO_CONTENT.into_response(),
        (false, OperationStatus::Failed) => {
            arm_error(StatusCode::INTERNAL_SERVER_ERROR, "InternalServerError", "The key regeneration failed.")
        }
        (true, status) => {
            let sub = op.resource_id.split('/').nth(2).unwrap_or("sub");
            let mut body = json!({
                "id": format!("/subscriptions/{sub}/providers/{}/locations/westus/operationsStatus/{op_id}", op.namespace),
                "name": op_id,
                "startTime": op.started.to_rfc3339(),
                "status": match status { OperationStatus::InProgress => "InProgress", OperationStatus::Succeeded => "Succeeded", OperationStatus::Failed => "Failed" },
            });
            if let Some(ended) = op.ended {
                body["endTime"] = json!(ended.to_rfc3339());
            }
            if status == OperationStatus::Failed {
                body["error"] = json!({"code": "InternalServerError", "message": "The key regeneration failed."});
            }
            let response = axum::Json(body).into_response();
            if status == OperationStatus::InProgress { with_headers(response, &retry) } else { response }
        }
    }
}
