//! Inputs from the field that used to lose or mis-decide installs (issue 13), each with the
//! right outcome: privacy-limited devices, long user agents, compressed bodies, late events,
//! SDK-chosen IPs, install-before-click and repeated click injection, a failed link lookup.

use crate::apps::android_app;
use crate::collect::{Fixture, fixture, link, now_rfc3339, send, send_s2s, settle};
use reqwest::Method;
use serde_json::{Value, json};
use std::io::Write;
use unmogrowp_testkit::{TestApp, TestBackend};

const ZEROS: &str = "00000000-0000-0000-0000-000000000000";

async fn get(app: &TestApp, fixture: &Fixture, path: &str) -> unmogrowp_testkit::app::Reply {
    app.call(Method::GET, path, Some(&fixture.owner.access_token), None).await
}

async fn decision(app: &TestApp, fixture: &Fixture, id: &str) -> Value {
    let reply = get(app, fixture, &format!("/api/v1/apps/{}/installs/{id}", fixture.app_id)).await;
    assert_eq!(reply.status, 200, "{id}: {}", reply.text);
    reply.body
}

async fn totals(app: &TestApp, fixture: &Fixture) -> Value {
    let reply =
        get(app, fixture, &format!("/api/v1/apps/{}/reports/summary", fixture.app_id)).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.body["totals"].clone()
}

/// The click id a tracking-link click hands the store (Android install referrer).
async fn click(app: &TestApp, link: &Value, query: &str, headers: &[(&str, &str)]) -> String {
    let path =
        format!("{}{query}", link["click_url"].as_str().unwrap().trim_start_matches(&app.url));
    let reply = app.call_with(Method::GET, &path, None, None, headers).await;
    assert_eq!(reply.status, 302, "{}", reply.text);
    reply.header("location").unwrap().rsplit("%3D").next().unwrap().to_owned()
}

/// Item 1: all-zero advertising ids (or none at all) no longer cost the install. The click id
/// still attributes; the SDK's `install_id` ties later events and SDK lookups to the device.
async fn privacy_limited_installs_are_counted_and_attributed(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let fixture = fixture(&app, "privacy.example", android_app("Privacy")).await;
    let network = link(&app, &fixture, "meta", "limited").await;
    let click_id = click(&app, &network, "?gaid=00000000-0000-0000-0000-000000000000", &[]).await;
    let events = vec![
        json!({ "id": "zero-click", "type": "install", "timestamp": now_rfc3339(60), "click_id": click_id,
                "device": { "gaid": ZEROS } }),
        json!({ "id": "zero-organic", "type": "install", "timestamp": now_rfc3339(60),
                "device": { "gaid": ZEROS, "idfa": ZEROS } }),
        json!({ "id": "no-device", "type": "install", "timestamp": now_rfc3339(60) }),
        json!({ "id": "with-install-id", "type": "install", "timestamp": now_rfc3339(60),
                "device": { "gaid": ZEROS, "install_id": "Inst-D" } }),
        json!({ "id": "buy-d", "type": "event", "name": "purchase", "timestamp": now_rfc3339(90),
                "device": { "gaid": ZEROS, "install_id": "inst-d" }, "revenue": { "amount": 3.0, "currency": "USD" } }),
        json!({ "id": "session-nobody", "type": "session", "timestamp": now_rfc3339(90), "device": { "gaid": "unknown" } }),
    ];
    let reply = send(&app, &fixture.app_token, &events).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body["accepted"], 6, "{}", reply.text);
    assert_eq!(reply.body["rejected"], json!([]));
    settle(&app).await;

    let attributed = decision(&app, &fixture, "zero-click").await;
    assert_eq!(attributed["status"], "attributed", "{attributed}");
    assert_eq!(attributed["match_type"], "click_id");
    assert_eq!(attributed["touch"]["network"], "meta");
    for organic in ["zero-organic", "no-device", "with-install-id"] {
        assert_eq!(decision(&app, &fixture, organic).await["status"], "organic", "{organic}");
    }
    let counted = totals(&app, &fixture).await;
    assert_eq!(counted["installs"], 4, "{counted}");
    assert_eq!(counted["organic_installs"], 3, "{counted}");
    assert_eq!(counted["sessions"], 1, "{counted}");
    assert_eq!(counted["events"], 1, "{counted}");
    assert_eq!(counted["revenue"], 3.0, "{counted}");

    // The SDK finds its install by its install id; a placeholder finds nothing.
    let lookup = |device: &'static str| {
        let token = fixture.app_token.clone();
        let app = &app;
        async move {
            app.call_with(
                Method::GET,
                &format!("/v1/attribution?device_id={device}"),
                None,
                None,
                &[("x-app-token", &token)],
            )
            .await
        }
    };
    let found = lookup("inst-d").await;
    assert_eq!(found.status, 200, "{}", found.text);
    assert_eq!(found.body["status"], "organic");
    assert_eq!(lookup(ZEROS).await.status, 400);

    // The same install id installing again is a re-install, not a second install.
    let again = json!({ "id": "with-install-id-again", "type": "install", "timestamp": now_rfc3339(120),
                        "device": { "install_id": "INST-D" } });
    assert_eq!(send(&app, &fixture.app_token, &[again]).await.body["accepted"], 1);
    settle(&app).await;
    let reinstall = decision(&app, &fixture, "with-install-id-again").await;
    assert_eq!(reinstall["status"], "organic");
    assert_eq!(totals(&app, &fixture).await["installs"], 4, "a re-install is not an install");
    app.stop().await;
}

