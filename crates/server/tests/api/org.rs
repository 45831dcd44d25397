//! Members, roles, invitations, several organizations per user.

use reqwest::Method;
use serde_json::json;
use unmogrowp_testkit::app::{Login, PASSWORD, token_from_email};
use unmogrowp_testkit::{TestApp, TestBackend};

async fn invitations_add_members_with_their_role(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.register("owner@acme.example", "Acme").await;
    let admin = app.add_member(&owner, "admin@acme.example", "admin").await;
    assert_eq!(admin.body["role"], "admin");
    assert_eq!(admin.org_id, owner.org_id);

    let members =
        app.call(Method::GET, "/api/v1/org/members", Some(&owner.access_token), None).await;
    assert_eq!(members.status, 200);
    let listed: Vec<(String, String)> = members
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["email"].as_str().unwrap().to_owned(), m["role"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(
        listed,
        vec![
            ("owner@acme.example".into(), "owner".into()),
            ("admin@acme.example".into(), "admin".into())
        ]
    );
    assert!(members.body[0]["user_id"].is_string());

    // The link works once.
    let invited = app
        .call(
            Method::POST,
            "/api/v1/org/invitations",
            Some(&owner.access_token),
            Some(&json!({ "email": "viewer@acme.example", "role": "viewer" })),
        )
        .await;
    assert_eq!(invited.status, 201);
    assert_eq!(invited.body["role"], "viewer");
    let message = app.wait_for_outbox_email("viewer@acme.example", "Join Acme").await;
    let token = token_from_email(&message, "/accept-invitation?token=");
    let accept = json!({ "token": token, "name": "Vera", "password": PASSWORD });
    assert_eq!(
        app.call(Method::POST, "/api/v1/auth/accept-invitation", None, Some(&accept)).await.status,
        200
    );
    let again = app.call(Method::POST, "/api/v1/auth/accept-invitation", None, Some(&accept)).await;
    assert_eq!(again.status, 400);
    assert_eq!(again.body["code"], "invalid_token");

    // Inviting a member again is a conflict; a bad role names the field.
    let dup = app
        .call(
            Method::POST,
            "/api/v1/org/invitations",
            Some(&owner.access_token),
            Some(&json!({ "email": "admin@acme.example", "role": "member" })),
        )
        .await;
    assert_eq!(dup.status, 409);
    let bad = app
        .call(
            Method::POST,
            "/api/v1/org/invitations",
            Some(&owner.access_token),
            Some(&json!({ "email": "x@acme.example", "role": "emperor" })),
        )
        .await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.body["errors"][0]["field"], "role");
    app.stop().await;
}

async fn an_existing_account_joins_a_second_organization(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.register("alice@one.example", "One").await;
    let bob = app.register("bob@two.example", "Two").await;
    let invite = app
        .call(
            Method::POST,
            "/api/v1/org/invitations",
            Some(&bob.access_token),
            Some(&json!({ "email": "alice@one.example", "role": "member" })),
        )
        .await;
    assert_eq!(invite.status, 201);
    let message = app.wait_for_outbox_email("alice@one.example", "Join Two").await;
    let token = token_from_email(&message, "/accept-invitation?token=");
    let wrong = app
        .call(
            Method::POST,
            "/api/v1/auth/accept-invitation",
            None,
            Some(&json!({ "token": token, "name": "", "password": "not alice's password" })),
        )
        .await;
    assert_eq!(wrong.status, 401);
    let joined = app
        .call(
            Method::POST,
            "/api/v1/auth/accept-invitation",
            None,
            Some(&json!({ "token": token, "name": "", "password": PASSWORD })),
        )
        .await;
    assert_eq!(joined.status, 200, "{}", joined.text);
    assert_eq!(joined.body["organization"]["id"], bob.org_id.as_str());
    assert_eq!(joined.body["role"], "member");

    // Alice's first token acts in her own organization; X-Org-Id selects the other one.
    let me = app.call(Method::GET, "/api/v1/me", Some(&alice.access_token), None).await;
    assert_eq!(me.body["organization"]["id"], alice.org_id.as_str());
    assert_eq!(me.body["organizations"].as_array().unwrap().len(), 2);
    let other = app
        .call_with(
            Method::GET,
            "/api/v1/me",
            Some(&alice.access_token),
            None,
            &[("x-org-id", &bob.org_id)],
        )
        .await;
    assert_eq!(other.status, 200);
    assert_eq!(other.body["organization"]["id"], bob.org_id.as_str());
    assert_eq!(other.body["role"], "member");
    // An organization she does not belong to is not found.
    let carol = app.register("carol@three.example", "Three").await;
    let stranger = app
        .call_with(
            Method::GET,
            "/api/v1/me",
            Some(&alice.access_token),
            None,
            &[("x-org-id", &carol.org_id)],
        )
        .await;
    assert_eq!(stranger.status, 404);
    app.stop().await;
}

