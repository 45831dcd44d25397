//! Every error is a problem document (RFC 9457).

use reqwest::Response;
use serde_json::Value;
use unmogrowp_testkit::{TestApp, TestBackend};

async fn problem(response: Response, status: u16) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    let request_id = response.headers()["x-request-id"].to_str().unwrap().to_owned();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], status);
    assert!(body["title"].is_string());
    assert!(body["type"].is_string());
    assert!(body["code"].is_string());
    assert_eq!(body["request_id"], request_id.as_str());
    body
}

#[tokio::test]
async fn unknown_routes_are_404_problems() {
    let app = TestApp::spawn(TestBackend::Sqlite).await;
    // Paths under /api/ (and the collection prefixes) never fall back to the dashboard.
    let body = problem(app.get("/api/nope").await, 404).await;
    assert_eq!(body["code"], "not_found");
    app.stop().await;
}

#[tokio::test]
async fn wrong_methods_are_405_problems_with_allow() {
    let app = TestApp::spawn(TestBackend::Sqlite).await;
    let response = app.client.delete(app.at("/healthz")).send().await.unwrap();
    assert!(response.headers()["allow"].to_str().unwrap().contains("GET"));
    let body = problem(response, 405).await;
    assert_eq!(body["code"], "method_not_allowed");
    app.stop().await;
}

#[tokio::test]
async fn oversized_bodies_are_413_problems() {
    let app = TestApp::spawn(TestBackend::Sqlite).await;
    let two_mib = format!("{{\"email\":\"{}\"}}", "a".repeat(2 * 1024 * 1024));
    let response = app
        .client
        .post(app.at("/api/v1/auth/check-email"))
        .header("content-type", "application/json")
        .body(two_mib)
        .send()
        .await
        .unwrap();
    let body = problem(response, 413).await;
    assert_eq!(body["code"], "payload_too_large");
    app.stop().await;
}

/// Without a Content-Length (chunked), the limit still holds while the body streams in.
#[tokio::test]
async fn oversized_streamed_bodies_are_413_problems() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::spawn(TestBackend::Sqlite).await;
    let addr = app.url.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /api/v1/auth/check-email HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let chunk = vec![b' '; 64 * 1024];
    for _ in 0..40 {
        let header = format!("{:x}\r\n", chunk.len());
        if stream.write_all(header.as_bytes()).await.is_err()
            || stream.write_all(&chunk).await.is_err()
            || stream.write_all(b"\r\n").await.is_err()
        {
            break; // the server answered and closed early
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");
    app.stop().await;
}

#[tokio::test]
async fn invalid_json_is_a_400_problem() {
    let app = TestApp::spawn(TestBackend::Sqlite).await;
    let response = app
        .client
        .post(app.at("/api/v1/auth/check-email"))
        .header("content-type", "application/json")
        .body("{\"email\": ")
        .send()
        .await
        .unwrap();
    let body = problem(response, 400).await;
    assert_eq!(body["code"], "malformed_json");
    app.stop().await;
}

#[tokio::test]
async fn json_of_the_wrong_shape_names_the_field() {
    let app = TestApp::spawn(TestBackend::Sqlite).await;
    let body =
        problem(app.post_json("/api/v1/auth/check-email", &serde_json::json!({})).await, 400).await;
    assert_eq!(body["code"], "invalid_request");
    assert_eq!(body["errors"][0]["field"], "email");
    let body = problem(
        app.post_json("/api/v1/auth/check-email", &serde_json::json!({"email": 42})).await,
        400,
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "email");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("invalid type"), "{body}");
    let body = problem(app.check_email("not an email").await, 400).await;
    assert_eq!(body["errors"][0]["field"], "email");
    app.stop().await;
}

#[tokio::test]
async fn a_wrong_content_type_is_a_415_problem() {
    let app = TestApp::spawn(TestBackend::Sqlite).await;
    let response = app
        .client
        .post(app.at("/api/v1/auth/check-email"))
        .header("content-type", "text/plain")
        .body("{\"email\":\"a@b.co\"}")
        .send()
        .await
        .unwrap();
    let body = problem(response, 415).await;
    assert_eq!(body["code"], "unsupported_media_type");
    app.stop().await;
}

#[tokio::test]
async fn a_valid_request_succeeds() {
    let app = TestApp::spawn(TestBackend::Sqlite).await;
    let response = app.check_email("new@example.com").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["available"], true);
    app.stop().await;
}
