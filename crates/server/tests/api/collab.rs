//! Collaboration over the live connection: presence, and annotations stored, audited and
//! announced to the organization's members.

use crate::apps::android_app;
use crate::collect::{event, send};
use futures::{SinkExt, StreamExt};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use unmogrowp_testkit::app::Login;
use unmogrowp_testkit::{TestApp, TestBackend};

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(app: &TestApp, login: &Login, batch: bool) -> (Socket, Value) {
    let url = format!("{}/api/v1/live", app.url.replace("http://", "ws://"));
    let (mut socket, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    let hello = json!({ "token": login.access_token, "batch": batch });
    socket.send(Message::Text(hello.to_string().into())).await.unwrap();
    let ready = next_json(&mut socket).await;
    assert_eq!(ready["type"], "ready", "{ready}");
    (socket, ready)
}

async fn next_json(socket: &mut Socket) -> Value {
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

/// The next message of `kind`, skipping others (heartbeats, the other member's presence).
async fn next_of(socket: &mut Socket, kind: &str) -> Value {
    loop {
        let message = next_json(socket).await;
        if message["type"] == kind {
            return message;
        }
    }
}

/// The next presence message whose viewers satisfy `want`.
async fn presence_where(socket: &mut Socket, want: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    loop {
        let message = next_of(socket, "presence").await;
        let viewers = message["viewers"].as_array().cloned().unwrap_or_default();
        if want(&viewers) {
            return viewers;
        }
    }
}

async fn say_view(socket: &mut Socket, view: Option<&str>) {
    let message = json!({ "type": "presence", "view": view });
    socket.send(Message::Text(message.to_string().into())).await.unwrap();
}

fn viewing<'a>(viewers: &'a [Value], user_id: &str) -> Option<&'a Value> {
    viewers.iter().find(|viewer| viewer["user_id"] == user_id)
}

