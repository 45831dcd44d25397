use unmogrowp_domain::event::EventType;
use unmogrowp_domain::{AppId, Day};
use unmogrowp_eventstore::{
    AttributionRow, Batch, CohortQuery, CreditRow, Dimension, Dims, EventRow, EventStore,
    ExportQuery, FraudHit, InstallOutcome, QuarantineCursor, QuarantinedRow, SummaryQuery,
};
use unmogrowp_eventstore::{FlagReason, FraudReason, MatchType, Model, RejectionReason, TouchKind};

/// An app id as the store takes it.
pub fn app_id(raw: &str) -> AppId {
    AppId::parse(raw).expect("a test app id")
}

/// A day as the store takes it.
pub fn day(raw: &str) -> Day {
    raw.parse().expect("a test day")
}

mod decisions;
mod erasure;
use decisions::decision;
pub use decisions::decisions_cohorts_fraud_and_credits;
pub use erasure::{
    erasing_a_device_removes_its_rows_decisions_and_counts, erasing_an_app_removes_all_its_data,
    opt_outs_are_kept_and_read_back,
};

pub const APP: &str = "0193a000-0000-7000-8000-000000000001";
pub const OTHER_APP: &str = "0193a000-0000-7000-8000-000000000002";
/// 2026-11-20T10:00:00Z
pub const T0: i64 = 1_795_168_800_000;

pub fn row(app: &str, id: &str, kind: EventType, network: &str, ts: i64) -> EventRow {
    let day = Day::of_utc_millis(ts);
    EventRow {
        app_id: app_id(app),
        org_id: unmogrowp_domain::OrgId::from_stored("org".to_owned()),
        id: id.to_owned(),
        kind,
        name: (kind == EventType::Event).then(|| "purchase".to_owned()),
        timestamp_ms: ts,
        received_ms: ts,
        day,
        device_id: Some(format!("gaid:{id}")),
        gaid: Some(id.to_owned()),
        idfa: None,
        idfv: None,
        ip: Some("203.0.113.9".to_owned()),
        user_agent: Some("ua".to_owned()),
        os: None,
        os_version: None,
        device_model: None,
        locale: None,
        click_id: None,
        link_id: None,
        network_click_id: None,
        subs: vec![Some("s1".to_owned()), None],
        dims: Dims {
            network: network.to_owned(),
            campaign: "c1".to_owned(),
            adgroup: String::new(),
            creative: String::new(),
            country: "DE".to_owned(),
        },
        revenue_amount: None,
        revenue_currency: None,
        revenue: if kind == EventType::Event { 2.5 } else { 0.0 },
        properties: None,
        install: (kind == EventType::Install).then_some(InstallOutcome::Attributed),
        reattribution: false,
        reengagement: false,
        reinstall: false,
        fraud_reason: None,
    }
}

fn query(group_by: Vec<Dimension>) -> SummaryQuery {
    SummaryQuery {
        app_id: app_id(APP),
        from_day: day("2026-11-01"),
        to_day: day("2026-11-30"),
        group_by,
        attribution_model: None,
        network: None,
        campaign: None,
        country: None,
    }
}

fn sample(last_offset: u64) -> Batch {
    Batch {
        rows: vec![
            row(APP, "click-1", EventType::Click, "meta", T0),
            row(APP, "click-2", EventType::Click, "meta", T0 + 1),
            row(APP, "imp-1", EventType::Impression, "unity", T0 + 2),
            row(APP, "install-1", EventType::Install, "meta", T0 + 3),
            row(APP, "session-1", EventType::Session, "meta", T0 + 4),
            row(APP, "buy-1", EventType::Event, "meta", T0 + 5),
            row(OTHER_APP, "click-x", EventType::Click, "meta", T0),
        ],
        last_offset,
        ..Batch::default()
    }
}

