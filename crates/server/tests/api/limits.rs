//! Cheap checks before expensive work, and per-address rate limits on the public account
//! endpoints.

use reqwest::Method;
use serde_json::json;
use unmogrowp_testkit::{TestApp, TestBackend};

/// `password_hashes_total` summed over its classes, from `/metrics`.
async fn hashes(app: &TestApp) -> u64 {
    let text = app.get("/metrics").await.text().await.unwrap();
    text.lines()
        .filter(|line| line.starts_with("password_hashes_total"))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

#[tokio::test]
async fn bogus_resets_and_taken_emails_cost_no_hash() {
    let app = TestApp::spawn(TestBackend::Sqlite).await;
    let owner = app.register("owner@example.com", "Acme").await;
    assert!(!owner.access_token.is_empty());
    let before = hashes(&app).await;
    for i in 0..20 {
        let reply = app
            .call(Method::POST, "/api/v1/auth/reset-password", None,
                Some(&json!({ "token": format!("bogus-{i}"), "password": "a long enough passphrase" })))
            .await;
        assert_eq!(reply.status, 400, "{}", reply.text);
        assert_eq!(reply.body["errors"][0]["field"], "token");
        let reply = app
            .call(
                Method::POST,
                "/api/v1/auth/register",
                None,
                Some(&json!({ "email": "owner@example.com", "password": "another long passphrase",
                              "name": "Mallory", "organization": "Evil" })),
            )
            .await;
        assert_eq!(reply.status, 409, "{}", reply.text);
    }
    assert_eq!(hashes(&app).await, before, "no password was hashed");
    app.stop().await;
}

#[tokio::test]
async fn check_email_is_throttled_per_address() {
    let app = TestApp::spawn_with(TestBackend::Sqlite, |config| {
        config.http.trusted_proxies = vec!["127.0.0.1".to_owned()];
        config.limits.check_email_burst = 5;
        config.limits.check_email_per_minute = 5;
    })
    .await;
    let check = |from: &'static str, email: String| {
        let app = &app;
        async move {
            app.call_with(
                Method::POST,
                "/api/v1/auth/check-email",
                None,
                Some(&json!({ "email": email })),
                &[("x-forwarded-for", from)],
            )
            .await
        }
    };
    for i in 0..5 {
        let reply = check("198.51.100.1", format!("probe{i}@example.com")).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
    }
    let refused = check("198.51.100.1", "probe5@example.com".to_owned()).await;
    assert_eq!(refused.status, 429, "{}", refused.text);
    let retry_after: u64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=12).contains(&retry_after), "{retry_after}");
    assert_eq!(refused.header("ratelimit-policy"), Some("\"check_email\";q=5;w=60"));
    assert_eq!(
        refused.header("ratelimit"),
        Some(format!("\"check_email\";r=0;t={retry_after}").as_str())
    );
    // Another address (and another /64) still gets answers.
    assert_eq!(check("198.51.100.2", "probe@example.com".to_owned()).await.status, 200);
    assert_eq!(check("2001:db8:1:1::5", "probe@example.com".to_owned()).await.status, 200);
    app.stop().await;
}

#[tokio::test]
async fn registrations_from_one_address_are_limited_and_sign_ins_are_not() {
    let app = TestApp::spawn_with(TestBackend::Sqlite, |config| {
        config.http.trusted_proxies = vec!["127.0.0.1".to_owned()];
        config.limits.auth_burst = 3;
        config.limits.auth_per_minute = 1;
    })
    .await;
    let owner = app.register("owner@example.com", "Acme").await;
    assert!(!owner.access_token.is_empty());
    let attacker = [("x-forwarded-for", "203.0.113.66")];
    let mut statuses = Vec::new();
    for i in 0..6 {
        let reply = app
            .call_with(Method::POST, "/api/v1/auth/register", None,
                Some(&json!({ "email": format!("bot{i}@example.com"), "password": "a long enough passphrase",
                              "name": "Bot", "organization": "Bots" })), &attacker)
            .await;
        statuses.push(reply.status);
    }
    assert_eq!(statuses, vec![201, 201, 201, 429, 429, 429]);
    // The owner signs in from elsewhere meanwhile.
    let login = app
        .call_with(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(&json!({ "email": "owner@example.com", "password": unmogrowp_testkit::app::PASSWORD })),
            &[("x-forwarded-for", "192.0.2.10")],
        )
        .await;
    assert_eq!(login.status, 200, "{}", login.text);
    app.stop().await;
}

