//! The examples shipped in `examples/`, run as a user runs them against a real server.

#![allow(clippy::unwrap_used)]

mod common;

use serde_json::Value;
use std::process::{Command, Stdio};
use std::time::Duration;

fn example(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples").join(name)
}

/// Runs `python3 examples/s2s_events.py ARGS` (stdin from `input`): (exit code, stdout JSON).
fn s2s(args: &[&str], input: Option<&str>) -> (i32, Value) {
    use std::io::Write;
    let mut child = Command::new("python3")
        .arg(example("s2s_events.py"))
        .args(args)
        .env_remove("UNMOGROWP_S2S_SECRET")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.unwrap_or("").as_bytes()).unwrap();
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    (output.status.code().unwrap(), serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

#[tokio::test]
async fn the_python_s2s_example_signs_and_sends_events() {
    unmogrowp_server::postbacks::install_crypto_provider();
    let port = common::free_port();
    let data_dir = tempfile::tempdir().unwrap();
    let server = common::Running(Some(common::serve(port, data_dir.path(), &[], &[])));
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    common::wait_for(&http, &base, "/healthz", Duration::from_secs(30)).await;
    let (token, app_id, _) = common::account_with_app(&http, &base, &base, "Examples").await;
    let key: Value = http
        .post(format!("{base}/api/v1/apps/{app_id}/keys"))
        .bearer_auth(&token)
        .json(&serde_json::json!({ "name": "python" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (key_id, secret) = (key["id"].as_str().unwrap(), key["secret"].as_str().unwrap());
    let common_args = ["--url", &base, "--key-id", key_id];

    let purchase = [
        "--id",
        "py-purchase-1",
        "--type",
        "event",
        "--name",
        "purchase",
        "--gaid",
        "38400000-8cf0-11bd-b23e-10b96e40000d",
        "--ip",
        "203.0.113.9",
        "--revenue",
        "9.99",
        "--currency",
        "EUR",
    ];
    let args: Vec<&str> =
        common_args.iter().copied().chain(["--secret", secret]).chain(purchase).collect();
    let (code, answer) = s2s(&args, None);
    assert_eq!(code, 0, "{answer}");
    assert_eq!((answer["accepted"].as_u64(), answer["duplicates"].as_u64()), (Some(1), Some(0)));
    // Sent again: counted once.
    let (code, answer) = s2s(&args, None);
    assert_eq!(code, 0, "{answer}");
    assert_eq!(answer["duplicates"].as_u64(), Some(1), "{answer}");

    // A file on stdin, with one bad event beside a good one.
    let now = jiff::Timestamp::now().to_string();
    let file = serde_json::json!({ "events": [
        { "id": "py-open-1", "type": "open", "timestamp": now, "device": { "install_id": "py-device" } },
        { "id": "py-bad-1", "type": "teleport", "timestamp": now }
    ] })
    .to_string();
    let args: Vec<&str> =
        common_args.iter().copied().chain(["--secret", secret, "--file", "-"]).collect();
    let (code, answer) = s2s(&args, Some(&file));
    assert_eq!(code, 0, "{answer}");
    assert_eq!(answer["accepted"].as_u64(), Some(1), "{answer}");
    assert_eq!(answer["rejected"][0]["id"], "py-bad-1", "{answer}");

    // A wrong secret: the server refuses, the script says so and exits 1.
    let args: Vec<&str> =
        common_args.iter().copied().chain(["--secret", "sk_wrong"]).chain(purchase).collect();
    let (code, answer) = s2s(&args, None);
    assert_eq!(code, 1, "{answer}");
    assert_eq!(answer["status"].as_u64(), Some(401), "{answer}");

    drop(server);
}
