//! Apps, attribution settings, S2S keys.

use reqwest::Method;
use serde_json::{Value, json};
use unmogrowp_testkit::{TestApp, TestBackend};

pub fn android_app(name: &str) -> Value {
    json!({
        "name": name,
        "platform": "android",
        "bundle_id": "com.example.game",
        "store_url": "https://play.google.com/store/apps/details?id=com.example.game",
    })
}

async fn apps_are_created_read_updated_and_deleted(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.register("dev@studio.example", "Studio").await;
    let token = Some(owner.access_token.as_str());
    let created =
        app.call(Method::POST, "/api/v1/apps", token, Some(&android_app("Space Game"))).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let body = &created.body;
    let id = body["id"].as_str().unwrap().to_owned();
    assert_eq!(body["name"], "Space Game");
    assert_eq!(body["platform"], "android");
    assert!(body["app_token"].as_str().unwrap().len() >= 22, "at least 128 bits");
    assert_eq!(
        body["attribution"],
        json!({
            "click_window_hours": 168, "view_window_hours": 24, "probabilistic_window_hours": 24,
            "reattribution_window_days": 90, "reengagement_window_days": 30, "min_ctit_seconds": 10,
            "click_flood_threshold_per_hour": 100
        })
    );
    assert_eq!(body["time_zone"], "UTC");
    assert_eq!(body["currency"], "USD");

    let ios = json!({ "name": "Space Game iOS", "platform": "ios", "bundle_id": "com.example.SpaceGame",
                      "store_url": "https://apps.apple.com/app/id123456789", "time_zone": "Europe/Berlin", "currency": "EUR" });
    let second = app.call(Method::POST, "/api/v1/apps", token, Some(&ios)).await;
    assert_eq!(second.status, 201, "{}", second.text);
    assert_ne!(second.body["app_token"], body["app_token"]);

    let list = app.call(Method::GET, "/api/v1/apps", token, None).await;
    assert_eq!(list.body.as_array().unwrap().len(), 2);
    let one = app.call(Method::GET, &format!("/api/v1/apps/{id}"), token, None).await;
    assert_eq!(one.body["id"], id.as_str());

    let patch = json!({ "name": "Space Game 2", "attribution": { "click_window_hours": 48, "min_ctit_seconds": 5 } });
    let patched = app.call(Method::PATCH, &format!("/api/v1/apps/{id}"), token, Some(&patch)).await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    assert_eq!(patched.body["name"], "Space Game 2");
    assert_eq!(patched.body["attribution"]["click_window_hours"], 48);
    assert_eq!(patched.body["attribution"]["min_ctit_seconds"], 5);
    assert_eq!(
        patched.body["attribution"]["view_window_hours"], 24,
        "untouched fields keep their value"
    );

    let deleted = app.call(Method::DELETE, &format!("/api/v1/apps/{id}"), token, None).await;
    assert_eq!(deleted.status, 204);
    assert_eq!(app.call(Method::GET, &format!("/api/v1/apps/{id}"), token, None).await.status, 404);
    assert_eq!(
        app.call(Method::DELETE, &format!("/api/v1/apps/{id}"), token, None).await.status,
        404
    );

    let log = app.call(Method::GET, "/api/v1/audit-log", token, None).await;
    let actions: Vec<&str> =
        log.body.as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    for action in ["app.created", "app.settings_changed", "app.deleted"] {
        assert!(actions.contains(&action), "{action} missing from {actions:?}");
    }
    let change = log
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "app.settings_changed")
        .unwrap();
    assert_eq!(change["details"]["before"]["attribution"]["click_window_hours"], 168);
    assert_eq!(change["details"]["after"]["attribution"]["click_window_hours"], 48);
    app.stop().await;
}

