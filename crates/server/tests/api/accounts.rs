//! Registration, login, tokens, logout, brute-force throttling, password reset.

use base64::Engine;
use reqwest::Method;
use serde_json::{Value, json};
use unmogrowp_domain::SessionId;
use unmogrowp_testkit::app::{PASSWORD, token_from_email};
use unmogrowp_testkit::{TestApp, TestBackend};

fn claims(access_token: &str) -> Value {
    let payload = access_token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap(),
    )
    .unwrap()
}

async fn registering_signs_in_as_owner(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let login = app.register("Ada@Example.com", "Analytical Engines").await;
    let body = &login.body;
    assert_eq!(body["user"]["email"], "ada@example.com");
    assert_eq!(body["user"]["name"], "Test User");
    assert_eq!(body["organization"]["name"], "Analytical Engines");
    assert_eq!(body["role"], "owner");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert!(login.refresh_token.len() >= 22, "at least 128 bits");
    let claims = claims(&login.access_token);
    assert_eq!(claims["sub"], login.user_id.as_str());
    assert_eq!(claims["org"], login.org_id.as_str());
    assert_eq!(claims["role"], "owner");
    assert!(claims["sid"].is_string());
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 900);

    let me = app.call(Method::GET, "/api/v1/me", Some(&login.access_token), None).await;
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(me.body["user"]["id"], login.user_id.as_str());
    assert_eq!(me.body["organization"]["id"], login.org_id.as_str());
    assert_eq!(me.body["role"], "owner");
    assert_eq!(me.body["organizations"].as_array().unwrap().len(), 1);

    let check = app.check_email("ada@example.com").await;
    assert_eq!(unmogrowp_testkit::app::json(check).await["available"], false);
    app.stop().await;
}

async fn registration_names_every_bad_field(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let body =
        json!({ "email": "not-an-email", "password": "short", "name": " ", "organization": "" });
    let reply = app.call(Method::POST, "/api/v1/auth/register", None, Some(&body)).await;
    assert_eq!(reply.status, 400);
    let fields: Vec<&str> = reply.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, vec!["email", "password", "name", "organization"]);

    let common =
        json!({ "email": "a@b.co", "password": "Password123", "name": "A", "organization": "O" });
    let reply = app.call(Method::POST, "/api/v1/auth/register", None, Some(&common)).await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.body["errors"][0]["field"], "password");
    assert!(reply.body["errors"][0]["message"].as_str().unwrap().contains("common"));

    let long =
        json!({ "email": "a@b.co", "password": "x".repeat(129), "name": "A", "organization": "O" });
    assert_eq!(
        app.call(Method::POST, "/api/v1/auth/register", None, Some(&long)).await.status,
        400
    );

    app.register("taken@example.com", "First").await;
    let again = json!({ "email": "TAKEN@example.com", "password": PASSWORD, "name": "B", "organization": "Second" });
    let reply = app.call(Method::POST, "/api/v1/auth/register", None, Some(&again)).await;
    assert_eq!(reply.status, 409);
    assert_eq!(reply.body["code"], "email_taken");
    app.stop().await;
}

async fn login_answers_the_same_for_unknown_accounts_and_wrong_passwords(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let registered = app.register("grace@example.com", "Navy").await;
    let ok = app.login("grace@example.com", PASSWORD).await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(ok.body["user"]["id"], registered.user_id.as_str());
    assert_eq!(ok.body["organization"]["id"], registered.org_id.as_str());
    assert_eq!(ok.body["role"], "owner");

    let wrong = app.login("grace@example.com", "not the password at all").await;
    let unknown = app.login("nobody@example.com", "not the password at all").await;
    assert_eq!(wrong.status, 401);
    assert_eq!(unknown.status, 401);
    assert_eq!(wrong.body["detail"], unknown.body["detail"]);
    assert_eq!(wrong.header("www-authenticate"), Some("Bearer"));
    app.stop().await;
}