pub async fn batches_are_stored_and_rolled_up(store: &dyn EventStore) {
    let outcome = store.apply(sample(7)).await.unwrap();
    assert_eq!(outcome.stored, 7);
    let rows = store.summary(&query(vec![Dimension::Network])).await.unwrap();
    assert_eq!(rows.len(), 2);
    let meta = rows.iter().find(|r| r.network.as_deref() == Some("meta")).unwrap();
    assert_eq!(
        (meta.counts.clicks, meta.counts.installs, meta.counts.sessions, meta.counts.events),
        (2, 1, 1, 1)
    );
    assert!((meta.counts.revenue - 2.5).abs() < 1e-9);
    let unity = rows.iter().find(|r| r.network.as_deref() == Some("unity")).unwrap();
    assert_eq!(unity.counts.impressions, 1);
    let total = store.summary(&query(vec![])).await.unwrap();
    assert_eq!(total.len(), 1);
    assert_eq!(total[0].counts.clicks, 2, "other apps are not counted");
}

pub async fn a_replayed_batch_changes_nothing(store: &dyn EventStore) {
    store.apply(sample(7)).await.unwrap();
    let again = store.apply(sample(7)).await.unwrap();
    assert_eq!(again.stored, 0);
    assert_eq!(again.duplicates, 7);
    let total = store.summary(&query(vec![])).await.unwrap();
    assert_eq!(total[0].counts.clicks, 2);
    assert_eq!(total[0].counts.sessions, 1);
}

pub async fn the_position_is_kept(store: &dyn EventStore) {
    assert_eq!(store.position().await.unwrap(), 0);
    store.apply(sample(7)).await.unwrap();
    assert_eq!(store.position().await.unwrap(), 7);
    store.apply(Batch { last_offset: 9, ..Batch::default() }).await.unwrap();
    assert_eq!(store.position().await.unwrap(), 9);
    store.ping().await.unwrap();
}

/// A partitioned log's batches record where they end in each partition; each partition's
/// position moves on its own, and a replayed batch is skipped only when every partition it
/// reads from has passed it.
pub async fn positions_are_kept_per_partition(store: &dyn EventStore) {
    assert!(store.positions().await.unwrap().is_empty());
    let mut first = sample(40);
    first.positions = vec![(3, 40), (5, 31)];
    assert_eq!(store.apply(first.clone()).await.unwrap().stored, 7);
    let mut later = Batch { last_offset: 55, ..Batch::default() };
    later.rows.push(row(APP, "click-9", EventType::Click, "meta", T0 + 50));
    later.positions = vec![(5, 55)];
    assert_eq!(store.apply(later).await.unwrap().stored, 1);
    let positions = store.positions().await.unwrap();
    assert_eq!(positions.into_iter().collect::<Vec<_>>(), vec![(3, 40), (5, 55)]);
    assert_eq!(store.position().await.unwrap(), 0, "partition 0 has none");
    // The first batch again: both of its partitions are past it.
    let again = store.apply(first).await.unwrap();
    assert_eq!((again.stored, again.duplicates), (0, 7));
    // A batch reaching past partition 3's position is applied; its rows stored before are
    // still dropped one by one.
    let mut overlapping = sample(60);
    overlapping.positions = vec![(3, 60), (5, 55)];
    overlapping.rows.push(row(APP, "click-10", EventType::Click, "meta", T0 + 60));
    let outcome = store.apply(overlapping).await.unwrap();
    assert_eq!((outcome.stored, outcome.duplicates), (1, 7));
    let total = store.summary(&query(vec![])).await.unwrap();
    assert_eq!(total[0].counts.clicks, 4);
    let positions = store.positions().await.unwrap();
    assert_eq!(positions.into_iter().collect::<Vec<_>>(), vec![(3, 60), (5, 55)]);
}

