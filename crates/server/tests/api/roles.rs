//! The role table, through the API: viewers read, members do not manage keys, admins do not
//! manage owners.

use crate::apps::android_app;
use reqwest::Method;
use serde_json::json;
use unmogrowp_testkit::{TestApp, TestBackend};

async fn each_role_gets_what_the_table_says(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.register("owner@roles.example", "Roles").await;
    let admin = app.add_member(&owner, "admin@roles.example", "admin").await;
    let member = app.add_member(&owner, "member@roles.example", "member").await;
    let viewer = app.add_member(&owner, "viewer@roles.example", "viewer").await;
    let created = app
        .call(Method::POST, "/api/v1/apps", Some(&owner.access_token), Some(&android_app("Shared")))
        .await;
    let app_id = created.body["id"].as_str().unwrap().to_owned();
    let apps = "/api/v1/apps";
    let one = format!("/api/v1/apps/{app_id}");
    let keys = format!("/api/v1/apps/{app_id}/keys");

    // Viewers read but cannot create apps.
    assert_eq!(app.call(Method::GET, apps, Some(&viewer.access_token), None).await.status, 200);
    assert_eq!(app.call(Method::GET, &one, Some(&viewer.access_token), None).await.status, 200);
    assert_eq!(
        app.call(Method::GET, "/api/v1/org/members", Some(&viewer.access_token), None).await.status,
        200
    );
    let denied =
        app.call(Method::POST, apps, Some(&viewer.access_token), Some(&android_app("Nope"))).await;
    assert_eq!(denied.status, 403);
    assert_eq!(denied.body["code"], "forbidden");

    // Members cannot manage apps or keys, nor read the audit log.
    assert_eq!(
        app.call(Method::POST, apps, Some(&member.access_token), Some(&android_app("Nope")))
            .await
            .status,
        403
    );
    assert_eq!(
        app.call(Method::PATCH, &one, Some(&member.access_token), Some(&json!({ "name": "x" })))
            .await
            .status,
        403
    );
    assert_eq!(app.call(Method::POST, &keys, Some(&member.access_token), None).await.status, 403);
    assert_eq!(app.call(Method::GET, &keys, Some(&member.access_token), None).await.status, 403);
    assert_eq!(
        app.call(Method::GET, "/api/v1/audit-log", Some(&member.access_token), None).await.status,
        403
    );
    assert_eq!(
        app.call(
            Method::POST,
            "/api/v1/org/invitations",
            Some(&member.access_token),
            Some(&json!({ "email": "x@roles.example", "role": "viewer" }))
        )
        .await
        .status,
        403
    );

    // Admins manage apps, keys and members — but not owners.
    let key = app.call(Method::POST, &keys, Some(&admin.access_token), None).await;
    assert_eq!(key.status, 201);
    let key_path = format!("{keys}/{}", key.body["id"].as_str().unwrap());
    assert_eq!(
        app.call(Method::DELETE, &key_path, Some(&member.access_token), None).await.status,
        403
    );
    assert_eq!(
        app.call(Method::DELETE, &key_path, Some(&admin.access_token), None).await.status,
        204
    );
    assert_eq!(
        app.call(Method::GET, "/api/v1/audit-log", Some(&admin.access_token), None).await.status,
        200
    );
    let owner_path = format!("/api/v1/org/members/{}", owner.user_id);
    assert_eq!(
        app.call(Method::DELETE, &owner_path, Some(&admin.access_token), None).await.status,
        403
    );
    assert_eq!(
        app.call(
            Method::PATCH,
            &owner_path,
            Some(&admin.access_token),
            Some(&json!({ "role": "viewer" }))
        )
        .await
        .status,
        403
    );
    let promote = format!("/api/v1/org/members/{}", viewer.user_id);
    assert_eq!(
        app.call(
            Method::PATCH,
            &promote,
            Some(&admin.access_token),
            Some(&json!({ "role": "owner" }))
        )
        .await
        .status,
        403
    );
    assert_eq!(
        app.call(
            Method::PATCH,
            &promote,
            Some(&admin.access_token),
            Some(&json!({ "role": "member" }))
        )
        .await
        .status,
        200
    );
    assert_eq!(
        app.call(
            Method::POST,
            "/api/v1/org/invitations",
            Some(&admin.access_token),
            Some(&json!({ "email": "boss2@roles.example", "role": "owner" }))
        )
        .await
        .status,
        403
    );
    assert_eq!(
        app.call(
            Method::DELETE,
            &format!("/api/v1/org/members/{}", member.user_id),
            Some(&admin.access_token),
            None
        )
        .await
        .status,
        204
    );

    // Owners may do everything, including making another owner.
    assert_eq!(
        app.call(
            Method::PATCH,
            &format!("/api/v1/org/members/{}", admin.user_id),
            Some(&owner.access_token),
            Some(&json!({ "role": "owner" }))
        )
        .await
        .status,
        200
    );
    assert_eq!(app.call(Method::DELETE, &one, Some(&owner.access_token), None).await.status, 204);
    app.stop().await;
}

on_both_backends!(each_role_gets_what_the_table_says);
