//! The deploy assets (Grafana dashboards in `deploy/grafana/dashboards`, Prometheus rules in
//! `deploy/prometheus/rules`) refer only to metrics the server exports: every metric a query
//! names is in a crate's `metric_names.rs` catalogue (or is a `process_*` metric, or
//! Prometheus's own `up`), and those that ordinary traffic produces are on `/metrics` after it.
//! (`promtool check rules` and `promtool test rules` run in `make test` too.)

use reqwest::Method;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use unmogrowp_testkit::{TestApp, TestBackend};

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every metric name declared as `pub const NAME: &str = "…";` in a `metric_names.rs`.
fn catalogue() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for crate_dir in std::fs::read_dir(repository().join("crates")).unwrap() {
        let file = crate_dir.unwrap().path().join("src/metric_names.rs");
        let Ok(text) = std::fs::read_to_string(&file) else { continue };
        for line in text.lines() {
            if let Some(rest) = line.trim().strip_prefix("pub const ")
                && let Some((_, value)) = rest.split_once("= \"")
            {
                names.insert(value.trim_end_matches("\";").to_owned());
            }
        }
    }
    names
}

/// The metric names a PromQL text selects: each identifier written right before `{` (the
/// assets write every selector with braces). Recording rules (with `:`) are left out.
fn selected(expr: &str) -> Vec<String> {
    let bytes = expr.as_bytes();
    let mut names = Vec::new();
    for (index, byte) in bytes.iter().enumerate() {
        if *byte != b'{' {
            continue;
        }
        let start = bytes[..index]
            .iter()
            .rposition(|b| !(b.is_ascii_alphanumeric() || *b == b'_' || *b == b':'))
            .map_or(0, |p| p + 1);
        let name = &expr[start..index];
        if !name.is_empty() && !name.contains(':') {
            names.push(name.to_owned());
        }
    }
    names
}

/// Every metric the assets select, with the file that selects it.
fn referenced() -> BTreeMap<String, String> {
    let mut found = BTreeMap::new();
    let dashboards = repository().join("deploy/grafana/dashboards");
    let rules = repository().join("deploy/prometheus/rules");
    let mut files = Vec::new();
    for dir in [dashboards, rules] {
        for entry in std::fs::read_dir(&dir).unwrap() {
            files.push(entry.unwrap().path());
        }
    }
    assert!(files.len() >= 3, "dashboards and rules: {files:?}");
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let exprs: Vec<String> = if file.extension().is_some_and(|e| e == "json") {
            let dashboard: serde_json::Value = serde_json::from_str(&text).unwrap();
            let mut exprs = Vec::new();
            collect_exprs(&dashboard, &mut exprs);
            exprs
        } else {
            text.lines()
                .filter_map(|line| line.trim().strip_prefix("expr: "))
                .map(str::to_owned)
                .collect()
        };
        assert!(!exprs.is_empty(), "{} has queries", file.display());
        for expr in exprs {
            for name in selected(&expr) {
                found.insert(name, file.display().to_string());
            }
        }
    }
    found
}

fn collect_exprs(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("expr", serde_json::Value::String(expr)) => out.push(expr.clone()),
                    _ => collect_exprs(value, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|item| collect_exprs(item, out)),
        _ => {}
    }
}

/// The exported name a selected one stands for (histogram series share their base name).
fn base(name: &str) -> &str {
    ["_bucket", "_count", "_sum"]
        .iter()
        .find_map(|suffix| name.strip_suffix(suffix))
        .unwrap_or(name)
}

#[tokio::test]
async fn dashboards_and_alerts_select_only_exported_metrics() {
    assert_eq!(
        selected(r#"sum(rate(a_total{x="1"}[5m])) / b:rule{} + c_seconds_bucket{}"#),
        ["a_total", "c_seconds_bucket"]
    );
    let catalogue = catalogue();
    assert!(catalogue.contains("http_requests_total") && catalogue.len() > 40, "{catalogue:?}");
    let referenced = referenced();
    for (name, file) in &referenced {
        let known = catalogue.contains(base(name)) || name.starts_with("process_") || name == "up";
        assert!(known, "{file} selects `{name}`, which no metric_names.rs declares");
    }

    // Ordinary traffic: an account, an app, events and an install, a report read. (Gauges a
    // background task sets on its own schedule, such as the pipeline lag, are not waited for.)
    let app = TestApp::spawn(TestBackend::Sqlite).await;
    let fixture =
        crate::collect::fixture(&app, "deploy.example", crate::apps::android_app("Deploy")).await;
    let events = [
        crate::collect::event("deploy-install", "install", None),
        crate::collect::event("deploy-session", "session", None),
    ];
    assert_eq!(crate::collect::send(&app, &fixture.app_token, &events).await.status, 200);
    crate::collect::settle(&app).await;
    let path = format!("/api/v1/apps/{}/reports/summary", fixture.app_id);
    assert_eq!(
        app.call(Method::GET, &path, Some(&fixture.owner.access_token), None).await.status,
        200
    );
    let text = app.get("/metrics").await.text().await.unwrap();
    let exported: BTreeSet<&str> = text
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.split(['{', ' ']).next())
        .map(base)
        .collect();
    let produced = [
        "http_requests_total",
        "http_request_duration_seconds",
        "ingest_events_accepted_total",
        "pipeline_records_stored_total",
        "pipeline_visible_latency_seconds",
        "tenant_events_total",
        "tenant_installs_total",
        "tenant_api_requests_total",
        "tenant_api_request_duration_seconds",
    ];
    for name in produced {
        assert!(referenced.keys().any(|selected| base(selected) == name), "the assets show {name}");
        assert!(exported.contains(name), "{name} is on /metrics after traffic:\n{text}");
    }
    app.stop().await;
}