async fn refresh_tokens_rotate_and_reuse_ends_the_session(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let first = app.register("rotate@example.com", "Rotation").await;
    let refreshed = app
        .call(
            Method::POST,
            "/api/v1/auth/refresh",
            None,
            Some(&json!({ "refresh_token": first.refresh_token })),
        )
        .await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.text);
    let second = unmogrowp_testkit::app::Login::from_body(refreshed.body);
    assert_ne!(second.refresh_token, first.refresh_token);
    assert_ne!(second.access_token, first.access_token);
    assert_eq!(
        app.call(Method::GET, "/api/v1/me", Some(&second.access_token), None).await.status,
        200
    );

    // Replaying the first (used) refresh token: refused, and the whole session ends.
    let replay = app
        .call(
            Method::POST,
            "/api/v1/auth/refresh",
            None,
            Some(&json!({ "refresh_token": first.refresh_token })),
        )
        .await;
    assert_eq!(replay.status, 401);
    assert_eq!(
        app.call(Method::GET, "/api/v1/me", Some(&second.access_token), None).await.status,
        401
    );
    let after = app
        .call(
            Method::POST,
            "/api/v1/auth/refresh",
            None,
            Some(&json!({ "refresh_token": second.refresh_token })),
        )
        .await;
    assert_eq!(after.status, 401, "the newest refresh token died with its session");

    let unknown = app
        .call(Method::POST, "/api/v1/auth/refresh", None, Some(&json!({ "refresh_token": "nope" })))
        .await;
    assert_eq!(unknown.status, 401);

    // A new sign-in is unaffected.
    assert_eq!(app.login("rotate@example.com", PASSWORD).await.status, 200);
    app.stop().await;
}

async fn logout_ends_the_session_at_once(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let login = app.register("bye@example.com", "Exit").await;
    let other =
        unmogrowp_testkit::app::Login::from_body(app.login("bye@example.com", PASSWORD).await.body);
    assert_eq!(
        app.call(Method::GET, "/api/v1/me", Some(&login.access_token), None).await.status,
        200
    );
    let out = app.call(Method::POST, "/api/v1/auth/logout", Some(&login.access_token), None).await;
    assert_eq!(out.status, 204);
    assert_eq!(
        app.call(Method::GET, "/api/v1/me", Some(&login.access_token), None).await.status,
        401
    );
    let refresh = app
        .call(
            Method::POST,
            "/api/v1/auth/refresh",
            None,
            Some(&json!({ "refresh_token": login.refresh_token })),
        )
        .await;
    assert_eq!(refresh.status, 401);
    // Another session of the same user goes on.
    assert_eq!(
        app.call(Method::GET, "/api/v1/me", Some(&other.access_token), None).await.status,
        200
    );
    assert_eq!(app.call(Method::POST, "/api/v1/auth/logout", None, None).await.status, 401);
    app.stop().await;
}

async fn remember_me_keeps_the_session_for_thirty_days(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    app.register("long@example.com", "Long").await;
    let short = app.login("long@example.com", PASSWORD).await;
    let body = json!({ "email": "long@example.com", "password": PASSWORD, "remember_me": true });
    let long = app.call(Method::POST, "/api/v1/auth/login", None, Some(&body)).await;
    let lifetime = |reply: &unmogrowp_testkit::app::Reply| {
        let sid = SessionId::parse(
            claims(reply.body["access_token"].as_str().unwrap())["sid"].as_str().unwrap(),
        )
        .unwrap();
        let store = app.state.store.clone();
        async move {
            let session = store.accounts().session(&sid).await.unwrap().unwrap();
            (session.expires_at - session.created_at + 1_800_000) / 3_600_000
        }
    };
    assert_eq!(lifetime(&short).await, 24);
    assert_eq!(lifetime(&long).await, 30 * 24);
    app.stop().await;
}