pub async fn quarantine_is_listed_newest_first(store: &dyn EventStore) {
    let rejected = |ms: i64, index: u32| QuarantinedRow {
        app_id: app_id(APP),
        received_ms: ms,
        index,
        event_id: Some(format!("bad-{index}")),
        code: "invalid_field".to_owned(),
        message: "timestamp: bad".to_owned(),
        raw: "{}".to_owned(),
    };
    store
        .apply(Batch {
            quarantined: vec![rejected(T0, 0), rejected(T0 + 10, 1), rejected(T0 + 20, 2)],
            last_offset: 3,
            ..Batch::default()
        })
        .await
        .unwrap();
    let all = store.quarantined(&app_id(APP), 10, None).await.unwrap();
    assert_eq!(all.iter().map(|r| r.index).collect::<Vec<_>>(), vec![2, 1, 0]);
    let before = |ms: i64, index: Option<u32>| Some(QuarantineCursor { received_ms: ms, index });
    let older = store.quarantined(&app_id(APP), 10, before(T0 + 20, None)).await.unwrap();
    assert_eq!(older.len(), 2);
    // One request's rejected events share their receipt time: paging by two goes through all
    // of them, none twice and none skipped.
    store
        .apply(Batch {
            quarantined: (10..15).map(|index| rejected(T0 + 30, index)).collect(),
            last_offset: 4,
            ..Batch::default()
        })
        .await
        .unwrap();
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = store.quarantined(&app_id(APP), 2, cursor).await.unwrap();
        let Some(last) = page.last() else { break };
        cursor = before(last.received_ms, Some(last.index));
        seen.extend(page.iter().map(|r| r.index));
    }
    assert_eq!(seen, vec![14, 13, 12, 11, 10, 2, 1, 0]);
    assert!(store.quarantined(&app_id(OTHER_APP), 10, None).await.unwrap().is_empty());
}

pub async fn exports_stream_every_row_in_order(store: &dyn EventStore) {
    let rows: Vec<EventRow> = (0..2500)
        .map(|i| row(APP, &format!("s-{i}"), EventType::Session, "meta", T0 + i))
        .collect();
    store.apply(Batch { rows, last_offset: 1, ..Batch::default() }).await.unwrap();
    store.apply(sample(2)).await.unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = seen.clone();
    let sent = store
        .export(
            ExportQuery {
                app_id: app_id(APP),
                kinds: vec![EventType::Session],
                from_day: day("2026-11-20"),
                to_day: day("2026-11-20"),
            },
            Box::new(move |row| {
                sink.lock().unwrap().push(row);
                true
            }),
        )
        .await
        .unwrap();
    assert_eq!(sent, 2501);
    let seen = seen.lock().unwrap().clone();
    assert!(seen.windows(2).all(|w| w[0].timestamp_ms <= w[1].timestamp_ms));
    let first = seen.iter().find(|r| r.id == "s-0").unwrap();
    assert_eq!(first.subs, vec![Some("s1".to_owned()), None]);
    assert_eq!(first.dims.network, "meta");
    // The sink may stop early.
    let stopped = store
        .export(
            ExportQuery {
                app_id: app_id(APP),
                kinds: vec![EventType::Session],
                from_day: day("2026-11-20"),
                to_day: day("2026-11-20"),
            },
            Box::new(|_| false),
        )
        .await
        .unwrap();
    assert_eq!(stopped, 1);
    // No kinds asked for: nothing, and no error.
    let none = store
        .export(
            ExportQuery {
                app_id: app_id(APP),
                kinds: Vec::new(),
                from_day: day("2026-11-20"),
                to_day: day("2026-11-20"),
            },
            Box::new(|_| true),
        )
        .await
        .unwrap();
    assert_eq!(none, 0);
}

pub async fn grouping_and_filters(store: &dyn EventStore) {
    let mut rows = vec![
        row(APP, "a", EventType::Click, "meta", T0),
        row(APP, "b", EventType::Click, "meta", T0 + 86_400_000),
    ];
    let mut us = row(APP, "c", EventType::Click, "unity", T0);
    us.dims.country = "US".to_owned();
    rows.push(us);
    store.apply(Batch { rows, last_offset: 3, ..Batch::default() }).await.unwrap();
    let by_day = store.summary(&query(vec![Dimension::Day, Dimension::Network])).await.unwrap();
    let keys: Vec<(String, String, u64)> = by_day
        .iter()
        .map(|r| (r.day.clone().unwrap(), r.network.clone().unwrap(), r.counts.clicks))
        .collect();
    assert_eq!(
        keys,
        vec![
            ("2026-11-20".to_owned(), "meta".to_owned(), 1),
            ("2026-11-20".to_owned(), "unity".to_owned(), 1),
            ("2026-11-21".to_owned(), "meta".to_owned(), 1),
        ]
    );
    let us_only = store
        .summary(&SummaryQuery {
            country: Some("US".to_owned()),
            ..query(vec![Dimension::Country])
        })
        .await
        .unwrap();
    assert_eq!(us_only.len(), 1);
    assert_eq!(us_only[0].counts.clicks, 1);
    let one_day = store
        .summary(&SummaryQuery {
            from_day: day("2026-11-21"),
            to_day: day("2026-11-21"),
            ..query(vec![])
        })
        .await
        .unwrap();
    assert_eq!(one_day[0].counts.clicks, 1);
    let none = store
        .summary(&SummaryQuery {
            network: Some("nobody".to_owned()),
            ..query(vec![Dimension::Network])
        })
        .await
        .unwrap();
    assert!(none.is_empty());
}

