//! Browser and operator hardening: the dashboard's Content Security Policy, no caching of
//! API answers, the metrics token, and control characters refused in names.

use base64::Engine as _;
use reqwest::Method;
use serde_json::json;
use sha2::Digest as _;
use unmogrowp_testkit::{TestApp, TestBackend};

#[tokio::test]
async fn html_pages_carry_a_strict_policy_that_lists_their_inline_scripts() {
    let app = TestApp::spawn(TestBackend::Sqlite).await;
    // `/` is the dashboard's shell when it is built, else the landing page; a client route
    // gets the same page.
    for path in ["/", "/apps"] {
        let response = app.get(path).await;
        if path == "/apps" && response.status() == 404 {
            continue; // no dashboard built: client routes are 404s, `/` was checked
        }
        let policy = response.headers()["content-security-policy"].to_str().unwrap().to_owned();
        let body = response.text().await.unwrap();
        assert!(body.contains("<html"), "{path}: {body}");
        for directive in [
            "default-src 'self'",
            "object-src 'none'",
            "base-uri 'self'",
            "frame-ancestors 'none'",
            "connect-src 'self'",
        ] {
            assert!(policy.contains(directive), "{path}: {directive} missing in {policy}");
        }
        let script_src =
            policy.split(';').map(str::trim).find(|d| d.starts_with("script-src")).unwrap();
        assert!(!script_src.contains("unsafe-inline") && !script_src.contains("unsafe-eval"));
        let mut rest = body.as_str();
        while let Some(start) = rest.find("<script") {
            let after = &rest[start..];
            let open_end = after.find('>').unwrap();
            let inner = &after[open_end + 1..];
            let close = inner.find("</script>").unwrap();
            if !after[..open_end].contains(" src=") {
                let hash = base64::engine::general_purpose::STANDARD
                    .encode(sha2::Sha256::digest(&inner.as_bytes()[..close]));
                assert!(script_src.contains(&format!("'sha256-{hash}'")), "{script_src}");
            }
            rest = &inner[close..];
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn api_answers_with_tokens_are_never_cached() {
    let app = TestApp::spawn(TestBackend::Sqlite).await;
    let body = json!({ "email": "cache@example.com", "password": "a long enough passphrase 42",
                       "name": "Ada", "organization": "Acme" });
    let registered = app.call(Method::POST, "/api/v1/auth/register", None, Some(&body)).await;
    assert_eq!(registered.status, 201);
    assert_eq!(registered.header("cache-control"), Some("no-store"));
    let login = app
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(
                &json!({ "email": "cache@example.com", "password": "a long enough passphrase 42" }),
            ),
        )
        .await;
    assert_eq!(login.header("cache-control"), Some("no-store"));
    let refreshed = app
        .call(
            Method::POST,
            "/api/v1/auth/refresh",
            None,
            Some(&json!({ "refresh_token": login.body["refresh_token"] })),
        )
        .await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.text);
    assert_eq!(refreshed.header("cache-control"), Some("no-store"));
    app.stop().await;
}

#[tokio::test]
async fn metrics_need_their_token_when_one_is_configured() {
    let app = TestApp::spawn_with(TestBackend::Sqlite, |config| {
        config.http.metrics_token = Some("scrape-secret-000001".to_owned().into());
    })
    .await;
    let open = app.get("/metrics").await;
    assert_eq!(open.status(), 401);
    let wrong =
        app.call_with(Method::GET, "/metrics", Some("scrape-secret-000002"), None, &[]).await;
    assert_eq!(wrong.status, 401);
    let right =
        app.call_with(Method::GET, "/metrics", Some("scrape-secret-000001"), None, &[]).await;
    assert_eq!(right.status, 200);
    assert!(right.text.contains("http_requests_total"), "{}", right.text);
    app.stop().await;
}

async fn names_with_control_characters_are_refused(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    for (field, name, organization) in [
        ("name", "Ada\u{0}", "Acme"),
        ("organization", "Ada", "Acme\nInc"),
        ("name", "\u{1b}[31m", "Acme"),
    ] {
        let body = json!({ "email": "ctl@example.com", "password": "a long enough passphrase 42",
                           "name": name, "organization": organization });
        let reply = app.call(Method::POST, "/api/v1/auth/register", None, Some(&body)).await;
        assert_eq!(reply.status, 400, "{name:?} {organization:?}: {}", reply.text);
        assert_eq!(reply.body["errors"][0]["field"], field);
    }
    let owner = app.register("owner@example.com", "Acme").await;
    let app_body = json!({ "name": "Game\u{0}", "platform": "android", "bundle_id": "com.example.game",
                           "store_url": "https://play.google.com/store/apps/details?id=com.example.game",
                           "time_zone": "UTC", "currency": "USD" });
    let reply =
        app.call(Method::POST, "/api/v1/apps", Some(&owner.access_token), Some(&app_body)).await;
    assert_eq!(reply.status, 400, "{}", reply.text);
    assert_eq!(reply.body["errors"][0]["field"], "name");
    app.stop().await;
}

on_both_backends!(names_with_control_characters_are_refused);

#[tokio::test]
async fn weak_and_personal_passwords_are_refused_with_a_reason() {
    let app = TestApp::spawn(TestBackend::Sqlite).await;
    let register = |password: &'static str| {
        let app = &app;
        async move {
            let body = json!({ "email": "grace.hopper@example.com", "password": password,
                               "name": "Grace Hopper", "organization": "Compilers Ltd" });
            app.call(Method::POST, "/api/v1/auth/register", None, Some(&body)).await
        }
    };
    for weak in [
        "        ",
        "grace.hopper@example.com",
        "Summer2024",
        "Password123!",
        "unmogrowp",
        "grace.hopper 1906",
        "Compilers Ltd rules",
    ] {
        let reply = register(weak).await;
        assert_eq!(reply.status, 400, "{weak:?} was accepted: {}", reply.text);
        assert_eq!(reply.body["errors"][0]["field"], "password", "{weak:?}");
        let reason = reply.body["errors"][0]["message"].as_str().unwrap();
        assert!(!reason.is_empty(), "{weak:?}");
    }
    let personal = register("grace.hopper 1906").await;
    assert_eq!(
        personal.body["errors"][0]["message"],
        "must not contain your email, name or organization"
    );
    assert_eq!(register("nanoseconds fit in a wire").await.status, 201);
    app.stop().await;
}

