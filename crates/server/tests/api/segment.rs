//! The Segment-compatible endpoints: the app token as the write key (Basic auth or
//! `writeKey`), messages read into events on the one collection path (dedup by `messageId`,
//! gzip, per-message rejections, quarantine), installs attributed to a matching click.

use crate::apps::android_app;
use crate::collect::{fixture, link, now_rfc3339, settle};
use base64::Engine;
use reqwest::Method;
use serde_json::{Value, json};
use unmogrowp_testkit::app::Reply;
use unmogrowp_testkit::{TestApp, TestBackend};

/// POSTs raw `body` to `path` with these headers, gzipped first when `gzip` (the caller adds
/// the header or query parameter that says so).
pub(crate) async fn post_raw(
    app: &TestApp,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
    gzip: bool,
) -> Reply {
    let mut request = app.client.post(app.at(path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let body = if gzip {
        use std::io::Write;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(&body).unwrap();
        encoder.finish().unwrap()
    } else {
        body
    };
    let response = request.body(body).send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Reply { status, headers, body, text }
}

/// A Segment call: the write key by Basic auth (when given), gzip with its header.
async fn post(app: &TestApp, path: &str, key: Option<&str>, body: Vec<u8>, gzip: bool) -> Reply {
    let basic = key.map(|key| {
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{key}:")))
    });
    // Gzip bodies are labelled as a form, as RudderStack's Node library (axios) sends them.
    let content_type = if gzip { "application/x-www-form-urlencoded" } else { "application/json" };
    let mut headers = vec![("content-type", content_type)];
    if let Some(basic) = &basic {
        headers.push(("authorization", basic.as_str()));
    }
    if gzip {
        headers.push(("content-encoding", "gzip"));
    }
    post_raw(app, path, &headers, body, gzip).await
}

async fn segment_messages_are_collected_attributed_and_counted_once(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let fixture = fixture(&app, "segment.example", android_app("Segment")).await;
    let token = fixture.owner.access_token.clone();
    let key = fixture.app_token.clone();
    let meta = link(&app, &fixture, "meta", "autumn").await;
    let click = format!(
        "{}?gaid=38400000-8cf0-11bd-b23e-10b96e40000d",
        meta["click_url"].as_str().unwrap().trim_start_matches(&app.url)
    );
    assert_eq!(app.call(Method::GET, &click, None, None).await.status, 302);

    let context = json!({ "os": { "name": "Android", "version": "14" },
        "device": { "advertisingId": "38400000-8CF0-11BD-B23E-10B96E40000D", "id": "android-1", "model": "Pixel 8" } });
    let batch = json!({ "sentAt": now_rfc3339(60), "batch": [
        { "type": "track", "event": "Application Installed", "messageId": "seg-install", "timestamp": now_rfc3339(60), "context": context },
        { "type": "track", "event": "Order Completed", "messageId": "seg-order", "timestamp": now_rfc3339(61),
          "properties": { "total": 12.5, "currency": "usd", "order_id": "o-1" }, "context": context },
        { "type": "track", "messageId": "seg-nameless", "timestamp": now_rfc3339(61), "context": context },
        { "type": "screen", "name": "Home", "messageId": "seg-screen", "timestamp": now_rfc3339(62), "context": context }
    ]});
    let body = serde_json::to_vec(&batch).unwrap();
    let first = post(&app, "/v1/batch", Some(&key), body.clone(), true).await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.body["accepted"], 3, "{}", first.text);
    // A track without an event name is refused on its own, naming the field, and quarantined.
    assert_eq!(first.body["rejected"][0]["index"], 2, "{}", first.text);
    assert_eq!(first.body["rejected"][0]["id"], "seg-nameless", "{}", first.text);
    // The library retries the whole batch: counted once.
    let again = post(&app, "/v1/batch", Some(&key), body, false).await;
    assert_eq!(again.body["duplicates"], 3, "{}", again.text);

    // A single endpoint with the write key in the body.
    let single = json!({ "writeKey": key, "userId": "u-1", "event": "level_up", "messageId": "seg-level",
        "timestamp": now_rfc3339(63), "properties": { "level": 3 }, "context": context });
    let reply = post(&app, "/v1/track", None, serde_json::to_vec(&single).unwrap(), false).await;
    assert_eq!(reply.body["accepted"], 1, "{}", reply.text);

    // Refusals: no key, an unknown key, a body of the wrong shape.
    let none = post(&app, "/v1/batch", None, br#"{"batch": []}"#.to_vec(), false).await;
    assert_eq!(none.status, 401, "{}", none.text);
    let unknown =
        post(&app, "/v1/batch", Some("not-a-token"), br#"{"batch": []}"#.to_vec(), false).await;
    assert_eq!(unknown.status, 401, "{}", unknown.text);
    let shape = post(&app, "/v1/batch", Some(&key), br#"{"batch": {}}"#.to_vec(), false).await;
    assert_eq!(shape.status, 400, "{}", shape.text);
    assert_eq!(shape.body["errors"][0]["field"], "batch", "{}", shape.text);

    settle(&app).await;
    let path = format!("/api/v1/apps/{}/reports/summary?group_by=network", fixture.app_id);
    let summary = app.call(Method::GET, &path, Some(&token), None).await;
    assert_eq!(summary.status, 200, "{}", summary.text);
    let rows = summary.body["rows"].as_array().unwrap();
    let meta_row = rows.iter().find(|row| row["network"] == "meta").unwrap();
    assert_eq!(meta_row["installs"], 1, "the install is attributed to the click: {}", summary.text);
    assert_eq!(summary.body["totals"]["events"], 3, "{}", summary.text);
    assert_eq!(summary.body["totals"]["revenue"], 12.5, "{}", summary.text);
    let quarantine = format!("/api/v1/apps/{}/rejected-events", fixture.app_id);
    let rejected = app.call(Method::GET, &quarantine, Some(&token), None).await;
    assert!(rejected.text.contains("seg-nameless"), "{}", rejected.text);
}

on_both_backends!(segment_messages_are_collected_attributed_and_counted_once);