async fn roles_change_and_members_leave_but_an_owner_always_remains(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.register("boss@corp.example", "Corp").await;
    let member = app.add_member(&owner, "worker@corp.example", "member").await;
    let path = format!("/api/v1/org/members/{}", member.user_id);

    let promoted = app
        .call(Method::PATCH, &path, Some(&owner.access_token), Some(&json!({ "role": "admin" })))
        .await;
    assert_eq!(promoted.status, 200, "{}", promoted.text);
    assert_eq!(promoted.body["role"], "admin");
    // The change applies to the member's next request, without a new sign-in.
    let me = app.call(Method::GET, "/api/v1/me", Some(&member.access_token), None).await;
    assert_eq!(me.body["role"], "admin");

    let own = format!("/api/v1/org/members/{}", owner.user_id);
    let demote_last_owner = app
        .call(Method::PATCH, &own, Some(&owner.access_token), Some(&json!({ "role": "admin" })))
        .await;
    assert_eq!(demote_last_owner.status, 409);
    let remove_last_owner = app.call(Method::DELETE, &own, Some(&owner.access_token), None).await;
    assert_eq!(remove_last_owner.status, 409);

    let removed = app.call(Method::DELETE, &path, Some(&owner.access_token), None).await;
    assert_eq!(removed.status, 204);
    let after = app.call(Method::GET, "/api/v1/me", Some(&member.access_token), None).await;
    assert_eq!(after.status, 403, "a removed member's token no longer acts in the organization");
    let missing = app.call(Method::DELETE, &path, Some(&owner.access_token), None).await;
    assert_eq!(missing.status, 404);
    let garbage = app
        .call(Method::DELETE, "/api/v1/org/members/not-an-id", Some(&owner.access_token), None)
        .await;
    assert_eq!(garbage.status, 404);

    let entries = app.call(Method::GET, "/api/v1/audit-log", Some(&owner.access_token), None).await;
    let actions: Vec<&str> =
        entries.body.as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    for action in ["member.invited", "member.joined", "member.role_changed", "member.removed"] {
        assert!(actions.contains(&action), "{action} missing from {actions:?}");
    }
    let change = entries
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "member.role_changed")
        .unwrap();
    assert_eq!(change["details"]["from"], "member");
    assert_eq!(change["details"]["to"], "admin");
    assert_eq!(change["actor"], "boss@corp.example");
    assert_eq!(change["outcome"], "success");
    assert!(change["ip"].as_str().unwrap().starts_with("127."));
    app.stop().await;
}

async fn a_member_may_leave(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.register("host@club.example", "Club").await;
    let guest: Login = app.add_member(&owner, "guest@club.example", "viewer").await;
    let leave = app
        .call(
            Method::DELETE,
            &format!("/api/v1/org/members/{}", guest.user_id),
            Some(&guest.access_token),
            None,
        )
        .await;
    assert_eq!(leave.status, 204);
    let members =
        app.call(Method::GET, "/api/v1/org/members", Some(&owner.access_token), None).await;
    assert_eq!(members.body.as_array().unwrap().len(), 1);
    app.stop().await;
}

async fn the_audit_log_filters_and_pages(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.register("auditor@books.example", "Books").await;
    for index in 0..5 {
        let body = json!({ "name": format!("App {index}"), "platform": "android", "bundle_id": format!("com.books.app{index}"),
                           "store_url": "https://play.google.com/store/apps/details?id=com.books" });
        assert_eq!(
            app.call(Method::POST, "/api/v1/apps", Some(&owner.access_token), Some(&body))
                .await
                .status,
            201
        );
    }
    let first = app
        .call(
            Method::GET,
            "/api/v1/audit-log?action=app.created&limit=2",
            Some(&owner.access_token),
            None,
        )
        .await;
    assert_eq!(first.status, 200);
    assert_eq!(first.body.as_array().unwrap().len(), 2);
    let cursor = first.header("x-next-cursor").unwrap().to_owned();
    assert!(first.header("link").unwrap().contains("rel=\"next\""));
    let mut seen: Vec<String> = first
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    let mut next = Some(cursor);
    while let Some(cursor) = next {
        let page = app
            .call(
                Method::GET,
                &format!("/api/v1/audit-log?action=app.created&limit=2&cursor={cursor}"),
                Some(&owner.access_token),
                None,
            )
            .await;
        seen.extend(
            page.body.as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap().to_owned()),
        );
        next = page.header("x-next-cursor").map(str::to_owned);
    }
    assert_eq!(seen.len(), 5);
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.reverse();
    assert_eq!(seen, sorted, "newest first, no duplicates");

    let today = jiff::Zoned::now().with_time_zone(jiff::tz::TimeZone::UTC).date().to_string();
    let by_day = app.call(Method::GET, &format!("/api/v1/audit-log?from={today}&to={today}&outcome=success&actor=auditor@books.example"),
        Some(&owner.access_token), None).await;
    assert!(by_day.body.as_array().unwrap().len() >= 6, "{}", by_day.text);
    let none = app
        .call(
            Method::GET,
            "/api/v1/audit-log?from=2001-01-01&to=2001-01-02",
            Some(&owner.access_token),
            None,
        )
        .await;
    assert_eq!(none.body.as_array().unwrap().len(), 0);
    let bad = app
        .call(Method::GET, "/api/v1/audit-log?outcome=maybe", Some(&owner.access_token), None)
        .await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.body["errors"][0]["field"], "outcome");
    let bad_limit =
        app.call(Method::GET, "/api/v1/audit-log?limit=0", Some(&owner.access_token), None).await;
    assert_eq!(bad_limit.body["errors"][0]["field"], "limit");
    app.stop().await;
}

on_both_backends!(
    invitations_add_members_with_their_role,
    an_existing_account_joins_a_second_organization,
    roles_change_and_members_leave_but_an_owner_always_remains,
    a_member_may_leave,
    the_audit_log_filters_and_pages,
);