#[tokio::test]
async fn store_urls_must_be_app_store_pages() {
    let app = TestApp::spawn(TestBackend::Sqlite).await;
    let owner = app.register("stores@example.com", "Acme").await;
    let create = |store_url: &'static str| {
        let (app, token) = (&app, owner.access_token.clone());
        async move {
            let body = json!({ "name": "Game", "platform": "android", "bundle_id": "com.example.game",
                               "store_url": store_url });
            app.call(Method::POST, "/api/v1/apps", Some(&token), Some(&body)).await
        }
    };
    for open_redirect in [
        "http://127.0.0.1/",
        "https://evil.example/phish",
        "http://play.google.com/store/apps/details?id=com.example.game",
        "https://play.google.com.evil.example/x",
    ] {
        let reply = create(open_redirect).await;
        assert_eq!(reply.status, 400, "{open_redirect}: {}", reply.text);
        assert_eq!(reply.body["errors"][0]["field"], "store_url", "{open_redirect}");
    }
    let created = create("https://play.google.com/store/apps/details?id=com.example.game").await;
    assert_eq!(created.status, 201, "{}", created.text);
    let path = format!("/api/v1/apps/{}", created.body["id"].as_str().unwrap());
    let patched = app
        .call(
            Method::PATCH,
            &path,
            Some(&owner.access_token),
            Some(&json!({ "store_url": "https://evil.example/" })),
        )
        .await;
    assert_eq!(patched.status, 400, "{}", patched.text);
    assert_eq!(patched.body["errors"][0]["field"], "store_url");
    app.stop().await;
}

