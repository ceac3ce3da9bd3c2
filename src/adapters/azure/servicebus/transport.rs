//! The HTTP client handed to `azure_messaging_servicebus` 0.21.
//!
//! The crate only knows SAS and signs requests itself — with the key base64-*decoded*, which is
//! not how Service Bus checks a signature (it uses the key's UTF-8 bytes), and with no way to use
//! Entra ID. So this client, which every request passes through anyway, replaces the crate's
//! `Authorization` header: an Entra bearer token for `https://servicebus.azure.net` (namespaces
//! with local auth disabled work), or a SAS signed the way Service Bus verifies it. The requests
//! go out on our reqwest client built from [`HttpOptions`], so private endpoints, extra roots
//! and host overrides apply here as everywhere.

use super::auth::ServiceBusAuth;
use crate::adapters::azure::http::HttpOptions;
use async_trait::async_trait;
use azure_core_021::error::{Error, ErrorKind};
use azure_core_021::headers::{HeaderName, Headers};
use azure_core_021::{Body, Request, Response, StatusCode};
use futures::TryStreamExt;

/// reqwest + our authorization, as an azure_core 0.21 `HttpClient`.
pub struct ServiceBusHttp {
    client: reqwest::Client,
    auth: ServiceBusAuth,
}

impl std::fmt::Debug for ServiceBusHttp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceBusHttp").field("auth", &self.auth).finish_non_exhaustive()
    }
}

impl ServiceBusHttp {
    pub fn new(http: &HttpOptions, auth: ServiceBusAuth) -> anyhow::Result<ServiceBusHttp> {
        Ok(ServiceBusHttp { client: http.client()?, auth })
    }
}

fn io_error(what: &str, e: impl std::error::Error + Send + Sync + 'static) -> Error {
    let message = format!("{what}: {e}");
    Error::full(ErrorKind::Io, e, message)
}

#[async_trait]
impl azure_core_021::HttpClient for ServiceBusHttp {
    async fn execute_request(&self, request: &Request) -> azure_core_021::Result<Response> {
        let url = request.url().clone();
        let authorization = self.auth.authorization(&url).await?;
        let method = reqwest::Method::from_bytes(request.method().to_string().as_bytes())
            .map_err(|e| Error::full(ErrorKind::Other, e, "unsupported HTTP method"))?;
        let mut builder = self.client.request(method, url);
        for (name, value) in request.headers().iter() {
            if name.as_str().eq_ignore_ascii_case("authorization") {
                continue;
            }
            builder = builder.header(name.as_str(), value.as_str());
        }
        // Marked sensitive so reqwest and hyper keep the token or SAS out of their debug output.
        let mut authorization = reqwest::header::HeaderValue::from_str(authorization.expose())
            .map_err(|e| Error::message(ErrorKind::Other, format!("authorization header: {e}")))?;
        authorization.set_sensitive(true);
        builder = builder.header("authorization", authorization);
        let body = match request.body() {
            Body::Bytes(bytes) => bytes.clone(),
            Body::SeekableStream(_) => {
                return Err(Error::message(ErrorKind::Other, "streamed request bodies are not used by Service Bus"))
            }
        };
        let response = builder.body(body).send().await.map_err(|e| io_error("Service Bus request failed", e))?;

        let status = StatusCode::try_from(response.status().as_u16())
            .map_err(|_| Error::message(ErrorKind::DataConversion, "Service Bus answered an unknown status code"))?;
        let mut headers = Headers::new();
        for (name, value) in response.headers() {
            if let Ok(value) = value.to_str() {
                headers.insert(HeaderName::from(name.as_str().to_owned()), value.to_owned());
            }
        }
        let stream = response.bytes_stream().map_err(|e| io_error("reading a Service Bus response", e));
        Ok(Response::new(status, headers, Box::pin(stream)))
    }
}
