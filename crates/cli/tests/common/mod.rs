//! Helpers shared by the process-level tests: the binary with a clean environment, free
//! ports, readiness waits and event batches.

#![allow(dead_code)]

use serde_json::{Value, json};
use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

pub const BINARY: &str = env!("CARGO_BIN_EXE_unmogrowp");

/// The binary, with none of the tests' own `UNMOGROWP_*` variables (they must not configure
/// the server under test) and quiet logs on stderr.
pub fn command() -> Command {
    let mut command = Command::new(BINARY);
    for (key, _) in std::env::vars() {
        if key.starts_with("UNMOGROWP_") {
            command.env_remove(key);
        }
    }
    command.env("UNMOGROWP_LOG_LEVEL", "warn").stdout(Stdio::null()).stderr(Stdio::inherit());
    command
}

/// `unmogrowp serve --addr 127.0.0.1:PORT --data-dir DIR` plus `args` and `env`.
pub fn serve(
    port: u16,
    data_dir: &std::path::Path,
    args: &[&str],
    env: &[(String, String)],
) -> Child {
    command()
        .arg("serve")
        .args(args)
        .args(["--addr", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(data_dir)
        .envs(env.iter().map(|(key, value)| (key.as_str(), value.as_str())))
        .spawn()
        .unwrap()
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Polls `base` + `path` until it answers 2xx, for at most `limit`.
pub async fn wait_for(client: &reqwest::Client, base: &str, path: &str, limit: Duration) {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if client.get(format!("{base}{path}")).send().await.is_ok_and(|r| r.status().is_success()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{base}{path} did not answer within {limit:?}");
}

/// `size` session events with ids `<tag><client>-b<sequence>-e<i>`, and the request body.
pub fn batch(tag: &str, client: usize, sequence: usize, size: usize) -> (Vec<String>, Value) {
    let now = jiff::Timestamp::now().to_string();
    let ids: Vec<String> = (0..size).map(|i| format!("{tag}{client}-b{sequence}-e{i}")).collect();
    let events: Vec<Value> = ids
        .iter()
        .map(|id| json!({ "id": id, "type": "session", "timestamp": now, "device": { "gaid": format!("g-{id}") } }))
        .collect();
    (ids, json!({ "events": events }))
}

/// A server process stopped (as [`stop`] does) when the guard goes, whether the test passed
/// or panicked.
pub struct Running(pub Option<Child>);

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(child) = self.0.take() {
            stop(child);
        }
    }
}

/// SIGTERM, then waits for the process to exit.
pub fn stop(mut child: Child) {
    let _ = Command::new("kill").args(["-s", "TERM", &child.id().to_string()]).status();
    let _ = child.wait();
}

/// Registers an account on `api` and creates an Android app on `app_api` (another node of
/// the same deployment, or the same one): `(access token, app id, app token)`.
pub async fn account_with_app(
    http: &reqwest::Client,
    api: &str,
    app_api: &str,
    name: &str,
) -> (String, String, String) {
    let slug = name.to_lowercase();
    let register = json!({ "email": format!("{slug}@example.com"), "password": "a long enough passphrase 42",
                           "name": "C", "organization": name });
    let login: Value = http
        .post(format!("{api}/api/v1/auth/register"))
        .json(&register)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["access_token"].as_str().unwrap().to_owned();
    let app = json!({ "name": name, "platform": "android", "bundle_id": format!("com.example.{slug}"),
                      "store_url": format!("https://play.google.com/store/apps/details?id=com.example.{slug}") });
    let app: Value = http
        .post(format!("{app_api}/api/v1/apps"))
        .bearer_auth(&token)
        .json(&app)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (token, app["id"].as_str().unwrap().to_owned(), app["app_token"].as_str().unwrap().to_owned())
}

/// What the sending clients did: ids sent, ids acknowledged, and the signal to finish.
#[derive(Default)]
pub struct Ledger {
    pub sent: Mutex<HashSet<String>>,
    pub acknowledged: Mutex<HashSet<String>>,
    /// Ids of batches re-sent after their 200 and answered as duplicates: their first copy
    /// must be stored.
    pub duplicated: Mutex<HashSet<String>>,
    pub stop: AtomicBool,
}

/// Clients sending batches of `batch_size` sessions to `targets` (taking turns; a retry may
/// go to another target) until told to stop or after `max_batches` batches each. A batch
/// without a 200 answer (node killed mid-request, 503) is sent again with the same ids. Every
/// 200 must count each event as accepted or duplicate. Every 7th batch is first sent twice
/// at once (a retry racing its original); every 5th is sent again to the same node after its
/// 200, which must then call every event a duplicate. Each client is bounded by 90 s.
#[derive(Clone)]
pub struct Senders {
    pub http: reqwest::Client,
    pub targets: Vec<String>,
    pub app_token: String,
    pub tag: &'static str,
    pub batch_size: usize,
    pub max_batches: usize,
    pub ledger: Arc<Ledger>,
}

impl Senders {
    pub fn spawn(&self, index: usize) -> tokio::task::JoinHandle<()> {
        let Senders { http, targets, app_token, tag, batch_size, max_batches, ledger } =
            self.clone();
        tokio::spawn(async move {
            let mut sequence = 0;
            let mut pending: Option<(Vec<String>, Value)> = None;
            let mut attempt = index;
            let deadline = Instant::now() + Duration::from_secs(90);
            // Keep going until told to stop and nothing is left unacknowledged.
            while Instant::now() < deadline
                && !(ledger.stop.load(Ordering::Acquire) && pending.is_none())
            {
                let (ids, body) = match pending.take() {
                    Some(retry) => retry,
                    None if ledger.stop.load(Ordering::Acquire) || sequence >= max_batches => break,
                    None => {
                        sequence += 1;
                        batch(tag, index, sequence, batch_size)
                    }
                };
                ledger.sent.lock().unwrap().extend(ids.iter().cloned());
                attempt += 1;
                let target = &targets[attempt % targets.len()];
                let post = || async {
                    let reply = http
                        .post(format!("{target}/v1/events"))
                        .header("x-app-token", &app_token)
                        .json(&body)
                        .send()
                        .await;
                    match reply {
                        Ok(response) if response.status() == 200 => {
                            let answer: Value = response.json().await.unwrap_or(Value::Null);
                            let counted = answer["accepted"].as_u64().unwrap_or(0)
                                + answer["duplicates"].as_u64().unwrap_or(0);
                            assert_eq!(counted, batch_size as u64, "{answer}");
                            Some(answer)
                        }
                        _ => None,
                    }
                };
                let answered = if sequence % 7 == 0 {
                    let (first, second) = tokio::join!(post(), post());
                    first.or(second)
                } else {
                    post().await
                };
                match answered {
                    Some(_) => {
                        if sequence % 5 == 0
                            && let Some(again) = post().await
                        {
                            assert_eq!(
                                again["duplicates"].as_u64(),
                                Some(batch_size as u64),
                                "an acknowledged batch sent again: {again}"
                            );
                            ledger.duplicated.lock().unwrap().extend(ids.iter().cloned());
                        }
                        ledger.acknowledged.lock().unwrap().extend(ids);
                    }
                    None => {
                        pending = Some((ids, body));
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
            assert!(pending.is_none(), "client {index} ran out of time with unacknowledged events");
        })
    }
}

/// A variable `make test` sets (scripts/with-services.sh); its absence is a clear failure.
pub fn required(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the tests with `make test` (scripts/with-services.sh)")
    })
}

/// The shared services of a cluster-tier test: a throw-away PostgreSQL database, and a
/// ClickHouse database and NATS prefix named `unique`; `env` points a node at all three.
pub struct SharedTier {
    pub database: unmogrowp_testkit::TempDatabase,
    pub unique: String,
    pub env: Vec<(String, String)>,
}

impl SharedTier {
    /// Names start with `tag`; ClickHouse inserts flush every 200 ms.
    pub async fn create(tag: &str) -> Self {
        let database = unmogrowp_testkit::TempDatabase::create().await;
        let clickhouse = url::Url::parse(&required("TEST_CLICKHOUSE_URL")).unwrap();
        let unique =
            format!("{tag}_{}_{}", std::process::id(), jiff::Timestamp::now().as_millisecond());
        let events_url = format!(
            "clickhouse://{}:{}/{unique}",
            clickhouse.host_str().unwrap(),
            clickhouse.port().unwrap()
        );
        let env = vec![
            ("UNMOGROWP_DATABASE_URL".to_owned(), database.url.clone()),
            ("UNMOGROWP_EVENTS_URL".to_owned(), events_url),
            ("UNMOGROWP_NATS_URL".to_owned(), required("TEST_NATS_URL")),
            ("UNMOGROWP_NATS_PREFIX".to_owned(), unique.clone()),
            ("UNMOGROWP_AUTH__SECRET_KEY".to_owned(), "ab".repeat(32)),
            // One master key ring for every node of the deployment.
            ("UNMOGROWP_ENCRYPTION__MASTER_KEYS".to_owned(), format!("1:{}", "cd".repeat(32))),
            ("UNMOGROWP_EVENTS__CLICKHOUSE_FLUSH_MS".to_owned(), "200".to_owned()),
        ];
        Self { database, unique, env }
    }

    /// Drops the ClickHouse and PostgreSQL databases (the NATS stream goes with the server).
    pub async fn drop(self, http: &reqwest::Client) {
        let _ = http
            .post(format!("{}/", required("TEST_CLICKHOUSE_URL").trim_end_matches('/')))
            .body(format!("DROP DATABASE IF EXISTS {}", self.unique))
            .send()
            .await;
        self.database.drop_database().await;
    }
}

/// One HTTP request a recorder received: request line target, headers (lower-cased names)
/// and body.
#[derive(Clone, Debug)]
pub struct Received {
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }
}

/// A minimal HTTP/1.1 endpoint (an ad network's postback receiver, an OTLP receiver) that
/// records every request and answers 200 with an empty body (an empty protobuf message, for
/// the OTLP receiver); connections are kept alive.
pub async fn recorder() -> (u16, Arc<Mutex<Vec<Received>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let received = Arc::new(Mutex::new(Vec::new()));
    let log = received.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let log = log.clone();
            tokio::spawn(async move {
                loop {
                    let mut data = Vec::new();
                    let mut buffer = [0u8; 8192];
                    let head_end = loop {
                        if let Some(at) = data.windows(4).position(|w| w == b"\r\n\r\n") {
                            break at + 4;
                        }
                        match socket.read(&mut buffer).await {
                            Ok(0) | Err(_) => return,
                            Ok(read) => data.extend_from_slice(&buffer[..read]),
                        }
                    };
                    let head = String::from_utf8_lossy(&data[..head_end]).to_string();
                    let mut lines = head.lines();
                    let target = lines
                        .next()
                        .and_then(|l| l.split_whitespace().nth(1))
                        .unwrap_or("")
                        .to_owned();
                    let headers: Vec<(String, String)> = lines
                        .filter_map(|line| {
                            let (name, value) = line.split_once(':')?;
                            Some((name.trim().to_ascii_lowercase(), value.trim().to_owned()))
                        })
                        .collect();
                    let length: usize = headers
                        .iter()
                        .find(|(name, _)| name == "content-length")
                        .and_then(|(_, value)| value.parse().ok())
                        .unwrap_or(0);
                    while data.len() < head_end + length {
                        match socket.read(&mut buffer).await {
                            Ok(0) | Err(_) => return,
                            Ok(read) => data.extend_from_slice(&buffer[..read]),
                        }
                    }
                    let body = data[head_end..head_end + length].to_vec();
                    log.lock().unwrap().push(Received { target, headers, body });
                    let answer = b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n";
                    if socket.write_all(answer).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (port, received)
}
