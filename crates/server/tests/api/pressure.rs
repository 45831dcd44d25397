//! Collection under pressure: backpressure when the workers fall behind, and event quotas per
//! organization and per app.

use crate::apps::android_app;
use crate::collect::{event, fixture, send, settle};
use reqwest::Method;
use serde_json::Value;
use unmogrowp_testkit::{TestApp, TestBackend};

/// With the workers paused past the lag bound, ingestion answers 503 with Retry-After; once
/// they resume it accepts again, and everything acknowledged is stored.
#[tokio::test]
async fn backpressure_refuses_then_recovers_without_loss() {
    let app =
        TestApp::spawn_with(TestBackend::Sqlite, |config| config.ingest.max_lag_records = 20).await;
    let fixture = fixture(&app, "pressure.example", android_app("Pressure")).await;
    app.state.pipeline.pause();
    let mut acknowledged = 0;
    let mut refused = None;
    for batch in 0..20 {
        let events: Vec<Value> =
            (0..5).map(|i| event(&format!("p-{batch}-{i}"), "session", None)).collect();
        let reply = send(&app, &fixture.app_token, &events).await;
        match reply.status {
            200 => acknowledged += reply.body["accepted"].as_u64().unwrap(),
            503 => {
                refused = Some(reply);
                break;
            }
            other => panic!("unexpected {other}: {}", reply.text),
        }
    }
    let refused = refused.expect("ingestion refused once the bound was reached");
    assert!(refused.header("retry-after").unwrap().parse::<u64>().unwrap() >= 1);
    assert_eq!(refused.header("content-type"), Some("application/problem+json"));
    assert!(acknowledged >= 20);

    app.state.pipeline.resume();
    settle(&app).await;
    let reply = send(&app, &fixture.app_token, &[event("after-resume", "session", None)]).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    acknowledged += 1;
    settle(&app).await;
    let summary = app
        .call(
            Method::GET,
            &format!("/api/v1/apps/{}/reports/summary", fixture.app_id),
            Some(&fixture.owner.access_token),
            None,
        )
        .await;
    assert_eq!(summary.body["totals"]["sessions"].as_u64().unwrap(), acknowledged);
    app.stop().await;
}

/// An organization over its event quota is answered 429 with Retry-After.
#[tokio::test]
async fn an_organization_over_its_quota_is_told_to_slow_down() {
    let app = TestApp::spawn_with(TestBackend::Sqlite, |config| {
        config.ingest.org_events_per_second = 1;
        config.ingest.org_events_burst = 10;
    })
    .await;
    let fixture = fixture(&app, "quota.example", android_app("Quota")).await;
    let events: Vec<Value> = (0..10).map(|i| event(&format!("q-{i}"), "session", None)).collect();
    assert_eq!(send(&app, &fixture.app_token, &events).await.status, 200);
    let over = send(&app, &fixture.app_token, &[event("q-over", "session", None)]).await;
    assert_eq!(over.status, 429, "{}", over.text);
    assert!(over.header("retry-after").is_some());
    app.stop().await;
}

/// An app over its own event quota is answered 429; another app of the organization is not.
#[tokio::test]
async fn an_app_over_its_quota_is_told_to_slow_down() {
    let app = TestApp::spawn_with(TestBackend::Sqlite, |config| {
        config.ingest.app_events_per_second = 1;
        config.ingest.app_events_burst = 10;
    })
    .await;
    let fixture = fixture(&app, "app-quota.example", android_app("Busy")).await;
    let events: Vec<Value> = (0..10).map(|i| event(&format!("aq-{i}"), "session", None)).collect();
    assert_eq!(send(&app, &fixture.app_token, &events).await.status, 200);
    let over = send(&app, &fixture.app_token, &[event("aq-over", "session", None)]).await;
    assert_eq!(over.status, 429, "{}", over.text);
    assert!(over.header("retry-after").is_some());
    let other = app
        .call(
            Method::POST,
            "/api/v1/apps",
            Some(&fixture.owner.access_token),
            Some(&android_app("Calm")),
        )
        .await;
    assert_eq!(other.status, 201, "{}", other.text);
    let calm_token = other.body["app_token"].as_str().unwrap();
    let calm = send(&app, calm_token, &[event("aq-calm", "session", None)]).await;
    assert_eq!(calm.status, 200, "{}", calm.text);
    app.stop().await;
}
