//! The demo seed produces traffic that every report shows.

#![allow(clippy::unwrap_used)]

use reqwest::Method;
use unmogrowp_testkit::{TestApp, TestBackend};

/// Waits until the pipeline has stored everything appended so far.
async fn settle(app: &TestApp) {
    let head = app.state.log.head();
    assert!(
        app.state.pipeline.wait_for(head, std::time::Duration::from_secs(20)).await,
        "the pipeline did not catch up"
    );
}

#[tokio::test]
async fn the_demo_fills_every_report() {
    let app = TestApp::spawn(TestBackend::Sqlite).await;
    let login = unmogrowp_demo::seed(&app.state, 5, 0.3).await.unwrap();
    assert!(login.records > 1000, "{}", login.records);
    let again = unmogrowp_demo::seed(&app.state, 5, 0.3).await.unwrap();
    assert_eq!(again.records, 0, "seeding twice adds nothing");
    settle(&app).await;
    let session = app.login(&login.email, &login.password).await;
    assert_eq!(session.status, 200, "{}", session.text);
    let token = session.body["access_token"].as_str().unwrap().to_owned();
    let apps = app.call(Method::GET, "/api/v1/apps", Some(&token), None).await;
    assert_eq!(apps.body.as_array().unwrap().len(), 2);
    let app_id = apps.body[0]["id"].as_str().unwrap().to_owned();
    let summary = app
        .call(
            Method::GET,
            &format!("/api/v1/apps/{app_id}/reports/summary?group_by=network"),
            Some(&token),
            None,
        )
        .await;
    let totals = &summary.body["totals"];
    for field in [
        "clicks",
        "impressions",
        "installs",
        "organic_installs",
        "rejected_installs",
        "sessions",
        "events",
    ] {
        assert!(totals[field].as_u64().unwrap() > 0, "{field} is zero: {totals}");
    }
    assert!(totals["revenue"].as_f64().unwrap() > 0.0);
    let networks: Vec<&str> = summary.body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["network"].as_str().unwrap())
        .collect();
    for network in ["meta", "google", "tiktok", "unity", "applovin", "organic"] {
        assert!(networks.contains(&network), "{network} missing from {networks:?}");
    }
    let fraud = app
        .call(Method::GET, &format!("/api/v1/apps/{app_id}/reports/fraud"), Some(&token), None)
        .await;
    assert!(
        fraud.body["rows"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["reason"] == "click_injection" && r["network"] == "shadynet"),
        "{}",
        fraud.text
    );
    app.stop().await;
}
