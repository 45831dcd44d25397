//! Erasure: a device's rows, decisions and counts go, everything else stays; a deleted app's
//! data goes entirely.

use super::*;
use unmogrowp_domain::ErasureId;
use unmogrowp_domain::erasure::{Erasure, ErasureScope};

fn of_device(mut row: EventRow, gaid: Option<&str>, idfv: Option<&str>) -> EventRow {
    row.gaid = gaid.map(str::to_owned);
    row.idfv = idfv.map(str::to_owned);
    row.device_id = gaid
        .map(|g| format!("gaid:{}", g.to_ascii_lowercase()))
        .or_else(|| idfv.map(|v| format!("idfv:{}", v.to_ascii_lowercase())));
    row
}

async fn exported(store: &dyn EventStore, app: &str) -> Vec<String> {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = seen.clone();
    store
        .export(
            ExportQuery {
                app_id: app_id(app),
                kinds: EventType::ALL.to_vec(),
                from_day: day("2026-11-01"),
                to_day: day("2026-11-30"),
            },
            Box::new(move |row| {
                sink.lock().unwrap().push(row.id);
                true
            }),
        )
        .await
        .unwrap();
    let mut ids = seen.lock().unwrap().clone();
    ids.sort();
    ids
}

fn erasure(scope: ErasureScope, requested_ms: i64) -> Erasure {
    Erasure {
        id: ErasureId::generate(),
        org_id: unmogrowp_domain::OrgId::from_stored("org".to_owned()),
        app_id: app_id(APP),
        scope,
        requested_ms,
    }
}

