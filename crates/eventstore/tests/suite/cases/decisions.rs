//! Install decisions, cohorts, fraud counts and multi-touch credits, read back as reports.

use super::*;

pub(super) fn decision(install: &EventRow, status: &str, network: &str) -> AttributionRow {
    AttributionRow {
        app_id: install.app_id.clone(),
        event_id: install.id.clone(),
        day: install.day,
        device_id: install.device_id.clone(),
        status: status.parse().unwrap(),
        match_type: (status == "attributed").then_some(MatchType::DeviceId),
        touch_id: None,
        touch_kind: (status == "attributed").then_some(TouchKind::Click),
        touch_at_ms: (status == "attributed").then_some(install.timestamp_ms - 60_000),
        link_id: None,
        dims: Dims { network: network.to_owned(), ..install.dims.clone() },
        rejection_reason: (status == "rejected").then_some(RejectionReason::ClickInjection),
        reattribution: false,
        reinstall: false,
        install_at_ms: install.timestamp_ms,
        decided_at_ms: install.timestamp_ms + 5,
    }
}

/// One device's activity: `kind` on `device` at `ts` with `revenue`.
fn activity(id: &str, kind: EventType, device: &str, ts: i64, revenue: f64) -> EventRow {
    let mut activity = row(APP, id, kind, "organic", ts);
    activity.device_id = Some(device.to_owned());
    activity.revenue = revenue;
    activity
}

const DAY: i64 = 86_400_000;

