//! The cluster tier end to end: PostgreSQL, ClickHouse and NATS JetStream shared by two
//! ingest nodes, two API nodes and one worker, each its own `unmogrowp serve --role …`
//! process. Clients send events to both ingest nodes while one of them is killed with
//! SIGKILL and restarted; every acknowledged event is counted once, and both API nodes answer
//! the same report; an API node's live feed hears an install sent to an ingest node; an id
//! sent to both ingest nodes, and again after the broker's duplicate window, counts once;
//! presence and annotations reach live connections on the other API node.
//! Bounded in count and time.

#![allow(clippy::unwrap_used)]

mod common;

use common::{Ledger, Senders, free_port, stop};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::process::Child;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

const BATCH: usize = 20;
const DUPLICATE_WINDOW_SECONDS: u64 = 1;

struct Cluster {
    env: Vec<(String, String)>,
    dirs: tempfile::TempDir,
}

impl Cluster {
    fn start(&self, role: &str, name: &str, port: u16) -> Child {
        common::serve(port, &self.dirs.path().join(name), &["--role", role], &self.env)
    }
}

/// The next text message of a live-feed socket, as JSON (10 s at most).
async fn next_json(
    socket: &mut (impl StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin),
) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a live message in time")
            .expect("the socket is open")
            .expect("a readable message");
        if let Message::Text(text) = message {
            return serde_json::from_str(&text).unwrap();
        }
    }
}

/// `pipeline_records_duplicate_total` on a worker's `/metrics`: copies its store dropped.
async fn duplicates_dropped(client: &reqwest::Client, base: &str) -> f64 {
    let text = client.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap();
    text.lines()
        .find(|line| line.starts_with("pipeline_records_duplicate_total"))
        .and_then(|line| line.split_whitespace().last())
        .and_then(|value| value.parse().ok())
        .unwrap_or(0.0)
}