async fn ten_wrong_passwords_then_wait_then_the_right_one_works(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    app.register("target@example.com", "Target").await;
    for attempt in 1..=10 {
        let reply = app.login("target@example.com", "wrong password guess").await;
        assert_eq!(reply.status, 401, "attempt {attempt}");
    }
    let blocked = app.login("target@example.com", PASSWORD).await;
    assert_eq!(blocked.status, 429, "{}", blocked.text);
    let wait: u64 = blocked.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=900).contains(&wait));
    tokio::time::sleep(
        std::time::Duration::from_secs(wait) + std::time::Duration::from_millis(100),
    )
    .await;
    let ok = app.login("target@example.com", PASSWORD).await;
    assert_eq!(ok.status, 200, "{}", ok.text);

    // Every failure was audited, as were the throttled attempt and the success.
    let login = unmogrowp_testkit::app::Login::from_body(ok.body);
    let log = app
        .call(
            Method::GET,
            "/api/v1/audit-log?action=auth.login&limit=200",
            Some(&login.access_token),
            None,
        )
        .await;
    let entries = log.body.as_array().unwrap();
    let count = |outcome: &str| entries.iter().filter(|e| e["outcome"] == outcome).count();
    assert_eq!(count("failure"), 10);
    assert_eq!(count("denied"), 1);
    assert!(count("success") >= 1);
    app.stop().await;
}

async fn a_reset_link_resets_the_password_exactly_once(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let login = app.register("forgetful@example.com", "Memory").await;
    let reply = app
        .call(
            Method::POST,
            "/api/v1/auth/forgot-password",
            None,
            Some(&json!({ "email": "forgetful@example.com" })),
        )
        .await;
    assert_eq!(reply.status, 202);
    let unknown = app
        .call(
            Method::POST,
            "/api/v1/auth/forgot-password",
            None,
            Some(&json!({ "email": "ghost@example.com" })),
        )
        .await;
    assert_eq!(unknown.status, 202, "same answer for an unknown account");

    let message = app.wait_for_outbox_email("forgetful@example.com", "Reset").await;
    assert!(message.contains(&format!("{}/reset-password?token=", app.url)), "{message}");
    let token = token_from_email(&message, "/reset-password?token=");
    assert!(token.len() >= 22);

    let weak = app
        .call(
            Method::POST,
            "/api/v1/auth/reset-password",
            None,
            Some(&json!({ "token": token, "password": "password" })),
        )
        .await;
    assert_eq!(weak.status, 400);
    assert_eq!(weak.body["errors"][0]["field"], "password");

    let new_password = "a brand new passphrase 7";
    let reset = app
        .call(
            Method::POST,
            "/api/v1/auth/reset-password",
            None,
            Some(&json!({ "token": token, "password": new_password })),
        )
        .await;
    assert_eq!(reset.status, 204, "{}", reset.text);
    let again = app
        .call(
            Method::POST,
            "/api/v1/auth/reset-password",
            None,
            Some(&json!({ "token": token, "password": "yet another passphrase 8" })),
        )
        .await;
    assert_eq!(again.status, 400);
    assert_eq!(again.body["code"], "invalid_token");

    assert_eq!(app.login("forgetful@example.com", PASSWORD).await.status, 401);
    assert_eq!(app.login("forgetful@example.com", new_password).await.status, 200);
    assert_eq!(
        app.call(Method::GET, "/api/v1/me", Some(&login.access_token), None).await.status,
        401,
        "old sessions ended"
    );
    app.wait_for_outbox_email("forgetful@example.com", "password was changed").await;
    assert!(app.outbox().iter().all(|m| !m.contains("ghost@example.com")));
    app.stop().await;
}

on_both_backends!(
    registering_signs_in_as_owner,
    registration_names_every_bad_field,
    login_answers_the_same_for_unknown_accounts_and_wrong_passwords,
    refresh_tokens_rotate_and_reuse_ends_the_session,
    logout_ends_the_session_at_once,
    remember_me_keeps_the_session_for_thirty_days,
    ten_wrong_passwords_then_wait_then_the_right_one_works,
    a_reset_link_resets_the_password_exactly_once,
);
