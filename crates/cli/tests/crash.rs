//! kill -9 at any moment loses nothing that was acknowledged: clients send events while the
//! server is killed and restarted several times (some batches twice at once, some again
//! after their 200); afterwards every acknowledged event is stored, once, and every id that
//! was answered `duplicates` is among them. Bounded in count and time.

#![allow(clippy::unwrap_used)]

mod common;

use common::{Ledger, Senders, free_port};
use serde_json::Value;
use std::collections::HashSet;
use std::process::{Child, Command};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

const CLIENTS: usize = 4;
const BATCH: usize = 20;
const KILLS: usize = 4;

fn start(data_dir: &std::path::Path, port: u16) -> Child {
    common::serve(port, data_dir, &[], &[])
}

async fn wait_healthy(client: &reqwest::Client, base: &str) {
    common::wait_for(client, base, "/healthz", Duration::from_secs(30)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[allow(clippy::zombie_processes)]
async fn kill_nine_loses_nothing_acknowledged() {
    let data_dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    unmogrowp_server::postbacks::install_crypto_provider();
    let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
    let mut server = start(data_dir.path(), port);
    wait_healthy(&http, &base).await;

    let (token, app_id, app_token) = common::account_with_app(&http, &base, &base, "Crash").await;

    let ledger = Arc::new(Ledger::default());
    let senders = Senders {
        http: http.clone(),
        targets: vec![base.clone()],
        app_token,
        tag: "c",
        batch_size: BATCH,
        max_batches: 400,
        ledger: ledger.clone(),
    };
    let clients: Vec<_> = (0..CLIENTS).map(|index| senders.spawn(index)).collect();

    for round in 0..KILLS {
        tokio::time::sleep(Duration::from_millis(300 + 150 * round as u64)).await;
        server.kill().unwrap(); // SIGKILL
        server.wait().unwrap();
        server = start(data_dir.path(), port);
        wait_healthy(&http, &base).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    ledger.stop.store(true, Ordering::Release);
    for client in clients {
        client.await.unwrap();
    }

    let acknowledged = ledger.acknowledged.lock().unwrap().clone();
    let sent = ledger.sent.lock().unwrap().clone();
    assert!(
        acknowledged.len() >= CLIENTS * BATCH * 3,
        "too little traffic: {}",
        acknowledged.len()
    );
    assert_eq!(acknowledged, sent, "every event sent was eventually acknowledged");

    // The report counts each acknowledged event once, once the pipeline has caught up.
    let summary_url = format!("{base}/api/v1/apps/{app_id}/reports/summary");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut sessions = 0;
    while Instant::now() < deadline {
        let summary: Value =
            http.get(&summary_url).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
        sessions = summary["totals"]["sessions"].as_u64().unwrap_or(0);
        if sessions >= acknowledged.len() as u64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(sessions, acknowledged.len() as u64, "stored once each");

    let status =
        Command::new("kill").args(["-s", "TERM", &server.id().to_string()]).status().unwrap();
    assert!(status.success());
    assert!(server.wait().unwrap().success());

    // Every acknowledged id is in the store exactly once (read back through the store's
    // export, which decodes every raw block of the app).
    let db = rusqlite::Connection::open(data_dir.path().join("events.db")).unwrap();
    let days: Vec<String> = db
        .prepare("SELECT day FROM partitions ORDER BY day")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    drop(db);
    let store = unmogrowp_eventstore::SqliteEventStore::open(data_dir.path()).await.unwrap();
    let collected = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = collected.clone();
    use unmogrowp_eventstore::EventStore as _;
    store
        .export(
            unmogrowp_eventstore::ExportQuery {
                app_id: unmogrowp_domain::AppId::from_stored(app_id.clone()),
                kinds: {
                    use unmogrowp_domain::event::EventType::*;
                    vec![Install, Open, Session, Event, Click, Impression]
                },
                from_day: days.first().and_then(|d| d.parse().ok()).unwrap_or_default(),
                to_day: days.last().and_then(|d| d.parse().ok()).unwrap_or_default(),
            },
            Box::new(move |row| {
                sink.lock().unwrap().push(row.id);
                true
            }),
        )
        .await
        .unwrap();
    let stored = std::mem::take(&mut *collected.lock().unwrap());
    let unique: HashSet<String> = stored.iter().cloned().collect();
    assert_eq!(unique.len(), stored.len(), "no event stored twice");
    assert_eq!(unique, acknowledged);
    // "Duplicate" is only ever said of an id whose first copy is durable.
    let duplicated = ledger.duplicated.lock().unwrap().clone();
    assert!(!duplicated.is_empty(), "some acknowledged batches were sent again");
    assert!(duplicated.is_subset(&unique), "an id answered `duplicates` is missing");
}
