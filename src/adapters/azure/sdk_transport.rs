//! The Azure SDK's HTTP transport, on our reqwest client.
//!
//! Every azure_core 1.x client (Key Vault secrets, Blob storage, the azure_identity token
//! credentials) sends its requests through an [`azure_core::http::HttpClient`]. Giving them
//! this one, built from [`HttpOptions`], means they all honour the same extra trusted roots and
//! host-name overrides as our own ARM client — which is how tests reach the local twin over
//! HTTPS without any test-only branch.
//!
//! The SDK's built-in reqwest client is a different reqwest major version and cannot be given
//! our roots, hence this small adapter.

use super::http::HttpOptions;
use azure_core::http::headers::{HeaderName, HeaderValue, Headers};
use azure_core::http::{AsyncRawResponse, Body, ClientOptions, HttpClient, Method, Request, Transport};
use futures::AsyncReadExt;
use std::sync::Arc;

/// An azure_core `HttpClient` over a reqwest client configured by [`HttpOptions`].
#[derive(Debug, Clone)]
pub struct SdkTransport {
    client: reqwest::Client,
}

impl SdkTransport {
    pub fn new(options: &HttpOptions) -> anyhow::Result<SdkTransport> {
        Ok(SdkTransport { client: options.client()? })
    }

    /// The transport as the SDK wants it in `ClientOptions::transport`.
    pub fn transport(options: &HttpOptions) -> anyhow::Result<Transport> {
        Ok(Transport::new(Arc::new(SdkTransport::new(options)?)))
    }

    /// `ClientOptions` whose transport is ours; every SDK client built by keyrelay starts here.
    pub fn client_options(options: &HttpOptions) -> anyhow::Result<ClientOptions> {
        Ok(ClientOptions { transport: Some(Self::transport(options)?), ..ClientOptions::default() })
    }
}

fn to_reqwest_method(method: Method) -> azure_core::Result<reqwest::Method> {
    reqwest::Method::from_bytes(method.as_str().as_bytes()).map_err(|e| {
        azure_core::Error::with_error(azure_core::error::ErrorKind::Other, e, "unsupported HTTP method")
    })
}

/// The request body as bytes. Streams are read whole: keyrelay's requests are small JSON/XML
/// documents, and a byte body lets reqwest set `Content-Length`.
async fn body_bytes(body: &Body) -> azure_core::Result<bytes::Bytes> {
    match body {
        Body::Bytes(bytes) => Ok(bytes.clone()),
        Body::SeekableStream(stream) => {
            let mut stream = stream.clone();
            stream.reset().await?;
            let mut buffer = Vec::new();
            stream.read_to_end(&mut buffer).await.map_err(|e| {
                azure_core::Error::with_error(azure_core::error::ErrorKind::Io, e, "reading the request body stream")
            })?;
            Ok(buffer.into())
        }
    }
}

fn to_headers(map: &reqwest::header::HeaderMap) -> Headers {
    let mut headers = Headers::new();
    for (name, value) in map {
        if let Ok(value) = value.to_str() {
            headers.insert(HeaderName::from(name.as_str().to_owned()), HeaderValue::from(value.to_owned()));
        }
    }
    headers
}

#[async_trait::async_trait]
impl HttpClient for SdkTransport {
    async fn execute_request(&self, request: &Request) -> azure_core::Result<AsyncRawResponse> {
        let mut builder = self.client.request(to_reqwest_method(request.method())?, request.url().clone());
        for (name, value) in request.headers().iter() {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let response = builder.body(body_bytes(request.body()).await?).send().await.map_err(|e| {
            // Connection failures are retried by the SDK's retry policy, like any I/O error.
            let kind = if e.is_connect() { azure_core::error::ErrorKind::Connection } else { azure_core::error::ErrorKind::Io };
            azure_core::Error::with_error(kind, e, "sending the request")
        })?;
        let status = response.status().as_u16();
        let headers = to_headers(response.headers());
        let body = response.bytes().await.map_err(|e| {
            azure_core::Error::with_error(azure_core::error::ErrorKind::Io, e, "reading the response body")
        })?;
        Ok(AsyncRawResponse::from_bytes(status.into(), headers, body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use azure_core::http::Url;

    #[tokio::test]
    async fn reaches_a_twin_server_over_https_through_resolve_and_extra_root() {
        use axum::routing::post;
        let ca = crate::twin::TestCa::generate().unwrap();
        let router = axum::Router::new().route(
            "/echo",
            post(|headers: axum::http::HeaderMap, body: String| async move {
                let probe = headers.get("x-probe").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
                ([("x-answer", probe)], format!("got:{body}"))
            }),
        );
        let server = crate::twin::server::serve_tls(router, &ca).await.unwrap();
        let options = HttpOptions {
            extra_roots_pem: vec![ca.ca_pem.clone()],
            resolve: vec![("management.azure.com".into(), server.addr)],
            ..HttpOptions::default()
        };
        let transport = SdkTransport::new(&options).unwrap();
        let url: Url = format!("https://management.azure.com:{}/echo", server.port()).parse().unwrap();
        let mut request = Request::new(url, Method::Post);
        request.insert_header("x-probe", "42");
        request.set_body(bytes::Bytes::from_static(b"hello"));
        let response = transport.execute_request(&request).await.unwrap();
        assert_eq!(u16::from(response.status()), 200);
        assert_eq!(response.headers().get_optional_str(&HeaderName::from_static("x-answer")), Some("42"));
        let body = response.into_body().collect_string().await.unwrap();
        assert_eq!(body, "got:hello");
    }

    #[tokio::test]
    async fn an_untrusted_server_is_refused() {
        let ca = crate::twin::TestCa::generate().unwrap();
        let router = axum::Router::new().route("/", axum::routing::get(|| async { "hi" }));
        let server = crate::twin::server::serve_tls(router, &ca).await.unwrap();
        // Name resolution only, no extra root: TLS verification must fail.
        let options = HttpOptions { resolve: vec![("management.azure.com".into(), server.addr)], ..HttpOptions::default() };
        let transport = SdkTransport::new(&options).unwrap();
        let url: Url = format!("https://management.azure.com:{}/", server.port()).parse().unwrap();
        let err = transport.execute_request(&Request::new(url, Method::Get)).await.unwrap_err();
        assert!(matches!(err.kind(), azure_core::error::ErrorKind::Connection | azure_core::error::ErrorKind::Io));
    }
}