pub async fn old_days_are_dropped(store: &dyn EventStore) {
    let rows = vec![
        row(APP, "old", EventType::Session, "meta", T0 - 10 * 86_400_000),
        row(APP, "new", EventType::Session, "meta", T0),
    ];
    store.apply(Batch { rows, last_offset: 2, ..Batch::default() }).await.unwrap();
    assert_eq!(store.drop_days_before(day("2026-11-15")).await.unwrap(), 1);
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = seen.clone();
    store
        .export(
            ExportQuery {
                app_id: app_id(APP),
                kinds: vec![EventType::Session],
                from_day: day("2026-11-01"),
                to_day: day("2026-11-30"),
            },
            Box::new(move |_| {
                counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                true
            }),
        )
        .await
        .unwrap();
    assert_eq!(seen.load(std::sync::atomic::Ordering::Relaxed), 1);
    // Rollups survive retention.
    let total = store.summary(&query(vec![])).await.unwrap();
    assert_eq!(total[0].counts.sessions, 2);
}

/// A batch stored under a later offset than the one recorded (a crash between storing rows
/// and recording the offset) is not counted twice when the store reopens and it is replayed.
pub async fn reopened_store_skips_rows_stored_past_its_position(
    store: &dyn EventStore,
    reopen: &dyn Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = Box<dyn EventStore>>>>,
    forget_position: &dyn Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>,
) {
    store.apply(sample(7)).await.unwrap();
    forget_position().await;
    let reopened = reopen().await;
    assert_eq!(reopened.position().await.unwrap(), 0);
    let mut replay = sample(8);
    replay.rows.push(row(APP, "click-3", EventType::Click, "meta", T0 + 9));
    let outcome = reopened.apply(replay).await.unwrap();
    assert_eq!((outcome.stored, outcome.duplicates), (1, 7));
    let total = reopened.summary(&query(vec![])).await.unwrap();
    assert_eq!(total[0].counts.clicks, 3);
    assert_eq!(reopened.position().await.unwrap(), 8);
}

