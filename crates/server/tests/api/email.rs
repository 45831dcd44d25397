//! Email over a real SMTP server (started by `make test`), and the outbox.

use reqwest::Method;
use serde_json::json;
use unmogrowp_testkit::app::{smtp_url, token_from_email, wait_for_smtp_email};
use unmogrowp_testkit::{TestApp, TestBackend};

#[tokio::test]
async fn reset_emails_travel_over_smtp_and_their_link_works() {
    let app = TestApp::spawn_with(TestBackend::Sqlite, |config| {
        config.smtp_url = Some(secrecy::SecretString::from(smtp_url()));
    })
    .await;
    let address = format!("smtp-{}@example.com", uuid::Uuid::new_v4().simple());
    app.register(&address, "Mailers").await;
    let reply = app
        .call(
            Method::POST,
            "/api/v1/auth/forgot-password",
            None,
            Some(&json!({ "email": address })),
        )
        .await;
    assert_eq!(reply.status, 202);
    let message = wait_for_smtp_email(&address, "Reset your UnMoGrowP password").await;
    assert!(message.contains("multipart/alternative"), "{message}");
    assert!(message.contains("text/html"), "{message}");
    let token = token_from_email(&message, "/reset-password?token=");
    let reset = app
        .call(
            Method::POST,
            "/api/v1/auth/reset-password",
            None,
            Some(&json!({ "token": token, "password": "delivered by smtp 99" })),
        )
        .await;
    assert_eq!(reset.status, 204, "{}", reset.text);
    wait_for_smtp_email(&address, "password was changed").await;
    assert!(app.outbox().is_empty(), "with SMTP configured nothing goes to the outbox");
    app.stop().await;
}

#[tokio::test]
async fn invitations_travel_over_smtp() {
    let app = TestApp::spawn_with(TestBackend::Sqlite, |config| {
        config.smtp_url = Some(secrecy::SecretString::from(smtp_url()));
    })
    .await;
    let owner = app
        .register(&format!("host-{}@example.com", uuid::Uuid::new_v4().simple()), "Smtp Org")
        .await;
    let invitee = format!("guest-{}@example.com", uuid::Uuid::new_v4().simple());
    let reply = app
        .call(
            Method::POST,
            "/api/v1/org/invitations",
            Some(&owner.access_token),
            Some(&json!({ "email": invitee, "role": "member" })),
        )
        .await;
    assert_eq!(reply.status, 201);
    let message = wait_for_smtp_email(&invitee, "Join Smtp Org").await;
    let token = token_from_email(&message, "/accept-invitation?token=");
    let accepted = app
        .call(
            Method::POST,
            "/api/v1/auth/accept-invitation",
            None,
            Some(&json!({ "token": token, "name": "Guest", "password": "a fine passphrase 12" })),
        )
        .await;
    assert_eq!(accepted.status, 200, "{}", accepted.text);
    assert_eq!(accepted.body["role"], "member");
    app.stop().await;
}
