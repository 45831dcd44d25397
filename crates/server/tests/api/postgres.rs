//! The same server on PostgreSQL: migrates, reports ready, and names the database when it
//! goes away.

use std::net::ToSocketAddrs;
use unmogrowp_testkit::app::json;
use unmogrowp_testkit::proxy::TcpProxy;
use unmogrowp_testkit::{TempDatabase, TestApp, TestBackend};

#[tokio::test]
async fn migrates_and_reports_ready_on_postgres() {
    let app = TestApp::spawn(TestBackend::Postgres).await;
    assert_eq!(app.get("/readyz").await.status(), 200);
    let response = app.check_email("someone@example.com").await;
    assert_eq!(json(response).await["available"], true);
    app.stop().await;
}

#[tokio::test]
async fn readyz_names_the_database_when_it_stops_answering() {
    let database = TempDatabase::create().await;
    let mut url = url::Url::parse(&database.url).unwrap();
    let target =
        (url.host_str().unwrap(), url.port().unwrap()).to_socket_addrs().unwrap().next().unwrap();
    let proxy = TcpProxy::start(target).await;
    url.set_port(Some(proxy.addr.port())).unwrap();
    let proxied = url.to_string();
    let app = TestApp::spawn_with(TestBackend::Sqlite, move |config| {
        config.database_url = Some(secrecy::SecretString::from(proxied));
    })
    .await;
    assert_eq!(app.get("/readyz").await.status(), 200);

    proxy.cut().await;
    let response = app.get("/readyz").await;
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    assert!(response.headers().get("retry-after").is_some());
    let body = json(response).await;
    assert!(body["detail"].as_str().unwrap().contains("database"), "{body}");
    let failing: Vec<&str> = body["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|check| check["ok"] == false)
        .map(|check| check["name"].as_str().unwrap())
        .collect();
    assert_eq!(failing, vec!["database"]);
    // Liveness is unaffected.
    assert_eq!(app.get("/healthz").await.status(), 200);
    app.stop().await;
    database.drop_database().await;
}
