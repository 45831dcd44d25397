//! Collection: tracking links, SDK and S2S events, quarantine, backpressure, the summary.

use crate::apps::android_app;
use reqwest::Method;
use serde_json::{Value, json};
use unmogrowp_testkit::app::Login;
use unmogrowp_testkit::{TestApp, TestBackend};

pub struct Fixture {
    pub owner: Login,
    pub app_id: String,
    pub app_token: String,
    pub store_url: String,
}

pub async fn fixture(app: &TestApp, domain: &str, body: Value) -> Fixture {
    let owner = app.register(&format!("owner@{domain}"), domain).await;
    let created =
        app.call(Method::POST, "/api/v1/apps", Some(&owner.access_token), Some(&body)).await;
    assert_eq!(created.status, 201, "{}", created.text);
    Fixture {
        app_id: created.body["id"].as_str().unwrap().to_owned(),
        app_token: created.body["app_token"].as_str().unwrap().to_owned(),
        store_url: created.body["store_url"].as_str().unwrap().to_owned(),
        owner,
    }
}

pub async fn link(app: &TestApp, fixture: &Fixture, network: &str, campaign: &str) -> Value {
    let reply = app
        .call(Method::POST, &format!("/api/v1/apps/{}/links", fixture.app_id), Some(&fixture.owner.access_token),
            Some(&json!({ "network": network, "campaign": campaign, "adgroup": "ag1", "creative": "cr1" })))
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    reply.body
}

pub fn now_rfc3339(offset_seconds: i64) -> String {
    (jiff::Timestamp::now() + jiff::SignedDuration::from_secs(offset_seconds)).to_string()
}

pub fn event(id: &str, kind: &str, name: Option<&str>) -> Value {
    let mut event = json!({ "id": id, "type": kind, "timestamp": now_rfc3339(-60), "device": { "gaid": format!("gaid-{id}"), "country": "DE" } });
    if let Some(name) = name {
        event["name"] = json!(name);
    }
    event
}

pub async fn send(app: &TestApp, token: &str, events: &[Value]) -> unmogrowp_testkit::app::Reply {
    app.call_with(
        Method::POST,
        "/v1/events",
        None,
        Some(&json!({ "events": events })),
        &[("x-app-token", token)],
    )
    .await
}

/// Sends events server to server (a new S2S key of the app signs the body), so that they
/// may carry the device's own `ip` and `user_agent`.
pub async fn send_s2s(
    app: &TestApp,
    fixture: &Fixture,
    events: &[Value],
) -> unmogrowp_testkit::app::Reply {
    let key = app
        .call(
            Method::POST,
            &format!("/api/v1/apps/{}/keys", fixture.app_id),
            Some(&fixture.owner.access_token),
            None,
        )
        .await;
    assert_eq!(key.status, 201, "{}", key.text);
    let body = serde_json::to_vec(&json!({ "events": events })).unwrap();
    let response = app
        .client
        .post(app.at("/v1/s2s/events"))
        .header("content-type", "application/json")
        .header("x-key-id", key.body["id"].as_str().unwrap())
        .header("x-signature", sign(key.body["secret"].as_str().unwrap(), &body))
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    unmogrowp_testkit::app::Reply { status, headers, body, text }
}

/// Waits until the pipeline has stored everything appended so far.
pub async fn settle(app: &TestApp) {
    let head = app.state.log.head();
    assert!(
        app.state.pipeline.wait_for(head, std::time::Duration::from_secs(20)).await,
        "the pipeline did not catch up"
    );
}

