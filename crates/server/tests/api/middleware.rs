//! Request ids, security headers, CORS, compression, timeouts, panics.

use axum::Router;
use axum::routing::get;
use std::io::Read;
use std::time::Duration;
use unmogrowp_server::app::with_middleware;
use unmogrowp_testkit::app::test_config;
use unmogrowp_testkit::{TestApp, TestBackend};

#[tokio::test]
async fn a_sane_incoming_request_id_is_kept_and_otherwise_one_is_made() {
    let app = TestApp::spawn(TestBackend::Sqlite).await;
    let kept =
        app.client.get(app.at("/healthz")).header("x-request-id", "trace-42").send().await.unwrap();
    assert_eq!(kept.headers()["x-request-id"], "trace-42");
    let made = app.get("/healthz").await;
    let id = made.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(id.len(), 32);
    let other = app.get("/healthz").await;
    assert_ne!(other.headers()["x-request-id"].to_str().unwrap(), id);
    app.stop().await;
}

#[tokio::test]
async fn security_headers_are_set_and_hsts_only_behind_tls() {
    let app = TestApp::spawn(TestBackend::Sqlite).await;
    let response = app.get("/healthz").await;
    let headers = response.headers();
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert!(
        headers["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'")
    );
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert!(headers.get("strict-transport-security").is_none());
    app.stop().await;

    let app =
        TestApp::spawn_with(TestBackend::Sqlite, |config| config.http.behind_tls = true).await;
    let response = app.get("/healthz").await;
    assert!(response.headers()["strict-transport-security"].to_str().unwrap().contains("max-age="));
    app.stop().await;
}

#[tokio::test]
async fn cors_allows_only_configured_origins() {
    let app = TestApp::spawn_with(TestBackend::Sqlite, |config| {
        config.http.cors_allowed_origins = vec!["https://dash.example.com".to_owned()];
    })
    .await;
    let allowed = app
        .client
        .request(reqwest::Method::OPTIONS, app.at("/api/v1/auth/check-email"))
        .header("origin", "https://dash.example.com")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap();
    assert!(allowed.status().is_success(), "{}", allowed.status());
    assert_eq!(allowed.headers()["access-control-allow-origin"], "https://dash.example.com");
    let refused = app
        .client
        .get(app.at("/healthz"))
        .header("origin", "https://evil.example.com")
        .send()
        .await
        .unwrap();
    assert!(refused.headers().get("access-control-allow-origin").is_none());
    app.stop().await;

    let app = TestApp::spawn(TestBackend::Sqlite).await;
    let response = app
        .client
        .get(app.at("/healthz"))
        .header("origin", "https://dash.example.com")
        .send()
        .await
        .unwrap();
    assert!(
        response.headers().get("access-control-allow-origin").is_none(),
        "no CORS unless configured"
    );
    app.stop().await;
}

#[tokio::test]
async fn large_responses_are_compressed_on_request() {
    let app = TestApp::spawn(TestBackend::Sqlite).await;
    let response = app
        .client
        .get(app.at("/api/openapi.json"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-encoding"], "gzip");
    let compressed = response.bytes().await.unwrap();
    let mut text = String::new();
    flate2::read::GzDecoder::new(&compressed[..]).read_to_string(&mut text).unwrap();
    assert!(text.contains("\"openapi\""));
    assert!(compressed.len() < text.len());
    app.stop().await;
}

/// Serves a router wrapped in the production middleware stack.
async fn serve_with_middleware(
    router: Router,
    customize: impl FnOnce(&mut unmogrowp_server::Config),
) -> String {
    let data_dir = tempfile::tempdir().unwrap();
    let mut config = test_config(data_dir.path());
    customize(&mut config);
    unmogrowp_server::postbacks::install_crypto_provider();
    let app = with_middleware(router, &config).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

#[tokio::test]
async fn requests_over_the_time_limit_get_a_503_problem() {
    let router = Router::new().route(
        "/slow",
        get(|| async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            "late"
        }),
    );
    let url = serve_with_middleware(router, |config| config.http.request_timeout_ms = 200).await;
    let started = std::time::Instant::now();
    let response = reqwest::get(format!("{url}/slow")).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    assert!(response.headers().get("retry-after").is_some());
}

#[tokio::test]
async fn a_panicking_handler_is_a_500_problem_without_details() {
    async fn boom() -> &'static str {
        panic!("secret internal detail")
    }
    let router = Router::new().route("/boom", get(boom));
    let url = serve_with_middleware(router, |_| {}).await;
    let response = reqwest::get(format!("{url}/boom")).await.unwrap();
    assert_eq!(response.status(), 500);
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    let text = response.text().await.unwrap();
    assert!(!text.contains("secret internal detail"), "{text}");
    assert!(text.contains("\"code\":\"internal_error\""), "{text}");
}