/// Item 3: a 1 500-character user agent (in-app WebViews) is cut to 1 024 characters and
/// reported, never the reason to lose the install — as a header of an SDK request and as a
/// field of an S2S one; other descriptive fields likewise.
#[tokio::test]
async fn long_descriptive_text_is_cut_and_reported_never_refused() {
    let app = TestApp::spawn(TestBackend::Sqlite).await;
    let fixture = fixture(&app, "long-ua.example", android_app("Long UA")).await;
    let long_ua = format!("Mozilla/5.0 (Linux; Android 14; wv) {}", "A".repeat(1500));
    let install = json!({ "id": "long-sdk", "type": "install", "timestamp": now_rfc3339(0), "device": { "gaid": "g-long" } });
    let reply = app
        .call_with(
            Method::POST,
            "/v1/events",
            None,
            Some(&json!({ "events": [install] })),
            &[("x-app-token", &fixture.app_token), ("user-agent", &long_ua)],
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body["accepted"], 1, "{}", reply.text);
    assert_eq!(
        reply.body["truncated"],
        json!([{ "index": 0, "id": "long-sdk", "fields": ["device.user_agent"] }])
    );
    let server = json!({ "id": "long-s2s", "type": "install", "timestamp": now_rfc3339(0),
        "device": { "gaid": "g-long-2", "user_agent": long_ua, "model": "M".repeat(1100), "os_version": "14" },
        "properties": { "note": "n".repeat(1200) } });
    let short = json!({ "id": "short", "type": "session", "timestamp": now_rfc3339(0), "device": { "gaid": "g" } });
    let reply = send_s2s(&app, &fixture, &[short, server]).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body["accepted"], 2, "{}", reply.text);
    assert_eq!(
        reply.body["truncated"],
        json!([{ "index": 1, "id": "long-s2s", "fields": ["device.user_agent", "device.model", "properties"] }])
    );
    // Nothing cut: no `truncated` member at all.
    let plain = send(&app, &fixture.app_token, &[json!({ "id": "plain", "type": "session", "timestamp": now_rfc3339(0), "device": { "gaid": "g" } })]).await;
    assert_eq!(plain.body, json!({ "accepted": 1, "duplicates": 0, "rejected": [] }));
    settle(&app).await;
    assert_eq!(totals(&app, &fixture).await["installs"], 2);
    app.stop().await;
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

