//! Tracking links and postbacks changed and deleted, and a failed delivery retried by hand.

use crate::apps::android_app;
use crate::collect::{fixture, link, now_rfc3339, send, settle};
use crate::postbacks::start_network;
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;
use unmogrowp_testkit::{TestApp, TestBackend};

async fn links_are_changed_and_deleted(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let fixture = fixture(&app, "edits.example", android_app("Edited")).await;
    let token = fixture.owner.access_token.clone();
    let spring = link(&app, &fixture, "meta", "spring").await;
    let path = format!("/api/v1/apps/{}/links/{}", fixture.app_id, spring["id"].as_str().unwrap());
    let patch = |body: Value, as_token: String| {
        let (app, path) = (&app, path.clone());
        async move { app.call(Method::PATCH, &path, Some(&as_token), Some(&body)).await }
    };
    let changed = patch(
        json!({ "campaign": "  summer ", "adgroup": "ag-2", "retargeting": true }),
        token.clone(),
    )
    .await;
    assert_eq!(changed.status, 200, "{}", changed.text);
    assert_eq!(
        (
            &changed.body["campaign"],
            &changed.body["adgroup"],
            &changed.body["network"],
            &changed.body["retargeting"]
        ),
        (&json!("summer"), &json!("ag-2"), &json!("meta"), &json!(true))
    );
    assert_eq!(changed.body["click_url"], spring["click_url"], "the URLs stay");
    let refused = patch(json!({ "network": "organic" }), token.clone()).await;
    assert_eq!(refused.status, 400);
    assert_eq!(refused.body["errors"][0]["field"], "network");
    let blank = patch(json!({ "campaign": "   " }), token.clone()).await;
    assert_eq!(blank.body["errors"][0]["field"], "campaign", "{}", blank.text);
    let viewer = app.add_member(&fixture.owner, "viewer@edits.example", "viewer").await;
    assert_eq!(patch(json!({ "campaign": "x" }), viewer.access_token.clone()).await.status, 403);
    let stranger = app.register("owner@other-edits.example", "Other").await;
    assert_eq!(patch(json!({ "campaign": "x" }), stranger.access_token.clone()).await.status, 404);

    // A click now is credited to the new campaign.
    let click = format!(
        "{}?gaid=edit-dev",
        spring["click_url"].as_str().unwrap().trim_start_matches(&app.url)
    );
    assert_eq!(app.call(Method::GET, &click, None, None).await.status, 302);
    let install = json!({ "id": "edit-install", "type": "install", "timestamp": now_rfc3339(30), "device": { "gaid": "edit-dev" } });
    assert_eq!(send(&app, &fixture.app_token, &[install]).await.body["accepted"], 1);
    settle(&app).await;
    let decided = app
        .call(
            Method::GET,
            &format!("/api/v1/apps/{}/installs/edit-install", fixture.app_id),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(decided.body["touch"]["campaign"], "summer", "{}", decided.text);

    assert_eq!(
        app.call(Method::DELETE, &path, Some(&stranger.access_token), None).await.status,
        404
    );
    assert_eq!(app.call(Method::DELETE, &path, Some(&token), None).await.status, 204);
    assert_eq!(app.call(Method::DELETE, &path, Some(&token), None).await.status, 404);
    assert_eq!(
        app.call(Method::GET, &click, None, None).await.status,
        404,
        "a deleted link records nothing"
    );
    let list = app
        .call(Method::GET, &format!("/api/v1/apps/{}/links", fixture.app_id), Some(&token), None)
        .await;
    assert_eq!(list.body, json!([]));
    app.stop().await;
}

async fn deliveries(app: &TestApp, app_id: &str, token: &str) -> Vec<Value> {
    let path = format!("/api/v1/apps/{app_id}/postbacks/deliveries");
    app.call(Method::GET, &path, Some(token), None)
        .await
        .body
        .as_array()
        .cloned()
        .unwrap_or_default()
}

async fn wait_for_status(app: &TestApp, app_id: &str, token: &str, status: &str) -> Vec<Value> {
    for _ in 0..200 {
        let log = deliveries(app, app_id, token).await;
        if !log.is_empty() && log.iter().all(|d| d["status"] == status) {
            return log;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("deliveries never all {status}: {:?}", deliveries(app, app_id, token).await);
}

async fn postbacks_are_changed_deleted_and_retried(backend: TestBackend) {
    let app = TestApp::spawn_with(backend, |config| {
        config.postbacks.max_attempts = 1;
        config.postbacks.breaker_failures = 100;
    })
    .await;
    let (base, network) = start_network(1).await;
    let fixture = fixture(&app, "retry.example", android_app("Retried")).await;
    let token = fixture.owner.access_token.clone();
    let base_path = format!("/api/v1/apps/{}/postbacks", fixture.app_id);
    let created = app
        .call(Method::POST, &base_path, Some(&token),
            Some(&json!({ "network": "meta", "url_template": format!("{base}/pb?old={{click_id}}"), "events": ["purchase"] })))
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let path = format!("{base_path}/{}", created.body["id"].as_str().unwrap());
    let changed = app
        .call(Method::PATCH, &path, Some(&token),
            Some(&json!({ "url_template": format!("{base}/pb?event={{event_name}}"), "events": ["install", " install "] })))
        .await;
    assert_eq!(changed.status, 200, "{}", changed.text);
    assert_eq!(changed.body["events"], json!(["install"]));
    assert_eq!(changed.body["network"], "meta");
    let bad = app
        .call(Method::PATCH, &path, Some(&token), Some(&json!({ "url_template": "ftp://x/y" })))
        .await;
    assert_eq!(bad.body["errors"][0]["field"], "url_template", "{}", bad.text);
    let missing = format!("{base_path}/{}", uuid::Uuid::now_v7());
    assert_eq!(
        app.call(Method::PATCH, &missing, Some(&token), Some(&json!({ "events": ["install"] })))
            .await
            .status,
        404
    );

    // An attributed install: the one attempt allowed fails (the network answers 500 once).
    let meta = link(&app, &fixture, "meta", "retry").await;
    let click = format!(
        "{}?gaid=retry-dev",
        meta["click_url"].as_str().unwrap().trim_start_matches(&app.url)
    );
    app.call(Method::GET, &click, None, None).await;
    let install = json!({ "id": "retry-install", "type": "install", "timestamp": now_rfc3339(30), "device": { "gaid": "retry-dev" } });
    assert_eq!(send(&app, &fixture.app_token, &[install]).await.body["accepted"], 1);
    settle(&app).await;
    let failed = wait_for_status(&app, &fixture.app_id, &token, "failed").await;
    assert_eq!(failed.len(), 1);
    assert!(
        failed[0]["url"].as_str().unwrap().contains("event=install"),
        "the changed template: {failed:?}"
    );
    let retry = format!("{base_path}/deliveries/{}/retry", failed[0]["id"].as_str().unwrap());
    let again = app.call(Method::POST, &retry, Some(&token), None).await;
    assert_eq!(again.status, 202, "{}", again.text);
    assert_eq!(again.body["status"], "pending");
    let delivered = wait_for_status(&app, &fixture.app_id, &token, "delivered").await;
    assert_eq!(delivered[0]["attempts"], 2, "{delivered:?}");
    assert_eq!(network.received.lock().unwrap().len(), 1);
    let twice = app.call(Method::POST, &retry, Some(&token), None).await;
    assert_eq!(twice.status, 409, "only failed deliveries are retried: {}", twice.text);

    assert_eq!(app.call(Method::DELETE, &path, Some(&token), None).await.status, 204);
    assert!(deliveries(&app, &fixture.app_id, &token).await.is_empty(), "its log went with it");
    assert_eq!(app.call(Method::GET, &base_path, Some(&token), None).await.body, json!([]));
    app.stop().await;
}

on_both_backends!(links_are_changed_and_deleted, postbacks_are_changed_deleted_and_retried);
