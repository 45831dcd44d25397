//! Erasure (GDPR article 17): a device's data leaves exports, reports, decisions and the
//! attribution index; a deleted app's events leave the event store.

use crate::apps::android_app;
use crate::collect::{fixture, link, now_rfc3339, send, settle};
use reqwest::Method;
use serde_json::{Value, json};
use unmogrowp_testkit::{TestApp, TestBackend};

fn csv_lines(reply: &unmogrowp_testkit::app::Reply) -> usize {
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.text.lines().count() - 1
}

async fn an_erased_device_is_gone_from_exports_reports_and_attribution(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let fixture = fixture(&app, "erasure.example", android_app("Erasure")).await;
    let token = fixture.owner.access_token.clone();
    let get = |path: String| {
        let (app, token) = (&app, token.clone());
        async move { app.call(Method::GET, &path, Some(&token), None).await }
    };
    let base = format!("/api/v1/apps/{}", fixture.app_id);
    let meta = link(&app, &fixture, "meta", "erasure").await;
    let click_path = format!(
        "{}?gaid=Erase-Me",
        meta["click_url"].as_str().unwrap().trim_start_matches(&app.url)
    );
    assert_eq!(app.call(Method::GET, &click_path, None, None).await.status, 302);
    let device = |gaid: Option<&str>, idfv: Option<&str>| {
        let mut device = json!({ "country": "DE" });
        if let Some(gaid) = gaid {
            device["gaid"] = json!(gaid);
        }
        if let Some(idfv) = idfv {
            device["idfv"] = json!(idfv);
        }
        device
    };
    let events = vec![
        json!({ "id": "gone-install", "type": "install", "timestamp": now_rfc3339(30), "device": device(Some("erase-me"), Some("Vendor-1")) }),
        // Known by its vendor id only: erased because the install carried both.
        json!({ "id": "gone-session", "type": "session", "timestamp": now_rfc3339(40), "device": device(None, Some("vendor-1")) }),
        json!({ "id": "gone-buy", "type": "event", "name": "purchase", "timestamp": now_rfc3339(50), "device": device(Some("erase-me"), None),
                "revenue": { "amount": 4.0, "currency": "USD" } }),
        json!({ "id": "kept-install", "type": "install", "timestamp": now_rfc3339(30), "device": device(Some("keep-me"), None) }),
        json!({ "id": "kept-session", "type": "session", "timestamp": now_rfc3339(40), "device": device(Some("keep-me"), None) }),
    ];
    // A postback naming the device (to a closed port: the delivery stays pending, retrying).
    let postback = json!({ "network": "meta", "url_template": "http://127.0.0.1:9/pb?device={device_id}&c={campaign}", "events": ["install"] });
    let created =
        app.call(Method::POST, &format!("{base}/postbacks"), Some(&token), Some(&postback)).await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(send(&app, &fixture.app_token, &events).await.body["accepted"], 5);
    settle(&app).await;
    let attributed = get(format!("{base}/installs/gone-install")).await;
    assert_eq!(attributed.body["status"], "attributed", "{}", attributed.text);
    let deliveries = get(format!("{base}/postbacks/deliveries")).await;
    assert_eq!(deliveries.body.as_array().map(Vec::len), Some(1), "{}", deliveries.text);
    assert!(
        deliveries.body[0]["url"].as_str().unwrap().contains("device=erase-me"),
        "{}",
        deliveries.text
    );

    // Bad requests name the field; other roles and organizations are refused.
    for (body, field) in [
        (json!({ "device_id": "00000000-0000-0000-0000-000000000000" }), "device_id"),
        (json!({ "device_id": "imei:3550" }), "device_id"),
        (json!({ "device_id": 42 }), "device_id"),
    ] {
        let refused =
            app.call(Method::POST, &format!("{base}/erasures"), Some(&token), Some(&body)).await;
        assert_eq!(refused.status, 400, "{body}: {}", refused.text);
        assert!(refused.text.contains(field), "{}", refused.text);
    }
    let member = app.add_member(&fixture.owner, "member@erasure.example", "member").await;
    let body = json!({ "device_id": "ERASE-ME" });
    let denied = app
        .call(Method::POST, &format!("{base}/erasures"), Some(&member.access_token), Some(&body))
        .await;
    assert_eq!(denied.status, 403, "{}", denied.text);
    let stranger = app.register("owner@stranger.example", "Stranger").await;
    let hidden = app
        .call(Method::POST, &format!("{base}/erasures"), Some(&stranger.access_token), Some(&body))
        .await;
    assert_eq!(hidden.status, 404, "{}", hidden.text);

    // The owner asks by the bare advertising id, in another case than the device sent it.
    let accepted =
        app.call(Method::POST, &format!("{base}/erasures"), Some(&token), Some(&body)).await;
    assert_eq!(accepted.status, 202, "{}", accepted.text);
    let id = accepted.body["id"].as_str().unwrap().to_owned();
    let location = accepted.header("location").unwrap().to_owned();
    assert_eq!(location, format!("{base}/erasures/{id}"));
    assert_eq!(accepted.body["app_id"], fixture.app_id.as_str());
    assert!(!accepted.text.to_ascii_lowercase().contains("erase-me"), "{}", accepted.text);
    settle(&app).await;
    let done = get(location.clone()).await;
    assert_eq!(done.status, 200, "{}", done.text);
    assert_eq!(done.body["status"], "completed", "{}", done.text);
    // The click, the install, the session known by the vendor id, the purchase.
    assert_eq!(done.body["rows_erased"], 4, "{}", done.text);
    assert!(done.body["completed_at"].is_string());
    let foreign = app.call(Method::GET, &location, Some(&stranger.access_token), None).await;
    assert_eq!(foreign.status, 404);
    assert_eq!(
        get(format!("{base}/erasures/{}", unmogrowp_domain::ErasureId::generate())).await.status,
        404
    );
    assert_eq!(get(format!("{base}/erasures/not-an-id")).await.status, 404);

    // Gone from exports, reports and decisions; the other device is untouched.
    assert_eq!(csv_lines(&get(format!("{base}/export/installs.csv")).await), 1);
    assert_eq!(csv_lines(&get(format!("{base}/export/events.csv")).await), 1);
    assert_eq!(csv_lines(&get(format!("{base}/export/clicks.csv")).await), 0);
    let totals: Value = get(format!("{base}/reports/summary")).await.body["totals"].clone();
    assert_eq!(
        (&totals["installs"], &totals["sessions"], &totals["events"], &totals["clicks"]),
        (&json!(1), &json!(1), &json!(0), &json!(0)),
        "{totals}"
    );
    assert_eq!(get(format!("{base}/installs/gone-install")).await.status, 404);
    assert_eq!(get(format!("{base}/installs/kept-install")).await.status, 200);
    // The postback naming it is scrubbed and will not be sent, nor can it be retried.
    let deliveries = get(format!("{base}/postbacks/deliveries")).await;
    let delivery = &deliveries.body[0];
    assert_eq!(
        (&delivery["url"], &delivery["status"]),
        (&json!("(erased)"), &json!("failed")),
        "{}",
        deliveries.text
    );
    assert_eq!(delivery["last_error"], "the device was erased", "{}", deliveries.text);
    assert!(!deliveries.text.to_ascii_lowercase().contains("erase-me"), "{}", deliveries.text);
    let retry = format!("{base}/postbacks/deliveries/{}/retry", delivery["id"].as_str().unwrap());
    assert_eq!(app.call(Method::POST, &retry, Some(&token), None).await.status, 409);

    // The attribution index forgot the device: installing again is a first install, and
    // the erased click attributes nothing.
    let again = vec![
        json!({ "id": "again-install", "type": "install", "timestamp": now_rfc3339(60), "device": device(Some("erase-me"), None) }),
    ];
    assert_eq!(send(&app, &fixture.app_token, &again).await.body["accepted"], 1);
    settle(&app).await;
    let decided = get(format!("{base}/installs/again-install")).await;
    assert_eq!(
        (&decided.body["status"], &decided.body["reinstall"]),
        (&json!("organic"), &json!(false)),
        "{}",
        decided.text
    );

    let audit = get("/api/v1/audit-log".to_owned()).await;
    assert!(audit.text.contains("erasure.requested"), "{}", audit.text);
    assert!(!audit.text.to_ascii_lowercase().contains("erase-me"), "the audit log names no device");
    app.stop().await;
}

