//! The live WebSocket: authenticated by its first message, one organization only.

use crate::apps::android_app;
use crate::collect::{event, fixture, send};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use unmogrowp_testkit::{TestApp, TestBackend};

async fn next_json(
    socket: &mut (impl StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin),
) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a message in time")
            .expect("open")
            .expect("ok");
        if let Message::Text(text) = message {
            return serde_json::from_str(&text).unwrap();
        }
    }
}

#[tokio::test]
async fn the_live_feed_streams_only_the_organizations_events() {
    let app = TestApp::spawn(TestBackend::Sqlite).await;
    let mine = fixture(&app, "live-a.example", android_app("Live A")).await;
    let theirs = fixture(&app, "live-b.example", android_app("Live B")).await;
    let url = format!("{}/api/v1/live", app.url.replace("http://", "ws://"));
    let (mut socket, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    socket
        .send(Message::Text(json!({ "token": mine.owner.access_token }).to_string().into()))
        .await
        .unwrap();
    let ready = next_json(&mut socket).await;
    assert_eq!(ready["type"], "ready");
    assert_eq!(ready["organization_id"], mine.owner.org_id.as_str());

    assert_eq!(
        send(&app, &theirs.app_token, &[event("theirs-1", "session", None)]).await.status,
        200
    );
    assert_eq!(send(&app, &mine.app_token, &[event("mine-1", "install", None)]).await.status, 200);
    let message = next_json(&mut socket).await;
    assert_eq!(message["type"], "install", "{message}");
    assert_eq!(
        message["id"], "mine-1",
        "another organization's event never arrives first: {message}"
    );
    assert_eq!(message["app_id"], mine.app_id.as_str());
    assert!(message.get("org_id").is_none());
    app.stop().await;
}

#[tokio::test]
async fn a_bad_first_message_closes_the_socket() {
    let app = TestApp::spawn(TestBackend::Sqlite).await;
    let url = format!("{}/api/v1/live", app.url.replace("http://", "ws://"));
    for hello in [json!({ "token": "not-a-token" }).to_string(), "hello".to_owned()] {
        let (mut socket, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
        socket.send(Message::Text(hello.into())).await.unwrap();
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        match message {
            Message::Close(Some(frame)) => assert_eq!(u16::from(frame.code), 1008),
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
    app.stop().await;
}
