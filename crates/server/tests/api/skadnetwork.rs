//! SKAdNetwork: Apple-signed sample postbacks (4.0 fine and coarse, 3.0 won and lost, 2.2)
//! verify and are counted by network and campaign; a tampered one is refused; a re-sent
//! transaction counts once; the conversion-value schema prices the values; the CSV export
//! lists every postback; another organization's app answers 404.

use crate::collect::fixture;
use crate::segment::post_raw;
use reqwest::Method;
use serde_json::{Value, json};
use unmogrowp_testkit::{TestApp, TestBackend};

fn sample(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../ingest/tests/fixtures/skadnetwork")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

fn ios_app(name: &str, store_id: u64) -> Value {
    json!({
        "name": name,
        "platform": "ios",
        "bundle_id": "com.example.skan",
        "store_url": format!("https://apps.apple.com/us/app/skan-demo/id{store_id}"),
    })
}

async fn send(app: &TestApp, app_token: &str, body: Vec<u8>) -> unmogrowp_testkit::app::Reply {
    let headers = [("content-type", "application/json"), ("x-app-token", app_token)];
    post_raw(app, "/v1/skadnetwork/postbacks", &headers, body, false).await
}

/// Asserts a refusal's status and problem code.
fn assert_refused(reply: &unmogrowp_testkit::app::Reply, status: u16, code: &str) {
    assert_eq!((reply.status, reply.body["code"].as_str()), (status, Some(code)), "{}", reply.text);
}

async fn postbacks_verify_count_once_and_report_by_campaign(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let fixture = fixture(&app, "skan.example", ios_app("Skan", 525_463_029)).await;
    let token = fixture.owner.access_token.clone();

    // A schema pricing fine value 63 and 20, and coarse `high`.
    let schema_path = format!("/api/v1/apps/{}/skadnetwork/schema", fixture.app_id);
    let schema = json!({
        "fine": [
            { "value": 63, "revenue_min": 50.0 },
            { "value": 20, "event": " purchase ", "revenue_min": 1.0, "revenue_max": 5.0 }
        ],
        "coarse": [{ "value": "high", "revenue_min": 10.0, "revenue_max": 30.0 }]
    });
    let stored = app.call(Method::PUT, &schema_path, Some(&token), Some(&schema)).await;
    assert_eq!(stored.status, 200, "{}", stored.text);
    assert_eq!(stored.body["fine"][0]["value"], 20, "sorted by value: {}", stored.text);
    assert_eq!(stored.body["fine"][0]["event"], "purchase");
    // The SDK reads the same schema with the app token.
    let sdk = app
        .call_with(
            Method::GET,
            "/v1/skadnetwork/schema",
            None,
            None,
            &[("x-app-token", &fixture.app_token)],
        )
        .await;
    assert_eq!(sdk.status, 200, "{}", sdk.text);
    assert_eq!(sdk.body["fine"], stored.body["fine"]);
    assert_eq!(sdk.body["coarse"][0]["value"], "high");
    // A bad rule names its field; the stored schema is unchanged.
    let bad = json!({ "fine": [{ "value": 64, "revenue_min": 1.0 }, { "value": 1 }] });
    let refused = app.call(Method::PUT, &schema_path, Some(&token), Some(&bad)).await;
    assert_eq!(refused.status, 400, "{}", refused.text);
    let fields: Vec<&str> = refused.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["fine[0].value", "fine[1]"]);

    for name in
        ["v4.0-fine.json", "v4.0-coarse.json", "v3.0-won.json", "v3.0-lost.json", "v2.2.json"]
    {
        let reply = send(&app, &fixture.app_token, sample(name)).await;
        assert_eq!(reply.status, 200, "{name}: {}", reply.text);
        assert_eq!(reply.body["status"], "recorded", "{name}: {}", reply.text);
    }
    // Re-sent (as networks retry): counted once.
    let again = send(&app, &fixture.app_token, sample("v4.0-fine.json")).await;
    assert_eq!(
        (again.status, again.body["status"].as_str()),
        (200, Some("duplicate")),
        "{}",
        again.text
    );
    // The token may also come in the query, as a forwarding URL carries it.
    let path = format!("/v1/skadnetwork/postbacks?app_token={}", fixture.app_token);
    let queried =
        post_raw(&app, &path, &[("content-type", "application/json")], sample("v2.2.json"), false)
            .await;
    assert_eq!(queried.body["status"], "duplicate", "{}", queried.text);

    // Tampered: the campaign changed after Apple signed it.
    let mut forged: Value = serde_json::from_slice(&sample("v3.0-won.json")).unwrap();
    forged["campaign-id"] = json!(43);
    forged["transaction-id"] = json!("11111111-0170-41b5-bbe4-fe71dedf1e28");
    let reply = send(&app, &fixture.app_token, serde_json::to_vec(&forged).unwrap()).await;
    assert_refused(&reply, 403, "invalid_signature");
    // Version 2.0 (Apple's retired P-192 key) is refused as unverifiable.
    let mut old: Value = serde_json::from_slice(&sample("v2.2.json")).unwrap();
    old["version"] = json!("2.0");
    let reply = send(&app, &fixture.app_token, serde_json::to_vec(&old).unwrap()).await;
    assert_eq!(
        (reply.status, reply.body["errors"][0]["field"].as_str()),
        (400, Some("version")),
        "{}",
        reply.text
    );
    // Malformed: the field is named.
    let mut missing: Value = serde_json::from_slice(&sample("v4.0-fine.json")).unwrap();
    missing.as_object_mut().unwrap().remove("transaction-id");
    let reply = send(&app, &fixture.app_token, serde_json::to_vec(&missing).unwrap()).await;
    assert_eq!(reply.status, 400, "{}", reply.text);
    assert_eq!(reply.body["errors"][0]["field"], "transaction-id", "{}", reply.text);
    // No token, an unknown token.
    let reply = post_raw(&app, "/v1/skadnetwork/postbacks", &[], sample("v2.2.json"), false).await;
    assert_eq!(reply.status, 401, "{}", reply.text);
    let headers = [("x-app-token", "nope")];
    let reply =
        post_raw(&app, "/v1/skadnetwork/postbacks", &headers, sample("v2.2.json"), false).await;
    assert_eq!(reply.status, 401, "{}", reply.text);

    // Another app (App Store id 1) is refused Apple's postbacks for app 525463029.
    let other =
        app.call(Method::POST, "/api/v1/apps", Some(&token), Some(&ios_app("Other", 1))).await;
    let other_token = other.body["app_token"].as_str().unwrap().to_owned();
    assert_refused(&send(&app, &other_token, sample("v3.0-won.json")).await, 403, "wrong_app");

    // An iOS app whose store URL names no App Store id cannot tell whose postback it is.
    let mut unnamed = ios_app("Unnamed", 7);
    unnamed["store_url"] = json!("https://apps.apple.com/us/app/skan-demo");
    let unnamed = app.call(Method::POST, "/api/v1/apps", Some(&token), Some(&unnamed)).await;
    assert_eq!(unnamed.status, 201, "{}", unnamed.text);
    let unnamed_token = unnamed.body["app_token"].as_str().unwrap().to_owned();
    assert_refused(&send(&app, &unnamed_token, sample("v3.0-won.json")).await, 403, "wrong_app");

    // The report: by network and campaign.
    let report_path = format!("/api/v1/apps/{}/reports/skadnetwork", fixture.app_id);
    let report = app.call(Method::GET, &report_path, Some(&token), None).await;
    assert_eq!(report.status, 200, "{}", report.text);
    let totals = &report.body["totals"];
    assert_eq!(totals["postbacks"], 5, "{}", report.text);
    assert_eq!(totals["installs"], 2, "{}", report.text); // the two 4.0 postbacks
    assert_eq!(totals["redownloads"], 2, "{}", report.text); // 3.0 won and 2.2
    assert_eq!(totals["nonwinning"], 1, "{}", report.text);
    assert_eq!(totals["conversion_values"], json!({ "20": 2, "63": 1 }), "{}", report.text);
    assert_eq!(totals["coarse_values"], json!({ "high": 1 }), "{}", report.text);
    // 63 → 50 (open-ended: its lower bound), 20 → 3 twice, high → 20.
    assert_eq!(totals["estimated_revenue"], 76.0, "{}", report.text);
    let rows = report.body["rows"].as_array().unwrap();
    let row = |network: &str, campaign: &str| {
        rows.iter()
            .find(|row| row["network"] == network && row["campaign"] == campaign)
            .unwrap_or_else(|| panic!("{network}/{campaign}: {}", report.text))
            .clone()
    };
    assert_eq!(row("com.example", "5239")["installs"], 1);
    assert_eq!(row("com.example", "39")["coarse_values"]["high"], 1);
    assert_eq!(row("example123.skadnetwork", "42")["nonwinning"], 1);
    assert_eq!(row("example123.skadnetwork", "42")["redownloads"], 1);
    assert_eq!(row("com.example", "42")["redownloads"], 1);
    let by_day =
        app.call(Method::GET, &format!("{report_path}?group_by=day"), Some(&token), None).await;
    assert_eq!(by_day.body["rows"].as_array().unwrap().len(), 1, "{}", by_day.text);
    assert!(by_day.body["rows"][0]["network"].is_null(), "{}", by_day.text);
    let bad =
        app.call(Method::GET, &format!("{report_path}?group_by=country"), Some(&token), None).await;
    assert_eq!(
        (bad.status, bad.body["errors"][0]["field"].as_str()),
        (400, Some("group_by")),
        "{}",
        bad.text
    );

    // The CSV export: one line per postback.
    let export_path = format!("/api/v1/apps/{}/export/skadnetwork.csv", fixture.app_id);
    let export = app.call(Method::GET, &export_path, Some(&token), None).await;
    assert_eq!(export.status, 200, "{}", export.text);
    let lines: Vec<&str> = export.text.lines().collect();
    assert_eq!(lines.len(), 6, "{}", export.text);
    assert!(
        lines[0].starts_with("id,received_at,day,version,ad_network_id,campaign"),
        "{}",
        lines[0]
    );
    assert!(
        lines.iter().any(|line| line.contains(",4.0,com.example,39,525463029,6aafb7a5-0170-41b5-bbe4-fe71dedf1e31,0,true,false,1,,high,,example.com,20")),
        "{}",
        export.text
    );

    // Another organization: not found, for the report, the schema and the export.
    let stranger = app.register("owner@elsewhere.example", "Elsewhere").await;
    for path in [&report_path, &schema_path, &export_path] {
        let reply = app.call(Method::GET, path, Some(&stranger.access_token), None).await;
        assert_eq!(reply.status, 404, "{path}: {}", reply.text);
    }
    let reply =
        app.call(Method::PUT, &schema_path, Some(&stranger.access_token), Some(&schema)).await;
    assert_eq!(reply.status, 404, "{}", reply.text);
    // Viewers read the report but cannot change the schema.
    let viewer = app.add_member(&fixture.owner, "viewer@skan.example", "viewer").await;
    let reply = app.call(Method::GET, &report_path, Some(&viewer.access_token), None).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let reply =
        app.call(Method::PUT, &schema_path, Some(&viewer.access_token), Some(&schema)).await;
    assert_eq!(reply.status, 403, "{}", reply.text);
    app.stop().await;
}

async fn android_apps_take_no_skadnetwork_postbacks(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let fixture = fixture(&app, "droid-skan.example", crate::apps::android_app("Droid")).await;
    let reply = send(&app, &fixture.app_token, sample("v4.0-fine.json")).await;
    assert_refused(&reply, 403, "wrong_app");
    app.stop().await;
}

on_both_backends!(
    postbacks_verify_count_once_and_report_by_campaign,
    android_apps_take_no_skadnetwork_postbacks
);
