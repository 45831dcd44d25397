//! Traces over OTLP, end to end: the binary exports to a real OTLP/HTTP receiver (protobuf
//! bodies decoded with the `opentelemetry-proto` definitions), an install sent with a
//! `traceparent` yields one trace holding its request span, its log append, the pipeline
//! batch that decided it and its postback call, and the network's postback request carries
//! the trace on.

#![allow(clippy::unwrap_used)]

mod common;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message as _;
use serde_json::{Value, json};
use std::io::BufRead as _;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Every span the OTLP receiver got so far.
fn spans(received: &Mutex<Vec<common::Received>>) -> Vec<Span> {
    received
        .lock()
        .unwrap()
        .iter()
        .filter(|request| request.target == "/v1/traces")
        .flat_map(|request| {
            let export = ExportTraceServiceRequest::decode(request.body.as_slice()).unwrap();
            export
                .resource_spans
                .into_iter()
                .flat_map(|resource| resource.scope_spans.into_iter().flat_map(|scope| scope.spans))
        })
        .collect()
}

fn attribute(span: &Span, key: &str) -> Option<String> {
    span.attributes.iter().find(|kv| kv.key == key).and_then(|kv| {
        match kv.value.as_ref()?.value.as_ref()? {
            AnyValue::StringValue(text) => Some(text.clone()),
            AnyValue::IntValue(number) => Some(number.to_string()),
            other => Some(format!("{other:?}")),
        }
    })
}

/// Waits (30 s at most) until a span satisfying `find` was exported; returns it.
async fn exported(
    received: &Mutex<Vec<common::Received>>,
    what: &str,
    find: impl Fn(&Span) -> bool,
) -> Span {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(span) = spans(received).into_iter().find(|span| find(span)) {
            return span;
        }
        let names: Vec<String> = spans(received).iter().map(|s| s.name.clone()).collect();
        assert!(Instant::now() < deadline, "no {what} among the exported spans: {names:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn call(request: reqwest::RequestBuilder) -> Value {
    let response = request.send().await.unwrap();
    let status = response.status();
    let value: Value = response.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{status}: {value}");
    value
}

const TRACE_A: &str = "0af7651916cd43dd8448eb211c80319c";
const TRACE_B: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const TRACE_C: &str = "5d1c0de5a5b2c3d4e5f60718293a4b5c";
const TRACE_D: &str = "6e2d1f0e9a8b7c6d5e4f3a2b1c0d9e8f";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

fn traceparent(trace: &str) -> String {
    format!("00-{trace}-{CALLER_SPAN}-01")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::zombie_processes)]