async fn members_see_each_others_presence_and_annotations(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.register("owner@collab.example", "Collab").await;
    let member = app.add_member(&owner, "member@collab.example", "member").await;
    let viewer = app.add_member(&owner, "viewer@collab.example", "viewer").await;
    let stranger = app.register("owner@elsewhere.example", "Elsewhere").await;
    let created = app
        .call(Method::POST, "/api/v1/apps", Some(&owner.access_token), Some(&android_app("Shared")))
        .await;
    let app_id = created.body["id"].as_str().unwrap().to_owned();
    let view = format!("overview:{app_id}");

    let (mut owner_socket, _) = connect(&app, &owner, false).await;
    let (mut member_socket, ready) = connect(&app, &member, false).await;
    let (mut stranger_socket, _) = connect(&app, &stranger, false).await;
    let member_connection = ready["connection_id"].as_u64().expect("a connection id");

    // Presence: each sees the other, by name and view.
    say_view(&mut owner_socket, Some(&view)).await;
    let seen = presence_where(&mut member_socket, |v| viewing(v, &owner.user_id).is_some()).await;
    let owner_seen = viewing(&seen, &owner.user_id).unwrap();
    assert_eq!(owner_seen["view"], view.as_str());
    assert_eq!(owner_seen["name"], "Test User");
    say_view(&mut member_socket, Some(&view)).await;
    let seen = presence_where(&mut owner_socket, |v| v.len() == 2).await;
    assert_eq!(viewing(&seen, &member.user_id).unwrap()["connection_id"], member_connection);
    // A new connection learns who is there from `ready`.
    let (mut late_socket, late_ready) = connect(&app, &viewer, false).await;
    assert_eq!(late_ready["viewers"].as_array().map(Vec::len), Some(2), "{late_ready}");

    // Annotations: a member writes one; everyone in the organization gets it at once.
    let notes = format!("/api/v1/apps/{app_id}/annotations");
    let note = json!({ "date": "2026-11-20", "text": "  Campaign paused  " });
    let made = app.call(Method::POST, &notes, Some(&member.access_token), Some(&note)).await;
    assert_eq!(made.status, 201, "{}", made.text);
    assert_eq!(made.body["text"], "Campaign paused");
    assert_eq!(made.body["author"]["user_id"], member.user_id.as_str());
    let note_id = made.body["id"].as_str().unwrap().to_owned();
    for socket in [&mut owner_socket, &mut late_socket] {
        let announced = next_of(socket, "annotation").await;
        assert_eq!(announced["action"], "created");
        assert_eq!(announced["annotation"]["id"], note_id.as_str());
        assert_eq!(announced["annotation"]["date"], "2026-11-20");
    }
    let listed = app.call(Method::GET, &notes, Some(&viewer.access_token), None).await;
    assert_eq!(listed.status, 200);
    assert_eq!(listed.body.as_array().map(Vec::len), Some(1));
    assert_eq!(listed.body[0]["author"]["name"], "Invited User");
    let outside = app
        .call(Method::GET, &format!("{notes}?from=2026-11-21"), Some(&owner.access_token), None)
        .await;
    assert_eq!(outside.body.as_array().map(Vec::len), Some(0), "{}", outside.text);
    let inside = app
        .call(
            Method::GET,
            &format!("{notes}?from=2026-11-20&to=2026-11-20"),
            Some(&owner.access_token),
            None,
        )
        .await;
    assert_eq!(inside.body.as_array().map(Vec::len), Some(1), "{}", inside.text);

    // Bad input names the field; viewers cannot write; members delete only their own.
    for (body, field) in [
        (json!({ "date": "2026-02-30", "text": "x" }), "date"),
        (json!({ "date": "2026-11-20", "text": "   " }), "text"),
        (json!({ "date": "2026-11-20", "text": "x".repeat(281) }), "text"),
        (json!({ "date": "2026-11-20", "text": "a\u{7}b" }), "text"),
    ] {
        let refused = app.call(Method::POST, &notes, Some(&member.access_token), Some(&body)).await;
        assert_eq!(refused.status, 400, "{body}: {}", refused.text);
        assert_eq!(refused.body["errors"][0]["field"], field, "{body}: {}", refused.text);
    }
    let reversed = app
        .call(
            Method::GET,
            &format!("{notes}?from=2026-11-21&to=2026-11-20"),
            Some(&owner.access_token),
            None,
        )
        .await;
    assert_eq!(reversed.status, 400);
    assert_eq!(reversed.body["errors"][0]["field"], "from", "{}", reversed.text);
    assert_eq!(
        app.call(Method::POST, &notes, Some(&viewer.access_token), Some(&note)).await.status,
        403
    );
    let owners = app
        .call(
            Method::POST,
            &notes,
            Some(&owner.access_token),
            Some(&json!({ "date": "2026-11-22", "text": "New build 4.2" })),
        )
        .await;
    assert_eq!(owners.status, 201);
    let owners_id = owners.body["id"].as_str().unwrap().to_owned();
    let not_theirs = app
        .call(Method::DELETE, &format!("{notes}/{owners_id}"), Some(&member.access_token), None)
        .await;
    assert_eq!(not_theirs.status, 403, "{}", not_theirs.text);
    let deleted = app
        .call(Method::DELETE, &format!("{notes}/{note_id}"), Some(&owner.access_token), None)
        .await;
    assert_eq!(deleted.status, 204, "{}", deleted.text);
    let announced = loop {
        let message = next_of(&mut member_socket, "annotation").await;
        if message["action"] == "deleted" {
            break message;
        }
    };
    assert_eq!(announced["annotation"]["id"], note_id.as_str());
    let again = app
        .call(Method::DELETE, &format!("{notes}/{note_id}"), Some(&owner.access_token), None)
        .await;
    assert_eq!(again.status, 404);

    // Both changes are audited.
    let audit =
        app.call(Method::GET, "/api/v1/audit-log?limit=50", Some(&owner.access_token), None).await;
    let actions: Vec<&str> = audit
        .body
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|entry| entry["action"].as_str())
        .collect();
    assert!(actions.contains(&"annotation.created"), "{actions:?}");
    assert!(actions.contains(&"annotation.deleted"), "{actions:?}");

    // Leaving is seen by the others; the other organization never heard any of it.
    drop(member_socket);
    let seen = presence_where(&mut owner_socket, |v| viewing(v, &member.user_id).is_none()).await;
    assert!(viewing(&seen, &owner.user_id).is_some());
    // The stranger's own presence comes after anything the broadcast carried before it, so
    // an annotation or presence of the other organization would have arrived first.
    say_view(&mut stranger_socket, Some("overview:elsewhere")).await;
    let own = loop {
        let message = next_json(&mut stranger_socket).await;
        assert_ne!(message["type"], "annotation", "another organization's annotation: {message}");
        if message["type"] == "presence" {
            break message;
        }
    };
    assert_eq!(own["viewers"].as_array().map(Vec::len), Some(1), "only its own connection: {own}");
    assert_eq!(own["viewers"][0]["user_id"], stranger.user_id.as_str());
    app.stop().await;
}

on_both_backends!(members_see_each_others_presence_and_annotations);

