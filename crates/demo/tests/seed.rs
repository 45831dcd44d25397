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

/// Demo users return like real ones: fewer each day after the install, never none by day 30,
/// with most revenue from those who stayed.
#[tokio::test]
async fn demo_retention_decays_like_a_real_apps() {
    let app = TestApp::spawn(TestBackend::Sqlite).await;
    let login = unmogrowp_demo::seed(&app.state, 60, 0.3).await.unwrap();
    settle(&app).await;
    let session = app.login(&login.email, &login.password).await;
    let token = session.body["access_token"].as_str().unwrap().to_owned();
    let apps = app.call(Method::GET, "/api/v1/apps", Some(&token), None).await;
    let today = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).date();
    let day = |back: i64| (today - jiff::Span::new().days(back)).to_string();
    for listed in apps.body.as_array().unwrap() {
        let app_id = listed["id"].as_str().unwrap();
        let path = format!(
            "/api/v1/apps/{app_id}/reports/cohorts?from={}&to={}&days=0,1,7,30",
            day(45),
            day(31)
        );
        let cohorts = app.call(Method::GET, &path, Some(&token), None).await;
        assert_eq!(cohorts.status, 200, "{}", cohorts.text);
        let rows = cohorts.body["cohorts"].as_array().expect("cohorts");
        assert!(rows.len() >= 10, "{}", cohorts.text);
        let mut retained = [0u64; 4];
        let mut installs = 0;
        for row in rows {
            installs += row["installs"].as_u64().unwrap();
            for (sum, day) in retained.iter_mut().zip(["0", "1", "7", "30"]) {
                *sum += row["retained"][day].as_u64().unwrap();
            }
        }
        let [d0, d1, d7, d30] = retained;
        assert!(
            d0 >= d1 && d1 >= d7 && d7 >= d30 && d30 > 0,
            "{installs} installs: D0 {d0}, D1 {d1}, D7 {d7}, D30 {d30}"
        );
        // Roughly the curve: D1 around a third of the cohort, D30 a few percent.
        let share = |n: u64| n as f64 / installs as f64;
        assert!((0.2..0.5).contains(&share(d1)), "D1 {:.2}", share(d1));
        assert!((0.01..0.12).contains(&share(d30)), "D30 {:.2}", share(d30));
    }
    app.stop().await;
}