/// Item 4: gzip and deflate bodies are decoded on the collection endpoints; the size limit
/// applies to the decoded body (a small body inflating past it is 413); an unknown coding
/// is 415 naming it.
#[tokio::test]
async fn compressed_bodies_are_decoded_with_the_limit_on_the_decoded_size() {
    let app = TestApp::spawn(TestBackend::Sqlite).await;
    let fixture = fixture(&app, "gzip.example", android_app("Gzip")).await;
    let post = |body: Vec<u8>, encoding: &'static str| {
        let request = app
            .client
            .post(app.at("/v1/events"))
            .header("content-type", "application/json")
            .header("content-encoding", encoding)
            .header("x-app-token", &fixture.app_token)
            .body(body);
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let body = |id: &str| {
        serde_json::to_vec(&json!({ "events": [
            { "id": id, "type": "install", "timestamp": now_rfc3339(0), "device": { "gaid": format!("g-{id}") } }
        ]}))
        .unwrap()
    };
    let (status, answer) = post(gzip(&body("gz")), "gzip").await;
    assert_eq!((status, answer["accepted"].clone()), (200, json!(1)), "{answer}");
    let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    zlib.write_all(&body("zl")).unwrap();
    let (status, answer) = post(zlib.finish().unwrap(), "deflate").await;
    assert_eq!((status, answer["accepted"].clone()), (200, json!(1)), "{answer}");

    // 3 MiB of JSON whitespace inflating from a few KiB: refused without holding it.
    let mut padded = b"{\"events\": [".to_vec();
    padded.extend(std::iter::repeat_n(b' ', 3 * 1024 * 1024));
    padded.extend(b"]}");
    let bomb = gzip(&padded);
    assert!(bomb.len() < 64 * 1024);
    let (status, answer) = post(bomb, "gzip").await;
    assert_eq!(status, 413, "{answer}");
    let (status, answer) = post(body("br"), "br").await;
    assert_eq!(status, 415, "{answer}");
    assert!(answer["detail"].as_str().unwrap().contains("br"), "{answer}");
    let (status, answer) = post(b"plainly not gzip".to_vec(), "gzip").await;
    assert_eq!(status, 400, "{answer}");

    // S2S: the signature may cover the compressed or the decoded body.
    let key = app
        .call(
            Method::POST,
            &format!("/api/v1/apps/{}/keys", fixture.app_id),
            Some(&fixture.owner.access_token),
            None,
        )
        .await;
    let secret = key.body["secret"].as_str().unwrap().to_owned();
    for (id, sign_compressed) in [("s2s-a", true), ("s2s-b", false)] {
        let json = body(id);
        let compressed = gzip(&json);
        let signature =
            crate::collect::sign(&secret, if sign_compressed { &compressed } else { &json });
        let response = app
            .client
            .post(app.at("/v1/s2s/events"))
            .header("content-type", "application/json")
            .header("content-encoding", "gzip")
            .header("x-key-id", key.body["id"].as_str().unwrap())
            .header("x-signature", signature)
            .body(compressed)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{id}");
    }
    settle(&app).await;
    assert_eq!(totals(&app, &fixture).await["installs"], 4);
    app.stop().await;
}

/// Item 6: an S2S click for gaid X at T; an install from another device stamped T+8 d; then
/// X's install stamped T+6 d (late, but inside the 30-day acceptance) is still credited to
/// the click.
async fn a_late_install_finds_its_touch_whatever_was_stamped_later(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let fixture = fixture(&app, "late.example", android_app("Late")).await;
    let network = link(&app, &fixture, "unity", "late").await;
    let day = 86_400;
    let events = [
        json!({ "id": "late-click", "type": "click", "timestamp": now_rfc3339(-8 * day), "link_id": network["id"],
                "device": { "gaid": "gaid-x" } }),
        json!({ "id": "other-install", "type": "install", "timestamp": now_rfc3339(0), "device": { "gaid": "someone-else" } }),
        json!({ "id": "late-install", "type": "install", "timestamp": now_rfc3339(-2 * day), "device": { "gaid": "gaid-x" } }),
    ];
    for event in events {
        let reply = send_s2s(&app, &fixture, &[event]).await;
        assert_eq!(reply.body["accepted"], 1, "{}", reply.text);
    }
    settle(&app).await;
    let late = decision(&app, &fixture, "late-install").await;
    assert_eq!(late["status"], "attributed", "{late}");
    assert_eq!(late["match_type"], "device_id", "{late}");
    assert_eq!(late["touch"]["id"], "late-click", "{late}");
    app.stop().await;
}

