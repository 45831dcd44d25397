//! Official analytics client libraries, installed from their registries and left unchanged,
//! sending to the compatible endpoints with the app token as their key. `make test` installs
//! them (scripts/test.sh): Segment's `segment-analytics-python`, RudderStack's
//! `rudder-sdk-python` and PostHog's `posthog` from PyPI (the interpreter is named in
//! `TEST_SEGMENT_PYTHON`), and Segment's `@segment/analytics-node`, RudderStack's
//! `@rudderstack/rudder-sdk-node`, PostHog's `posthog-node` and `posthog-js` (run in headless
//! Chromium) from npm, pinned in `clients/compat` (named in `TEST_COMPAT_NODE_DIR`).

#![allow(clippy::unwrap_used)]

mod common;

use serde_json::{Value, json};
use std::time::{Duration, Instant};

fn script(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/compat").join(name)
}

#[tokio::test]
async fn segments_python_library_sends_installs_and_purchases_counted_once() {
    a_python_library_sends_installs_and_purchases_counted_once(
        "segment",
        "5f1e0a3c-2b7d-4c1e-9a8b-0c6d2e4f7a91",
    )
    .await;
}

#[tokio::test]
async fn rudderstacks_python_library_sends_installs_and_purchases_counted_once() {
    a_python_library_sends_installs_and_purchases_counted_once(
        "rudderstack",
        "8a2b4c6d-1e3f-4a5b-8c7d-9e0f1a2b3c4d",
    )
    .await;
}

#[tokio::test]
async fn posthogs_python_library_sends_installs_and_purchases_counted_once() {
    a_python_library_sends_installs_and_purchases_counted_once(
        "posthog",
        "3c9d7e1a-4b2f-4e8a-9c1d-5f6a7b8c9d0e",
    )
    .await;
}

async fn a_python_library_sends_installs_and_purchases_counted_once(library: &str, gaid: &str) {
    let python = common::required("TEST_SEGMENT_PYTHON");
    let run = |base: &str, app_token: &str| {
        let mut command = std::process::Command::new(&python);
        command.arg(script("python_client.py")).args([library, base, app_token, gaid, "run1"]);
        command
    };
    a_library_sends_installs_and_purchases_counted_once(library, gaid, run).await;
}

/// A Node script of `tests/compat` with the packages of `clients/compat`.
fn node(script_name: &str) -> std::process::Command {
    let packages = common::required("TEST_COMPAT_NODE_DIR");
    let mut command = std::process::Command::new("node");
    command
        .arg(script(script_name))
        .env("TEST_COMPAT_NODE_DIR", packages)
        // posthog-node would use another endpoint with it set.
        .env_remove("POSTHOG_CAPTURE_MODE");
    command
}

async fn a_node_library_sends_installs_and_purchases_counted_once(library: &str, gaid: &str) {
    let run = |base: &str, app_token: &str| {
        let mut command = node("node_client.mjs");
        command.args([library, base, app_token, gaid, "run1"]);
        command
    };
    a_library_sends_installs_and_purchases_counted_once(library, gaid, run).await;
}

#[tokio::test]
async fn segments_node_library_sends_installs_and_purchases_counted_once() {
    a_node_library_sends_installs_and_purchases_counted_once(
        "segment",
        "6a2f1b4c-3d8e-4f1a-9b2c-1d7e3f5a8b02",
    )
    .await;
}

#[tokio::test]
async fn rudderstacks_node_library_sends_installs_and_purchases_counted_once() {
    a_node_library_sends_installs_and_purchases_counted_once(
        "rudderstack",
        "9b3c5d7e-2f4a-4b6c-8d8e-0f1a2b3c4d5f",
    )
    .await;
}

#[tokio::test]
async fn posthogs_node_library_sends_installs_and_purchases_counted_once() {
    a_node_library_sends_installs_and_purchases_counted_once(
        "posthog",
        "4d0e8f2b-5c3a-4f9b-8d2e-6a7b8c9d0e1f",
    )
    .await;
}

#[tokio::test]
async fn posthog_js_in_chromium_sends_installs_and_purchases_counted_once() {
    let gaid = "7e1f9a3c-6d4b-4a0c-9e3f-8b9c0d1e2f3a";
    let run = |base: &str, app_token: &str| {
        let mut command = node("posthog_js_browser.mjs");
        command.args([base, app_token, gaid, "run1"]);
        command
    };
    a_library_sends_installs_and_purchases_counted_once("posthogjs", gaid, run).await;
}

/// Runs `run(base, app_token)` twice (a retry of the whole run, same message ids) after a
/// click with `gaid`: one install attributed to the click, the purchase's revenue and two
/// events are counted.
async fn a_library_sends_installs_and_purchases_counted_once(
    library: &str,
    gaid: &str,
    run: impl Fn(&str, &str) -> std::process::Command,
) {
    unmogrowp_server::postbacks::install_crypto_provider();
    let port = common::free_port();
    let data_dir = tempfile::tempdir().unwrap();
    let _server = common::Running(Some(common::serve(port, data_dir.path(), &[], &[])));
    let base = format!("http://127.0.0.1:{port}");
    let http =
        // Idle connections are dropped before the server's 10 s header-read timeout closes
        // them (a browser run takes longer than that; a reused, just-closed connection fails).
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(Duration::from_secs(5))
            .build()
            .unwrap();
    common::wait_for(&http, &base, "/healthz", Duration::from_secs(30)).await;
    let (token, app_id, app_token) = common::account_with_app(&http, &base, &base, library).await;

    // A click on a tracking link with the device's advertising id.
    let link: Value = http
        .post(format!("{base}/api/v1/apps/{app_id}/links"))
        .bearer_auth(&token)
        .json(&json!({ "network": "meta", "campaign": library }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let click = format!("{}?gaid={gaid}", link["click_url"].as_str().unwrap());
    assert_eq!(http.get(click).send().await.unwrap().status(), 302);

    // The library sends its batch twice (a retry of the whole run, same message ids).
    for _ in 0..2 {
        let output = run(&base, &app_token).output().unwrap();
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(output.status.success(), "{library}: {said}");
    }

    // Counted once: one install attributed to the click, the purchase's revenue, two events.
    let path = format!("{base}/api/v1/apps/{app_id}/reports/summary?group_by=network");
    let deadline = Instant::now() + Duration::from_secs(30);
    let summary = loop {
        let summary: Value =
            http.get(&path).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
        let installs = summary["totals"]["installs"].as_u64().unwrap_or(0);
        let events = summary["totals"]["events"].as_u64().unwrap_or(0);
        if (installs, events) == (1, 2) || Instant::now() > deadline {
            break summary;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(summary["totals"]["installs"], 1, "{summary}");
    assert_eq!(summary["totals"]["events"], 2, "{summary}");
    let meta = summary["rows"].as_array().unwrap().iter().find(|row| row["network"] == "meta");
    assert_eq!(meta.map(|row| row["installs"].clone()), Some(json!(1)), "{summary}");
    // 7.5 EUR in the app's currency (USD).
    let revenue = summary["totals"]["revenue"].as_f64().unwrap();
    assert!(revenue > 7.5 && revenue < 10.0, "{summary}");
}