/// Whether the server closes `socket` (EOF or reset) within `within`.
async fn closed_by_server(socket: &mut tokio::net::TcpStream, within: std::time::Duration) -> bool {
    use tokio::io::AsyncReadExt as _;
    let mut buffer = [0u8; 256];
    loop {
        match tokio::time::timeout(within, socket.read(&mut buffer)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test]
async fn idle_and_trickling_connections_do_not_lock_out_a_new_client() {
    use tokio::io::AsyncWriteExt as _;
    let app = TestApp::spawn_with(TestBackend::Sqlite, |config| {
        config.http.header_read_timeout_ms = 500;
        config.http.max_connections_per_ip = 100;
    })
    .await;
    let address: std::net::SocketAddr =
        app.url.trim_start_matches("http://").parse().expect("the test server's address");
    // 1 100 sockets from one address that send nothing, and one that trickles a request.
    let mut idle = Vec::new();
    for _ in 0..1_100 {
        idle.push(tokio::net::TcpStream::connect(address).await.expect("connect"));
    }
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.bind("127.0.0.3:0".parse().expect("address")).expect("bind");
    let mut trickling = socket.connect(address).await.expect("connect");
    trickling.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ").await.expect("write");
    // A client from another address is served at once.
    let client = reqwest::Client::builder()
        .local_address("127.0.0.2".parse::<std::net::IpAddr>().expect("address"))
        .build()
        .expect("client");
    let reply = client.get(format!("{}/healthz", app.url)).send().await.expect("served");
    assert_eq!(reply.status(), 200);
    // Past the header timeout the server has closed every idle socket (the ones over the
    // per-address cap at once) and the trickling one.
    let within = std::time::Duration::from_secs(10);
    assert!(closed_by_server(&mut trickling, within).await, "the trickling client was closed");
    for socket in &mut idle {
        assert!(closed_by_server(socket, within).await, "an idle socket stayed open");
    }
    let refused: f64 = app
        .get("/metrics")
        .await
        .text()
        .await
        .unwrap()
        .lines()
        .filter(|line| line.starts_with("http_connections_refused_total"))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(refused >= 1_000.0, "sockets over the per-address cap were refused: {refused}");
    app.stop().await;
}

#[tokio::test]
async fn an_upgraded_websocket_keeps_its_place_under_the_per_address_cap() {
    let app = TestApp::spawn_with(TestBackend::Sqlite, |config| {
        config.http.max_connections_per_ip = 1;
    })
    .await;
    let url = format!("{}/api/v1/live", app.url.replace("http://", "ws://"));
    let (socket, _) = tokio_tungstenite::connect_async(&url).await.expect("upgraded");
    // The upgraded socket is the address's one connection: another one is closed at once.
    let client = reqwest::Client::builder().pool_max_idle_per_host(0).build().expect("client");
    let refused = client.get(format!("{}/healthz", app.url)).send().await;
    assert!(refused.is_err(), "a second connection was served: {refused:?}");
    drop(socket);
    // Once the WebSocket is gone its place is free again (the server notices the close).
    let mut served = false;
    for _ in 0..100 {
        if let Ok(reply) = client.get(format!("{}/healthz", app.url)).send().await {
            served = reply.status() == 200;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(served, "the place was given back");
    app.stop().await;
}

#[tokio::test]
async fn the_document_lists_the_statuses_the_server_answers() {
    let app = TestApp::spawn(TestBackend::Sqlite).await;
    let owner = app.register("doc@example.com", "Docs").await;
    let document: serde_json::Value = app.get("/api/openapi.json").await.json().await.unwrap();
    let listed = |method: &str, template: &str, status: u16| {
        document["paths"][template][method]["responses"][status.to_string()].is_object()
    };
    let unknown_app = "0193a000-0000-7000-8000-0000000000ff";
    // (method, template, concrete path, token?, body, content type, expected status)
    let cases: Vec<(&str, &str, String, bool, &str, &str, u16)> = vec![
        ("get", "/api/v1/apps", "/api/v1/apps".into(), false, "", "", 401),
        ("post", "/api/v1/apps", "/api/v1/apps".into(), true, "name=x", "text/plain", 415),
        (
            "post",
            "/api/v1/apps",
            "/api/v1/apps".into(),
            true,
            "{\"name\":",
            "application/json",
            400,
        ),
        ("get", "/api/v1/apps/{app_id}", format!("/api/v1/apps/{unknown_app}"), true, "", "", 404),
        (
            "delete",
            "/api/v1/apps/{app_id}",
            format!("/api/v1/apps/{unknown_app}"),
            true,
            "",
            "",
            404,
        ),
        (
            "get",
            "/api/v1/apps/{app_id}/reports/fraud",
            format!("/api/v1/apps/{unknown_app}/reports/fraud"),
            true,
            "",
            "",
            404,
        ),
        ("post", "/api/v1/auth/login", "/api/v1/auth/login".into(), false, "{}", "text/plain", 415),
        ("post", "/v1/events", "/v1/events".into(), false, "{}", "application/json", 401),
    ];
    let client = reqwest::Client::new();
    for (method, template, path, signed_in, body, content_type, expected) in cases {
        let mut request = client.request(method.to_uppercase().parse().unwrap(), app.at(&path));
        if signed_in {
            request = request.bearer_auth(&owner.access_token);
        }
        if !content_type.is_empty() {
            request = request.header("content-type", content_type).body(body.to_owned());
        }
        let status = request.send().await.unwrap().status().as_u16();
        assert_eq!(status, expected, "{method} {path}");
        assert!(listed(method, template, status), "{method} {template} does not list {status}");
    }
    app.stop().await;
}

/// Data rows of a CSV export.
async fn export_rows(app: &TestApp, token: &str, path: &str) -> usize {
    let reply = app.call(Method::GET, path, Some(token), None).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.text.lines().count() - 1
}

/// Raw events past `events.retention_days` are dropped on schedule even while the worker is
/// never idle (it used to enforce retention only when a read found nothing).
#[tokio::test]
async fn retention_is_enforced_under_continuous_load() {
    let app = TestApp::spawn_with(TestBackend::Sqlite, |config| {
        config.events.retention_days = 1;
        config.events.retention_check_seconds = 1;
    })
    .await;
    let fixture =
        crate::collect::fixture(&app, "retention.example", crate::apps::android_app("Kept")).await;
    let old_day = (jiff::Timestamp::now() - jiff::SignedDuration::from_hours(72))
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    let old = json!({ "id": "old-session", "type": "session",
                      "timestamp": format!("{old_day}T12:00:00Z"), "device": { "gaid": "kept-device" } });
    assert_eq!(crate::collect::send(&app, &fixture.app_token, &[old]).await.body["accepted"], 1);
    crate::collect::settle(&app).await;
    let export =
        format!("/api/v1/apps/{}/export/events.csv?from={old_day}&to={old_day}", fixture.app_id);
    assert_eq!(export_rows(&app, &fixture.owner.access_token, &export).await, 1);
    // Keep the worker busy (a batch every 50 ms, so no read comes back empty) until the old
    // day is gone; bounded to 15 s.
    let mut gone = false;
    for round in 0..300 {
        let fresh = json!({ "id": format!("busy-{round}"), "type": "session",
                            "timestamp": crate::collect::now_rfc3339(0), "device": { "gaid": "busy" } });
        crate::collect::send(&app, &fixture.app_token, &[fresh]).await;
        if export_rows(&app, &fixture.owner.access_token, &export).await == 0 {
            gone = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(gone, "the day past retention was dropped while events kept arriving");
    app.stop().await;
}
