//! Helpers shared by the process-level tests: the binary with a clean environment, free
//! ports, readiness waits and event batches.

#![allow(dead_code)]

use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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

/// SIGTERM, then waits for the process to exit.
pub fn stop(mut child: Child) {
    let _ = Command::new("kill").args(["-s", "TERM", &child.id().to_string()]).status();
    let _ = child.wait();
}