async fn an_install_is_one_trace_from_request_to_postback() {
    unmogrowp_server::postbacks::install_crypto_provider();
    let (otlp_port, otlp) = common::recorder().await;
    let (network_port, network) = common::recorder().await;
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let mut server = Stopped(Some(
        common::command()
            .args(["serve", "--addr", &format!("127.0.0.1:{port}"), "--data-dir"])
            .arg(dir.path())
            .env("UNMOGROWP_LOG_LEVEL", "info")
            .env("UNMOGROWP_LOG_FORMAT", "json")
            .env("UNMOGROWP_OTEL__ENDPOINT", format!("http://127.0.0.1:{otlp_port}"))
            .env("UNMOGROWP_OTEL__EXPORT_INTERVAL_MS", "100")
            .env("UNMOGROWP_SECURITY__OUTBOUND_ALLOW_CIDRS", r#"["127.0.0.0/8"]"#)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    ));
    let child = server.0.as_mut().unwrap();
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let stdout = child.stdout.take().unwrap();
    let sink = lines.clone();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    common::wait_for(&http, &base, "/readyz", Duration::from_secs(60)).await;
    let login = call(http.post(format!("{base}/api/v1/auth/register")).json(&json!({
        "email": "traced@example.com", "password": "a long enough passphrase 42",
        "name": "T", "organization": "Traced" })))
    .await;
    let token = login["access_token"].as_str().unwrap().to_owned();
    // Installs may follow their clicks at once here.
    let app = call(http.post(format!("{base}/api/v1/apps")).bearer_auth(&token).json(&json!({
        "name": "Traced", "platform": "android", "bundle_id": "com.example.traced",
        "store_url": "https://play.google.com/store/apps/details?id=com.example.traced",
        "attribution": { "min_ctit_seconds": 0 } })))
    .await;
    let app_id = app["id"].as_str().unwrap().to_owned();
    let app_token = app["app_token"].as_str().unwrap().to_owned();
    let link = call(
        http.post(format!("{base}/api/v1/apps/{app_id}/links"))
            .bearer_auth(&token)
            .json(&json!({ "network": "meta", "campaign": "spring" })),
    )
    .await;
    // A management request carrying a trace: its JSON log line names the trace.
    call(
        http.post(format!("{base}/api/v1/apps/{app_id}/postbacks"))
            .bearer_auth(&token)
            .header("traceparent", traceparent(TRACE_C))
            .json(&json!({ "network": "meta", "events": ["install"],
                "url_template": format!("http://127.0.0.1:{network_port}/pb?click={{click_id}}") })),
    )
    .await;

    // The click, in a trace of its own; once its batch is exported, the install's batch
    // holds the install alone.
    let click_path = link["click_url"].as_str().unwrap().split_once("/c/").unwrap().1.to_owned();
    let click = http
        .get(format!("{base}/c/{click_path}?gaid=traced-device"))
        .header("traceparent", traceparent(TRACE_A))
        .send()
        .await
        .unwrap();
    assert!(click.status().is_redirection(), "{}", click.status());
    exported(&otlp, "batch of the click", |span| {
        span.name == "pipeline.batch" && hex(&span.trace_id) == TRACE_A
    })
    .await;

    let install = http
        .post(format!("{base}/v1/events"))
        .header("x-app-token", &app_token)
        .header("traceparent", traceparent(TRACE_B))
        .json(&json!({ "events": [{ "id": "traced-install", "type": "install",
            "timestamp": jiff::Timestamp::now().to_string(), "device": { "gaid": "traced-device" } }] }))
        .send()
        .await
        .unwrap();
    assert_eq!(install.status(), 200);

    // The request span continues the caller's trace and names the organization.
    let request = exported(&otlp, "install request span", |span| {
        span.name == "POST /v1/events" && hex(&span.trace_id) == TRACE_B
    })
    .await;
    assert_eq!(hex(&request.parent_span_id), CALLER_SPAN);
    let org_id = attribute(&request, "tenant.id").expect("the request span names the tenant");
    assert!(!org_id.is_empty());
    assert_eq!(attribute(&request, "http.route").as_deref(), Some("/v1/events"));
    assert_eq!(attribute(&request, "http.response.status_code").as_deref(), Some("200"));
    // Its log append is its child.
    let append = exported(&otlp, "log append span", |span| {
        span.name == "event_log.append" && hex(&span.trace_id) == TRACE_B
    })
    .await;
    assert_eq!(append.parent_span_id, request.span_id);
    // The batch that decided the install continues the request's trace, through the log.
    let batch = exported(&otlp, "pipeline batch span", |span| {
        span.name == "pipeline.batch" && hex(&span.trace_id) == TRACE_B
    })
    .await;
    assert_eq!(batch.parent_span_id, request.span_id);
    assert_eq!(attribute(&batch, "records").as_deref(), Some("1"));
    let store = exported(&otlp, "store stage span", |span| {
        span.name == "pipeline.store_batch" && hex(&span.trace_id) == TRACE_B
    })
    .await;
    assert_eq!(store.parent_span_id, batch.span_id);
    // So is the log position committed after it.
    let commit = exported(&otlp, "log commit span", |span| {
        span.name == "event_log.commit" && hex(&span.trace_id) == TRACE_B
    })
    .await;
    assert_eq!(commit.parent_span_id, batch.span_id);
    // OLTP statements of the trace are spans with their kind and table.
    let statement = exported(&otlp, "postback enqueue statement", |span| {
        hex(&span.trace_id) == TRACE_B
            && attribute(span, "db.operation.name").as_deref() == Some("INSERT")
            && attribute(span, "db.collection.name").as_deref() == Some("postback_deliveries")
    })
    .await;
    assert_eq!(attribute(&statement, "db.system.name").as_deref(), Some("sqlite"));
    // The postback call is in the same trace, and the network sees it as such.
    let deliver = exported(&otlp, "postback delivery span", |span| {
        span.name == "postback.deliver" && hex(&span.trace_id) == TRACE_B
    })
    .await;
    let postback = network
        .lock()
        .unwrap()
        .iter()
        .find(|request| request.target.starts_with("/pb"))
        .cloned()
        .expect("the postback was delivered");
    assert_eq!(
        postback.header("traceparent"),
        Some(format!("00-{TRACE_B}-{}-01", hex(&deliver.span_id)).as_str()),
        "the postback continues the install's trace: {postback:?}"
    );

    // An event-store query is a span of its request, with its kind and rows.
    call(
        http.get(format!("{base}/api/v1/apps/{app_id}/reports/summary?group_by=network"))
            .bearer_auth(&token)
            .header("traceparent", traceparent(TRACE_D)),
    )
    .await;
    let report = exported(&otlp, "summary request span", |span| {
        hex(&span.trace_id) == TRACE_D && span.name.starts_with("GET ")
    })
    .await;
    let query = exported(&otlp, "event-store query span", |span| {
        span.name == "event_store.summary" && hex(&span.trace_id) == TRACE_D
    })
    .await;
    assert_eq!(query.parent_span_id, report.span_id);
    assert_eq!(attribute(&query, "db.operation.name").as_deref(), Some("summary"));
    assert_eq!(attribute(&query, "db.system.name").as_deref(), Some("sqlite"));
    assert!(attribute(&query, "db.rows_returned").is_some(), "{query:?}");

    // The management request's log line carries its trace id.
    let logged = lines.lock().unwrap().iter().any(|line| {
        line.contains("request served")
            && line.contains("/api/v1/apps/{app_id}/postbacks")
            && line.contains(&format!("\"trace_id\":\"{TRACE_C}\""))
    });
    assert!(logged, "a JSON log line with the request's trace id");
    // Every span the server made was exported: none dropped.
    let metrics = http.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(!metrics.contains("otel_spans_dropped_total "), "{metrics}");
    assert!(metrics.contains("otel_spans_exported_total "));
    common::stop(server.0.take().unwrap());
}

/// Stops the server when the test ends, failed or not.
struct Stopped(Option<std::process::Child>);

impl Drop for Stopped {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