async fn clicks_redirect_to_the_store_with_the_referrer(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let fixture = fixture(&app, "clicks.example", android_app("Clicky")).await;
    let meta_link = link(&app, &fixture, "meta", "launch").await;
    let click_url = meta_link["click_url"].as_str().unwrap();
    assert!(click_url.starts_with(&format!("{}/c/", app.url)));
    assert!(meta_link["impression_url"].as_str().unwrap().starts_with(&format!("{}/i/", app.url)));
    let path = click_url.trim_start_matches(&app.url).to_owned();

    let reply = app
        .call(Method::GET, &format!("{path}?gaid=AAAA-1&sub1=x&network_click_id=n-1"), None, None)
        .await;
    assert_eq!(reply.status, 302, "{}", reply.text);
    let location = reply.header("location").unwrap().to_owned();
    let prefix = format!("{}&referrer=unmogrowp_click_id%3D", fixture.store_url);
    assert!(location.starts_with(&prefix), "{location}");
    let click_id = location[prefix.len()..].to_owned();
    assert!(click_id.len() >= 16);

    let impression = app
        .call(
            Method::GET,
            meta_link["impression_url"].as_str().unwrap().trim_start_matches(&app.url),
            None,
            None,
        )
        .await;
    assert_eq!(impression.status, 204);

    let before = app.state.log.head();
    let unknown = app.call(Method::GET, &format!("/c/{}", uuid::Uuid::now_v7()), None, None).await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.header("content-type"), Some("application/problem+json"));
    assert_eq!(app.call(Method::GET, "/c/not-a-link", None, None).await.status, 404);
    assert_eq!(
        app.call(Method::GET, &format!("/i/{}", uuid::Uuid::now_v7()), None, None).await.status,
        404
    );
    assert_eq!(app.state.log.head(), before, "an unknown link records nothing");

    settle(&app).await;
    let summary = app
        .call(
            Method::GET,
            &format!("/api/v1/apps/{}/reports/summary?group_by=network,campaign", fixture.app_id),
            Some(&fixture.owner.access_token),
            None,
        )
        .await;
    assert_eq!(summary.status, 200, "{}", summary.text);
    assert_eq!(
        summary.body["rows"],
        json!([{
            "network": "meta", "campaign": "launch", "clicks": 1, "impressions": 1, "installs": 0, "organic_installs": 0,
            "rejected_installs": 0, "reattributions": 0, "reengagements": 0, "reinstalls": 0, "sessions": 0, "events": 0, "revenue": 0.0
        }])
    );

    // iOS store pages get no referrer.
    let ios = json!({ "name": "Clicky iOS", "platform": "ios", "bundle_id": "com.example.Clicky", "store_url": "https://apps.apple.com/app/id1" });
    let created =
        app.call(Method::POST, "/api/v1/apps", Some(&fixture.owner.access_token), Some(&ios)).await;
    let ios_fixture =
        Fixture { app_id: created.body["id"].as_str().unwrap().to_owned(), ..fixture };
    let ios_link = link(&app, &ios_fixture, "tiktok", "ios-launch").await;
    let reply = app
        .call(
            Method::GET,
            ios_link["click_url"].as_str().unwrap().trim_start_matches(&app.url),
            None,
            None,
        )
        .await;
    assert_eq!(reply.status, 302);
    assert_eq!(reply.header("location"), Some("https://apps.apple.com/app/id1"));
    app.stop().await;
}