async fn app_fields_are_validated_by_name(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.register("strict@studio.example", "Strict").await;
    let token = Some(owner.access_token.as_str());
    let bad = json!({ "name": "", "platform": "windows", "bundle_id": "x", "store_url": "ftp://nope", "time_zone": "Mars/Base", "currency": "euro" });
    let reply = app.call(Method::POST, "/api/v1/apps", token, Some(&bad)).await;
    assert_eq!(reply.status, 400);
    let fields: Vec<&str> = reply.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, vec!["name", "platform", "store_url", "time_zone", "currency"]);

    let created = app.call(Method::POST, "/api/v1/apps", token, Some(&android_app("Valid"))).await;
    let path = format!("/api/v1/apps/{}", created.body["id"].as_str().unwrap());
    for (patch, field) in [
        (json!({ "attribution": { "click_window_hours": 0 } }), "attribution.click_window_hours"),
        (json!({ "attribution": { "min_ctit_seconds": 99999 } }), "attribution.min_ctit_seconds"),
        (json!({ "attribution": { "click_window_hours": -1 } }), "attribution.click_window_hours"),
        (json!({ "attribution": { "click_windows": 5 } }), "attribution.click_windows"),
        (json!({ "store_url": "not a url" }), "store_url"),
        (json!({ "colour": "red" }), "colour"),
        (json!([1, 2]), "body"),
    ] {
        let reply = app.call(Method::PATCH, &path, token, Some(&patch)).await;
        assert_eq!(reply.status, 400, "{patch}: {}", reply.text);
        assert_eq!(reply.body["errors"][0]["field"], field, "{patch}: {}", reply.text);
    }
    let unchanged = app.call(Method::GET, &path, token, None).await;
    assert_eq!(
        unchanged.body["attribution"]["click_window_hours"], 168,
        "a refused change changes nothing"
    );
    app.stop().await;
}

async fn keys_show_their_secret_once_and_revoke(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.register("keys@studio.example", "Keys").await;
    let token = Some(owner.access_token.as_str());
    let created = app.call(Method::POST, "/api/v1/apps", token, Some(&android_app("Keyed"))).await;
    let app_id = created.body["id"].as_str().unwrap().to_owned();
    let key = app.call(Method::POST, &format!("/api/v1/apps/{app_id}/keys"), token, None).await;
    assert_eq!(key.status, 201, "{}", key.text);
    let secret = key.body["secret"].as_str().unwrap().to_owned();
    let key_id = key.body["id"].as_str().unwrap().to_owned();
    assert!(secret.len() >= 40);

    assert_eq!(key.body["name"], "", "no body: an unnamed key");
    // A named one; a name with a control character is refused, naming the field.
    let keys_path = format!("/api/v1/apps/{app_id}/keys");
    let named = app
        .call(
            Method::POST,
            &keys_path,
            token,
            Some(&serde_json::json!({ "name": " billing server " })),
        )
        .await;
    assert_eq!(named.status, 201, "{}", named.text);
    assert_eq!(named.body["name"], "billing server");
    let bad = app
        .call(Method::POST, &keys_path, token, Some(&serde_json::json!({ "name": "a\u{7}b" })))
        .await;
    assert_eq!(bad.status, 400, "{}", bad.text);
    assert_eq!(bad.body["errors"][0]["field"], "name");
    let named_id = named.body["id"].as_str().unwrap().to_owned();
    assert_eq!(
        app.call(Method::DELETE, &format!("{keys_path}/{named_id}"), token, None).await.status,
        204
    );

    let list = app.call(Method::GET, &format!("/api/v1/apps/{app_id}/keys"), token, None).await;
    assert_eq!(list.status, 200);
    assert_eq!(list.body.as_array().unwrap().len(), 2);
    assert!(!list.text.contains(&secret), "the secret is shown once only");
    assert!(list.body[0]["revoked_at"].is_null());
    assert_eq!(list.body[1]["name"], "billing server");

    // The database holds nothing from which the secret could be read back.
    let stored = app
        .state
        .store
        .credentials()
        .key(&unmogrowp_domain::KeyId::parse(&key_id).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(!stored.nonce.contains(&secret[3..]));
    let database_file = app.data_dir.path().join("unmogrowp.db");
    if database_file.exists() {
        let bytes = std::fs::read(&database_file).unwrap();
        let needle = secret.as_bytes();
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle),
            "secret found in the database file"
        );
    }

    let revoked = app
        .call(Method::DELETE, &format!("/api/v1/apps/{app_id}/keys/{key_id}"), token, None)
        .await;
    assert_eq!(revoked.status, 204);
    let list = app.call(Method::GET, &format!("/api/v1/apps/{app_id}/keys"), token, None).await;
    assert!(list.body[0]["revoked_at"].is_string());
    let missing = app
        .call(
            Method::DELETE,
            &format!("/api/v1/apps/{app_id}/keys/{}", uuid::Uuid::now_v7()),
            token,
            None,
        )
        .await;
    assert_eq!(missing.status, 404);
    let log = app.call(Method::GET, "/api/v1/audit-log?action=key.revoked", token, None).await;
    assert_eq!(log.body.as_array().unwrap().len(), 2, "the named key and this one");
    app.stop().await;
}

on_both_backends!(
    apps_are_created_read_updated_and_deleted,
    app_fields_are_validated_by_name,
    keys_show_their_secret_once_and_revoke
);
