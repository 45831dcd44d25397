//! Tenant isolation: organization A's tokens against organization B's ids. Every answer is
//! 404 (or 403 where A's role forbids the action anyway), and nothing of B appears anywhere.

use crate::apps::android_app;
use reqwest::Method;
use serde_json::{Value, json};
use unmogrowp_testkit::app::Login;
use unmogrowp_testkit::{TestApp, TestBackend};

struct Org {
    owner: Login,
    viewer: Login,
    app_id: String,
    app_token: String,
    key_id: String,
    invitation_id: String,
    link_id: String,
    postback_id: String,
    email_domain: &'static str,
}

async fn populate(app: &TestApp, name: &'static str, domain: &'static str) -> Org {
    let owner = app.register(&format!("owner@{domain}"), name).await;
    let viewer = app.add_member(&owner, &format!("viewer@{domain}"), "viewer").await;
    let created = app
        .call(Method::POST, "/api/v1/apps", Some(&owner.access_token), Some(&android_app(name)))
        .await;
    let app_id = created.body["id"].as_str().unwrap().to_owned();
    let key = app
        .call(Method::POST, &format!("/api/v1/apps/{app_id}/keys"), Some(&owner.access_token), None)
        .await;
    let link = app
        .call(
            Method::POST,
            &format!("/api/v1/apps/{app_id}/links"),
            Some(&owner.access_token),
            Some(&json!({ "network": format!("net-{domain}"), "campaign": "c" })),
        )
        .await;
    let link_id = link.body["id"].as_str().unwrap().to_owned();
    let postback = app
        .call(Method::POST, &format!("/api/v1/apps/{app_id}/postbacks"), Some(&owner.access_token),
            Some(&json!({ "network": format!("net-{domain}"), "url_template": format!("https://{domain}/pb?c={{click_id}}"), "events": ["install"] })))
        .await;
    let postback_id = postback.body["id"].as_str().unwrap().to_owned();
    let blocked = app
        .call(
            Method::PUT,
            "/api/v1/org/blocked-ips",
            Some(&owner.access_token),
            Some(&json!({ "ranges": ["192.0.2.0/24"] })),
        )
        .await;
    assert_eq!(blocked.status, 200);
    let invitation = app
        .call(
            Method::POST,
            "/api/v1/org/invitations",
            Some(&owner.access_token),
            Some(&json!({ "email": format!("pending@{domain}"), "role": "member" })),
        )
        .await;
    Org {
        app_token: created.body["app_token"].as_str().unwrap().to_owned(),
        app_id,
        key_id: key.body["id"].as_str().unwrap().to_owned(),
        invitation_id: invitation.body["id"].as_str().unwrap().to_owned(),
        link_id,
        postback_id,
        owner,
        viewer,
        email_domain: domain,
    }
}

/// Everything of `org` that must never show up in another organization's responses.
fn secrets_of(org: &Org) -> Vec<String> {
    vec![
        org.owner.user_id.clone(),
        org.owner.org_id.clone(),
        org.viewer.user_id.clone(),
        org.app_id.clone(),
        org.app_token.clone(),
        org.key_id.clone(),
        org.invitation_id.clone(),
        org.link_id.clone(),
        org.postback_id.clone(),
        org.email_domain.to_owned(),
    ]
}