async fn a_mixed_batch_is_answered_event_by_event(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let fixture = fixture(&app, "batch.example", android_app("Batchy")).await;
    let mut too_big = event("big-1", "session", None);
    too_big["properties"] = json!({ "blob": "x".repeat(40 * 1024) });
    let events = vec![
        event("ok-1", "install", None),
        json!({ "id": "bad-1", "type": "install", "timestamp": "last tuesday", "device": { "gaid": "g" } }),
        event("ok-2", "session", None),
        event("ok-1", "install", None),
        json!({ "id": "bad-2", "type": "event", "timestamp": now_rfc3339(-1), "device": { "gaid": "g" } }),
        json!({ "id": "bad-3", "type": "session", "timestamp": now_rfc3339(-40 * 86_400), "device": { "gaid": "g" } }),
        json!({ "id": "bad-4", "type": "click", "timestamp": now_rfc3339(-1), "link_id": "x" }),
        json!({ "id": "bad-5", "type": "session", "timestamp": now_rfc3339(-1), "device": { "gaid": "g", "ip": 7 } }),
        too_big,
        json!("not an object"),
        event("ok-3", "event", Some("purchase")),
    ];
    let reply = send(&app, &fixture.app_token, &events).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body["accepted"], 3);
    assert_eq!(reply.body["duplicates"], 1);
    let rejected: Vec<(u64, Value, String)> = reply.body["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (r["index"].as_u64().unwrap(), r["id"].clone(), r["code"].as_str().unwrap().to_owned())
        })
        .collect();
    assert_eq!(
        rejected,
        vec![
            (1, json!("bad-1"), "invalid_timestamp".to_owned()),
            (4, json!("bad-2"), "missing_name".to_owned()),
            (5, json!("bad-3"), "timestamp_out_of_range".to_owned()),
            (6, json!("bad-4"), "type_not_allowed".to_owned()),
            (7, json!("bad-5"), "invalid_field".to_owned()),
            (8, Value::Null, "event_too_large".to_owned()),
            (9, Value::Null, "invalid_event".to_owned()),
        ]
    );
    let messages: Vec<&str> = reply.body["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["message"].as_str().unwrap())
        .collect();
    assert!(messages[0].starts_with("timestamp:"), "{messages:?}");
    assert!(messages[1].starts_with("name:"), "{messages:?}");
    assert!(messages[4].starts_with("device.ip:"), "{messages:?}");

    // Sending the same batch again: every good event is a duplicate.
    let again = send(&app, &fixture.app_token, &events).await;
    assert_eq!(again.body["accepted"], 0);
    assert_eq!(again.body["duplicates"], 4);
    assert_eq!(again.body["rejected"].as_array().unwrap().len(), 7);

    settle(&app).await;
    let quarantine = app
        .call(
            Method::GET,
            &format!("/api/v1/apps/{}/rejected-events?limit=500", fixture.app_id),
            Some(&fixture.owner.access_token),
            None,
        )
        .await;
    assert_eq!(quarantine.status, 200, "{}", quarantine.text);
    let entries = quarantine.body.as_array().unwrap();
    assert_eq!(entries.len(), 14);
    let first = entries.iter().find(|e| e["event_id"] == "bad-1").unwrap();
    assert_eq!(first["code"], "invalid_timestamp");
    assert!(first["raw"].as_str().unwrap().contains("last tuesday"));
    assert!(first["received_at"].is_string());
    // Paged by 3 with the last entry's time and index, the 14 entries (two requests of 7 that
    // share their receipt times within each) all come back once, in the same order.
    let (mut paged, mut query) = (Vec::new(), String::new());
    loop {
        let path = format!("/api/v1/apps/{}/rejected-events?limit=3{query}", fixture.app_id);
        let page = app.call(Method::GET, &path, Some(&fixture.owner.access_token), None).await;
        assert_eq!(page.status, 200, "{}", page.text);
        let Some(last) = page.body.as_array().unwrap().last().cloned() else { break };
        paged.extend(page.body.as_array().unwrap().iter().cloned());
        let at = last["received_at"].as_str().unwrap().replace('+', "%2B");
        query = format!("&before={at}&before_index={}", last["index"]);
    }
    assert_eq!(&paged, entries, "paging gives every entry once, in order");
    let lonely = format!("/api/v1/apps/{}/rejected-events?before_index=3", fixture.app_id);
    let lonely = app.call(Method::GET, &lonely, Some(&fixture.owner.access_token), None).await;
    assert_eq!(lonely.status, 400);
    assert_eq!(lonely.body["errors"][0]["field"], "before_index");

    let summary = app
        .call(
            Method::GET,
            &format!("/api/v1/apps/{}/reports/summary", fixture.app_id),
            Some(&fixture.owner.access_token),
            None,
        )
        .await;
    assert_eq!(summary.body["totals"]["sessions"], 1, "{}", summary.text);
    assert_eq!(summary.body["totals"]["events"], 1);
    app.stop().await;
}

async fn collection_refuses_bad_credentials_and_oversize_requests(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let fixture = fixture(&app, "limits.example", android_app("Limits")).await;
    let no_token = app.call(Method::POST, "/v1/events", None, Some(&json!({ "events": [] }))).await;
    assert_eq!(no_token.status, 401);
    let bad_token = send(&app, "not-a-token", &[event("x", "session", None)]).await;
    assert_eq!(bad_token.status, 401);
    assert_eq!(bad_token.body["code"], "invalid_app_token");

    let many: Vec<Value> = (0..1001).map(|i| event(&format!("m-{i}"), "session", None)).collect();
    let reply = send(&app, &fixture.app_token, &many).await;
    assert_eq!(reply.status, 413, "{}", reply.text);
    let huge: Vec<Value> = (0..300)
        .map(|i| {
            let mut e = event(&format!("h-{i}"), "session", None);
            e["properties"] = json!({ "pad": "y".repeat(4000) });
            e
        })
        .collect();
    let reply = send(&app, &fixture.app_token, &huge).await;
    assert_eq!(reply.status, 413);
    assert_eq!(reply.header("content-type"), Some("application/problem+json"));

    let not_json = app
        .client
        .post(app.at("/v1/events"))
        .header("x-app-token", &fixture.app_token)
        .header("content-type", "application/json")
        .body("{\"events\": [")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), 400);
    let missing = send(&app, &fixture.app_token, &[]).await;
    assert_eq!(missing.status, 200);
    assert_eq!(missing.body, json!({ "accepted": 0, "duplicates": 0, "rejected": [] }));
    app.stop().await;
}