/// A client that floods presence updates is disconnected, and its presence goes with it.
#[tokio::test]
async fn a_presence_flood_closes_the_connection() {
    let app = TestApp::spawn(TestBackend::Sqlite).await;
    let owner = app.register("owner@flood.example", "Flood").await;
    let (mut watcher, _) = connect(&app, &owner, false).await;
    let (mut socket, ready) = connect(&app, &owner, false).await;
    let flooder = ready["connection_id"].as_u64().unwrap();
    for i in 0..=30 {
        say_view(&mut socket, Some(&format!("view-{i}"))).await;
    }
    let code = loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("closed in time");
        match message {
            Some(Ok(Message::Close(Some(frame)))) => break u16::from(frame.code),
            Some(Ok(_)) => {}
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(code, 1008);
    let has = |viewers: &[Value]| viewers.iter().any(|v| v["connection_id"] == flooder);
    presence_where(&mut watcher, has).await;
    presence_where(&mut watcher, |viewers| !has(viewers)).await;
    app.stop().await;
}

/// A user holds at most 16 live connections per node; the next is refused with 1008, and a
/// slot frees when one closes.
#[tokio::test]
async fn a_user_holds_a_bounded_number_of_live_connections() {
    let app = TestApp::spawn(TestBackend::Sqlite).await;
    let owner = app.register("owner@many.example", "Many").await;
    let mut sockets = Vec::new();
    for _ in 0..16 {
        sockets.push(connect(&app, &owner, false).await.0);
    }
    let url = format!("{}/api/v1/live", app.url.replace("http://", "ws://"));
    let hello = json!({ "token": owner.access_token }).to_string();
    let (mut extra, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    extra.send(Message::Text(hello.clone().into())).await.unwrap();
    match tokio::time::timeout(Duration::from_secs(10), extra.next()).await.unwrap() {
        Some(Ok(Message::Close(Some(frame)))) => {
            assert_eq!(u16::from(frame.code), 1008);
            assert!(frame.reason.contains("too many live connections"), "{}", frame.reason);
        }
        other => panic!("expected a close frame, got {other:?}"),
    }
    // Closing one frees its slot once the server has seen the close: retried a bounded number
    // of times, each answer read in full (a close frame while the server is still closing).
    let mut closing = sockets.pop().unwrap();
    closing.close(None).await.unwrap();
    while let Some(Ok(_)) = closing.next().await {}
    let mut admitted = false;
    for _ in 0..50 {
        let (mut again, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
        again.send(Message::Text(hello.clone().into())).await.unwrap();
        let answer = tokio::time::timeout(Duration::from_secs(10), again.next()).await.unwrap();
        if let Some(Ok(Message::Text(text))) = answer {
            assert!(text.contains("\"ready\""), "{text}");
            admitted = true;
            break;
        }
    }
    assert!(admitted, "a slot was freed");
    app.stop().await;
}

/// A member removed from the organization stops hearing it at the next heartbeat (20 s).
#[tokio::test]
async fn a_removed_member_is_disconnected_at_the_next_heartbeat() {
    let app = TestApp::spawn(TestBackend::Sqlite).await;
    let owner = app.register("owner@removed.example", "Removed").await;
    let member = app.add_member(&owner, "member@removed.example", "member").await;
    let (mut socket, _) = connect(&app, &member, false).await;
    let path = format!("/api/v1/org/members/{}", member.user_id);
    let removed = app.call(Method::DELETE, &path, Some(&owner.access_token), None).await;
    assert_eq!(removed.status, 204, "{}", removed.text);
    let code = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Close(Some(frame)))) => return u16::from(frame.code),
                Some(Ok(_)) => {}
                other => panic!("expected a close frame, got {other:?}"),
            }
        }
    })
    .await
    .expect("closed within a heartbeat");
    assert_eq!(code, 1008);
    app.stop().await;
}

/// Clients that ask for batches get the same messages in the same order, fewer frames; the
/// others get one frame per message.
#[tokio::test]
async fn batched_clients_get_every_message_in_order() {
    let app = TestApp::spawn(TestBackend::Sqlite).await;
    let mine = crate::collect::fixture(&app, "batch.example", android_app("Batch")).await;
    let (mut batched, _) = connect(&app, &mine.owner, true).await;
    let (mut single, _) = connect(&app, &mine.owner, false).await;
    let events: Vec<Value> =
        (0..1000).map(|i| event(&format!("batch-{i:04}"), "event", Some("level_up"))).collect();
    assert_eq!(send(&app, &mine.app_token, &events).await.status, 200);

    let expected: Vec<String> = (0..1000).map(|i| format!("batch-{i:04}")).collect();
    let (mut ids, mut frames, mut batches) = (Vec::new(), 0, 0);
    while ids.len() < expected.len() {
        let message = next_json(&mut batched).await;
        let messages = match message["type"].as_str() {
            Some("batch") => {
                batches += 1;
                let inner = message["messages"].as_array().unwrap().clone();
                assert!(inner.len() > 1 && inner.len() <= 256, "a batch of {}", inner.len());
                inner
            }
            Some("event") => vec![message],
            _ => continue,
        };
        frames += 1;
        ids.extend(messages.iter().map(|m| m["id"].as_str().unwrap().to_owned()));
    }
    assert_eq!(ids, expected);
    assert!(batches >= 1 && frames < 1000, "{frames} frames, {batches} batches");

    let mut single_ids = Vec::new();
    while single_ids.len() < expected.len() {
        let message = next_json(&mut single).await;
        assert_ne!(message["type"], "batch");
        if message["type"] == "event" {
            single_ids.push(message["id"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(single_ids, expected);
    app.stop().await;
}
