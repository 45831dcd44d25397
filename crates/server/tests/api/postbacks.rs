//! Postbacks against a local HTTP server: the filled URL, retries after failures, the
//! delivery log, and a dead destination that slows nothing down.

use crate::apps::android_app;
use crate::collect::{fixture, link, now_rfc3339, send, settle};
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::routing::get;
use reqwest::Method;
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use unmogrowp_testkit::{TestApp, TestBackend};

#[derive(Clone, Default)]
pub(crate) struct Network {
    pub(crate) received: Arc<Mutex<Vec<String>>>,
    failures_left: Arc<Mutex<u32>>,
}

async fn postback(State(network): State<Network>, RawQuery(query): RawQuery) -> StatusCode {
    let mut failures = network.failures_left.lock().unwrap();
    if *failures > 0 {
        *failures -= 1;
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    network.received.lock().unwrap().push(query.unwrap_or_default());
    StatusCode::OK
}

pub(crate) async fn start_network(failures: u32) -> (String, Network) {
    let network = Network { failures_left: Arc::new(Mutex::new(failures)), ..Network::default() };
    let router = Router::new().route("/pb", get(postback)).with_state(network.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    (format!("http://{addr}"), network)
}

async fn postbacks_deliver_filled_urls_with_retries(backend: TestBackend) {
    let app = TestApp::spawn_with(backend, |config| {
        config.postbacks.base_backoff_ms = 50;
        config.postbacks.breaker_failures = 100;
    })
    .await;
    let (base, network) = start_network(2).await;
    let fixture = fixture(&app, "postback.example", android_app("Posty")).await;
    let meta = link(&app, &fixture, "meta", "winter").await;
    let template = format!(
        "{base}/pb?click={{click_id}}&ncid={{network_click_id}}&event={{event_name}}&rev={{revenue}}&cur={{currency}}&dev={{device_id}}&camp={{campaign}}"
    );
    let created = app.call(Method::POST, &format!("/api/v1/apps/{}/postbacks", fixture.app_id), Some(&fixture.owner.access_token),
        Some(&json!({ "network": "meta", "url_template": template, "events": ["install", "purchase"] }))).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let bad = app.call(Method::POST, &format!("/api/v1/apps/{}/postbacks", fixture.app_id), Some(&fixture.owner.access_token),
        Some(&json!({ "network": "meta", "url_template": format!("{base}/pb?x={{secret}}"), "events": ["install"] }))).await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.body["errors"][0]["field"], "url_template");

    let path = format!(
        "{}?gaid=Dev%201&network_click_id=NC-9",
        meta["click_url"].as_str().unwrap().trim_start_matches(&app.url)
    );
    let reply = app.call(Method::GET, &path, None, None).await;
    let click_id = reply.header("location").unwrap().rsplit("%3D").next().unwrap().to_owned();
    let events = vec![
        json!({ "id": "pb-install", "type": "install", "timestamp": now_rfc3339(60), "device": { "gaid": "Dev 1" } }),
        json!({ "id": "pb-buy", "type": "event", "name": "purchase", "timestamp": now_rfc3339(90), "device": { "gaid": "Dev 1" },
                "revenue": { "amount": 9.99, "currency": "EUR" } }),
        json!({ "id": "pb-other", "type": "event", "name": "level_up", "timestamp": now_rfc3339(95), "device": { "gaid": "Dev 1" } }),
    ];
    assert_eq!(send(&app, &fixture.app_token, &events).await.body["accepted"], 3);
    settle(&app).await;

    let mut delivered = Vec::new();
    for _ in 0..200 {
        let log = app
            .call(
                Method::GET,
                &format!("/api/v1/apps/{}/postbacks/deliveries", fixture.app_id),
                Some(&fixture.owner.access_token),
                None,
            )
            .await;
        delivered = log.body.as_array().unwrap().clone();
        if delivered.len() == 2 && delivered.iter().all(|d| d["status"] == "delivered") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        delivered.len(),
        2,
        "install and purchase (level_up is not subscribed): {delivered:?}"
    );
    assert!(delivered.iter().all(|d| d["status"] == "delivered"), "{delivered:?}");
    let attempts: i64 = delivered.iter().map(|d| d["attempts"].as_i64().unwrap()).sum();
    assert_eq!(attempts, 4, "two failures were retried: {delivered:?}");
    assert!(delivered.iter().any(|d| d["last_error"] == "HTTP 500"), "{delivered:?}");

    let received = network.received.lock().unwrap().clone();
    assert_eq!(received.len(), 2);
    let install = received.iter().find(|q| q.contains("event=install")).unwrap();
    assert_eq!(
        install,
        &format!("click={click_id}&ncid=NC-9&event=install&rev=&cur=&dev=Dev%201&camp=winter")
    );
    // The purchase is credited to the install's click: its postback carries the same ids.
    let purchase = received.iter().find(|q| q.contains("event=purchase")).unwrap();
    assert_eq!(
        purchase,
        &format!(
            "click={click_id}&ncid=NC-9&event=purchase&rev=9.99&cur=EUR&dev=Dev%201&camp=winter"
        )
    );
    app.stop().await;
}

async fn a_dead_destination_does_not_slow_ingestion(backend: TestBackend) {
    let app = TestApp::spawn_with(backend, |config| {
        config.postbacks.base_backoff_ms = 20;
        config.postbacks.max_attempts = 3;
        config.postbacks.breaker_failures = 2;
        config.postbacks.breaker_open_ms = 60_000;
        config.postbacks.timeout_ms = 1_000;
    })
    .await;
    let fixture = fixture(&app, "dead.example", android_app("Dead")).await;
    let unity = link(&app, &fixture, "unity", "dead").await;
    // Nothing listens on this port.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let created = app.call(Method::POST, &format!("/api/v1/apps/{}/postbacks", fixture.app_id), Some(&fixture.owner.access_token),
        Some(&json!({ "network": "unity", "url_template": format!("http://127.0.0.1:{port}/pb?c={{click_id}}"), "events": ["install"] }))).await;
    assert_eq!(created.status, 201);
    for i in 0..5 {
        let gaid = format!("dead-{i}");
        let path = format!(
            "{}?gaid={gaid}",
            unity["click_url"].as_str().unwrap().trim_start_matches(&app.url)
        );
        app.call(Method::GET, &path, None, None).await;
        let started = std::time::Instant::now();
        let reply = send(&app, &fixture.app_token, &[json!({ "id": format!("dead-install-{i}"), "type": "install", "timestamp": now_rfc3339(30), "device": { "gaid": gaid } })]).await;
        assert_eq!(reply.status, 200);
        assert!(started.elapsed() < Duration::from_secs(2));
    }
    settle(&app).await;
    for i in 0..5 {
        let decision = app
            .call(
                Method::GET,
                &format!("/api/v1/apps/{}/installs/dead-install-{i}", fixture.app_id),
                Some(&fixture.owner.access_token),
                None,
            )
            .await;
        assert_eq!(decision.body["status"], "attributed");
    }
    // Wait until two attempts have failed: the breaker (two failures, open for a minute) is
    // then open. Deliveries not yet tried are held back without counting an attempt.
    let deliveries_path = format!("/api/v1/apps/{}/postbacks/deliveries", fixture.app_id);
    let attempts = |log: &[serde_json::Value]| {
        log.iter().map(|d| d["attempts"].as_i64().unwrap()).sum::<i64>()
    };
    let mut log = Vec::new();
    for _ in 0..300 {
        let reply =
            app.call(Method::GET, &deliveries_path, Some(&fixture.owner.access_token), None).await;
        log = reply.body.as_array().unwrap().clone();
        if log.len() == 5 && attempts(&log) >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(log.len(), 5);
    // Let attempts that were already under way finish, then nothing more may happen.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let reply =
        app.call(Method::GET, &deliveries_path, Some(&fixture.owner.access_token), None).await;
    let first = attempts(reply.body.as_array().unwrap());
    // Without the breaker, 20 ms backoffs would use up all three attempts of every delivery
    // (and mark them failed) well within this wait; with it open, nothing more is tried.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let reply =
        app.call(Method::GET, &deliveries_path, Some(&fixture.owner.access_token), None).await;
    let later = reply.body.as_array().unwrap().clone();
    assert_eq!(attempts(&later), first, "the open breaker held deliveries back: {later:?}");
    assert!(first < 15, "not every attempt was spent: {later:?}");
    assert!(later.iter().all(|d| d["status"] == "pending"), "{later:?}");
    app.stop().await;
}

/// Without `security.outbound_allow_cidrs`, no spelling of a destination outside the public
/// internet is accepted, and one that only appears once the URL is filled is refused at
/// delivery: the delivery fails at once with a generic error and nothing is called.
async fn destinations_outside_the_internet_are_refused(backend: TestBackend) {
    let app = TestApp::spawn_with(backend, |config| {
        config.security.outbound_allow_cidrs.clear();
        config.postbacks.base_backoff_ms = 20;
    })
    .await;
    let fixture = fixture(&app, "ssrf.example", android_app("Guarded")).await;
    let path = format!("/api/v1/apps/{}/postbacks", fixture.app_id);
    let create = |template: String| {
        let body = json!({ "network": "meta", "url_template": template, "events": ["install"] });
        let (app, path, token) = (&app, &path, &fixture.owner.access_token);
        async move { app.call(Method::POST, path, Some(token), Some(&body)).await }
    };
    for host in [
        "127.0.0.1",
        "127.0.0.1:8080",
        "localhost",
        "localhost.",
        "api.localhost",
        "0.0.0.0",
        "0",
        "127.1",
        "2130706433",
        "0x7f000001",
        "0177.0.0.1",
        "[::1]",
        "[::ffff:127.0.0.1]",
        "[::ffff:7f00:1]",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.0.10",
        "169.254.169.254",
        "100.64.0.1",
        "[fd00:ec2::254]",
        "[fe80::1]",
    ] {
        let reply = create(format!("http://{host}/pb?c={{click_id}}")).await;
        assert_eq!(reply.status, 400, "{host}: {}", reply.text);
        assert_eq!(reply.body["errors"][0]["field"], "url_template", "{host}");
    }
    let reply = create("https://user:secret@network.example/pb".to_owned()).await;
    assert_eq!(reply.status, 400, "{}", reply.text);
    assert_eq!(reply.body["errors"][0]["field"], "url_template");

    // The host comes from the link's campaign: only the filled URL shows where it points.
    let created = create("http://{campaign}/pb?c={click_id}".to_owned()).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let inside = link(&app, &fixture, "meta", "localhost").await;
    let click = format!(
        "{}?gaid=ssrf-1",
        inside["click_url"].as_str().unwrap().trim_start_matches(&app.url)
    );
    app.call(Method::GET, &click, None, None).await;
    let install = json!({ "id": "ssrf-install", "type": "install", "timestamp": now_rfc3339(30), "device": { "gaid": "ssrf-1" } });
    assert_eq!(send(&app, &fixture.app_token, &[install]).await.body["accepted"], 1);
    settle(&app).await;
    let deliveries = format!("/api/v1/apps/{}/postbacks/deliveries", fixture.app_id);
    let mut log = Vec::new();
    for _ in 0..200 {
        let reply =
            app.call(Method::GET, &deliveries, Some(&fixture.owner.access_token), None).await;
        log = reply.body.as_array().unwrap().clone();
        if log.iter().any(|d| d["status"] != "pending") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0]["status"], "failed", "{log:?}");
    assert_eq!(log[0]["last_error"], "destination refused", "{log:?}");
    assert_eq!(log[0]["attempts"], 1, "a refused destination is not retried: {log:?}");
    app.stop().await;
}