async fn a_deleted_app_leaves_no_events(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let fixture = fixture(&app, "deleted.example", android_app("Deleted")).await;
    let events: Vec<Value> = (0..5)
        .map(|i| json!({ "id": format!("s-{i}"), "type": "session", "timestamp": now_rfc3339(30), "device": { "gaid": format!("d-{i}") } }))
        .collect();
    assert_eq!(send(&app, &fixture.app_token, &events).await.body["accepted"], 5);
    settle(&app).await;
    let app_id = unmogrowp_domain::AppId::parse(&fixture.app_id).unwrap();
    let today = unmogrowp_domain::Day::of_utc_millis(unmogrowp_domain::time::now_millis());
    let query = unmogrowp_eventstore::SummaryQuery {
        app_id: app_id.clone(),
        from_day: today.shifted(-2).unwrap(),
        to_day: today.shifted(2).unwrap(),
        group_by: Vec::new(),
        attribution_model: None,
        network: None,
        campaign: None,
        country: None,
    };
    assert_eq!(app.state.events.summary(&query).await.unwrap()[0].counts.sessions, 5);
    let deleted = app
        .call(
            Method::DELETE,
            &format!("/api/v1/apps/{}", fixture.app_id),
            Some(&fixture.owner.access_token),
            None,
        )
        .await;
    assert_eq!(deleted.status, 204, "{}", deleted.text);
    settle(&app).await;
    assert!(app.state.events.summary(&query).await.unwrap().is_empty());
    let rows = app
        .state
        .events
        .export(
            unmogrowp_eventstore::ExportQuery {
                app_id,
                kinds: unmogrowp_domain::event::EventType::ALL.to_vec(),
                from_day: query.from_day,
                to_day: query.to_day,
            },
            Box::new(|_| true),
        )
        .await
        .unwrap();
    assert_eq!(rows, 0);
    app.stop().await;
}