/// A hand-built day of installs, followed for three days: decisions, cohorts, fraud, credits.
pub async fn decisions_cohorts_fraud_and_credits(store: &dyn EventStore) {
    let mut first = row(APP, "install-a", EventType::Install, "meta", T0);
    first.device_id = Some("gaid:A".to_owned());
    let mut second = row(APP, "install-b", EventType::Install, "unity", T0 + 1000);
    second.device_id = Some("gaid:B".to_owned());
    let mut organic = row(APP, "install-c", EventType::Install, "organic", T0 + 2000);
    organic.device_id = Some("gaid:C".to_owned());
    organic.install = Some(InstallOutcome::Organic);
    let mut rejected = row(APP, "install-d", EventType::Install, "meta", T0 + 3000);
    rejected.device_id = Some("gaid:D".to_owned());
    rejected.install = Some(InstallOutcome::Rejected);
    rejected.fraud_reason = Some(FraudReason::Rejected(RejectionReason::ClickInjection));
    let mut flagged = row(APP, "click-f", EventType::Click, "meta", T0 - 5000);
    flagged.fraud_reason = Some(FraudReason::Flagged(FlagReason::ClickFlood));
    let attributions = vec![
        decision(&first, "attributed", "meta"),
        decision(&second, "attributed", "unity"),
        decision(&organic, "organic", "organic"),
        decision(&rejected, "rejected", "meta"),
    ];
    let credit = |install: &EventRow, network: &str, installs: f64| CreditRow {
        app_id: app_id(APP),
        event_id: install.id.clone(),
        day: install.day,
        dims: Dims { network: network.to_owned(), ..install.dims.clone() },
        attribution_model: Model::Linear,
        installs,
    };
    let credits = vec![
        credit(&first, "meta", 0.5),
        credit(&first, "unity", 0.5),
        credit(&second, "unity", 1.0),
    ];
    let rows = vec![
        first.clone(),
        second.clone(),
        organic.clone(),
        rejected.clone(),
        flagged,
        // Day 0: A and B open the app, B buys for 3.0.
        activity("s-a0", EventType::Session, "gaid:A", T0 + 10_000, 0.0),
        activity("s-b0", EventType::Session, "gaid:B", T0 + 10_000, 0.0),
        activity("buy-b0", EventType::Event, "gaid:B", T0 + 20_000, 3.0),
        // Day 1: A comes back (twice), C comes back.
        activity("s-a1", EventType::Session, "gaid:A", T0 + DAY, 0.0),
        activity("s-a1b", EventType::Open, "gaid:A", T0 + DAY + 5, 0.0),
        activity("s-c1", EventType::Session, "gaid:C", T0 + DAY, 0.0),
        // Day 2: A buys for 1.5; the rejected device D is active but not in any cohort.
        activity("buy-a2", EventType::Event, "gaid:A", T0 + 2 * DAY, 1.5),
        activity("s-d2", EventType::Session, "gaid:D", T0 + 2 * DAY, 0.0),
    ];
    let outcome = store
        .apply(Batch { rows, attributions, credits, last_offset: 20, ..Batch::default() })
        .await
        .unwrap();
    assert_eq!(outcome.stored, 13);

    let found = store.attribution(&app_id(APP), "install-a").await.unwrap().unwrap();
    assert_eq!((found.status.as_str(), found.dims.network.as_str()), ("attributed", "meta"));
    assert_eq!(found.touch_at_ms, Some(T0 - 60_000));
    assert!(store.attribution(&app_id(APP), "nobody").await.unwrap().is_none());
    assert!(store.attribution(&app_id(OTHER_APP), "install-a").await.unwrap().is_none());
    let by_device = store
        .device_attribution(&app_id(APP), &["gaid:zzz".to_owned(), "gaid:B".to_owned()])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_device.event_id, "install-b");

    let cohorts = store
        .cohorts(&CohortQuery {
            app_id: app_id(APP),
            from_day: day("2026-11-20"),
            to_day: day("2026-11-20"),
            group_by: None,
            days: vec![0, 1, 2],
        })
        .await
        .unwrap();
    assert_eq!(cohorts.len(), 1);
    let cohort = &cohorts[0];
    assert_eq!((cohort.install_day.to_string().as_str(), cohort.installs), ("2026-11-20", 3));
    assert_eq!(cohort.retained, vec![2, 2, 1]);
    assert_eq!(cohort.revenue, vec![3.0, 3.0, 4.5]);
    let by_network = store
        .cohorts(&CohortQuery {
            app_id: app_id(APP),
            from_day: day("2026-11-20"),
            to_day: day("2026-11-20"),
            group_by: Some(Dimension::Network),
            days: vec![1],
        })
        .await
        .unwrap();
    let groups: Vec<(Option<String>, u64, Vec<u64>)> =
        by_network.iter().map(|c| (c.group.clone(), c.installs, c.retained.clone())).collect();
    assert_eq!(
        groups,
        vec![
            (Some("meta".to_owned()), 1, vec![1]),
            (Some("organic".to_owned()), 1, vec![1]),
            (Some("unity".to_owned()), 1, vec![0]),
        ]
    );

    let fraud = store.fraud(&app_id(APP), day("2026-11-01"), day("2026-11-30")).await.unwrap();
    let fraud: Vec<(String, String, String, u64)> = fraud
        .into_iter()
        .map(|f| (f.reason.kind().as_str().to_owned(), f.reason.to_string(), f.network, f.count))
        .collect();
    assert_eq!(
        fraud,
        vec![
            ("click".to_owned(), "click_flood".to_owned(), "meta".to_owned(), 1),
            ("install".to_owned(), "click_injection".to_owned(), "meta".to_owned(), 1),
        ]
    );

    let summary = store.summary(&query(vec![Dimension::Network])).await.unwrap();
    let installs: Vec<(String, u64, u64, u64)> = summary
        .iter()
        .map(|r| {
            (
                r.network.clone().unwrap(),
                r.counts.installs,
                r.counts.organic_installs,
                r.counts.rejected_installs,
            )
        })
        .collect();
    assert_eq!(
        installs,
        vec![
            ("meta".to_owned(), 1, 0, 1),
            ("organic".to_owned(), 1, 1, 0),
            ("unity".to_owned(), 1, 0, 0),
        ]
    );
    let linear = store
        .summary(&SummaryQuery {
            attribution_model: Some(Model::Linear),
            ..query(vec![Dimension::Network])
        })
        .await
        .unwrap();
    let credited: Vec<(String, f64)> =
        linear.iter().map(|r| (r.network.clone().unwrap(), r.credited_installs.unwrap())).collect();
    assert_eq!(
        credited,
        vec![("meta".to_owned(), 0.5), ("organic".to_owned(), 0.0), ("unity".to_owned(), 1.5)]
    );
    // Credits for an install already stored are not counted twice.
    let again = store
        .apply(Batch {
            rows: vec![first.clone()],
            credits: vec![credit(&first, "meta", 0.5)],
            last_offset: 21,
            ..Batch::default()
        })
        .await
        .unwrap();
    assert_eq!((again.stored, again.duplicates), (0, 1));
    let linear = store
        .summary(&SummaryQuery { attribution_model: Some(Model::Linear), ..query(vec![]) })
        .await
        .unwrap();
    assert!((linear[0].credited_installs.unwrap() - 2.0).abs() < 1e-9);
}
