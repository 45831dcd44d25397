//! The PostHog-compatible capture endpoints: the app token as the project API key, the body
//! forms PostHog's libraries send (JSON, gzip, base64, lz-string, form `data=`), events on the one
//! collection path (dedup by `uuid`, per-event rejections), installs attributed to a click.

use crate::apps::android_app;
use crate::collect::{fixture, link, now_rfc3339, settle};
use base64::Engine;
use reqwest::Method;
use serde_json::json;
use unmogrowp_testkit::app::Reply;
use unmogrowp_testkit::{TestApp, TestBackend};

async fn post(app: &TestApp, path: &str, content_type: &str, body: Vec<u8>, gzip: bool) -> Reply {
    crate::segment::post_raw(app, path, &[("content-type", content_type)], body, gzip).await
}

async fn posthog_events_are_collected_in_every_body_form(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let fixture = fixture(&app, "posthog.example", android_app("PostHog")).await;
    let token = fixture.owner.access_token.clone();
    let key = fixture.app_token.clone();
    let meta = link(&app, &fixture, "meta", "winter").await;
    let click = format!(
        "{}?gaid=ph-gaid-1",
        meta["click_url"].as_str().unwrap().trim_start_matches(&app.url)
    );
    assert_eq!(app.call(Method::GET, &click, None, None).await.status, 302);

    let props = json!({ "$gaid": "ph-gaid-1", "$os": "Android", "$lib": "posthog-python" });
    let batch = json!({ "api_key": key, "batch": [
        { "event": "Application Installed", "uuid": "ph-install", "distinct_id": "d1", "timestamp": now_rfc3339(60), "properties": props },
        { "event": "purchase", "uuid": "ph-buy", "distinct_id": "d1", "timestamp": now_rfc3339(61),
          "properties": { "$gaid": "ph-gaid-1", "revenue": 5, "currency": "USD" } },
        { "uuid": "ph-nameless", "distinct_id": "d1", "timestamp": now_rfc3339(61), "properties": {} }
    ]});
    let body = serde_json::to_vec(&batch).unwrap();
    // gzip, as `?compression=gzip-js` says (posthog-js sends text/plain).
    let first = post(&app, "/batch/?compression=gzip-js", "text/plain", body.clone(), true).await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.body["accepted"], 2, "{}", first.text);
    assert_eq!(first.body["rejected"][0]["index"], 2, "{}", first.text);
    let again = post(&app, "/batch", "application/json", body, false).await;
    assert_eq!(again.body["duplicates"], 2, "{}", again.text);

    // One event with the key in its properties (posthog-js), base64 in a form's `data=`.
    let single = json!([{ "event": "$screen", "uuid": "ph-screen", "distinct_id": "d1", "timestamp": now_rfc3339(62),
        "properties": { "token": key, "$screen_name": "Home" } }]);
    let encoded =
        base64::engine::general_purpose::STANDARD.encode(serde_json::to_vec(&single).unwrap());
    let form = format!(
        "data={}",
        url::form_urlencoded::byte_serialize(encoded.as_bytes()).collect::<String>()
    );
    let reply =
        post(&app, "/e/", "application/x-www-form-urlencoded", form.into_bytes(), false).await;
    assert_eq!(reply.body["accepted"], 1, "{}", reply.text);
    let capture = json!({ "api_key": key, "event": "level_up", "uuid": "ph-level", "distinct_id": "d1", "timestamp": now_rfc3339(63) });
    let reply = post(
        &app,
        "/i/v0/e?compression=base64",
        "text/plain",
        base64::engine::general_purpose::STANDARD
            .encode(serde_json::to_vec(&capture).unwrap())
            .into_bytes(),
        false,
    )
    .await;
    assert_eq!(reply.body["accepted"], 1, "{}", reply.text);
    // lz-string in a form, `compression=lz64` beside `data=` (older posthog-js).
    let tutorial = json!([{ "event": "tutorial_done", "uuid": "ph-tutorial", "distinct_id": "d1", "timestamp": now_rfc3339(64),
        "properties": { "token": key, "step": "héllo ✓" } }]);
    let packed = lz_str::compress_to_base64(serde_json::to_string(&tutorial).unwrap().as_str());
    let form = format!(
        "data={}&compression=lz64",
        url::form_urlencoded::byte_serialize(packed.as_bytes()).collect::<String>()
    );
    let reply =
        post(&app, "/e/?ip=1", "application/x-www-form-urlencoded", form.into_bytes(), false).await;
    assert_eq!((reply.status, &reply.body["accepted"]), (200, &json!(1)), "{}", reply.text);

    // gzip with no query and no Content-Encoding, as posthog-js 1.2xx sends it.
    let body = json!({ "api_key": key, "batch": [{ "event": "shop_open", "uuid": "ph-shop", "distinct_id": "d1",
        "timestamp": now_rfc3339(65), "properties": {} }], "sent_at": now_rfc3339(0) });
    let reply = post(&app, "/e/", "text/plain", serde_json::to_vec(&body).unwrap(), true).await;
    assert_eq!((reply.status, &reply.body["accepted"]), (200, &json!(1)), "{}", reply.text);

    // Refusals: no key, an unknown key, an unknown compression, lz64 that is not lz-string,
    // a body of the wrong shape.
    let none = post(
        &app,
        "/capture",
        "application/json",
        br#"{"event": "x", "uuid": "n"}"#.to_vec(),
        false,
    )
    .await;
    assert_eq!(none.status, 401, "{}", none.text);
    let unknown = post(
        &app,
        "/capture",
        "application/json",
        br#"{"api_key": "nope", "event": "x"}"#.to_vec(),
        false,
    )
    .await;
    assert_eq!(unknown.status, 401, "{}", unknown.text);
    let zstd = post(&app, "/e?compression=zstd", "text/plain", b"abc".to_vec(), false).await;
    assert_eq!(zstd.status, 415, "{}", zstd.text);
    let lz = post(&app, "/e?compression=lz64", "text/plain", b"!!!!".to_vec(), false).await;
    assert_eq!(
        (lz.status, lz.body["errors"][0]["field"].as_str()),
        (400, Some("data")),
        "{}",
        lz.text
    );
    let shape = post(&app, "/batch", "application/json", br#"{"batch": 3}"#.to_vec(), false).await;
    assert_eq!(shape.status, 400, "{}", shape.text);

    settle(&app).await;
    let path = format!("/api/v1/apps/{}/reports/summary?group_by=network", fixture.app_id);
    let summary = app.call(Method::GET, &path, Some(&token), None).await;
    let rows = summary.body["rows"].as_array().unwrap();
    let meta_row = rows.iter().find(|row| row["network"] == "meta").unwrap();
    assert_eq!(meta_row["installs"], 1, "{}", summary.text);
    assert_eq!(summary.body["totals"]["events"], 5, "{}", summary.text);
    assert_eq!(summary.body["totals"]["revenue"], 5.0, "{}", summary.text);
}

on_both_backends!(posthog_events_are_collected_in_every_body_form);
