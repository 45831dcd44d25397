//! The Redis tier (`redis_url`): two nodes on one PostgreSQL share rate limits, login
//! throttling, session revocation and cache invalidations through Redis; when Redis goes away
//! they keep answering with per-node limits, and share again when it is back.

use crate::apps::android_app;
use crate::clickhouse::database_name;
use crate::collect::{event, send};
use reqwest::Method;
use secrecy::SecretString;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use unmogrowp_server::config::Config;
use unmogrowp_server::shared::Shared;
use unmogrowp_testkit::app::PASSWORD;
use unmogrowp_testkit::proxy::TcpProxy;
use unmogrowp_testkit::{TestApp, TestBackend};

/// The test Redis's address (`TEST_REDIS_URL`, started by `make test`).
pub(crate) fn redis_addr() -> SocketAddr {
    let url = std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| {
        panic!(
            "TEST_REDIS_URL is not set: run the tests with `make test` (scripts/with-services.sh)"
        )
    });
    let parsed = url::Url::parse(&url).unwrap();
    format!("{}:{}", parsed.host_str().unwrap(), parsed.port().unwrap()).parse().unwrap()
}

async fn redis_keys(pattern: &str) -> Vec<String> {
    let client = redis::Client::open(format!("redis://{}/0", redis_addr())).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    redis::cmd("KEYS").arg(pattern).query_async(&mut connection).await.unwrap()
}