async fn an_opted_out_device_is_only_counted(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let fixture = fixture(&app, "optout.example", android_app("Opt-out")).await;
    let base = format!("/api/v1/apps/{}", fixture.app_id);
    let token = fixture.owner.access_token.clone();
    let opt_out = |body: Value, app_token: Option<String>| {
        let app = &app;
        async move {
            let headers: Vec<(&str, &str)> =
                app_token.as_deref().map(|t| vec![("x-app-token", t)]).unwrap_or_default();
            app.call_with(Method::POST, "/v1/opt-out", None, Some(&body), &headers).await
        }
    };
    let meta = link(&app, &fixture, "meta", "optout").await;
    // A click from the device before it opts out: it would attribute the install.
    let click_path = format!(
        "{}?gaid=opt-dev",
        meta["click_url"].as_str().unwrap().trim_start_matches(&app.url)
    );
    assert_eq!(app.call(Method::GET, &click_path, None, None).await.status, 302);

    let placeholder = opt_out(
        json!({ "device": { "gaid": "00000000-0000-0000-0000-000000000000" } }),
        Some(fixture.app_token.clone()),
    )
    .await;
    assert_eq!(placeholder.status, 400, "{}", placeholder.text);
    assert!(placeholder.text.contains("device"), "{}", placeholder.text);
    assert_eq!(opt_out(json!({ "device": { "gaid": "OPT-DEV" } }), None).await.status, 401);
    let recorded =
        opt_out(json!({ "device": { "gaid": "OPT-DEV" } }), Some(fixture.app_token.clone())).await;
    assert_eq!(recorded.status, 202, "{}", recorded.text);

    let events = vec![
        json!({ "id": "opt-install", "type": "install", "timestamp": now_rfc3339(30), "device": { "gaid": "opt-dev", "country": "FR", "model": "Pixel 8" } }),
        json!({ "id": "opt-buy", "type": "event", "name": "purchase", "timestamp": now_rfc3339(40), "device": { "gaid": "opt-dev" },
                "revenue": { "amount": 5.0, "currency": "USD" }, "properties": { "email": "someone@optout.example" } }),
        // An event that opts its own device out, then a later session of that device.
        json!({ "id": "flag-session", "type": "session", "timestamp": now_rfc3339(50), "device": { "idfv": "flag-dev" }, "opt_out": true }),
        json!({ "id": "flag-later", "type": "session", "timestamp": now_rfc3339(60), "device": { "idfv": "flag-dev" } }),
        json!({ "id": "other-session", "type": "session", "timestamp": now_rfc3339(60), "device": { "idfv": "someone-else" } }),
    ];
    let sent = send(&app, &fixture.app_token, &events).await;
    assert_eq!(sent.body["accepted"], 5, "{}", sent.text);
    settle(&app).await;

    // Counted, but not attributed and with nothing that identifies the device.
    let decided =
        app.call(Method::GET, &format!("{base}/installs/opt-install"), Some(&token), None).await;
    assert_eq!(decided.body["status"], "organic", "{}", decided.text);
    let totals = app
        .call(Method::GET, &format!("{base}/reports/summary"), Some(&token), None)
        .await
        .body["totals"]
        .clone();
    assert_eq!(
        (&totals["installs"], &totals["events"], &totals["sessions"]),
        (&json!(1), &json!(1), &json!(3)),
        "{totals}"
    );
    assert_eq!(totals["revenue"], 5.0, "{totals}");
    let export = |kind: &str| {
        let (app, token, path) = (&app, token.clone(), format!("{base}/export/{kind}"));
        async move { app.call(Method::GET, &path, Some(&token), None).await.text }
    };
    let everything = format!("{}{}", export("installs.csv").await, export("events.csv").await);
    for leak in ["opt-dev", "flag-dev", "someone@optout.example", "Pixel 8"] {
        assert!(
            !everything.to_ascii_lowercase().contains(&leak.to_ascii_lowercase()),
            "{leak} in {everything}"
        );
    }
    assert!(
        everything.contains("someone-else"),
        "other devices keep their identifiers: {everything}"
    );
    assert!(
        everything.contains("opt-install") && everything.contains("flag-later"),
        "{everything}"
    );

    // Kept for good: after a restart without the attribution snapshot, the store's opt-outs
    // still apply.
    let app = app
        .restart_after(|dir| {
            let _ = std::fs::remove_file(dir.join("attribution.snapshot"));
        })
        .await;
    let later = vec![
        json!({ "id": "after-restart", "type": "session", "timestamp": now_rfc3339(70), "device": { "gaid": "OPT-DEV" } }),
    ];
    assert_eq!(send(&app, &fixture.app_token, &later).await.body["accepted"], 1);
    settle(&app).await;
    let sessions =
        app.call(Method::GET, &format!("{base}/export/events.csv"), Some(&token), None).await.text;
    let line = sessions
        .lines()
        .find(|line| line.starts_with("after-restart,"))
        .unwrap_or_else(|| panic!("{sessions}"));
    assert!(!line.to_ascii_lowercase().contains("opt-dev"), "{line}");
    app.stop().await;
}

on_both_backends!(
    an_erased_device_is_gone_from_exports_reports_and_attribution,
    a_deleted_app_leaves_no_events,
    an_opted_out_device_is_only_counted,
);