pub fn sign(secret: &str, body: &[u8]) -> String {
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

async fn s2s_calls_need_a_valid_signature(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let fixture = fixture(&app, "s2s.example", android_app("Server")).await;
    let unity_link = link(&app, &fixture, "unity", "s2s-campaign").await;
    let key = app
        .call(
            Method::POST,
            &format!("/api/v1/apps/{}/keys", fixture.app_id),
            Some(&fixture.owner.access_token),
            None,
        )
        .await;
    let key_id = key.body["id"].as_str().unwrap().to_owned();
    let secret = key.body["secret"].as_str().unwrap().to_owned();
    let body = serde_json::to_vec(&json!({ "events": [
        { "id": "s-1", "type": "event", "name": "purchase", "timestamp": now_rfc3339(-5),
          "device": { "idfa": "IDFA-1", "ip": "198.51.100.4" }, "revenue": { "amount": 5.0, "currency": "USD" } },
        { "id": "s-click-1", "type": "click", "timestamp": now_rfc3339(-50), "link_id": unity_link["id"],
          "device": { "idfa": "IDFA-1" } },
        { "id": "s-click-2", "type": "click", "timestamp": now_rfc3339(-50), "link_id": uuid::Uuid::now_v7().to_string() },
    ]})).unwrap();
    let post = |signature: String, key_id: String, body: Vec<u8>| {
        let client = app.client.clone();
        let url = app.at("/v1/s2s/events");
        async move {
            client
                .post(url)
                .header("content-type", "application/json")
                .header("x-key-id", key_id)
                .header("x-signature", signature)
                .body(body)
                .send()
                .await
                .unwrap()
        }
    };
    let ok = post(sign(&secret, &body), key_id.clone(), body.clone()).await;
    assert_eq!(ok.status(), 200);
    let ok: Value = ok.json().await.unwrap();
    assert_eq!(ok["accepted"], 2, "{ok}");
    assert_eq!(ok["rejected"][0]["code"], "unknown_link");

    let tampered =
        post(sign(&secret, &body), key_id.clone(), [body.clone(), b" ".to_vec()].concat()).await;
    assert_eq!(tampered.status(), 401);
    let wrong_secret = post(sign("sk_wrong", &body), key_id.clone(), body.clone()).await;
    assert_eq!(wrong_secret.status(), 401);
    let unknown_key =
        post(sign(&secret, &body), uuid::Uuid::now_v7().to_string(), body.clone()).await;
    assert_eq!(unknown_key.status(), 401);
    let no_signature = app
        .client
        .post(app.at("/v1/s2s/events"))
        .header("content-type", "application/json")
        .header("x-key-id", &key_id)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(no_signature.status(), 401);

    let revoke = app
        .call(
            Method::DELETE,
            &format!("/api/v1/apps/{}/keys/{key_id}", fixture.app_id),
            Some(&fixture.owner.access_token),
            None,
        )
        .await;
    assert_eq!(revoke.status, 204);
    let revoked = post(sign(&secret, &body), key_id.clone(), body.clone()).await;
    assert_eq!(revoked.status(), 401, "a revoked key stops working at once");

    settle(&app).await;
    let summary = app
        .call(
            Method::GET,
            &format!("/api/v1/apps/{}/reports/summary?group_by=network", fixture.app_id),
            Some(&fixture.owner.access_token),
            None,
        )
        .await;
    let rows = summary.body["rows"].as_array().unwrap();
    let unity = rows.iter().find(|r| r["network"] == "unity").unwrap();
    assert_eq!(unity["clicks"], 1);
    assert_eq!(summary.body["totals"]["events"], 1);
    assert_eq!(summary.body["totals"]["revenue"], 5.0);
    app.stop().await;
}

async fn the_summary_counts_a_known_day_exactly(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let fixture = fixture(&app, "summary.example", json!({
        "name": "Summary", "platform": "android", "bundle_id": "com.example.summary",
        "store_url": "https://play.google.com/store/apps/details?id=com.example.summary", "currency": "EUR"
    })).await;
    let meta = link(&app, &fixture, "meta", "spring").await;
    let unity = link(&app, &fixture, "unity", "spring").await;
    let path =
        |l: &Value, kind: &str| l[kind].as_str().unwrap().trim_start_matches(&app.url).to_owned();
    for _ in 0..3 {
        assert_eq!(app.call(Method::GET, &path(&meta, "click_url"), None, None).await.status, 302);
    }
    for _ in 0..2 {
        assert_eq!(app.call(Method::GET, &path(&unity, "click_url"), None, None).await.status, 302);
    }
    for _ in 0..4 {
        assert_eq!(
            app.call(Method::GET, &path(&meta, "impression_url"), None, None).await.status,
            204
        );
    }
    let mut events = Vec::new();
    for i in 0..5 {
        events.push(event(&format!("session-{i}"), "session", None));
    }
    for i in 0..2 {
        let mut purchase = event(&format!("purchase-{i}"), "event", Some("purchase"));
        purchase["revenue"] = json!({ "amount": 10.0, "currency": "EUR" });
        events.push(purchase);
    }
    let mut usd = event("purchase-usd", "event", Some("purchase"));
    usd["revenue"] = json!({ "amount": 10.0, "currency": "USD" });
    usd["device"]["country"] = json!("US");
    events.push(usd);
    let reply = send(&app, &fixture.app_token, &events).await;
    assert_eq!(reply.body["accepted"], 8, "{}", reply.text);
    settle(&app).await;

    let today = jiff::Zoned::now().with_time_zone(jiff::tz::TimeZone::UTC).date().to_string();
    let summary = app.call(Method::GET,
        &format!("/api/v1/apps/{}/reports/summary?from={today}&to={today}&group_by=network,campaign,day", fixture.app_id),
        Some(&fixture.owner.access_token), None).await;
    assert_eq!(summary.status, 200, "{}", summary.text);
    assert_eq!(summary.body["currency"], "EUR");
    let rows = summary.body["rows"].as_array().unwrap();
    let find = |network: &str| {
        rows.iter()
            .find(|r| r["network"] == network)
            .unwrap_or_else(|| panic!("{network} in {rows:?}"))
    };
    assert_eq!(find("meta")["clicks"], 3);
    assert_eq!(find("meta")["impressions"], 4);
    assert_eq!(find("meta")["campaign"], "spring");
    assert_eq!(find("meta")["day"], today.as_str());
    assert_eq!(find("unity")["clicks"], 2);
    assert_eq!(find("unity")["impressions"], 0);
    assert_eq!(find("organic")["sessions"], 5);
    assert_eq!(find("organic")["events"], 3);
    let totals = &summary.body["totals"];
    assert_eq!(totals["clicks"], 5);
    assert_eq!(totals["impressions"], 4);
    assert_eq!(totals["sessions"], 5);
    assert_eq!(totals["events"], 3);
    assert_eq!(totals["revenue"], 29.2, "10 + 10 EUR and 10 USD at the reference rate");

    let by_country = app
        .call(
            Method::GET,
            &format!("/api/v1/apps/{}/reports/summary?group_by=country&country=us", fixture.app_id),
            Some(&fixture.owner.access_token),
            None,
        )
        .await;
    assert_eq!(
        by_country.body["rows"],
        json!([{ "country": "US", "clicks": 0, "impressions": 0, "installs": 0,
        "organic_installs": 0, "rejected_installs": 0, "reattributions": 0, "reengagements": 0, "reinstalls": 0, "sessions": 0, "events": 1, "revenue": 9.2 }])
    );
    let empty = app
        .call(
            Method::GET,
            &format!(
                "/api/v1/apps/{}/reports/summary?from=2020-01-01&to=2020-01-31",
                fixture.app_id
            ),
            Some(&fixture.owner.access_token),
            None,
        )
        .await;
    assert_eq!(empty.body["rows"], json!([]));
    assert_eq!(empty.body["totals"]["clicks"], 0);
    let bad = app
        .call(
            Method::GET,
            &format!("/api/v1/apps/{}/reports/summary?group_by=planet", fixture.app_id),
            Some(&fixture.owner.access_token),
            None,
        )
        .await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.body["errors"][0]["field"], "group_by");
    app.stop().await;
}

on_both_backends!(
    clicks_redirect_to_the_store_with_the_referrer,
    a_mixed_batch_is_answered_event_by_event,
    collection_refuses_bad_credentials_and_oversize_requests,
    s2s_calls_need_a_valid_signature,
    the_summary_counts_a_known_day_exactly,
);