/// Item 7: an SDK request cannot choose its IP: a body claiming a click's IP neither wins a
/// probabilistic match nor dodges a blocked range; the same claim from a server does match,
/// and a trusted proxy's forwarded IP is what counts for SDK requests.
#[tokio::test]
async fn sdk_requests_cannot_choose_their_ip() {
    let app = TestApp::spawn_with(TestBackend::Sqlite, |config| {
        config.http.trusted_proxies = vec!["127.0.0.1".to_owned()];
    })
    .await;
    let fixture = fixture(&app, "spoof.example", android_app("Spoof")).await;
    let blocked = app
        .call(
            Method::PUT,
            "/api/v1/org/blocked-ips",
            Some(&fixture.owner.access_token),
            Some(&json!({ "ranges": ["198.51.100.0/24"] })),
        )
        .await;
    assert_eq!(blocked.status, 200, "{}", blocked.text);
    let network = link(&app, &fixture, "applovin", "spoof").await;
    let web_ua = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/120.0 Mobile Safari/537.36";
    let app_ua = "Dalvik/2.1.0 (Linux; U; Android 14; Pixel 8 Build/UD1A.230803.041)";
    click(&app, &network, "", &[("x-forwarded-for", "203.0.113.9"), ("user-agent", web_ua)]).await;
    let claims = |id: &str, ip: &str| {
        json!({ "id": id, "type": "install", "timestamp": now_rfc3339(60),
                "device": { "gaid": format!("fresh-{id}"), "ip": ip, "user_agent": app_ua } })
    };
    // From 127.0.0.1 (no forwarded header), claiming the click's IP.
    let reply = app
        .call_with(
            Method::POST,
            "/v1/events",
            None,
            Some(&json!({ "events": [claims("spoofed", "203.0.113.9")] })),
            &[("x-app-token", &fixture.app_token), ("user-agent", app_ua)],
        )
        .await;
    assert_eq!(reply.body["accepted"], 1, "{}", reply.text);
    // Through the trusted proxy from a blocked address, claiming a clean one.
    let reply = app
        .call_with(
            Method::POST,
            "/v1/events",
            None,
            Some(&json!({ "events": [claims("proxied-blocked", "192.0.2.1")] })),
            &[
                ("x-app-token", &fixture.app_token),
                ("user-agent", app_ua),
                ("x-forwarded-for", "198.51.100.7"),
            ],
        )
        .await;
    assert_eq!(reply.body["accepted"], 1, "{}", reply.text);
    // A server may report the device's IP.
    assert_eq!(
        send_s2s(&app, &fixture, &[claims("server", "203.0.113.9")]).await.body["accepted"],
        1
    );
    settle(&app).await;
    assert_eq!(decision(&app, &fixture, "spoofed").await["status"], "organic");
    let proxied = decision(&app, &fixture, "proxied-blocked").await;
    assert_eq!(proxied["rejection_reason"], "blocked_ip", "{proxied}");
    let server = decision(&app, &fixture, "server").await;
    assert_eq!(server["match_type"], "probabilistic", "{server}");
    let export =
        get(&app, &fixture, &format!("/api/v1/apps/{}/export/installs.csv", fixture.app_id)).await;
    let spoofed_row = export.text.lines().find(|l| l.starts_with("spoofed,")).unwrap();
    assert!(spoofed_row.contains(",127.0.0.1,"), "{spoofed_row}");
    app.stop().await;
}

