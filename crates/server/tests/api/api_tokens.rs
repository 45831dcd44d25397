//! Long-lived API tokens (`Authorization: Bearer unm_…`): made by admins, shown once, acting
//! within their role, refused for what only a signed-in person may do, revoked at once on
//! every node, expiring when told.

use crate::apps::android_app;
use crate::clickhouse::database_name;
use crate::redis::{create_app, eventually, redis_addr, two_nodes};
use reqwest::Method;
use secrecy::SecretString;
use serde_json::{Value, json};
use unmogrowp_server::config::Config;
use unmogrowp_testkit::{TestApp, TestBackend};

const TOKENS: &str = "/api/v1/org/api-tokens";

async fn create_token(app: &TestApp, session: &str, body: &Value) -> (u16, Value) {
    let reply = app.call(Method::POST, TOKENS, Some(session), Some(body)).await;
    (reply.status, reply.body)
}

async fn api_tokens_act_within_their_role(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.register("owner@tokens.example", "Tokens").await;
    let (app_id, _) = create_app(&app, &owner.access_token, "Reported").await;

    // Made by the owner, shown once, recognisable by its prefix.
    let (status, created) =
        create_token(&app, &owner.access_token, &json!({ "name": " Looker ", "role": "viewer" }))
            .await;
    assert_eq!(status, 201, "{created}");
    let token = created["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("unm_") && token.len() > 40, "{token}");
    assert_eq!(created["prefix"], token[..12]);
    assert_eq!(created["name"], "Looker");
    assert_eq!(created["role"], "viewer");
    assert_eq!(created["created_by"], owner.user_id.as_str());
    assert_eq!(created["expires_at"], Value::Null);
    let token_id = created["id"].as_str().unwrap().to_owned();

    // A viewer token reads reports and the organization's apps, and is refused writes.
    let summary = format!("/api/v1/apps/{app_id}/reports/summary");
    let read = app.call(Method::GET, &summary, Some(&token), None).await;
    assert_eq!(read.status, 200, "{}", read.text);
    assert_eq!(app.call(Method::GET, "/api/v1/apps", Some(&token), None).await.status, 200);
    let write =
        app.call(Method::POST, "/api/v1/apps", Some(&token), Some(&android_app("Nope"))).await;
    assert_eq!(write.status, 403, "{}", write.text);
    let link = json!({ "network": "meta", "campaign": "spring" });
    let links = format!("/api/v1/apps/{app_id}/links");
    assert_eq!(app.call(Method::POST, &links, Some(&token), Some(&link)).await.status, 403);

    // What only a signed-in person may do is refused to any token.
    for (method, path, body) in [
        (Method::GET, TOKENS, None),
        (Method::POST, TOKENS, Some(json!({ "name": "again", "role": "viewer" }))),
        (Method::POST, "/api/v1/auth/logout", None),
        (Method::PATCH, "/api/v1/me", Some(json!({ "name": "Someone" }))),
        (Method::GET, "/api/v1/me", None),
    ] {
        let refused = app.call(method, path, Some(&token), body.as_ref()).await;
        assert_eq!(refused.status, 403, "{path}: {}", refused.text);
    }

    // A member token writes what members may, and the audit log names the token.
    let (status, member_token) =
        create_token(&app, &owner.access_token, &json!({ "name": "Script", "role": "member" }))
            .await;
    assert_eq!(status, 201, "{member_token}");
    let member_token = member_token["token"].as_str().unwrap().to_owned();
    let made = app.call(Method::POST, &links, Some(&member_token), Some(&link)).await;
    assert_eq!(made.status, 201, "{}", made.text);
    let audit = app.call(Method::GET, "/api/v1/audit-log", Some(&owner.access_token), None).await;
    let entries = audit.body.as_array().cloned().unwrap_or_default();
    let by_token = entries.iter().find(|e| e["action"] == "link.created").expect("link audited");
    assert_eq!(by_token["actor"], format!("api-token:{}", &member_token[..12]), "{by_token}");
    assert!(entries.iter().any(|e| e["action"] == "api_token.created"), "{}", audit.text);

    // The list shows the tokens without the tokens themselves, and when they were last used.
    eventually("the viewer token's use recorded", async || {
        let listed = app.call(Method::GET, TOKENS, Some(&owner.access_token), None).await;
        listed.body["tokens"][0]["last_used_at"].is_string()
    })
    .await;
    let listed = app.call(Method::GET, TOKENS, Some(&owner.access_token), None).await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    assert_eq!(listed.body["tokens"].as_array().unwrap().len(), 2, "{}", listed.text);
    assert!(
        !listed.text.contains(&token) && !listed.text.contains("token_hash"),
        "{}",
        listed.text
    );
    assert_eq!(listed.body["tokens"][0]["prefix"], token[..12]);

    // Tokens never reach beyond their organization.
    let stranger = app.register("stranger@tokens.example", "Elsewhere").await;
    let (their_app, _) = create_app(&app, &stranger.access_token, "Theirs").await;
    let theirs = format!("/api/v1/apps/{their_app}/reports/summary");
    assert_eq!(app.call(Method::GET, &theirs, Some(&token), None).await.status, 404);
    let other_org = app
        .call_with(
            Method::GET,
            "/api/v1/apps",
            Some(&token),
            None,
            &[("x-org-id", &stranger.org_id)],
        )
        .await;
    assert_eq!(other_org.status, 404, "{}", other_org.text);
    let revoke_theirs = format!("{TOKENS}/{token_id}");
    let foreign =
        app.call(Method::DELETE, &revoke_theirs, Some(&stranger.access_token), None).await;
    assert_eq!(foreign.status, 404, "another organization's token: {}", foreign.text);

    // Revoked: refused at once; revoking again changes nothing; unknown ids are 404.
    let revoked = app.call(Method::DELETE, &revoke_theirs, Some(&owner.access_token), None).await;
    assert_eq!(revoked.status, 204, "{}", revoked.text);
    let after = app.call(Method::GET, &summary, Some(&token), None).await;
    assert_eq!(after.status, 401, "{}", after.text);
    assert!(
        after.body["detail"].as_str().unwrap_or_default().contains("revoked"),
        "{}",
        after.text
    );
    assert_eq!(
        app.call(Method::DELETE, &revoke_theirs, Some(&owner.access_token), None).await.status,
        204
    );
    let unknown = format!("{TOKENS}/{}", uuid::Uuid::now_v7());
    assert_eq!(
        app.call(Method::DELETE, &unknown, Some(&owner.access_token), None).await.status,
        404
    );
    let made_up = "unm_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    assert_eq!(app.call(Method::GET, "/api/v1/apps", Some(made_up), None).await.status, 401);
    assert_eq!(app.call(Method::GET, "/api/v1/apps", Some("unm_short"), None).await.status, 401);
    // Its own organization's id in any spelling is its own.
    let upper = owner.org_id.to_uppercase();
    let member_headers = [("x-org-id", upper.as_str())];
    let own = app
        .call_with(Method::GET, "/api/v1/apps", Some(&member_token), None, &member_headers)
        .await;
    assert_eq!(own.status, 200, "{}", own.text);

    app.stop().await;
}

async fn only_admins_make_tokens_and_never_above_themselves(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.register("owner@grants.example", "Grants").await;
    let admin = app.add_member(&owner, "admin@grants.example", "admin").await;
    let member = app.add_member(&owner, "member@grants.example", "member").await;

    let (status, body) =
        create_token(&app, &member.access_token, &json!({ "name": "x", "role": "viewer" })).await;
    assert_eq!(status, 403, "members cannot make tokens: {body}");
    let (status, body) =
        create_token(&app, &admin.access_token, &json!({ "name": "x", "role": "owner" })).await;
    assert_eq!(status, 403, "an admin cannot make an owner token: {body}");
    let (status, body) =
        create_token(&app, &admin.access_token, &json!({ "name": "x", "role": "admin" })).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(app.call(Method::GET, TOKENS, Some(&member.access_token), None).await.status, 403);

    // A token is worth no more than its creator now: demoted, it writes no more; removed, it
    // stops working.
    let (status, body) =
        create_token(&app, &admin.access_token, &json!({ "name": "ops", "role": "admin" })).await;
    assert_eq!(status, 201, "{body}");
    let ops = body["token"].as_str().unwrap().to_owned();
    let apps_path = "/api/v1/apps";
    let new_app = crate::apps::android_app("ByToken");
    assert_eq!(app.call(Method::POST, apps_path, Some(&ops), Some(&new_app)).await.status, 201);
    let admin_path = format!("/api/v1/org/members/{}", admin.user_id);
    let demoted = app
        .call(
            Method::PATCH,
            &admin_path,
            Some(&owner.access_token),
            Some(&json!({ "role": "viewer" })),
        )
        .await;
    assert_eq!(demoted.status, 200, "{}", demoted.text);
    let refused = app.call(Method::POST, apps_path, Some(&ops), Some(&new_app)).await;
    assert_eq!(refused.status, 403, "a demoted creator's token: {}", refused.text);
    assert_eq!(app.call(Method::GET, apps_path, Some(&ops), None).await.status, 200);
    let removed = app.call(Method::DELETE, &admin_path, Some(&owner.access_token), None).await;
    assert_eq!(removed.status, 204, "{}", removed.text);
    let gone = app.call(Method::GET, apps_path, Some(&ops), None).await;
    assert_eq!(gone.status, 401, "a removed creator's token: {}", gone.text);

    // Bad fields are named.
    for (body, field) in [
        (json!({ "name": "  ", "role": "viewer" }), "name"),
        (
            json!({ "name": "x", "role": "viewer", "expires_at": "2001-01-01T00:00:00Z" }),
            "expires_at",
        ),
        (json!({ "name": "x", "role": "viewer", "expires_at": "next week" }), "expires_at"),
        (json!({ "name": "x", "role": "viewer", "expires_at": "" }), "expires_at"),
        (
            json!({ "name": "x", "role": "viewer", "expires_at": "2999-01-01T00:00:00Z" }),
            "expires_at",
        ),
        (json!({ "name": "x", "role": "emperor" }), "role"),
    ] {
        let (status, reply) = create_token(&app, &owner.access_token, &body).await;
        assert_eq!(status, 400, "{body}: {reply}");
        assert_eq!(reply["errors"][0]["field"], field, "{body}: {reply}");
    }

    // A token stops working when it expires.
    let soon = (jiff::Timestamp::now() + jiff::SignedDuration::from_millis(1_500)).to_string();
    let (status, expiring) = create_token(
        &app,
        &owner.access_token,
        &json!({ "name": "Trial", "role": "viewer", "expires_at": soon }),
    )
    .await;
    assert_eq!(status, 201, "{expiring}");
    assert!(expiring["expires_at"].is_string(), "{expiring}");
    let expiring = expiring["token"].as_str().unwrap().to_owned();
    assert_eq!(app.call(Method::GET, "/api/v1/apps", Some(&expiring), None).await.status, 200);
    eventually("the token expiring", async || {
        let reply = app.call(Method::GET, "/api/v1/apps", Some(&expiring), None).await;
        reply.status == 401 && reply.text.contains("expired")
    })
    .await;

    app.stop().await;
}

on_both_backends!(
    api_tokens_act_within_their_role,
    only_admins_make_tokens_and_never_above_themselves
);

/// Two nodes sharing PostgreSQL and Redis: a token cached on B stops working there as soon as
/// it is revoked on A.
#[tokio::test]
async fn a_revoked_token_fails_at_once_on_every_node() {
    let prefix = database_name("tokens");
    let redis = redis_addr();
    let configure = |config: &mut Config| {
        config.redis_url = Some(SecretString::from(format!("redis://{redis}/0")));
        config.redis_prefix = prefix.clone();
        config.auth.secret_key = Some(SecretString::from("cd".repeat(32)));
        config.auth.cache_ttl_seconds = 600;
    };
    let (a, b) = two_nodes(configure).await;
    let owner = a.register("owner@nodes.example", "Nodes").await;
    let (status, created) =
        create_token(&a, &owner.access_token, &json!({ "name": "BI", "role": "viewer" })).await;
    assert_eq!(status, 201, "{created}");
    let token = created["token"].as_str().unwrap().to_owned();
    assert_eq!(b.call(Method::GET, "/api/v1/apps", Some(&token), None).await.status, 200);
    let path = format!("{TOKENS}/{}", created["id"].as_str().unwrap());
    let revoked_at = std::time::Instant::now();
    assert_eq!(a.call(Method::DELETE, &path, Some(&owner.access_token), None).await.status, 204);
    // B cached the token just now and keeps a token's record up to 5 s: refusing it within one
    // second means the revocation reached B, not that its cache expired.
    loop {
        let status = b.call(Method::GET, "/api/v1/apps", Some(&token), None).await.status;
        if status == 401 {
            break;
        }
        assert!(
            revoked_at.elapsed() < std::time::Duration::from_secs(1),
            "B still accepts the revoked token ({status})"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    b.stop().await;
    a.stop().await;
}