pub async fn erasing_a_device_removes_its_rows_decisions_and_counts(store: &dyn EventStore) {
    // Device A: known by its advertising id, and (on one session) only by its vendor id,
    // which its install carried too; its install was credited to a click matched by
    // fingerprint (no identifiers on the click). Device B stays.
    let install_a = of_device(
        row(APP, "install-a", EventType::Install, "meta", T0),
        Some("AAA-1"),
        Some("VVV-1"),
    );
    let install_b =
        of_device(row(APP, "install-b", EventType::Install, "unity", T0 + 1), Some("BBB-1"), None);
    let mut fingerprint_click =
        of_device(row(APP, "click-fp", EventType::Click, "meta", T0 - 60_000), None, None);
    fingerprint_click.ip = Some("198.51.100.7".to_owned());
    let mut decision_a = decision(&install_a, "attributed", "meta");
    decision_a.touch_id = Some("click-fp".to_owned());
    let rows = vec![
        of_device(row(APP, "click-a", EventType::Click, "meta", T0 - 120_000), Some("aaa-1"), None),
        fingerprint_click,
        install_a.clone(),
        install_b.clone(),
        of_device(row(APP, "session-a", EventType::Session, "meta", T0 + 10), None, Some("vvv-1")),
        of_device(row(APP, "buy-a", EventType::Event, "meta", T0 + 20), Some("AAA-1"), None),
        of_device(row(APP, "session-b", EventType::Session, "unity", T0 + 30), Some("BBB-1"), None),
        of_device(row(APP, "buy-b", EventType::Event, "unity", T0 + 40), Some("BBB-1"), None),
        of_device(row(OTHER_APP, "other-a", EventType::Session, "meta", T0), Some("AAA-1"), None),
    ];
    let attributions = vec![decision_a, decision(&install_b, "attributed", "unity")];
    let quarantined = |index: u32, raw: &str| QuarantinedRow {
        app_id: app_id(APP),
        received_ms: T0 + i64::from(index),
        index,
        event_id: Some(format!("bad-{index}")),
        code: "invalid_timestamp".to_owned(),
        message: "timestamp: not RFC 3339".to_owned(),
        raw: raw.to_owned(),
    };
    let quarantined = vec![
        quarantined(0, r#"{"id":"bad-0","device":{"gaid":"AAA-1"}}"#),
        quarantined(1, r#"{"id":"bad-1","device":{"gaid":"BBB-1"}}"#),
    ];
    store
        .apply(Batch { rows, attributions, quarantined, last_offset: 10, ..Batch::default() })
        .await
        .unwrap();

    // The request, asked by the advertising id as the device reports it, in a batch that
    // also carries a session of A accepted after the request (new data: it stays).
    let request =
        erasure(ErasureScope::Device { identifiers: vec!["gaid:aaa-1".to_owned()] }, T0 + 50_000);
    let mut late =
        of_device(row(APP, "late-a", EventType::Session, "meta", T0 + 60_000), Some("AAA-1"), None);
    late.received_ms = T0 + 100_000;
    let batch = Batch {
        rows: vec![late],
        erasures: vec![request.clone()],
        last_offset: 11,
        ..Batch::default()
    };
    store.apply(batch.clone()).await.unwrap();

    let report = store.erasure(&app_id(APP), &request.id).await.unwrap().unwrap();
    assert_eq!(report.rows, 5, "click-a, click-fp, install-a, session-a, buy-a");
    assert!(report.completed_ms > 0);
    assert!(store.erasure(&app_id(OTHER_APP), &request.id).await.unwrap().is_none());
    assert_eq!(exported(store, APP).await, ["buy-b", "install-b", "late-a", "session-b"]);
    assert_eq!(exported(store, OTHER_APP).await, ["other-a"], "other apps keep the device");
    let kept: Vec<Option<String>> = store
        .quarantined(&app_id(APP), 10, None)
        .await
        .unwrap()
        .into_iter()
        .map(|row| row.event_id)
        .collect();
    assert_eq!(kept, [Some("bad-1".to_owned())], "quarantined events naming the device go");

    let totals = store.summary(&query(vec![])).await.unwrap();
    let counts = &totals[0].counts;
    assert_eq!(
        (counts.clicks, counts.installs, counts.sessions, counts.events),
        (0, 1, 2, 1),
        "{counts:?}"
    );
    assert!((counts.revenue - 2.5).abs() < 1e-9);
    let by_network = store.summary(&query(vec![Dimension::Network])).await.unwrap();
    let meta = by_network.iter().find(|r| r.network.as_deref() == Some("meta")).unwrap();
    assert_eq!((meta.counts.installs, meta.counts.clicks, meta.counts.sessions), (0, 0, 1));

    assert!(store.attribution(&app_id(APP), "install-a").await.unwrap().is_none());
    assert!(store.attribution(&app_id(APP), "install-b").await.unwrap().is_some());
    assert!(
        store
            .device_attribution(&app_id(APP), &["gaid:aaa-1".to_owned(), "idfv:vvv-1".to_owned()])
            .await
            .unwrap()
            .is_none()
    );
    let cohorts = store
        .cohorts(&CohortQuery {
            app_id: app_id(APP),
            from_day: day("2026-11-20"),
            to_day: day("2026-11-20"),
            group_by: None,
            days: vec![0],
        })
        .await
        .unwrap();
    assert_eq!((cohorts[0].installs, cohorts[0].retained.clone()), (1, vec![1]));

    // A replay of the batch changes nothing.
    store.apply(batch).await.unwrap();
    assert_eq!(exported(store, APP).await, ["buy-b", "install-b", "late-a", "session-b"]);
    assert_eq!(store.summary(&query(vec![])).await.unwrap()[0].counts.sessions, 2);
    assert_eq!(store.erasure(&app_id(APP), &request.id).await.unwrap().unwrap().rows, 5);
}

pub async fn erasing_an_app_removes_all_its_data(store: &dyn EventStore) {
    store.apply(sample(7)).await.unwrap();
    let request = erasure(ErasureScope::App, T0 + 50_000);
    store
        .apply(Batch { erasures: vec![request.clone()], last_offset: 8, ..Batch::default() })
        .await
        .unwrap();
    assert_eq!(store.erasure(&app_id(APP), &request.id).await.unwrap().unwrap().rows, 6);
    assert!(exported(store, APP).await.is_empty());
    assert!(store.summary(&query(vec![])).await.unwrap().is_empty());
    assert_eq!(exported(store, OTHER_APP).await, ["click-x"]);
    assert_eq!(store.position().await.unwrap(), 8);
}

pub async fn opt_outs_are_kept_and_read_back(store: &dyn EventStore) {
    assert!(store.opt_outs().await.unwrap().is_empty());
    let opt_out = unmogrowp_domain::erasure::OptOut {
        org_id: unmogrowp_domain::OrgId::from_stored("org".to_owned()),
        app_id: app_id(APP),
        identifiers: vec!["gaid:aaa-1".to_owned(), "idfv:vvv-1".to_owned()],
        received_ms: T0,
    };
    let batch = Batch { opt_outs: vec![opt_out], last_offset: 3, ..Batch::default() };
    store.apply(batch.clone()).await.unwrap();
    // Replayed, and erased with the app's data: still there (an opt-out is kept for good).
    store.apply(batch).await.unwrap();
    store
        .apply(Batch {
            erasures: vec![erasure(ErasureScope::App, T0 + 1)],
            last_offset: 4,
            ..Batch::default()
        })
        .await
        .unwrap();
    let mut found = store.opt_outs().await.unwrap();
    found.sort_unstable();
    let hash = unmogrowp_domain::hash::stable_hash;
    let mut expected = vec![(hash(APP), hash("gaid:aaa-1")), (hash(APP), hash("idfv:vvv-1"))];
    expected.sort_unstable();
    assert_eq!(found, expected);
}
