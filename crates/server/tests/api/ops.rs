use unmogrowp_testkit::app::json;
use unmogrowp_testkit::{TestApp, TestBackend};

#[tokio::test]
async fn healthz_answers_while_running() {
    let app = TestApp::spawn(TestBackend::Sqlite).await;
    let response = app.get("/healthz").await;
    assert_eq!(response.status(), 200);
    assert_eq!(json(response).await["status"], "ok");
    app.stop().await;
}

#[tokio::test]
async fn readyz_lists_the_database_check() {
    let app = TestApp::spawn(TestBackend::Sqlite).await;
    let response = app.get("/readyz").await;
    assert_eq!(response.status(), 200);
    let body = json(response).await;
    assert_eq!(body["status"], "ready");
    assert_eq!(body["checks"][0]["name"], "database");
    assert_eq!(body["checks"][0]["ok"], true);
    app.stop().await;
}

#[tokio::test]
async fn metrics_count_requests_by_route_template_and_status_with_latency() {
    let app = TestApp::spawn(TestBackend::Sqlite).await;
    app.get("/healthz").await;
    app.get("/api/no/such/thing").await;
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    let text = response.text().await.unwrap();
    assert!(text.contains("# TYPE http_requests_total counter"), "{text}");
    // Every metric carries its description, from the crates' `metric_names` modules.
    assert!(
        text.contains("# HELP http_requests_total HTTP requests answered, by route template, method and status."),
        "{text}"
    );
    assert!(
        text.contains(r#"http_requests_total{method="GET",route="/healthz",status="200"}"#),
        "{text}"
    );
    assert!(text.contains(r#"route="unmatched",status="404""#), "{text}");
    assert!(text.contains("# TYPE http_request_duration_seconds histogram"), "{text}");
    assert!(text.contains(r#"http_request_duration_seconds_bucket{method="GET",route="/healthz",status="200",le="0.005"}"#), "{text}");
    assert!(text.contains("http_requests_in_flight"), "{text}");
    assert!(text.contains("process_resident_memory_bytes"), "{text}");
    assert!(text.contains("process_cpu_seconds_total"), "{text}");
    app.stop().await;
}

#[tokio::test]
async fn openapi_document_describes_the_routes() {
    let app = TestApp::spawn(TestBackend::Sqlite).await;
    let response = app.get("/api/openapi.json").await;
    assert_eq!(response.status(), 200);
    let document = json(response).await;
    assert!(document["openapi"].as_str().unwrap().starts_with("3."));
    for path in ["/healthz", "/readyz", "/metrics", "/api/openapi.json", "/api/v1/auth/check-email"]
    {
        assert!(document["paths"].get(path).is_some(), "{path} missing from the document");
    }
    assert!(document["components"]["schemas"].get("ProblemDocument").is_some());
    app.stop().await;
}

/// The docs page and every script and stylesheet it loads come from this server.
#[tokio::test]
async fn api_docs_work_offline() {
    let app = TestApp::spawn(TestBackend::Sqlite).await;
    for page in ["/api/docs", "/api/docs/"] {
        let response = app.get(page).await;
        assert_eq!(response.status(), 200, "{page}");
        assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
        let html = response.text().await.unwrap();
        let assets: Vec<&str> = html
            .split(['"', '\''])
            .filter(|part| part.ends_with(".js") || part.ends_with(".css"))
            .collect();
        assert!(assets.len() >= 4, "{html}");
        for asset in assets {
            assert!(asset.starts_with('/'), "asset {asset} is not served by this server");
            let response = app.get(asset).await;
            assert_eq!(response.status(), 200, "{asset}");
            assert!(!response.bytes().await.unwrap().is_empty(), "{asset}");
        }
    }
    let initializer = app.get("/api/docs/swagger-initializer.js").await.text().await.unwrap();
    assert!(initializer.contains("/api/openapi.json"), "{initializer}");
    app.stop().await;
}

#[tokio::test]
async fn the_root_page_says_what_this_is() {
    let app = TestApp::spawn(TestBackend::Sqlite).await;
    let response = app.get("/").await;
    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    // The dashboard's shell when `web/build` exists (debug builds read it from the source
    // tree), else the landing page pointing at the API documentation.
    match std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../web/build/index.html"
    )) {
        Ok(shell) => assert_eq!(html, shell),
        Err(_) => assert!(html.contains("UnMoGrowP") && html.contains("/api/docs"), "{html}"),
    }
    app.stop().await;
}

/// Every page of the dashboard loads directly; any other page path answers 404 (with the
/// shell, which shows its not-found view), so monitors and crawlers see the truth.
#[tokio::test]
async fn unknown_pages_answer_404_and_every_dashboard_page_loads() {
    let app = TestApp::spawn(TestBackend::Sqlite).await;
    let built =
        std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../web/build/index.html"))
            .exists();
    assert!(unmogrowp_server::dashboard::CLIENT_ROUTES.len() >= 14);
    for route in unmogrowp_server::dashboard::CLIENT_ROUTES {
        let path = route.replace('*', "x");
        let response = app.get(&path).await;
        let expected = if built || path == "/" { 200 } else { 404 };
        assert_eq!(response.status(), expected, "{path}");
    }
    for path in ["/definitely-not-a-page", "/apps/nothing-here", "/login/extra"] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 404, "{path}");
        let body = response.text().await.unwrap();
        if built {
            assert!(
                body.contains("<html"),
                "{path}: the shell, to show its not-found view: {body}"
            );
        }
    }
    // API-looking paths keep their problem documents.
    let api = app.get("/api/v1/nothing").await;
    assert_eq!(api.status(), 404);
    assert_eq!(api.headers()["content-type"], "application/problem+json");
    app.stop().await;
}

/// The dashboard's typed client is generated from `web/openapi.json`: it must be exactly the
/// document the server serves (refresh it with
/// `curl -s http://127.0.0.1:8080/api/openapi.json > web/openapi.json`).
#[tokio::test]
async fn the_dashboard_snapshot_of_the_openapi_document_is_current() {
    let app = unmogrowp_testkit::TestApp::spawn(unmogrowp_testkit::TestBackend::Sqlite).await;
    let served = app.get("/api/openapi.json").await.text().await.unwrap();
    let snapshot =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../web/openapi.json"))
            .unwrap();
    assert!(
        served == snapshot,
        "web/openapi.json differs from the served document: refresh the snapshot"
    );
    // Query parameters are declared as such (not as path parameters).
    let document: serde_json::Value = serde_json::from_str(&served).unwrap();
    for (path, item) in document["paths"].as_object().unwrap() {
        for operation in item.as_object().unwrap().values() {
            for parameter in operation["parameters"].as_array().into_iter().flatten() {
                let name = parameter["name"].as_str().unwrap();
                if parameter["in"] == "path" {
                    assert!(
                        path.contains(&format!("{{{name}}}")),
                        "{path}: {name} is not in the path"
                    );
                }
            }
        }
    }
}

/// With the threshold at 0 every query counts as slow: a report request is logged and
/// counted under its kind (the decorator is wired into the running server), and the OLTP
/// statements of signing up are counted from sqlx's own slow-statement warnings.
#[tokio::test]
async fn slow_queries_are_counted_by_store_and_kind() {
    use tracing_subscriber::layer::SubscriberExt as _;
    // This process's log subscriber, with the counter `serve` installs (nextest runs each
    // test in a process of its own).
    let subscriber =
        tracing_subscriber::registry().with(unmogrowp_server::slow_queries::SlowStatementCounter);
    let _ = tracing::subscriber::set_global_default(subscriber);
    let app = TestApp::spawn_with(TestBackend::Sqlite, |config| {
        config.observability.slow_query_ms = 0;
    })
    .await;
    let fixture =
        crate::collect::fixture(&app, "slow.example", crate::apps::android_app("Slow")).await;
    let path = format!("/api/v1/apps/{}/reports/summary", fixture.app_id);
    let reply =
        app.call(reqwest::Method::GET, &path, Some(&fixture.owner.access_token), None).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let text = app.get("/metrics").await.text().await.unwrap();
    assert!(text.contains("# HELP slow_queries_total"), "{text}");
    let summary = text.lines().find(|line| {
        line.starts_with("slow_queries_total{")
            && line.contains(r#"kind="summary""#)
            && line.contains(r#"store="events""#)
    });
    let count: f64 = summary
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    assert!(count >= 1.0, "{summary:?}");
    let inserts = text.lines().find(|line| {
        line.starts_with("slow_queries_total{")
            && line.contains(r#"store="oltp""#)
            && line.contains(r#"kind="INSERT""#)
    });
    let count: f64 = inserts
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    assert!(count >= 1.0, "signing up inserts rows: {inserts:?}");
    app.stop().await;
}

/// Per-organization metrics keep their cardinality bounded: with N = 2, traffic from three
/// organizations shows two of them by id and the third as `other`, for events and for API
/// requests alike.
#[tokio::test]
async fn per_organization_metrics_label_the_top_n_and_fold_the_rest() {
    let app = TestApp::spawn_with(TestBackend::Sqlite, |config| {
        config.observability.tenant_metrics_top_n = 2;
    })
    .await;
    let mut orgs = Vec::new();
    for name in ["one", "two", "three"] {
        let fixture = crate::collect::fixture(
            &app,
            &format!("{name}.example"),
            crate::apps::android_app(name),
        )
        .await;
        let events = [crate::collect::event(&format!("{name}-1"), "install", None)];
        assert_eq!(crate::collect::send(&app, &fixture.app_token, &events).await.status, 200);
        orgs.push(fixture.owner.org_id.clone());
    }
    crate::collect::settle(&app).await;
    let text = app.get("/metrics").await.text().await.unwrap();
    for metric in ["tenant_events_total{", "tenant_api_requests_total{", "tenant_installs_total{"] {
        let lines: Vec<&str> = text.lines().filter(|line| line.starts_with(metric)).collect();
        let labelled: Vec<&String> = orgs
            .iter()
            .filter(|org| lines.iter().any(|line| line.contains(&format!("org_id=\"{org}\""))))
            .collect();
        assert_eq!(labelled.len(), 2, "{metric}: {lines:?}");
        assert!(lines.iter().any(|line| line.contains(r#"org_id="other""#)), "{metric}: {lines:?}");
    }
    assert!(
        text.contains("tenant_api_request_duration_seconds_bucket{"),
        "latency per organization"
    );
    app.stop().await;
}
