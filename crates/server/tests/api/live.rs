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

/// A client that reads nothing is disconnected with 1013 once its queue and the socket buffers
/// are full, while ingestion goes on; the server keeps no unbounded backlog for it.
#[tokio::test]
async fn a_client_that_reads_nothing_is_closed_with_1013() {
    let app = TestApp::spawn(TestBackend::Sqlite).await;
    let mine = fixture(&app, "live-slow.example", android_app("Live slow")).await;
    let address: std::net::SocketAddr = app.url.trim_start_matches("http://").parse().unwrap();
    // A small receive window so that the server's send buffer fills after a few megabytes.
    let tcp = tokio::net::TcpSocket::new_v4().unwrap();
    tcp.set_recv_buffer_size(4096).unwrap();
    let stream = tcp.connect(address).await.unwrap();
    let url = format!("ws://{address}/api/v1/live");
    let (mut socket, _) = tokio_tungstenite::client_async(&url, stream).await.unwrap();
    socket
        .send(Message::Text(json!({ "token": mine.owner.access_token }).to_string().into()))
        .await
        .unwrap();
    assert_eq!(next_json(&mut socket).await["type"], "ready");

    // 40 000 events of about 300 bytes each: more than the queue (8192) plus the kernel's
    // buffers (at most 4 MiB sending on this machine).
    let name = "n".repeat(100);
    for batch in 0..40 {
        let events: Vec<Value> =
            (0..1000).map(|i| event(&format!("slow-{batch}-{i}"), "event", Some(&name))).collect();
        let reply = send(&app, &mine.app_token, &events).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
    }

    // Now read: whatever was in flight, then the close frame, within the send timeout.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut received = 0u64;
    let code = loop {
        let message = tokio::time::timeout_at(deadline, socket.next())
            .await
            .expect("the server closed the socket in time");
        match message {
            Some(Ok(Message::Close(Some(frame)))) => break u16::from(frame.code),
            Some(Ok(Message::Text(_))) => received += 1,
            Some(Ok(_)) => {}
            other => panic!("expected a close frame after {received} messages, got {other:?}"),
        }
    };
    assert_eq!(code, 1013, "closed as too slow after {received} messages");
    assert!(received < 40_000, "the server buffered everything ({received} messages)");
    app.stop().await;
}