/// Polls `check` for up to five seconds.
pub(crate) async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !check().await {
        assert!(Instant::now() < deadline, "{what} did not happen within five seconds");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Two nodes of one deployment: A on a fresh PostgreSQL database, B on the same database,
/// both configured by `configure` (which should share Redis and the master key) and sharing
/// one master key ring.
pub(crate) async fn two_nodes(configure: impl Fn(&mut Config)) -> (TestApp, TestApp) {
    let ring = unmogrowp_storage::vault::MasterKeys::new_entry(1);
    let a = TestApp::spawn_with(TestBackend::Postgres, |config| {
        configure(config);
        config.encryption.master_keys = Some(SecretString::from(ring.clone()));
    })
    .await;
    let database_url = a.database.as_ref().unwrap().url.clone();
    let b = TestApp::spawn_with(TestBackend::Sqlite, |config| {
        configure(config);
        config.encryption.master_keys = Some(SecretString::from(ring.clone()));
        config.database_url = Some(SecretString::from(database_url));
    })
    .await;
    (a, b)
}

pub(crate) async fn create_app(app: &TestApp, token: &str, name: &str) -> (String, String) {
    let created =
        app.call(Method::POST, "/api/v1/apps", Some(token), Some(&android_app(name))).await;
    assert_eq!(created.status, 201, "{}", created.text);
    (
        created.body["id"].as_str().unwrap().to_owned(),
        created.body["app_token"].as_str().unwrap().to_owned(),
    )
}

fn batch(prefix: &str, count: usize) -> Vec<Value> {
    (0..count).map(|i| event(&format!("{prefix}-{i}"), "session", None)).collect()
}

async fn readyz(app: &TestApp) -> (u16, Value) {
    let reply = app.call(Method::GET, "/readyz", None, None).await;
    (reply.status, reply.body)
}

fn redis_check(body: &Value) -> Value {
    body["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|check| check["name"] == "redis")
        .cloned()
        .unwrap_or_else(|| panic!("no redis check in {body}"))
}

#[tokio::test]
async fn two_nodes_share_limits_throttling_and_revocations_and_ride_out_redis_going_away() {
    let redis = redis_addr();
    let proxy = TcpProxy::start(redis).await;
    let proxy_addr = proxy.addr;
    let prefix = database_name("shared");
    let configure = |config: &mut Config| {
        config.redis_url = Some(SecretString::from(format!("redis://{proxy_addr}/0")));
        config.redis_prefix = prefix.clone();
        // Nodes of one deployment share the master key (tokens signed by one verify on all).
        config.auth.secret_key = Some(SecretString::from("ab".repeat(32)));
        config.ingest.org_events_per_second = 1;
        config.ingest.org_events_burst = 10;
        config.auth.lockout_account_threshold = 3;
        config.auth.lockout_base_delay_seconds = 60;
        // Long enough that only an invalidation explains a change seen by the other node.
        config.auth.cache_ttl_seconds = 600;
    };
    let (a, b) = two_nodes(configure).await;
    for node in [&a, &b] {
        let (status, body) = readyz(node).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["status"], "ready", "{body}");
        assert_eq!(redis_check(&body)["ok"], true, "{body}");
    }

    // One organization's event quota, shared: A spends the burst, B is refused.
    let owner = a.register("owner@shared.example", "Shared").await;
    let (app_id, app_token) = create_app(&a, &owner.access_token, "Quota").await;
    assert_eq!(send(&a, &app_token, &batch("a", 10)).await.status, 200);
    let refused = send(&b, &app_token, &batch("b", 5)).await;
    assert_eq!(refused.status, 429, "B must see A's spending: {}", refused.text);
    assert!(refused.header("retry-after").is_some());

    // Login failures counted on A block the account on B too.
    let victim = a.register("victim@shared.example", "Victim").await;
    for _ in 0..3 {
        assert_eq!(a.login(&victim.email, "not the password at all").await.status, 401);
    }
    let blocked = b.login(&victim.email, PASSWORD).await;
    assert_eq!(blocked.status, 429, "{}", blocked.text);

    // A session ended on A stops working on B at once, although B had it cached.
    let apps = "/api/v1/apps";
    assert_eq!(b.call(Method::GET, apps, Some(&owner.access_token), None).await.status, 200);
    let logout = a.call(Method::POST, "/api/v1/auth/logout", Some(&owner.access_token), None).await;
    assert_eq!(logout.status, 204, "{}", logout.text);
    eventually("B refusing the ended session", async || {
        b.call(Method::GET, apps, Some(&owner.access_token), None).await.status == 401
    })
    .await;

    // An app deleted on A stops ingesting on B, although B had its token cached.
    let other = a.register("other@shared.example", "Other").await;
    let (doomed_id, doomed_token) = create_app(&a, &other.access_token, "Doomed").await;
    assert_eq!(send(&b, &doomed_token, &batch("doomed", 1)).await.status, 200);
    let deleted = a
        .call(Method::DELETE, &format!("/api/v1/apps/{doomed_id}"), Some(&other.access_token), None)
        .await;
    assert!(deleted.status == 204 || deleted.status == 200, "{}", deleted.text);
    eventually("B refusing the deleted app's token", async || {
        send(&b, &doomed_token, &batch("doomed-late", 1)).await.status == 401
    })
    .await;

    // Reports go to the L2 cache under the organization's prefix.
    let fresh = a.login("owner@shared.example", PASSWORD).await;
    assert_eq!(fresh.status, 200, "{}", fresh.text);
    let token = fresh.body["access_token"].as_str().unwrap().to_owned();
    let summary = format!("/api/v1/apps/{app_id}/reports/summary");
    let first = a.call(Method::GET, &summary, Some(&token), None).await;
    assert_eq!(first.status, 200, "{}", first.text);
    let cached = redis_keys(&format!("{prefix}:t:{}:report:*", owner.org_id)).await;
    assert!(!cached.is_empty(), "no report under the organization's prefix");
    a.state.report_cache.invalidate_all();
    let again = a.call(Method::GET, &summary, Some(&token), None).await;
    assert_eq!(again.body, first.body, "the L2 copy is the same report");

    // Redis goes away: both nodes keep answering, with per-node limits.
    proxy.cut().await;
    for node in [&a, &b] {
        let started = Instant::now();
        let listed = node.call(Method::GET, apps, Some(&token), None).await;
        assert_eq!(listed.status, 200, "{}", listed.text);
        assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
        let (status, body) = readyz(node).await;
        assert_eq!(status, 200, "Redis is optional: {body}");
        assert_eq!(body["status"], "degraded", "{body}");
        assert_eq!(redis_check(&body)["ok"], false, "{body}");
    }
    let relogin = b.login("owner@shared.example", PASSWORD).await;
    assert_eq!(relogin.status, 200, "{}", relogin.text);
    // A logout on A cannot reach B now: B keeps its cached session (per-node behaviour)...
    let stranded = relogin.body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(b.call(Method::GET, apps, Some(&stranded), None).await.status, 200);
    let logout = a.call(Method::POST, "/api/v1/auth/logout", Some(&stranded), None).await;
    assert_eq!(logout.status, 204, "{}", logout.text);
    assert_eq!(b.call(Method::GET, apps, Some(&stranded), None).await.status, 200);
    // B never spent its own per-node burst: it admits ten more, then refuses.
    let local = send(&b, &app_token, &batch("b-local", 10)).await;
    assert_eq!(local.status, 200, "per-node limit while Redis is away: {}", local.text);
    assert_eq!(send(&b, &app_token, &batch("b-over", 5)).await.status, 429);

    // Redis is back where the nodes expect it: shared again.
    let back = TcpProxy::start_on(proxy_addr, redis).await;
    for node in [&a, &b] {
        eventually("readiness without degradation", async || {
            let (_, body) = readyz(node).await;
            body["status"] == "ready"
        })
        .await;
    }
    assert_eq!(b.login(&victim.email, PASSWORD).await.status, 429, "still blocked in Redis");
    // ...and once Redis is back, A tells every node to empty its caches: B sees the logout.
    eventually("B refusing the session ended while Redis was away", async || {
        b.call(Method::GET, apps, Some(&stranded), None).await.status == 401
    })
    .await;
    back.cut().await;
    b.stop().await;
    a.stop().await;
}

/// The shared primitives against the real Redis: GCRA admits the burst then asks to wait,
/// login counters block past the threshold and clear, cached values live under the tenant's
/// prefix and expire.
#[tokio::test]
async fn the_redis_primitives_behave_like_the_per_node_ones() {
    let prefix = database_name("primitives");
    let shared = Shared::redis(&format!("redis://{}/0", redis_addr()), &prefix).unwrap();

    assert_eq!(shared.rate_limit("k", 10.0, 5.0, 5).await, Some(Ok(())));
    let wait = shared.rate_limit("k", 10.0, 5.0, 1).await.unwrap().expect_err("over the burst");
    assert!(wait > Duration::ZERO && wait <= Duration::from_millis(100), "{wait:?}");
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(shared.rate_limit("k", 10.0, 5.0, 1).await, Some(Ok(())), "refilled");
    assert_eq!(shared.rate_limit("other", 10.0, 5.0, 5).await, Some(Ok(())), "keys are apart");

    let (base, max, window) =
        (Duration::from_secs(2), Duration::from_secs(8), Duration::from_secs(60));
    assert_eq!(shared.login_blocked_for("acct").await, Some(None));
    for failure in 1..=2 {
        assert_eq!(shared.record_login_failure("acct", 3, base, max, window).await, Some(failure));
        assert_eq!(shared.login_blocked_for("acct").await, Some(None), "failure {failure}");
    }
    assert_eq!(shared.record_login_failure("acct", 3, base, max, window).await, Some(3));
    let blocked = shared.login_blocked_for("acct").await.unwrap().expect("blocked");
    assert!(blocked > Duration::from_secs(1) && blocked <= base, "{blocked:?}");
    assert_eq!(shared.record_login_failure("acct", 3, base, max, window).await, Some(4));
    let doubled = shared.login_blocked_for("acct").await.unwrap().expect("blocked");
    assert!(doubled > base && doubled <= base * 2, "the delay doubles: {doubled:?}");
    shared.clear_login("acct").await;
    assert_eq!(shared.login_blocked_for("acct").await, Some(None));

    shared.cache_put("org-1", "report:x", b"{\"a\":1}", Duration::from_millis(300)).await;
    assert_eq!(shared.cache_get("org-1", "report:x").await.as_deref(), Some(&b"{\"a\":1}"[..]));
    assert_eq!(shared.cache_get("org-2", "report:x").await, None, "another tenant's key");
    assert_eq!(redis_keys(&format!("{prefix}:t:org-1:*")).await.len(), 1);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(shared.cache_get("org-1", "report:x").await, None, "expired");

    // Nothing listens on this port: every call falls back at once, and says so.
    let gone = Shared::redis("redis://127.0.0.1:1/0", &prefix).unwrap();
    let started = Instant::now();
    assert_eq!(gone.rate_limit("k", 10.0, 5.0, 1).await, None);
    assert_eq!(gone.login_blocked_for("acct").await, None);
    assert_eq!(gone.record_login_failure("acct", 3, base, max, window).await, None);
    assert_eq!(gone.cache_get("org-1", "report:x").await, None);
    assert!(!gone.is_up());
    assert!(gone.ping().await.is_err());
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    let _ = json!(null);
}
