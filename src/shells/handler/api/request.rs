//! The `req` value of an HTTP trigger, parsed tolerantly: `Query` is an object in current hosts
//! and the JSON text `"{}"` in the documented example; `Body` is a string (or, from some hosts,
//! already an object); the route's catch-all arrives in `Params.path`.

use super::response::ApiResponse;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Largest request body the API accepts.
pub const MAX_API_BODY: usize = 64 * 1024;

/// The prefix of the api function's route (`keyrelay/{*path}` in its function.json).
pub const ROUTE_PREFIX: &str = "keyrelay";

#[derive(Debug, Clone)]
pub struct ApiRequest {
    pub method: String,
    /// Path segments after `/api/keyrelay/`.
    pub segments: Vec<String>,
    pub query: BTreeMap<String, String>,
    pub body: Option<Value>,
}

impl ApiRequest {
    pub fn parse(req: &Value) -> Result<ApiRequest, ApiResponse> {
        let obj = req.as_object().ok_or_else(|| ApiResponse::error(400, "the HTTP trigger value is not an object"))?;
        let method = text(obj, "Method").unwrap_or_default().to_ascii_uppercase();
        let url = text(obj, "Url").and_then(|u| url::Url::parse(&u).ok());
        let path = obj
            .get("Params")
            .and_then(|p| p.get("path"))
            .and_then(|p| p.as_str())
            .map(str::to_string)
            .or_else(|| url.as_ref().and_then(|u| path_after_prefix(u.path())))
            .unwrap_or_default();
        let segments = path.split('/').filter(|s| !s.is_empty()).map(|s| percent(s)).collect();
        let mut query = match obj.get("Query") {
            Some(Value::Object(m)) => flatten(m),
            Some(Value::String(s)) => serde_json::from_str::<Map<String, Value>>(s).map(|m| flatten(&m)).unwrap_or_default(),
            _ => BTreeMap::new(),
        };
        if let Some(u) = &url {
            for (k, v) in u.query_pairs() {
                query.entry(k.into_owned()).or_insert_with(|| v.into_owned());
            }
        }
        let body = match obj.get("Body") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.trim().is_empty() => None,
            Some(Value::String(s)) => {
                if s.len() > MAX_API_BODY {
                    return Err(ApiResponse::error(413, format!("request body of {} bytes exceeds {MAX_API_BODY}", s.len())));
                }
                Some(serde_json::from_str(s).map_err(|e| ApiResponse::error(400, format!("request body is not JSON: {e}")))?)
            }
            Some(other) => {
                if other.to_string().len() > MAX_API_BODY {
                    return Err(ApiResponse::error(413, format!("request body exceeds {MAX_API_BODY} bytes")));
                }
                Some(other.clone())
            }
        };
        Ok(ApiRequest { method, segments, query, body })
    }

    /// The body as `T`, or an empty object when there is none; unknown fields are refused.
    pub fn body_as<T: serde::de::DeserializeOwned>(&self) -> Result<T, ApiResponse> {
        let v = self.body.clone().unwrap_or_else(|| Value::Object(Map::new()));
        serde_json::from_value(v).map_err(|e| ApiResponse::error(400, format!("invalid request body: {e}")))
    }

    /// A boolean from the query string (`?dryRun=true`).
    pub fn query_flag(&self, name: &str) -> Result<Option<bool>, ApiResponse> {
        match self.query.get(name).map(|s| s.to_ascii_lowercase()) {
            None => Ok(None),
            Some(v) if v == "true" || v == "1" || v.is_empty() => Ok(Some(true)),
            Some(v) if v == "false" || v == "0" => Ok(Some(false)),
            Some(v) => Err(ApiResponse::error(400, format!("query {name}={v:?} is not true or false"))),
        }
    }
}

fn text(obj: &Map<String, Value>, key: &str) -> Option<String> {
    obj.get(key).and_then(|v| v.as_str()).map(str::to_string)
}

fn flatten(m: &Map<String, Value>) -> BTreeMap<String, String> {
    m.iter()
        .map(|(k, v)| (k.clone(), v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())))
        .collect()
}

/// `/api/keyrelay/rotations/x` → `rotations/x`.
fn path_after_prefix(path: &str) -> Option<String> {
    let marker = format!("/{ROUTE_PREFIX}/");
    path.find(&marker).map(|i| path[i + marker.len()..].to_string())
}

fn percent(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes()).next().map(|(_, v)| v.into_owned()).unwrap_or_default()
}