async fn another_organizations_objects_are_not_found(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let a = populate(&app, "Alpha", "alpha.example").await;
    let b = populate(&app, "Beta", "beta.example").await;
    let token = Some(a.owner.access_token.as_str());

    let b_app = format!("/api/v1/apps/{}", b.app_id);
    let b_keys = format!("/api/v1/apps/{}/keys", b.app_id);
    let b_key_via_a = format!("/api/v1/apps/{}/keys/{}", a.app_id, b.key_id);
    let b_key_via_b = format!("/api/v1/apps/{}/keys/{}", b.app_id, b.key_id);
    let b_member = format!("/api/v1/org/members/{}", b.viewer.user_id);
    let b_links = format!("/api/v1/apps/{}/links", b.app_id);
    let b_postbacks = format!("/api/v1/apps/{}/postbacks", b.app_id);
    let b_owner = format!("/api/v1/org/members/{}", b.owner.user_id);
    let b_annotations = format!("/api/v1/apps/{}/annotations", b.app_id);
    let b_note = app
        .call(
            Method::POST,
            &b_annotations,
            Some(&b.owner.access_token),
            Some(&json!({ "date": "2026-11-20", "text": "Beta's launch" })),
        )
        .await;
    assert_eq!(b_note.status, 201, "{}", b_note.text);
    let b_note_id = b_note.body["id"].as_str().unwrap().to_owned();
    let calls: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, b_app.clone(), None),
        (Method::PATCH, b_app.clone(), Some(json!({ "name": "hijacked" }))),
        (Method::DELETE, b_app.clone(), None),
        (Method::GET, b_keys.clone(), None),
        (Method::POST, b_keys.clone(), None),
        (Method::DELETE, b_key_via_a, None),
        (Method::DELETE, b_key_via_b, None),
        (Method::PATCH, b_member.clone(), Some(json!({ "role": "admin" }))),
        (Method::DELETE, b_member.clone(), None),
        (Method::PATCH, b_owner.clone(), Some(json!({ "role": "viewer" }))),
        (Method::DELETE, b_owner, None),
        (Method::GET, b_links.clone(), None),
        (Method::POST, b_links, Some(json!({ "network": "meta", "campaign": "stolen" }))),
        (Method::GET, b_postbacks.clone(), None),
        (
            Method::POST,
            b_postbacks,
            Some(
                json!({ "network": "meta", "url_template": "https://x.example/pb", "events": ["install"] }),
            ),
        ),
        (Method::GET, format!("/api/v1/apps/{}/postbacks/deliveries", b.app_id), None),
        (Method::GET, format!("/api/v1/apps/{}/reports/summary", b.app_id), None),
        (Method::GET, format!("/api/v1/apps/{}/reports/fraud", b.app_id), None),
        (Method::GET, format!("/api/v1/apps/{}/rejected-events", b.app_id), None),
        (Method::GET, format!("/api/v1/apps/{}/installs/some-install", b.app_id), None),
        (Method::GET, b_annotations.clone(), None),
        (Method::POST, b_annotations.clone(), Some(json!({ "date": "2026-11-21", "text": "x" }))),
        (Method::DELETE, format!("{b_annotations}/{b_note_id}"), None),
        (Method::DELETE, format!("/api/v1/apps/{}/annotations/{b_note_id}", a.app_id), None),
    ];
    for (method, path, body) in &calls {
        let reply = app.call(method.clone(), path, token, body.as_ref()).await;
        assert_eq!(reply.status, 404, "{method} {path} with A's owner: {}", reply.text);
        // A's viewer is refused by role first, or does not find the object.
        let reply =
            app.call(method.clone(), path, Some(&a.viewer.access_token), body.as_ref()).await;
        assert!(
            reply.status == 404 || reply.status == 403,
            "{method} {path} with A's viewer: {}",
            reply.status
        );
    }
    // Selecting B's organization with A's token is not found either.
    for path in [
        "/api/v1/me",
        "/api/v1/apps",
        "/api/v1/org/members",
        "/api/v1/audit-log",
        "/api/v1/org/invitations",
        "/api/v1/org/blocked-ips",
    ] {
        let reply =
            app.call_with(Method::GET, path, token, None, &[("x-org-id", &b.owner.org_id)]).await;
        assert_eq!(reply.status, 404, "{path} with X-Org-Id of B");
    }

    // Nothing of B in any of A's listings.
    let forbidden = secrets_of(&b);
    for path in [
        "/api/v1/me",
        "/api/v1/apps",
        "/api/v1/org/members",
        "/api/v1/audit-log?limit=200",
        "/api/v1/org/invitations",
        "/api/v1/org/blocked-ips",
        &format!("/api/v1/apps/{}/links", a.app_id),
        &format!("/api/v1/apps/{}/postbacks", a.app_id),
        &format!("/api/v1/apps/{}", a.app_id),
        &format!("/api/v1/apps/{}/keys", a.app_id),
    ] {
        let reply = app.call(Method::GET, path, token, None).await;
        assert_eq!(reply.status, 200, "{path}: {}", reply.text);
        for secret in &forbidden {
            assert!(!reply.text.contains(secret.as_str()), "{path} shows B's {secret}");
        }
    }

    // B's objects are untouched.
    let b_view = app.call(Method::GET, &b_app, Some(&b.owner.access_token), None).await;
    assert_eq!(b_view.status, 200);
    assert_eq!(b_view.body["name"], "Beta");
    let b_keys_view = app.call(Method::GET, &b_keys, Some(&b.owner.access_token), None).await;
    assert!(b_keys_view.body[0]["revoked_at"].is_null());
    let b_members =
        app.call(Method::GET, "/api/v1/org/members", Some(&b.owner.access_token), None).await;
    assert_eq!(b_members.body.as_array().unwrap().len(), 2);
    let b_notes = app.call(Method::GET, &b_annotations, Some(&b.owner.access_token), None).await;
    assert_eq!(b_notes.body.as_array().map(Vec::len), Some(1), "{}", b_notes.text);
    assert_eq!(b_notes.body[0]["text"], "Beta's launch");
    app.stop().await;
}

on_both_backends!(another_organizations_objects_are_not_found);

/// On PostgreSQL, the application role with no organization set sees no row of any tenant
/// table, even though the rows exist.
#[tokio::test]
async fn postgres_rows_are_invisible_without_an_organization() {
    use sqlx::Connection;
    let app = TestApp::spawn(TestBackend::Postgres).await;
    populate(&app, "Gamma", "gamma.example").await;
    let database = app.database.as_ref().unwrap();
    let mut superuser = database.superuser_connection().await;
    let mut as_app = sqlx::PgConnection::connect(&database.url).await.unwrap();
    sqlx::raw_sql("SET ROLE unmogrowp_app").execute(&mut as_app).await.unwrap();
    for table in [
        "organizations",
        "memberships",
        "apps",
        "app_keys",
        "invitations",
        "audit_log",
        "links",
        "postbacks",
        "blocked_ip_ranges",
    ] {
        let query = format!("SELECT count(*) FROM {table}");
        let (present,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(query.clone()))
            .fetch_one(&mut superuser)
            .await
            .unwrap();
        assert!(present > 0, "{table} has rows");
        let (visible,): (i64,) =
            sqlx::query_as(sqlx::AssertSqlSafe(query)).fetch_one(&mut as_app).await.unwrap();
        assert_eq!(visible, 0, "{table} rows visible without an organization");
    }
    let _ = as_app.close().await;
    let _ = superuser.close().await;
    app.stop().await;
}
