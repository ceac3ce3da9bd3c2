//! The REST surface of the Service Bus twin (send, batch send, peek-lock, complete, abandon,
//! renew lock, receive-and-delete), answering as the REST reference pages show.

use super::auth::authorized;
use crate::twin::server::request_authority;
use super::broker::{Broker, BrokerError, Locked, Message, SendOutcome, Settle};
use super::wire::{batch, property_header, received_properties, single_message, BATCH_CONTENT_TYPE};
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Longest peek-lock wait the twin honours (Service Bus allows more; tests never need it).
const MAX_WAIT: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(20);

pub struct Shared {
    pub broker: Mutex<Broker>,
    pub keys: BTreeMap<String, String>,
}

fn error(status: StatusCode, detail: impl Into<String>) -> Response {
    (status, [("content-type", "application/xml; charset=utf-8")], format!("<Error><Code>{}</Code><Detail>{}</Detail></Error>", status.as_u16(), detail.into())).into_response()
}

fn broker_error(e: BrokerError) -> Response {
    match e {
        BrokerError::NoEntity(_) => error(StatusCode::GONE, e.to_string()),
        BrokerError::LockLost(_) => error(StatusCode::NOT_FOUND, e.to_string()),
        BrokerError::BadRequest(_) => error(StatusCode::BAD_REQUEST, e.to_string()),
    }
}

enum Route {
    Send(String),
    Head(String),
    Message { path: String, id: String, lock: String },
}

/// `{entity}/messages`, `{path}/messages/head`, `{path}/messages/{id}/{lock}` where `path` is
/// a queue or `{topic}/subscriptions/{sub}`.
fn route(uri: &Uri) -> Option<Route> {
    let segments: Vec<String> = uri
        .path()
        .trim_matches('/')
        .split('/')
        .map(|s| url::form_urlencoded::parse(format!("x={s}").as_bytes()).next().map(|(_, v)| v.into_owned()).unwrap_or_default())
        .collect();
    let at = segments.iter().rposition(|s| s.eq_ignore_ascii_case("messages"))?;
    let path = segments[..at].join("/");
    match &segments[at + 1..] {
        [] if at == 1 => Some(Route::Send(path)),
        [head] if head.eq_ignore_ascii_case("head") => Some(Route::Head(path)),
        [id, lock] => Some(Route::Message { path, id: id.clone(), lock: lock.clone() }),
        _ => None,
    }
}

pub async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let host = request_authority(&headers, &uri);
    let url = format!("https://{host}{}", uri.path());
    if let Err(why) = authorized(&headers, &url, &shared.keys, chrono::Utc::now().timestamp()) {
        return error(StatusCode::UNAUTHORIZED, why);
    }
    let Some(route) = route(&uri) else { return error(StatusCode::NOT_FOUND, "no such resource") };
    match (method, route) {
        (Method::POST, Route::Send(entity)) => send(&shared, &entity, &headers, body.to_vec()),
        (Method::POST, Route::Head(path)) => {
            let wait = query.get("timeout").and_then(|t| t.parse().ok()).map(Duration::from_secs).unwrap_or(MAX_WAIT).min(MAX_WAIT);
            peek_lock(&shared, &path, &host, wait).await
        }
        (Method::DELETE, Route::Head(path)) => {
            let taken = shared.broker.lock().unwrap().receive_and_delete(&path, chrono::Utc::now());
            match taken {
                Ok(Some(m)) => message_response(StatusCode::OK, &m, None, None),
                Ok(None) => StatusCode::NO_CONTENT.into_response(),
                Err(e) => broker_error(e),
            }
        }
        (method, Route::Message { path, id, lock }) => {
            let action = match method {
                Method::DELETE => Settle::Complete,
                Method::PUT => Settle::Abandon,
                Method::POST => Settle::RenewLock,
                _ => return error(StatusCode::METHOD_NOT_ALLOWED, "use DELETE, PUT or POST"),
            };
            match shared.broker.lock().unwrap().settle(&path, &id, &lock, action, chrono::Utc::now()) {
                Ok(_) => StatusCode::OK.into_response(),
                Err(e) => broker_error(e),
            }
        }
        _ => error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed here"),
    }
}

fn send(shared: &Shared, entity: &str, headers: &HeaderMap, body: Vec<u8>) -> Response {
    let is_batch = headers.get("content-type").and_then(|v| v.to_str().ok()).is_some_and(|c| c.starts_with(BATCH_CONTENT_TYPE));
    let messages = if is_batch { batch(&body) } else { single_message(headers, body).map(|m| vec![m]) };
    let messages = match messages {
        Ok(m) => m,
        Err(why) => return error(StatusCode::BAD_REQUEST, why),
    };
    let now = chrono::Utc::now();
    let mut broker = shared.broker.lock().unwrap();
    for message in messages {
        match broker.send(entity, message, now) {
            Ok(SendOutcome::Accepted | SendOutcome::Duplicate) => {}
            Err(e) => return broker_error(e),
        }
    }
    StatusCode::CREATED.into_response()
}

async fn peek_lock(shared: &Shared, path: &str, host: &str, wait: Duration) -> Response {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let got = shared.broker.lock().unwrap().lock_next(path, chrono::Utc::now());
        match got {
            Ok(Some(locked)) => {
                let location = format!("https://{host}/{path}/messages/{}/{}", locked.message.sequence_number, locked.lock_token);
                return message_response(StatusCode::CREATED, &locked.message.clone(), Some(&locked), Some(location));
            }
            Ok(None) if tokio::time::Instant::now() < deadline => tokio::time::sleep(POLL).await,
            Ok(None) => return StatusCode::NO_CONTENT.into_response(),
            Err(e) => return broker_error(e),
        }
    }
}

fn message_response(status: StatusCode, message: &Message, lock: Option<&Locked>, location: Option<String>) -> Response {
    let mut response = (status, message.body.clone()).into_response();
    let headers = response.headers_mut();
    let content_type = message.content_type.clone().unwrap_or_else(|| "application/atom+xml;type=entry;charset=utf-8".into());
    let mut put = |name: &str, value: String| {
        if let (Ok(name), Ok(value)) = (axum::http::HeaderName::try_from(name), HeaderValue::try_from(value)) {
            headers.insert(name, value);
        }
    };
    put("content-type", content_type);
    put("brokerproperties", received_properties(message, lock).to_string());
    if let Some(location) = location {
        put("location", location);
    }
    for (name, value) in &message.properties {
        put(name, property_header(value));
    }
    response
}
