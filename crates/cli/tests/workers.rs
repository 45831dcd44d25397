//! Workers that share the partitioned log, end to end on the cluster tier (PostgreSQL,
//! ClickHouse, NATS JetStream; every node its own `unmogrowp serve --role …` process): two
//! workers own half of the partitions each; one is killed with SIGKILL while sessions and
//! attributed installs flow and is restarted; every acknowledged event is counted once, every
//! install is decided once and its postback delivered once, and the survivor goes on with
//! its own partitions meanwhile. Then the log is purged by its retention, the worker's
//! snapshot is deleted, and a re-install of a device first seen before is still a re-install:
//! the worker rebuilt its index from the event store. Bounded in count and time.

#![allow(clippy::unwrap_used)]

mod common;

use common::{Ledger, Senders, free_port, stop};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::process::Child;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

const PARTITIONS: u16 = 8;
const BATCH: usize = 20;
const INSTALLS_PER_APP: usize = 30;

struct Deployment {
    env: Vec<(String, String)>,
    dirs: tempfile::TempDir,
}

impl Deployment {
    fn start(&self, role: &str, name: &str, port: u16, extra: &[(&str, String)]) -> Child {
        let mut env = self.env.clone();
        env.extend(extra.iter().map(|(key, value)| ((*key).to_owned(), value.clone())));
        common::serve(port, &self.dirs.path().join(name), &["--role", role], &env)
    }

    fn worker(&self, ordinal: u16, port: u16) -> Child {
        self.start(
            "worker",
            &format!("worker{ordinal}"),
            port,
            &[("UNMOGROWP_PIPELINE__WORKER_ORDINAL", ordinal.to_string())],
        )
    }
}

struct App {
    id: String,
    token: String,
    click_url: String,
}

async fn json_call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: &str,
    body: Option<Value>,
) -> Value {
    let mut request = http.request(method, url).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let value: Value = response.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{status}: {value}");
    value
}

/// An app with a `meta` tracking link and an install postback to `network_port`.
async fn app_with_postback(
    http: &reqwest::Client,
    api: &str,
    token: &str,
    name: &str,
    network_port: u16,
) -> App {
    let app = json_call(
        http,
        reqwest::Method::POST,
        format!("{api}/api/v1/apps"),
        token,
        // Installs follow their clicks at once here: no click-to-install minimum, no flood rule.
        Some(json!({ "name": name, "platform": "android", "bundle_id": format!("com.example.{name}"),
                     "store_url": format!("https://play.google.com/store/apps/details?id=com.example.{name}"),
                     "attribution": { "min_ctit_seconds": 0, "click_flood_threshold_per_hour": 1_000_000 } })),
    )
    .await;
    let id = app["id"].as_str().unwrap().to_owned();
    let link = json_call(
        http,
        reqwest::Method::POST,
        format!("{api}/api/v1/apps/{id}/links"),
        token,
        Some(json!({ "network": "meta", "campaign": "spring" })),
    )
    .await;
    json_call(
        http,
        reqwest::Method::POST,
        format!("{api}/api/v1/apps/{id}/postbacks"),
        token,
        Some(json!({ "network": "meta", "events": ["install"],
                     "url_template": format!("http://127.0.0.1:{network_port}/pb?app={name}&dev={{device_id}}&event={{event_name}}") })),
    )
    .await;
    App {
        id,
        token: app["app_token"].as_str().unwrap().to_owned(),
        click_url: link["click_url"].as_str().unwrap().to_owned(),
    }
}

