//! The twin's TLS plumbing: the production HTTP client reaches a twin server by host-name
//! override and the twin's CA, and refuses it without the CA.

use axum::{routing::get, Router};
use keyrelay::adapters::azure::http::HttpOptions;
use keyrelay::twin::{server::serve_tls, TestCa};

#[tokio::test]
async fn production_client_reaches_twin_only_with_its_ca() {
    let ca = TestCa::generate().unwrap();
    let server = serve_tls(Router::new().route("/ping", get(|| async { "pong" })), &ca).await.unwrap();
    let url = format!("https://management.azure.com:{}/ping", server.port());

    let trusted = HttpOptions {
        extra_roots_pem: vec![ca.ca_pem.clone()],
        resolve: vec![("management.azure.com".into(), server.addr)],
        ..HttpOptions::default()
    };
    let body = trusted.client().unwrap().get(&url).send().await.unwrap().text().await.unwrap();
    assert_eq!(body, "pong");

    let untrusted = HttpOptions { extra_roots_pem: vec![], ..trusted };
    let err = untrusted.client().unwrap().get(&url).send().await.unwrap_err();
    assert!(err.is_connect() || err.to_string().contains("certificate") || format!("{err:?}").contains("Certificate"), "{err:?}");
}
