//! The signed-in user's own account: name and password.

use reqwest::Method;
use serde_json::json;
use unmogrowp_testkit::{TestApp, TestBackend};

async fn a_user_renames_themself_and_changes_their_password(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.register("ada@account.example", "Account").await;
    let token = owner.access_token.clone();
    let renamed = app
        .call(Method::PATCH, "/api/v1/me", Some(&token), Some(&json!({ "name": "  Ada L. " })))
        .await;
    assert_eq!(renamed.status, 200, "{}", renamed.text);
    assert_eq!(renamed.body["name"], "Ada L.");
    let me = app.call(Method::GET, "/api/v1/me", Some(&token), None).await;
    assert_eq!(me.body["user"]["name"], "Ada L.");
    let blank =
        app.call(Method::PATCH, "/api/v1/me", Some(&token), Some(&json!({ "name": " " }))).await;
    assert_eq!(blank.body["errors"][0]["field"], "name", "{}", blank.text);

    let change = |current: &str, new: &str| {
        let body = json!({ "current_password": current, "password": new });
        let (app, token) = (&app, token.clone());
        async move { app.call(Method::POST, "/api/v1/me/password", Some(&token), Some(&body)).await }
    };
    let wrong = change("not my password", "a brand new passphrase 77").await;
    assert_eq!(wrong.status, 400);
    assert_eq!(wrong.body["errors"][0]["field"], "current_password", "{}", wrong.text);
    let weak = change(unmogrowp_testkit::app::PASSWORD, "password123").await;
    assert_eq!(weak.body["errors"][0]["field"], "password", "{}", weak.text);
    let elsewhere = app.login("ada@account.example", unmogrowp_testkit::app::PASSWORD).await;
    let elsewhere = elsewhere.body["access_token"].as_str().unwrap().to_owned();
    let done = change(unmogrowp_testkit::app::PASSWORD, "a brand new passphrase 77").await;
    assert_eq!(done.status, 204, "{}", done.text);
    // The other session ended, this one stays; the new password signs in, the old one does not.
    assert_eq!(app.call(Method::GET, "/api/v1/me", Some(&elsewhere), None).await.status, 401);
    assert_eq!(app.call(Method::GET, "/api/v1/me", Some(&token), None).await.status, 200);
    assert_eq!(
        app.login("ada@account.example", unmogrowp_testkit::app::PASSWORD).await.status,
        401
    );
    assert_eq!(app.login("ada@account.example", "a brand new passphrase 77").await.status, 200);
    app.wait_for_outbox_email("ada@account.example", "Your UnMoGrowP password was changed").await;
    app.stop().await;
}

on_both_backends!(a_user_renames_themself_and_changes_their_password);
