//! Anomaly detection on security events: credential stuffing, an account under attack and an
//! unusual export volume are recorded, counted and raised by email, once each.

use crate::apps::android_app;
use crate::collect::{fixture, now_rfc3339, send, settle};
use reqwest::Method;
use serde_json::json;
use unmogrowp_testkit::{TestApp, TestBackend};

async fn security_events(app: &TestApp, kind: &str) -> u64 {
    let text = app.get("/metrics").await.text().await.unwrap();
    let prefix = format!("security_events_total{{kind=\"{kind}\"}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .and_then(|value| value.parse::<f64>().ok())
        .unwrap_or(0.0) as u64
}

async fn login(app: &TestApp, email: &str, password: &str, from: &str) -> u16 {
    app.call_with(
        Method::POST,
        "/api/v1/auth/login",
        None,
        Some(&json!({ "email": email, "password": password })),
        &[("x-forwarded-for", from)],
    )
    .await
    .status
}

#[tokio::test]
async fn credential_stuffing_and_a_guessed_account_are_raised_once() {
    let app = TestApp::spawn_with(TestBackend::Sqlite, |config| {
        config.http.trusted_proxies = vec!["127.0.0.1".to_owned()];
        config.auth.lockout_ip_threshold = 3;
        config.auth.lockout_account_threshold = 3;
        config.security.alert_emails = vec!["secops@example.com".to_owned()];
    })
    .await;
    let owner = app.register("owner@guarded.example", "Guarded").await;
    assert!(!owner.access_token.is_empty());

    // Three different accounts failing from one address: stuffing, raised to the operators.
    for victim in ["a@victims.example", "b@victims.example", "c@victims.example"] {
        assert_eq!(login(&app, victim, "wrong password 1", "203.0.113.50").await, 401);
    }
    let alert = app
        .wait_for_outbox_email(
            "secops@example.com",
            "UnMoGrowP security alert: credential stuffing",
        )
        .await;
    assert!(alert.contains("203.0.113.50"), "{alert}");
    assert_eq!(security_events(&app, "credential_stuffing").await, 1);

    // The owner's account guessed from three addresses: the owner is told, once.
    for from in ["198.51.100.1", "198.51.100.2", "198.51.100.3", "198.51.100.4"] {
        assert_eq!(login(&app, "owner@guarded.example", "not the password", from).await, 401);
    }
    let notice = app
        .wait_for_outbox_email("owner@guarded.example", "Failed sign-ins on your UnMoGrowP account")
        .await;
    assert!(notice.contains("3 failed attempts"), "{notice}");
    assert_eq!(security_events(&app, "account_attacked").await, 1);
    let audit = app
        .call(
            Method::GET,
            "/api/v1/audit-log?action=security.account_attacked",
            Some(&owner.access_token),
            None,
        )
        .await;
    assert_eq!(audit.status, 200, "{}", audit.text);
    assert_eq!(audit.body.as_array().map(Vec::len), Some(1), "{}", audit.text);
    // Unknown accounts failing alone raise nothing beyond the stuffing alert.
    assert_eq!(security_events(&app, "credential_stuffing").await, 1);
    app.stop().await;
}

#[tokio::test]
async fn an_unusual_export_volume_is_raised_to_the_admins() {
    let app = TestApp::spawn_with(TestBackend::Sqlite, |config| {
        config.security.export_anomaly_min_rows = Some(3);
    })
    .await;
    let fixture = fixture(&app, "exports.example", android_app("Exported")).await;
    let events: Vec<_> = (0..5)
        .map(|i| json!({ "id": format!("s-{i}"), "type": "session", "timestamp": now_rfc3339(30), "device": { "gaid": format!("d-{i}") } }))
        .collect();
    assert_eq!(send(&app, &fixture.app_token, &events).await.body["accepted"], 5);
    settle(&app).await;
    let path = format!("/api/v1/apps/{}/export/events.csv", fixture.app_id);
    for _ in 0..2 {
        let export = app.call(Method::GET, &path, Some(&fixture.owner.access_token), None).await;
        assert_eq!(export.status, 200);
        assert_eq!(export.text.lines().count(), 6);
    }
    let alert = app
        .wait_for_outbox_email(
            "owner@exports.example",
            "UnMoGrowP security alert: unusual export volume",
        )
        .await;
    assert!(alert.contains("5 rows were exported"), "{alert}");
    // Every export is in the audit log with its rows; the alert fired once (the second export
    // was already over the threshold).
    let audit = |action: &str| {
        let (app, token, path) = (
            &app,
            fixture.owner.access_token.clone(),
            format!("/api/v1/audit-log?action={action}"),
        );
        async move { app.call(Method::GET, &path, Some(&token), None).await.body }
    };
    for _ in 0..100 {
        if audit("export.completed").await.as_array().map(Vec::len) == Some(2) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let exports = audit("export.completed").await;
    assert_eq!(exports.as_array().map(Vec::len), Some(2), "{exports}");
    assert_eq!(exports[0]["details"]["rows"], 5, "{exports}");
    assert_eq!(audit("security.unusual_export").await.as_array().map(Vec::len), Some(1));
    assert_eq!(security_events(&app, "unusual_export").await, 1);
    app.stop().await;
}
