use unmogrowp_domain::event::EventType;
use unmogrowp_eventstore::{
    Batch, Dimension, Dims, EventRow, EventStore, ExportQuery, InstallOutcome, RejectedRow,
    SummaryQuery,
};

pub const APP: &str = "0193a000-0000-7000-8000-000000000001";
const OTHER_APP: &str = "0193a000-0000-7000-8000-000000000002";
/// 2026-11-20T10:00:00Z
const T0: i64 = 1_795_168_800_000;

pub fn row(app: &str, id: &str, kind: EventType, network: &str, ts: i64) -> EventRow {
    let day = jiff::Timestamp::from_millisecond(ts)
        .unwrap()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
        .to_string();
    EventRow {
        app_id: app.to_owned(),
        org_id: "org".to_owned(),
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
        model: None,
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
        app_id: APP.to_owned(),
        from_day: "2026-11-01".to_owned(),
        to_day: "2026-11-30".to_owned(),
        group_by,
        ..SummaryQuery::default()
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

pub async fn quarantine_is_listed_newest_first(store: &dyn EventStore) {
    let rejected = |ms: i64, index: u32| RejectedRow {
        app_id: APP.to_owned(),
        received_ms: ms,
        index,
        event_id: Some(format!("bad-{index}")),
        code: "invalid_field".to_owned(),
        message: "timestamp: bad".to_owned(),
        raw: "{}".to_owned(),
    };
    store
        .apply(Batch {
            rejected: vec![rejected(T0, 0), rejected(T0 + 10, 1), rejected(T0 + 20, 2)],
            last_offset: 3,
            ..Batch::default()
        })
        .await
        .unwrap();
    let all = store.rejected(APP, 10, None).await.unwrap();
    assert_eq!(all.iter().map(|r| r.index).collect::<Vec<_>>(), vec![2, 1, 0]);
    let older = store.rejected(APP, 10, Some(T0 + 20)).await.unwrap();
    assert_eq!(older.len(), 2);
    assert!(store.rejected(OTHER_APP, 10, None).await.unwrap().is_empty());
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
                app_id: APP.to_owned(),
                kinds: vec![EventType::Session],
                from_day: "2026-11-20".to_owned(),
                to_day: "2026-11-20".to_owned(),
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
                app_id: APP.to_owned(),
                kinds: vec![EventType::Session],
                from_day: "2026-11-20".to_owned(),
                to_day: "2026-11-20".to_owned(),
            },
            Box::new(|_| false),
        )
        .await
        .unwrap();
    assert_eq!(stopped, 1);
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
            from_day: "2026-11-21".to_owned(),
            to_day: "2026-11-21".to_owned(),
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
    assert_eq!(store.drop_days_before("2026-11-15").await.unwrap(), 1);
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = seen.clone();
    store
        .export(
            ExportQuery {
                app_id: APP.to_owned(),
                kinds: vec![EventType::Session],
                from_day: "2026-11-01".to_owned(),
                to_day: "2026-11-30".to_owned(),
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