on_both_backends!(
    postbacks_deliver_filled_urls_with_retries,
    a_dead_destination_does_not_slow_ingestion,
    destinations_outside_the_internet_are_refused
);

/// A click on a new `meta` link for campaign `name`, then the install it wins.
async fn attributed_install(app: &TestApp, fixture: &crate::collect::Fixture, name: &str) {
    let meta = link(app, fixture, "meta", name).await;
    let path =
        format!("{}?gaid={name}", meta["click_url"].as_str().unwrap().trim_start_matches(&app.url));
    app.call(Method::GET, &path, None, None).await;
    let event = json!({ "id": format!("{name}-install"), "type": "install", "timestamp": now_rfc3339(30), "device": { "gaid": name } });
    assert_eq!(send(app, &fixture.app_token, &[event]).await.body["accepted"], 1);
}

/// One organization's failing endpoint opens its own breaker only: another organization's
/// postbacks to the same host are still delivered.
#[tokio::test]
async fn a_tenants_failing_endpoint_does_not_hold_back_another_tenant() {
    let app = TestApp::spawn_with(TestBackend::Sqlite, |config| {
        config.postbacks.base_backoff_ms = 20;
        config.postbacks.max_attempts = 50;
        config.postbacks.breaker_failures = 2;
        config.postbacks.breaker_open_ms = 60_000;
    })
    .await;
    let (base, network) = start_network(0).await;
    let failing = fixture(&app, "failing.example", android_app("Failing")).await;
    let healthy = fixture(&app, "healthy.example", android_app("Healthy")).await;
    for (fixture, path) in [(&failing, "/missing"), (&healthy, "/pb")] {
        let created = app.call(Method::POST, &format!("/api/v1/apps/{}/postbacks", fixture.app_id), Some(&fixture.owner.access_token),
            Some(&json!({ "network": "meta", "url_template": format!("{base}{path}?c={{click_id}}"), "events": ["install"] }))).await;
        assert_eq!(created.status, 201, "{}", created.text);
    }
    let attempts = |log: &[serde_json::Value]| {
        log.iter().map(|d| d["attempts"].as_i64().unwrap()).sum::<i64>()
    };
    // The failing tenant's endpoint answers 404 until its breaker opens.
    attributed_install(&app, &failing, "failing").await;
    let failing_log = format!("/api/v1/apps/{}/postbacks/deliveries", failing.app_id);
    for _ in 0..300 {
        let reply =
            app.call(Method::GET, &failing_log, Some(&failing.owner.access_token), None).await;
        if attempts(reply.body.as_array().unwrap()) >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The healthy tenant's postback to the same host goes through meanwhile.
    attributed_install(&app, &healthy, "healthy").await;
    let healthy_log = format!("/api/v1/apps/{}/postbacks/deliveries", healthy.app_id);
    let mut delivered = false;
    for _ in 0..300 {
        let reply =
            app.call(Method::GET, &healthy_log, Some(&healthy.owner.access_token), None).await;
        if reply.body.as_array().unwrap().iter().any(|d| d["status"] == "delivered") {
            delivered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(delivered, "the healthy tenant's postback was held back");
    assert_eq!(network.received.lock().unwrap().len(), 1);
    app.stop().await;
}