/// Item 9: a click 30 minutes after the device's install, and a click whose id an install
/// stamped before it carries, are reported as `install_before_click` against their network;
/// after a click-injection rejection, the device's second install 10 s later is not credited
/// to the injected click.
async fn install_before_click_and_repeated_injection_are_reported(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let fixture = fixture(&app, "order.example", android_app("Order")).await;
    let late_net = link(&app, &fixture, "latenet", "after").await;
    let shady = link(&app, &fixture, "shadynet", "inject").await;
    let early = json!({ "id": "early", "type": "install", "timestamp": now_rfc3339(-1800), "device": { "gaid": "early-bird" } });
    assert_eq!(send(&app, &fixture.app_token, &[early]).await.body["accepted"], 1);
    settle(&app).await;
    click(&app, &late_net, "?gaid=early-bird", &[]).await;
    // An install carrying the id of a click stamped 10 minutes after it.
    let later_click = click(&app, &late_net, "", &[]).await;
    let carried = json!({ "id": "carried", "type": "install", "timestamp": now_rfc3339(-600), "click_id": later_click,
                          "device": { "gaid": "carrier" } });
    assert_eq!(send(&app, &fixture.app_token, &[carried]).await.body["accepted"], 1);

    click(&app, &shady, "?gaid=victim", &[]).await;
    let first = json!({ "id": "inject-1", "type": "install", "timestamp": now_rfc3339(2), "device": { "gaid": "victim" } });
    let second = json!({ "id": "inject-2", "type": "install", "timestamp": now_rfc3339(12), "device": { "gaid": "victim" } });
    assert_eq!(send(&app, &fixture.app_token, &[first, second]).await.body["accepted"], 2);
    settle(&app).await;

    for id in ["inject-1", "inject-2"] {
        let decided = decision(&app, &fixture, id).await;
        assert_eq!(decided["status"], "rejected", "{id}: {decided}");
        assert_eq!(decided["rejection_reason"], "click_injection", "{id}: {decided}");
    }
    let report =
        get(&app, &fixture, &format!("/api/v1/apps/{}/reports/fraud", fixture.app_id)).await;
    assert_eq!(report.status, 200, "{}", report.text);
    let rows: Vec<(String, String, String, u64)> = report.body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["kind"].as_str().unwrap().to_owned(),
                r["reason"].as_str().unwrap().to_owned(),
                r["network"].as_str().unwrap().to_owned(),
                r["count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert!(
        rows.contains(&("click".into(), "install_before_click".into(), "latenet".into(), 2)),
        "{rows:?}"
    );
    assert!(
        rows.contains(&("install".into(), "click_injection".into(), "shadynet".into(), 2)),
        "{rows:?}"
    );
    assert_eq!(report.body["rejected_installs"], 2);
    assert_eq!(report.body["flagged_clicks"], 2);
    assert_eq!(decision(&app, &fixture, "carried").await["status"], "organic");
    let totals = totals(&app, &fixture).await;
    assert_eq!(totals["installs"], 2, "the early and the carried installs, organic: {totals}");
    app.stop().await;
}

on_both_backends!(
    privacy_limited_installs_are_counted_and_attributed,
    a_late_install_finds_its_touch_whatever_was_stamped_later,
    install_before_click_and_repeated_injection_are_reported,
);

/// A throw-away PostgreSQL database behind a TCP proxy that a test can cut: the database,
/// the proxy, and the database's own address (to start the proxy again on).
async fn proxieddatabase()
-> (unmogrowp_testkit::TempDatabase, unmogrowp_testkit::proxy::TcpProxy, std::net::SocketAddr) {
    use std::net::ToSocketAddrs;
    let database = unmogrowp_testkit::TempDatabase::create().await;
    let url = url::Url::parse(&database.url).unwrap();
    let target =
        (url.host_str().unwrap(), url.port().unwrap()).to_socket_addrs().unwrap().next().unwrap();
    let proxy = unmogrowp_testkit::proxy::TcpProxy::start(target).await;
    (database, proxy, target)
}

/// The database's URL through the proxy.
fn proxied_url(database: &unmogrowp_testkit::TempDatabase, proxy: std::net::SocketAddr) -> String {
    let mut url = url::Url::parse(&database.url).unwrap();
    url.set_port(Some(proxy.port())).unwrap();
    url.to_string()
}

