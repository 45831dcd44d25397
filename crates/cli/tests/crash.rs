//! kill -9 at any moment loses nothing that was acknowledged: clients send events while the
//! server is killed and restarted several times; afterwards every acknowledged event is
//! stored, once. Bounded in count and time.

#![allow(clippy::unwrap_used)]

mod common;

use common::{batch, free_port};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
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

    let register = json!({ "email": "crash@example.com", "password": "a long enough passphrase 42", "name": "C", "organization": "Crash" });
    let login: Value = http
        .post(format!("{base}/api/v1/auth/register"))
        .json(&register)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["access_token"].as_str().unwrap().to_owned();
    let app = json!({ "name": "Crash", "platform": "android", "bundle_id": "com.example.crash",
                      "store_url": "https://play.google.com/store/apps/details?id=com.example.crash" });
    let app: Value = http
        .post(format!("{base}/api/v1/apps"))
        .bearer_auth(&token)
        .json(&app)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let app_id = app["id"].as_str().unwrap().to_owned();
    let app_token = app["app_token"].as_str().unwrap().to_owned();

    let acknowledged = Arc::new(Mutex::new(HashSet::<String>::new()));
    let sent = Arc::new(Mutex::new(HashSet::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for client_index in 0..CLIENTS {
        let (http, base, app_token) = (http.clone(), base.clone(), app_token.clone());
        let (acknowledged, sent, stop) = (acknowledged.clone(), sent.clone(), stop.clone());
        clients.push(tokio::spawn(async move {
            let mut sequence = 0;
            let mut pending: Option<(Vec<String>, Value)> = None;
            let deadline = Instant::now() + Duration::from_secs(90);
            // Keep going until told to stop and nothing is left unacknowledged.
            while Instant::now() < deadline && !(stop.load(Ordering::Acquire) && pending.is_none())
            {
                let (ids, body) = match pending.take() {
                    Some(retry) => retry,
                    None if stop.load(Ordering::Acquire) || sequence >= 400 => break,
                    None => {
                        sequence += 1;
                        batch("c", client_index, sequence, BATCH)
                    }
                };
                sent.lock().unwrap().extend(ids.iter().cloned());
                let reply = http
                    .post(format!("{base}/v1/events"))
                    .header("x-app-token", &app_token)
                    .json(&body)
                    .send()
                    .await;
                match reply {
                    Ok(response) if response.status() == 200 => {
                        let answer: Value = response.json().await.unwrap_or(Value::Null);
                        let counted = answer["accepted"].as_u64().unwrap_or(0)
                            + answer["duplicates"].as_u64().unwrap_or(0);
                        assert_eq!(counted, BATCH as u64, "{answer}");
                        acknowledged.lock().unwrap().extend(ids);
                    }
                    _ => {
                        // No answer (killed mid-request) or 503: send the same ids again later.
                        pending = Some((ids, body));
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
            assert!(
                pending.is_none(),
                "client {client_index} ran out of time with unacknowledged events"
            );
        }));
    }

    for round in 0..KILLS {
        tokio::time::sleep(Duration::from_millis(300 + 150 * round as u64)).await;
        server.kill().unwrap(); // SIGKILL
        server.wait().unwrap();
        server = start(data_dir.path(), port);
        wait_healthy(&http, &base).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Release);
    for client in clients {
        client.await.unwrap();
    }

    let acknowledged = acknowledged.lock().unwrap().clone();
    let sent = sent.lock().unwrap().clone();
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

    // Every acknowledged id is in the store exactly once.
    let db = rusqlite::Connection::open(data_dir.path().join("events.db")).unwrap();
    let days: Vec<String> = db
        .prepare("SELECT day FROM partitions")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut stored = Vec::new();
    for day in days {
        let table = format!("events_{}", day.replace('-', ""));
        let mut statement =
            db.prepare(&format!("SELECT id FROM {table} WHERE app_id = ?1")).unwrap();
        let ids = statement.query_map([&app_id], |row| row.get::<_, String>(0)).unwrap();
        stored.extend(ids.map(Result::unwrap));
    }
    let unique: HashSet<String> = stored.iter().cloned().collect();
    assert_eq!(unique.len(), stored.len(), "no event stored twice");
    assert_eq!(unique, acknowledged);
}