/// Sends one install, after a click on the app's link by the same device, to `ingest`
/// until both are acknowledged (bounded).
async fn click_and_install(
    http: &reqwest::Client,
    ingest: &str,
    app: &App,
    device: &str,
    id: &str,
) {
    let path = app.click_url.split_once("/c/").map(|(_, rest)| rest).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(Instant::now() < deadline, "the install {id} was not acknowledged in time");
        let click = http.get(format!("{ingest}/c/{path}?gaid={device}")).send().await;
        if !click.is_ok_and(|r| r.status().is_redirection()) {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        let install = http
            .post(format!("{ingest}/v1/events"))
            .header("x-app-token", &app.token)
            .json(&json!({ "events": [{ "id": id, "type": "install",
                "timestamp": jiff::Timestamp::now().to_string(), "device": { "gaid": device } }] }))
            .send()
            .await;
        match install {
            Ok(reply) if reply.status() == 200 => return,
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

async fn totals(http: &reqwest::Client, api: &str, token: &str, app: &App) -> Value {
    let reply: Value = http
        .get(format!("{api}/api/v1/apps/{}/reports/summary?group_by=day", app.id))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    reply["totals"].clone()
}

/// Polls the app's totals until `done` holds (60 s at most); returns the last totals.
async fn wait_totals(
    http: &reqwest::Client,
    api: &str,
    token: &str,
    app: &App,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let now = totals(http, api, token, app).await;
        if done(&now) || Instant::now() >= deadline {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn number(totals: &Value, key: &str) -> u64 {
    totals[key].as_u64().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[allow(clippy::zombie_processes)]
async fn two_workers_share_the_partitions_and_lose_nothing_under_kill_nine() {
    unmogrowp_server::postbacks::install_crypto_provider();
    let tier = common::SharedTier::create("workers").await;
    let unique = tier.unique.clone();
    let deployment = Deployment {
        env: [
            tier.env.clone(),
            vec![
                ("UNMOGROWP_PIPELINE__PARTITIONS".to_owned(), PARTITIONS.to_string()),
                ("UNMOGROWP_PIPELINE__WORKERS".to_owned(), "2".to_owned()),
                ("UNMOGROWP_POSTBACKS__BASE_BACKOFF_MS".to_owned(), "50".to_owned()),
                (
                    "UNMOGROWP_SECURITY__OUTBOUND_ALLOW_CIDRS".to_owned(),
                    r#"["127.0.0.0/8"]"#.to_owned(),
                ),
            ],
        ]
        .concat(),
        dirs: tempfile::tempdir().unwrap(),
    };
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let ready = |base: String| {
        let http = http.clone();
        async move { common::wait_for(&http, &base, "/readyz", Duration::from_secs(60)).await }
    };
    // Positions left under names no worker of this deployment uses (the unpartitioned
    // layout's, an ordinal above the worker count): the workers forget them.
    let log = unmogrowp_bus::NatsLog::connect(unmogrowp_bus::NatsLogOptions {
        partitions: PARTITIONS,
        ..unmogrowp_bus::NatsLogOptions::new(common::required("TEST_NATS_URL"), unique.clone())
    })
    .await
    .unwrap();
    for stale in ["pipeline", "pipeline-w7"] {
        unmogrowp_bus::EventLog::commit(&log, stale, 1).await.unwrap();
    }

    // Worker 0 first: it applies the migrations before the others start.
    let worker_ports = [free_port(), free_port()];
    let worker_bases = worker_ports.map(|port| format!("http://127.0.0.1:{port}"));
    let mut workers = vec![deployment.worker(0, worker_ports[0])];
    ready(worker_bases[0].clone()).await;
    workers.push(deployment.worker(1, worker_ports[1]));
    let (api_port, ingest_port) = (free_port(), free_port());
    let api_node = deployment.start("api", "api", api_port, &[]);
    let ingest_node = deployment.start("ingest", "ingest", ingest_port, &[]);
    let api = format!("http://127.0.0.1:{api_port}");
    let ingest = format!("http://127.0.0.1:{ingest_port}");
    for base in [&worker_bases[1], &api, &ingest] {
        ready(base.clone()).await;
    }

    // Apps until each worker owns at least one (worker i owns partitions p with p % 2 == i).
    let (network_port, received) = common::recorder().await;
    let (token, _, _) = common::account_with_app(&http, &api, &api, "Workers").await;
    let mut by_worker: [Option<App>; 2] = [None, None];
    for n in 0..40 {
        let name = format!("shard{n}");
        let app = app_with_postback(&http, &api, &token, &name, network_port).await;
        let owner = usize::from(unmogrowp_domain::hash::partition_of(&app.id, PARTITIONS) % 2);
        if by_worker[owner].is_none() {
            by_worker[owner] = Some(app);
        }
        if by_worker.iter().all(Option::is_some) {
            break;
        }
    }
    let [Some(survivor_app), Some(victim_app)] = by_worker else {
        panic!("40 apps all hashed to one worker's partitions")
    };
    // Worker 1 is killed; its app is `victim_app`.
    let victim = 1;

    // A device's first install, long before the log is purged.
    let first_seen = format!("first-seen-{unique}");
    click_and_install(&http, &ingest, &victim_app, &first_seen, &format!("install-{first_seen}"))
        .await;

    let ledgers = [Arc::new(Ledger::default()), Arc::new(Ledger::default())];
    let mut clients = Vec::new();
    for (app, ledger) in [&survivor_app, &victim_app].into_iter().zip(&ledgers) {
        let senders = Senders {
            http: http.clone(),
            targets: vec![ingest.clone()],
            app_token: app.token.clone(),
            tag: "s",
            batch_size: BATCH,
            max_batches: 200,
            ledger: ledger.clone(),
        };
        clients.extend((0..2).map(|index| senders.spawn(index)));
    }
    // Half of the installs go before the kill, half after it (while the victim is down and
    // being restarted).
    let (half_sent, mut halfway) = tokio::sync::watch::channel(false);
    let (killed, mut after_kill) = tokio::sync::watch::channel(false);
    let installs = {
        let (http, ingest) = (http.clone(), ingest.clone());
        let apps = [
            (survivor_app.id.clone(), survivor_app.token.clone(), survivor_app.click_url.clone()),
            (victim_app.id.clone(), victim_app.token.clone(), victim_app.click_url.clone()),
        ];
        let unique = unique.clone();
        tokio::spawn(async move {
            for i in 0..INSTALLS_PER_APP {
                if i == INSTALLS_PER_APP / 2 {
                    half_sent.send_replace(true);
                    after_kill.wait_for(|killed| *killed).await.unwrap();
                }
                for (n, (id, token, click_url)) in apps.iter().enumerate() {
                    let app =
                        App { id: id.clone(), token: token.clone(), click_url: click_url.clone() };
                    let device = format!("flow-{n}-{i}-{unique}");
                    click_and_install(&http, &ingest, &app, &device, &format!("install-{device}"))
                        .await;
                }
            }
        })
    };

    // Kill worker 1 while events flow (half of the installs sent, sessions still going); the
    // survivor goes on with its own partitions.
    halfway.wait_for(|half| *half).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while ledgers[1].acknowledged.lock().unwrap().len() < 10 * BATCH && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // ... once it has stored some of them (its restart then rebuilds from the event store).
    let stored = wait_totals(&http, &api, &token, &victim_app, |now| {
        number(now, "installs") >= 2 && number(now, "sessions") > 0
    })
    .await;
    assert!(number(&stored, "installs") >= 2, "{stored}");
    workers[victim].kill().unwrap();
    workers[victim].wait().unwrap();
    killed.send_replace(true);
    assert!(
        ledgers.iter().all(|ledger| !ledger.stop.load(Ordering::Acquire)),
        "sessions still flow when the worker dies"
    );
    let marker = json!({ "events": [{ "id": format!("marker-{unique}"), "type": "session",
        "timestamp": jiff::Timestamp::now().to_string(), "device": { "gaid": format!("marker-{unique}") } }] });
    let before = totals(&http, &api, &token, &survivor_app).await;
    let sent = http
        .post(format!("{ingest}/v1/events"))
        .header("x-app-token", &survivor_app.token)
        .json(&marker)
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 200);
    let after = wait_totals(&http, &api, &token, &survivor_app, |now| {
        number(now, "sessions") > number(&before, "sessions")
    })
    .await;
    assert!(
        number(&after, "sessions") > number(&before, "sessions"),
        "the surviving worker stores its partitions while the other is down: {before} → {after}"
    );
    workers[victim] = deployment.worker(1, worker_ports[1]);
    ready(worker_bases[victim].clone()).await;

    installs.await.unwrap();
    for ledger in &ledgers {
        ledger.stop.store(true, Ordering::Release);
    }
    for client in clients {
        client.await.unwrap();
    }

    // Every acknowledged event counted once, on both workers' apps.
    for (app, ledger, extra) in [(&survivor_app, &ledgers[0], 1), (&victim_app, &ledgers[1], 0)] {
        let sessions = ledger.acknowledged.lock().unwrap().len() as u64 + extra;
        let installs = INSTALLS_PER_APP as u64 + u64::from(app.id == victim_app.id);
        let counted = wait_totals(&http, &api, &token, app, |now| {
            number(now, "sessions") >= sessions && number(now, "installs") >= installs
        })
        .await;
        assert_eq!(number(&counted, "sessions"), sessions, "{counted}");
        assert_eq!(number(&counted, "installs"), installs, "{counted}");
        assert_eq!(number(&counted, "organic_installs"), 0, "every install credited: {counted}");
        assert_eq!(number(&counted, "rejected_installs"), 0, "{counted}");
    }

    // Every install's postback delivered once.
    // (A delivery is marked delivered once the network has answered: wait for the marks.)
    let expected = 2 * INSTALLS_PER_APP + 1;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut delivered = 0;
        let mut all = Vec::new();
        for app in [&survivor_app, &victim_app] {
            let deliveries = json_call(
                &http,
                reqwest::Method::GET,
                format!("{api}/api/v1/apps/{}/postbacks/deliveries?limit=200", app.id),
                &token,
                None,
            )
            .await;
            let deliveries = deliveries.as_array().unwrap().clone();
            delivered += deliveries.iter().filter(|d| d["status"] == "delivered").count();
            all.extend(deliveries);
        }
        if delivered >= expected || Instant::now() >= deadline {
            assert_eq!(all.len(), expected, "one delivery per install: {all:?}");
            assert_eq!(delivered, expected, "{all:?}");
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Each install was decided once: one delivery, so one idempotency key, per device. A
    // sender killed between the network's answer and recording it sends that delivery
    // again (at least once), always with the same key, which the network drops.
    let mut keys: HashMap<String, std::collections::HashSet<String>> = HashMap::new();
    for request in received.lock().unwrap().iter() {
        let (target, key) = (&request.target, request.header("idempotency-key").unwrap_or(""));
        assert!(!key.is_empty(), "every postback carries an Idempotency-Key: {target}");
        keys.entry(target.clone()).or_default().insert(key.to_owned());
    }
    assert_eq!(keys.len(), expected, "a postback for every install: {keys:?}");
    assert!(keys.values().all(|k| k.len() == 1), "one delivery per install: {keys:?}");

    // Only the two workers' positions are left.
    assert_eq!(
        unmogrowp_bus::EventLog::consumers(&log).await.unwrap(),
        vec!["pipeline-w0", "pipeline-w1"]
    );

    // Retention purges the log (everything is stored); the victim restarts without its
    // snapshot; the first device installs again: a re-install, known from the event store.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut purged = 0;
    while purged == 0 && Instant::now() < deadline {
        purged = unmogrowp_bus::EventLog::enforce_retention(&log, Duration::ZERO).await.unwrap();
        if purged == 0 {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    assert!(purged > 2 * INSTALLS_PER_APP, "the log was purged: {purged}");
    stop(workers.remove(victim));
    let snapshot = deployment.dirs.path().join("worker1").join("attribution.snapshot");
    assert!(
        snapshot.exists(),
        "a stopped worker leaves its snapshot: {:?}",
        std::fs::read_dir(deployment.dirs.path().join("worker1"))
            .map(|dir| dir.flatten().map(|entry| entry.file_name()).collect::<Vec<_>>())
    );
    std::fs::remove_file(&snapshot).unwrap();
    workers.push(deployment.worker(1, worker_ports[1]));
    ready(worker_bases[victim].clone()).await;
    let before = totals(&http, &api, &token, &victim_app).await;
    click_and_install(&http, &ingest, &victim_app, &first_seen, &format!("again-{first_seen}"))
        .await;
    let after = wait_totals(&http, &api, &token, &victim_app, |now| {
        number(now, "reinstalls") > number(&before, "reinstalls")
    })
    .await;
    assert_eq!(number(&after, "reinstalls"), number(&before, "reinstalls") + 1, "{after}");
    assert_eq!(number(&after, "installs"), number(&before, "installs"), "{after}");

    for child in workers.into_iter().chain([api_node, ingest_node]) {
        stop(child);
    }
    tier.drop(&http).await;
}
