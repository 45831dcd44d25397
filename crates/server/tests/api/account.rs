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

async fn a_user_creates_another_organization_and_acts_in_it(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.register("grace@orgs.example", "First Org").await;
    let token = owner.access_token.clone();
    let created = app
        .call(
            Method::POST,
            "/api/v1/organizations",
            Some(&token),
            Some(&json!({ "name": " Second Org " })),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(
        (&created.body["name"], &created.body["role"]),
        (&json!("Second Org"), &json!("owner"))
    );
    let second = created.body["id"].as_str().unwrap().to_owned();
    let blank = app
        .call(Method::POST, "/api/v1/organizations", Some(&token), Some(&json!({ "name": "" })))
        .await;
    assert_eq!(blank.body["errors"][0]["field"], "name");
    let me = app.call(Method::GET, "/api/v1/me", Some(&token), None).await;
    let names: Vec<&str> = me.body["organizations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    // Acting in the new one: its apps are its own.
    let in_second = app
        .call_with(Method::GET, "/api/v1/me", Some(&token), None, &[("x-org-id", second.as_str())])
        .await;
    assert_eq!(in_second.body["organization"]["name"], "Second Org", "{}", in_second.text);
    let made = app
        .call_with(
            Method::POST,
            "/api/v1/apps",
            Some(&token),
            Some(&crate::apps::android_app("In Second")),
            &[("x-org-id", second.as_str())],
        )
        .await;
    assert_eq!(made.status, 201, "{}", made.text);
    let first_apps = app.call(Method::GET, "/api/v1/apps", Some(&token), None).await;
    assert_eq!(first_apps.body, json!([]), "the first organization does not see it");
    app.stop().await;
}

on_both_backends!(
    a_user_renames_themself_and_changes_their_password,
    a_user_creates_another_organization_and_acts_in_it
);
