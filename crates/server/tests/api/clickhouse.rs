//! The application on the ClickHouse event store (`events_url`): the same reports as the
//! embedded store, and an outage that ingestion rides out in the log.

use crate::apps::android_app;
use crate::collect::{event, fixture, send};
use reqwest::Method;
use serde_json::json;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use unmogrowp_testkit::proxy::TcpProxy;
use unmogrowp_testkit::{TestApp, TestBackend};

/// The test ClickHouse's address (`TEST_CLICKHOUSE_URL`, started by `make test`).
pub fn clickhouse_addr() -> SocketAddr {
    let url = std::env::var("TEST_CLICKHOUSE_URL").unwrap_or_else(|_| {
        panic!("TEST_CLICKHOUSE_URL is not set: run the tests with `make test` (scripts/with-services.sh)")
    });
    let parsed = url::Url::parse(&url).unwrap();
    let host = parsed.host_str().unwrap();
    format!("{host}:{}", parsed.port().unwrap()).parse().unwrap()
}

pub fn database_name(prefix: &str) -> String {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("{prefix}_{}_{nanos}", std::process::id())
}

async fn drop_database(addr: SocketAddr, database: &str) {
    let _ = reqwest::Client::new()
        .post(format!("http://{addr}/"))
        .body(format!("DROP DATABASE IF EXISTS {database}"))
        .send()
        .await;
}

async fn installs(app: &TestApp, token: &str, app_id: &str) -> u64 {
    let reply = app
        .call(Method::GET, &format!("/api/v1/apps/{app_id}/reports/summary"), Some(token), None)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.body["totals"]["installs"].as_u64().unwrap_or(0)
}

async fn wait_for_installs(app: &TestApp, token: &str, app_id: &str, expected: u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let seen = installs(app, token, app_id).await;
        if seen == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "expected {expected} installs, the summary shows {seen}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn reports_come_from_clickhouse_and_an_outage_loses_nothing() {
    let target = clickhouse_addr();
    let proxy = TcpProxy::start(target).await;
    let proxy_addr = proxy.addr;
    let database = database_name("app");
    let url = format!("clickhouse://{proxy_addr}/{database}");
    let app = TestApp::spawn_with(TestBackend::Sqlite, |config| {
        config.events_url = Some(url.clone().into());
        config.events.clickhouse_flush_ms = 50;
    })
    .await;
    let fixture = fixture(&app, "clickhouse.example", android_app("Columnar")).await;
    let token = fixture.owner.access_token.clone();

    let first: Vec<_> = (0..20).map(|i| event(&format!("first-{i}"), "install", None)).collect();
    assert_eq!(send(&app, &fixture.app_token, &first).await.status, 200);
    wait_for_installs(&app, &token, &fixture.app_id, 20).await;
    let ready = app.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(ready.status, 200, "{}", ready.text);

    // ClickHouse goes away: ingestion keeps acknowledging into the log, /readyz names it.
    proxy.cut().await;
    let during: Vec<_> = (0..30).map(|i| event(&format!("during-{i}"), "install", None)).collect();
    for chunk in during.chunks(10) {
        let reply = send(&app, &fixture.app_token, chunk).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ready = app.call(Method::GET, "/readyz", None, None).await;
        if ready.status == 503 {
            assert!(ready.text.contains("clickhouse"), "{}", ready.text);
            break;
        }
        assert!(Instant::now() < deadline, "/readyz kept answering {}", ready.status);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A report asked meanwhile is a 503 whose problem document carries no backend text.
    let report = app
        .call(
            Method::GET,
            &format!("/api/v1/apps/{}/reports/summary?group_by=country", fixture.app_id),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(report.status, 503, "{}", report.text);
    assert!(report.header("retry-after").is_some());
    let lower = report.text.to_lowercase();
    for leak in ["clickhouse", &proxy_addr.to_string(), "127.0.0.1", "connect", "reason"] {
        assert!(!lower.contains(leak), "the problem document leaks {leak:?}: {}", report.text);
    }

    // It comes back where it was: the store catches up with nothing lost or doubled.
    let proxy = TcpProxy::start_on(proxy_addr, target).await;
    wait_for_installs(&app, &token, &fixture.app_id, 50).await;
    let ready = app.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(ready.status, 200, "{}", ready.text);

    // Decisions, exports and the fraud report read ClickHouse too.
    let decision = app
        .call(
            Method::GET,
            &format!("/api/v1/apps/{}/installs/during-7", fixture.app_id),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(decision.status, 200, "{}", decision.text);
    assert_eq!(decision.body["status"], json!("organic"));
    let export = app
        .call(
            Method::GET,
            &format!("/api/v1/apps/{}/export/installs.csv", fixture.app_id),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(export.status, 200, "{}", export.text);
    assert_eq!(export.text.lines().count(), 51, "a header and 50 installs");
    assert_eq!(app.state.events.kind(), "clickhouse");

    app.stop().await;
    proxy.cut().await;
    drop_database(target, &database).await;
}