/// Item 11 (collection half): with the database unreachable, an event naming a tracking link
/// is answered 503 with `Retry-After` — not accepted as `unknown_link` — and the retry, once
/// the database is back, resolves the link.
#[tokio::test]
async fn a_failed_link_lookup_is_retried_not_turned_into_unknown_link() {
    let (database, proxy, target) = proxieddatabase().await;
    let proxy_addr = proxy.addr;
    let proxied = proxied_url(&database, proxy_addr);
    let app = TestApp::spawn_with(TestBackend::Sqlite, move |config| {
        config.database_url = Some(secrecy::SecretString::from(proxied));
    })
    .await;
    let fixture = fixture(&app, "cut.example", android_app("Cut")).await;
    let network = link(&app, &fixture, "meta", "deep").await;
    // The app token is looked up (and cached) before the database goes away.
    let warm = json!({ "id": "warm", "type": "session", "timestamp": now_rfc3339(0), "device": { "gaid": "g" } });
    assert_eq!(send(&app, &fixture.app_token, &[warm]).await.body["accepted"], 1);
    proxy.cut().await;
    let open = json!({ "id": "deep-open", "type": "open", "timestamp": now_rfc3339(0), "link_id": network["id"],
                       "device": { "gaid": "g" } });
    let refused = send(&app, &fixture.app_token, std::slice::from_ref(&open)).await;
    assert_eq!(refused.status, 503, "{}", refused.text);
    assert!(refused.header("retry-after").is_some());
    let _proxy = unmogrowp_testkit::proxy::TcpProxy::start_on(proxy_addr, target).await;
    let mut accepted = Value::Null;
    for _ in 0..100 {
        let reply = send(&app, &fixture.app_token, std::slice::from_ref(&open)).await;
        if reply.status == 200 {
            accepted = reply.body;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(accepted, json!({ "accepted": 1, "duplicates": 0, "rejected": [] }));
    app.stop().await;
}

/// Item 11 (pipeline half): with the database unreachable while the worker needs an app's
/// settings, the worker waits and retries; it never decides with defaults. Here the
/// organization blocks an IP range: the install from it is rejected `blocked_ip` once the
/// database is back, not attributed by default settings that block nothing.
#[tokio::test]
async fn the_worker_waits_for_app_settings_instead_of_deciding_with_defaults() {
    let (database, proxy, target) = proxieddatabase().await;
    let proxy_addr = proxy.addr;
    let proxied = proxied_url(&database, proxy_addr);
    let app = TestApp::spawn_with(TestBackend::Sqlite, move |config| {
        config.database_url = Some(secrecy::SecretString::from(proxied));
        config.http.trusted_proxies = vec!["127.0.0.1".to_owned()];
    })
    .await;
    let fixture = fixture(&app, "settings-cut.example", android_app("Settings cut")).await;
    let blocked = app
        .call(
            Method::PUT,
            "/api/v1/org/blocked-ips",
            Some(&fixture.owner.access_token),
            Some(&json!({ "ranges": ["198.51.100.0/24"] })),
        )
        .await;
    assert_eq!(blocked.status, 200, "{}", blocked.text);
    let warm = json!({ "id": "warm", "type": "session", "timestamp": now_rfc3339(0), "device": { "gaid": "g" } });
    assert_eq!(send(&app, &fixture.app_token, &[warm]).await.body["accepted"], 1);
    settle(&app).await;
    // The worker must read the settings again for the next record, and cannot.
    app.state.pipeline.forget_app_settings();
    proxy.cut().await;
    let install = json!({ "id": "from-blocked", "type": "install", "timestamp": now_rfc3339(0), "device": { "gaid": "bot" } });
    let reply = app
        .call_with(
            Method::POST,
            "/v1/events",
            None,
            Some(&json!({ "events": [install] })),
            &[("x-app-token", &fixture.app_token), ("x-forwarded-for", "198.51.100.7")],
        )
        .await;
    assert_eq!(reply.body["accepted"], 1, "{}", reply.text);
    // Nothing is decided while the settings cannot be read.
    let head = app.state.log.head();
    assert!(
        !app.state.pipeline.wait_for(head, std::time::Duration::from_millis(1500)).await,
        "the worker went on without the app's settings"
    );
    let _proxy = unmogrowp_testkit::proxy::TcpProxy::start_on(proxy_addr, target).await;
    settle(&app).await;
    let decided = decision(&app, &fixture, "from-blocked").await;
    assert_eq!(decided["status"], "rejected", "{decided}");
    assert_eq!(decided["rejection_reason"], "blocked_ip", "{decided}");
    app.stop().await;
}