/// A copy of already stored rows arriving later in the log (another ingest node, a retry past
/// the broker's duplicate window) is dropped: installs by id, other rows by id and event
/// time — sessions, events and revenue count once, as installs do; a fraud signal of the
/// copied install is not counted again. The same id at another time is another event,
/// except for installs (one per id).
pub async fn a_resent_row_later_in_the_log_counts_once(store: &dyn EventStore) {
    let rows = || {
        vec![
            row(APP, "install-1", EventType::Install, "meta", T0 + 3),
            row(APP, "session-1", EventType::Session, "meta", T0 + 4),
            row(APP, "buy-1", EventType::Event, "meta", T0 + 5),
        ]
    };
    let hit = || FraudHit {
        app_id: app_id(APP),
        event_id: "install-1".to_owned(),
        day: day("2026-11-20"),
        reason: FraudReason::Flagged(FlagReason::InstallBeforeClick),
        network: "latenet".to_owned(),
    };
    let install = row(APP, "install-1", EventType::Install, "meta", T0 + 3);
    let first = store
        .apply(Batch {
            rows: rows(),
            fraud: vec![hit()],
            attributions: vec![decision(&install, "attributed", "meta")],
            last_offset: 1,
            ..Batch::default()
        })
        .await
        .unwrap();
    assert_eq!(first.stored, 3);
    let copy = store
        .apply(Batch { rows: rows(), fraud: vec![hit()], last_offset: 2, ..Batch::default() })
        .await
        .unwrap();
    assert_eq!((copy.stored, copy.duplicates), (0, 3));
    let later = row(APP, "session-1", EventType::Session, "meta", T0 + 60_000);
    let other_time =
        store.apply(Batch { rows: vec![later], last_offset: 3, ..Batch::default() }).await.unwrap();
    assert_eq!(other_time.stored, 1);
    // An install is one per id whatever its time: re-sent restamped, it is a duplicate (and
    // its decision, taken again as a re-install, does not replace the first).
    let restamped = row(APP, "install-1", EventType::Install, "meta", T0 + 120_000);
    let mut again = decision(&restamped, "organic", "organic");
    again.reinstall = true;
    let copy = store
        .apply(Batch {
            rows: vec![restamped],
            attributions: vec![again],
            last_offset: 4,
            ..Batch::default()
        })
        .await
        .unwrap();
    assert_eq!((copy.stored, copy.duplicates), (0, 1));
    let kept = store.attribution(&app_id(APP), "install-1").await.unwrap().unwrap();
    assert_eq!((kept.status.as_str(), kept.reinstall), ("attributed", false));
    let total = store.summary(&query(vec![])).await.unwrap();
    let counts = &total[0].counts;
    assert_eq!((counts.installs, counts.sessions, counts.events), (1, 2, 1), "{counts:?}");
    assert!((counts.revenue - 2.5).abs() < 1e-9, "{counts:?}");
    let fraud = store.fraud(&app_id(APP), day("2026-11-01"), day("2026-11-30")).await.unwrap();
    let fraud: Vec<(String, String, String, u64)> = fraud
        .into_iter()
        .map(|f| (f.reason.kind().as_str().to_owned(), f.reason.to_string(), f.network, f.count))
        .collect();
    assert_eq!(
        fraud,
        vec![("click".to_owned(), "install_before_click".to_owned(), "latenet".to_owned(), 1)]
    );
}

/// One session of [`APP`] at `T0`, as a batch at `offset`.
pub fn one_session_batch(offset: u64) -> Batch {
    Batch {
        rows: vec![row(APP, &format!("s-{offset}"), EventType::Session, "meta", T0)],
        last_offset: offset,
        ..Batch::default()
    }
}

/// Sessions of [`APP`] in November 2026.
pub async fn sessions(store: &dyn EventStore) -> u64 {
    store.summary(&query(vec![])).await.unwrap().first().map_or(0, |row| row.counts.sessions)
}

/// What rebuilding the attribution engine reads: every decision, oldest install first, and
/// the clicks and impressions stamped since a time, of every app.
pub async fn decisions_and_touches_are_read_back_for_a_rebuild(store: &dyn EventStore) {
    let early = row(APP, "install-early", EventType::Install, "meta", T0 - 3_600_000);
    let late = row(OTHER_APP, "install-late", EventType::Install, "meta", T0 + 3_600_000);
    let mut batch = sample(1);
    batch.rows.extend([early.clone(), late.clone()]);
    batch.attributions =
        vec![decision(&late, "organic", "organic"), decision(&early, "attributed", "meta")];
    store.apply(batch).await.unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = seen.clone();
    let sent = store
        .decisions(Box::new(move |row| {
            sink.lock().unwrap().push((row.event_id, row.status.as_str().to_owned()));
            true
        }))
        .await
        .unwrap();
    assert_eq!(sent, 2);
    assert_eq!(
        *seen.lock().unwrap(),
        vec![
            ("install-early".to_owned(), "attributed".to_owned()),
            ("install-late".to_owned(), "organic".to_owned())
        ]
    );
    let mut apps = store.touch_apps(T0 + 1).await.unwrap();
    apps.sort();
    assert_eq!(apps, vec![app_id(APP)], "click-x of the other app is older");
    let touches = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = touches.clone();
    store
        .touches(
            T0,
            Box::new(move |row| {
                sink.lock().unwrap().push(row.id);
                true
            }),
        )
        .await
        .unwrap();
    let mut ids = touches.lock().unwrap().clone();
    ids.sort();
    assert_eq!(ids, vec!["click-1", "click-2", "click-x", "imp-1"]);
}
