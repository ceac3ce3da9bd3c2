//! API responses, as the `http` output binding wants them: `{statusCode, headers, body}` with
//! the body as JSON text (an object, so the host's base64 heuristic leaves it alone).

use super::super::{InvocationResponse, HTTP_OUTPUT};
use serde_json::{json, Value};

#[derive(Debug, Clone, PartialEq)]
pub struct ApiResponse {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
    pub location: Option<String>,
}

impl ApiResponse {
    pub fn json(status: u16, body: &Value) -> ApiResponse {
        ApiResponse { status, content_type: "application/json", body: body.to_string(), location: None }
    }

    pub fn error(status: u16, message: impl Into<String>) -> ApiResponse {
        ApiResponse::json(status, &json!({ "error": message.into() }))
    }

    pub fn with_location(mut self, location: String) -> ApiResponse {
        self.location = Some(location);
        self
    }

    pub fn into_invocation(self, mut logs: Vec<String>) -> InvocationResponse {
        let mut headers = json!({ "Content-Type": self.content_type });
        if let Some(l) = &self.location {
            headers["Location"] = Value::String(l.clone());
        }
        logs.push(format!("api answered {}", self.status));
        let mut resp = InvocationResponse { logs, ..InvocationResponse::default() };
        resp.outputs.insert(HTTP_OUTPUT.into(), json!({ "statusCode": self.status, "headers": headers, "body": self.body }));
        resp
    }
}