async fn wait_ready(client: &reqwest::Client, base: &str) {
    common::wait_for(client, base, "/readyz", Duration::from_secs(60)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[allow(clippy::zombie_processes)]
async fn two_ingest_two_api_one_worker_lose_nothing_under_kill_nine() {
    unmogrowp_server::postbacks::install_crypto_provider();
    let tier = common::SharedTier::create("cluster").await;
    let unique = tier.unique.clone();
    let cluster = Cluster {
        env: [
            tier.env.clone(),
            vec![
                // A short broker window, so that a copy can arrive after it within the test.
                (
                    "UNMOGROWP_NATS_DUPLICATE_WINDOW_SECONDS".to_owned(),
                    DUPLICATE_WINDOW_SECONDS.to_string(),
                ),
            ],
        ]
        .concat(),
        dirs: tempfile::tempdir().unwrap(),
    };
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    // The worker first: it applies the migrations before the others start.
    let worker_port = free_port();
    let worker = cluster.start("worker", "worker", worker_port);
    let worker_base = format!("http://127.0.0.1:{worker_port}");
    wait_ready(&http, &worker_base).await;
    let ports: Vec<u16> = (0..4).map(|_| free_port()).collect();
    let roles = ["api", "api", "ingest", "ingest"];
    let mut nodes: Vec<Child> = roles
        .iter()
        .zip(&ports)
        .enumerate()
        .map(|(i, (role, port))| cluster.start(role, &format!("{role}{i}"), *port))
        .collect();
    let bases: Vec<String> = ports.iter().map(|p| format!("http://127.0.0.1:{p}")).collect();
    for base in &bases {
        wait_ready(&http, base).await;
    }
    let (api_a, api_b, ingest) = (&bases[0], &bases[1], [bases[2].clone(), bases[3].clone()]);

    // Roles split the routes: the API node does not collect, the ingest node has no API.
    let collect_on_api =
        http.post(format!("{api_a}/v1/events")).json(&json!({})).send().await.unwrap();
    assert_eq!(collect_on_api.status(), 404);
    let api_on_ingest = http.get(format!("{}/api/v1/me", ingest[0])).send().await.unwrap();
    assert_eq!(api_on_ingest.status(), 404);

    let (token, app_id, app_token) = common::account_with_app(&http, api_a, api_b, "Cluster").await;

    let ledger = Arc::new(Ledger::default());
    // Both ingest nodes take traffic; a retry may go to the other one.
    let senders = Senders {
        http: http.clone(),
        targets: ingest.to_vec(),
        app_token: app_token.clone(),
        tag: "n",
        batch_size: BATCH,
        max_batches: 300,
        ledger: ledger.clone(),
    };
    let clients: Vec<_> = (0..4).map(|index| senders.spawn(index)).collect();

    // Kill one ingest node (no chance to flush) twice and bring it back.
    for round in 0..2 {
        tokio::time::sleep(Duration::from_millis(700 + 300 * round)).await;
        let node = &mut nodes[2];
        node.kill().unwrap();
        node.wait().unwrap();
        nodes[2] = cluster.start("ingest", "ingest2", ports[2]);
        wait_ready(&http, &ingest[0]).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    ledger.stop.store(true, Ordering::Release);
    for client in clients {
        client.await.unwrap();
    }
    let acknowledged = ledger.acknowledged.lock().unwrap().len() as u64;
    assert!(acknowledged >= (BATCH * 20) as u64, "too little traffic: {acknowledged}");

    // Every acknowledged event is counted once, and both API nodes say the same.
    let summary = |base: String| {
        let (http, token, app_id) = (http.clone(), token.clone(), app_id.clone());
        async move {
            let reply: Value = http
                .get(format!("{base}/api/v1/apps/{app_id}/reports/summary?group_by=day"))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            reply
        }
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut sessions = 0;
    while Instant::now() < deadline {
        sessions = summary(api_a.clone()).await["totals"]["sessions"].as_u64().unwrap_or(0);
        if sessions >= acknowledged {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(sessions, acknowledged, "each acknowledged event stored exactly once");
    let from_a = summary(api_a.clone()).await;
    let from_b = summary(api_b.clone()).await;
    assert_eq!(from_a["totals"], from_b["totals"]);
    assert_eq!(from_a["rows"], from_b["rows"]);

    // The live feed of an API node (no pipeline of its own) hears an install that an ingest
    // node took, through the worker's relay.
    let url = format!("{}/api/v1/live", api_b.replace("http://", "ws://"));
    let (mut socket, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    socket.send(Message::Text(json!({ "token": token }).to_string().into())).await.unwrap();
    let ready = next_json(&mut socket).await;
    assert_eq!(ready["type"], "ready", "{ready}");
    let install_id = format!("live-{unique}");
    let sent = http
        .post(format!("{}/v1/events", ingest[1]))
        .header("x-app-token", &app_token)
        .json(&json!({ "events": [{
            "id": install_id,
            "type": "install",
            "timestamp": jiff::Timestamp::now().to_string(),
            "device": { "gaid": "9f1c2d3e-0000-4000-8000-0000000000aa" },
        }] }))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 200);
    let heard = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let message = next_json(&mut socket).await;
            if message["id"] == install_id.as_str() {
                return message;
            }
        }
    })
    .await
    .expect("the API node's live feed relays the install within 30 s");
    assert_eq!(heard["type"], "install");
    assert_eq!(heard["app_id"], app_id.as_str());
    drop(socket);

    // Collaboration crosses API nodes: a connection on one node sees the presence of a
    // connection on the other, and hears an annotation made through the other.
    let mut sockets = Vec::new();
    for base in [api_a, api_b] {
        let url = format!("{}/api/v1/live", base.replace("http://", "ws://"));
        let (mut socket, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
        socket.send(Message::Text(json!({ "token": token }).to_string().into())).await.unwrap();
        assert_eq!(next_json(&mut socket).await["type"], "ready");
        sockets.push(socket);
    }
    let view = format!("overview:{app_id}");
    let presence = json!({ "type": "presence", "view": view });
    sockets[0].send(Message::Text(presence.to_string().into())).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let message = next_json(&mut sockets[1]).await;
            if message["type"] == "presence" && message["viewers"][0]["view"] == view.as_str() {
                return;
            }
        }
    })
    .await
    .expect("the other API node shows the presence within 10 s");
    let note = http
        .post(format!("{api_a}/api/v1/apps/{app_id}/annotations"))
        .bearer_auth(&token)
        .json(&json!({ "date": "2026-11-20", "text": "Across nodes" }))
        .send()
        .await
        .unwrap();
    assert_eq!(note.status(), 201);
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let message = next_json(&mut sockets[1]).await;
            if message["type"] == "annotation" {
                assert_eq!(message["annotation"]["text"], "Across nodes");
                return;
            }
        }
    })
    .await
    .expect("the other API node announces the annotation within 10 s");
    drop(sockets);

    // A re-sent id counts once on every path, for sessions, events and revenue as for
    // installs: set A goes to one ingest node, then to the other after the broker's duplicate
    // window (the event store must drop the copy); set B goes to both nodes at once (inside
    // the window, the broker drops it). A marker sent last shows when the worker is through.
    // Counted from once the live install above shows in the report.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut before = summary(api_a.clone()).await["totals"].clone();
    while before["installs"].as_u64() < Some(1) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        before = summary(api_a.clone()).await["totals"].clone();
    }
    assert_eq!(before["installs"], 1, "{before}");
    let now = jiff::Timestamp::now().to_string();
    let set = |tag: &str| {
        json!({ "events": [
            { "id": format!("{tag}-install-{unique}"), "type": "install", "timestamp": now,
              "device": { "gaid": format!("{tag}-device-{unique}") } },
            { "id": format!("{tag}-session-{unique}"), "type": "session", "timestamp": now,
              "device": { "gaid": format!("{tag}-device-{unique}") } },
            { "id": format!("{tag}-buy-{unique}"), "type": "event", "name": "purchase", "timestamp": now,
              "device": { "gaid": format!("{tag}-device-{unique}") }, "revenue": { "amount": 7.5, "currency": "USD" } },
        ]})
    };
    let post = |target: String, body: Value| {
        let (http, app_token) = (http.clone(), app_token.clone());
        async move {
            let reply = http
                .post(format!("{target}/v1/events"))
                .header("x-app-token", &app_token)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(reply.status(), 200);
            reply.json::<Value>().await.unwrap()
        }
    };
    let first_sent = Instant::now();
    assert_eq!(post(ingest[0].clone(), set("a")).await["accepted"], 3);
    let (one, other) =
        tokio::join!(post(ingest[0].clone(), set("b")), post(ingest[1].clone(), set("b")));
    let counted = |answer: &Value| {
        answer["accepted"].as_u64().unwrap() + answer["duplicates"].as_u64().unwrap()
    };
    assert_eq!((counted(&one), counted(&other)), (3, 3));
    // The broker forgets ids some time after its window (it purges them on a timer, up to
    // about twice the window); this node never saw set A.
    let window = Duration::from_millis(DUPLICATE_WINDOW_SECONDS * 3000 + 500);
    tokio::time::sleep(window.saturating_sub(first_sent.elapsed())).await;
    let dropped_before = duplicates_dropped(&http, &worker_base).await;
    let resent = post(ingest[1].clone(), set("a")).await;
    assert_eq!(resent["accepted"], 3, "a node that never saw the ids appends them: {resent}");
    let marker = json!({ "events": [{ "id": format!("marker-{unique}"), "type": "session", "timestamp": now,
                                      "device": { "gaid": format!("marker-{unique}") } }] });
    assert_eq!(post(ingest[1].clone(), marker).await["accepted"], 1);
    let number = |totals: &Value, key: &str| totals[key].as_f64().unwrap_or(0.0);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut after = Value::Null;
    while Instant::now() < deadline {
        after = summary(api_a.clone()).await["totals"].clone();
        if number(&after, "sessions") >= number(&before, "sessions") + 3.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The copy reached the log and the event store dropped it (not the broker).
    assert!(
        duplicates_dropped(&http, &worker_base).await >= dropped_before + 3.0,
        "the worker's store dropped the three copies"
    );
    for (key, added) in [("installs", 2.0), ("sessions", 3.0), ("events", 2.0), ("revenue", 15.0)] {
        assert_eq!(
            number(&after, key) - number(&before, key),
            added,
            "{key}: before {before}, after {after}"
        );
    }

    for node in nodes {
        stop(node);
    }
    stop(worker);
    tier.drop(&http).await;
}