#[tokio::test]
async fn an_attacker_is_locked_out_and_the_owner_still_signs_in_elsewhere() {
    let app = TestApp::spawn_with(TestBackend::Sqlite, |config| {
        config.http.trusted_proxies = vec!["127.0.0.1".to_owned()];
        config.auth.lockout_account_threshold = 5;
        config.auth.lockout_ip_threshold = 3;
    })
    .await;
    app.register("owner@example.com", "Acme").await;
    let sign_in = |email: &'static str, password: &'static str, from: &'static str| {
        let app = &app;
        async move {
            app.call_with(
                Method::POST,
                "/api/v1/auth/login",
                None,
                Some(&json!({ "email": email, "password": password })),
                &[("x-forwarded-for", from)],
            )
            .await
        }
    };
    let password = unmogrowp_testkit::app::PASSWORD;
    let mut statuses = Vec::new();
    for _ in 0..7 {
        statuses.push(sign_in("owner@example.com", "wrong guess", "203.0.113.50").await.status);
    }
    assert_eq!(statuses, vec![401, 401, 401, 401, 401, 429, 429], "the attacker's pair is blocked");
    // The right password from the attacker's address is refused too while the wait lasts…
    assert_eq!(sign_in("owner@example.com", password, "203.0.113.50").await.status, 429);
    // …but the owner, from another address, gets in (at most slowed down).
    let owner = sign_in("owner@example.com", password, "198.51.100.20").await;
    assert_eq!(owner.status, 200, "{}", owner.text);

    // Credential stuffing: one failure each on three accounts blocks the address.
    for email in ["a@example.com", "b@example.com", "c@example.com"] {
        assert_eq!(sign_in(email, "stuffed password", "192.0.2.77").await.status, 401, "{email}");
    }
    assert_eq!(sign_in("d@example.com", "stuffed password", "192.0.2.77").await.status, 429);
    assert_eq!(sign_in("owner@example.com", password, "192.0.2.78").await.status, 200);
    app.stop().await;
}

#[tokio::test]
async fn the_management_api_is_limited_per_user() {
    let app = TestApp::spawn_with(TestBackend::Sqlite, |config| {
        config.limits.api_burst = 3;
        config.limits.api_per_minute = 1;
    })
    .await;
    let busy = app.register("busy@example.com", "Busy").await;
    let calm = app.register("calm@example.com", "Calm").await;
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(
            app.call(Method::GET, "/api/v1/apps", Some(&busy.access_token), None).await.status,
        );
    }
    assert_eq!(statuses, vec![200, 200, 200, 429, 429]);
    let refused = app.call(Method::GET, "/api/v1/apps", Some(&busy.access_token), None).await;
    assert_eq!(refused.header("ratelimit-policy"), Some("\"api\";q=3;w=180"));
    assert!(refused.header("retry-after").is_some());
    let other = app.call(Method::GET, "/api/v1/apps", Some(&calm.access_token), None).await;
    assert_eq!(other.status, 200, "another user has a budget of their own");
    app.stop().await;
}

#[tokio::test]
async fn clicks_and_impressions_are_limited_per_link_and_address() {
    let app = TestApp::spawn_with(TestBackend::Sqlite, |config| {
        config.http.trusted_proxies = vec!["127.0.0.1".to_owned()];
        config.limits.touch_burst = 3;
        config.limits.touch_per_minute = 1;
    })
    .await;
    let owner = app.register("owner@touch.example", "Touch").await;
    let created = app
        .call(
            Method::POST,
            "/api/v1/apps",
            Some(&owner.access_token),
            Some(&crate::apps::android_app("Touch")),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let app_id = created.body["id"].as_str().unwrap().to_owned();
    let mut paths = Vec::new();
    for campaign in ["one", "two"] {
        let link = app
            .call(
                Method::POST,
                &format!("/api/v1/apps/{app_id}/links"),
                Some(&owner.access_token),
                Some(&json!({ "network": "meta", "campaign": campaign })),
            )
            .await;
        assert_eq!(link.status, 201, "{}", link.text);
        paths
            .push(link.body["click_url"].as_str().unwrap().trim_start_matches(&app.url).to_owned());
    }
    let click = |path: String, from: &'static str| {
        let app = &app;
        async move { app.call_with(Method::GET, &path, None, None, &[("x-forwarded-for", from)]).await }
    };
    let mut referrers = 0;
    for _ in 0..4 {
        let reply = click(paths[0].clone(), "198.51.100.7").await;
        // Over the limit the person still reaches the store, without a click id to carry.
        assert_eq!(reply.status, 302, "{}", reply.text);
        let location = reply.header("location").unwrap().to_owned();
        assert!(location.starts_with("https://play.google.com/"), "{location}");
        referrers += usize::from(location.contains("unmogrowp_click_id"));
    }
    assert_eq!(referrers, 3, "the fourth click was not recorded");
    // The impression pixel of the same link shares the budget, and answers 429.
    let impression = paths[0].replacen("/c/", "/i/", 1);
    let refused = click(impression, "198.51.100.7").await;
    assert_eq!(refused.status, 429, "{}", refused.text);
    assert!(refused.header("retry-after").is_some());
    assert_eq!(refused.header("ratelimit-policy"), Some("\"touch\";q=3;w=180"));
    // Another address on that link, and the same address on another link, are not held back.
    assert!(
        click(paths[0].clone(), "198.51.100.8")
            .await
            .header("location")
            .unwrap()
            .contains("unmogrowp_click_id")
    );
    assert!(
        click(paths[1].clone(), "198.51.100.7")
            .await
            .header("location")
            .unwrap()
            .contains("unmogrowp_click_id")
    );
    // Unknown links answer 404 and count against nothing.
    let unknown = format!("/c/{}", uuid::Uuid::now_v7());
    assert_eq!(click(unknown, "198.51.100.7").await.status, 404);
    crate::collect::settle(&app).await;
    let summary = app
        .call(
            Method::GET,
            &format!("/api/v1/apps/{app_id}/reports/summary"),
            Some(&owner.access_token),
            None,
        )
        .await;
    assert_eq!(summary.body["totals"]["clicks"], 5, "{}", summary.text);
    app.stop().await;
}
