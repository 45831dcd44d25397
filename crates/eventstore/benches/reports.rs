//! Report query latency over a large embedded store.
//!
//! `cargo bench -p unmogrowp-eventstore --bench reports -- [EVENTS]` (default 10 000 000)
//! stores EVENTS rows (30 days, 6 networks × 3 campaigns × 2 ad groups × 2 creatives, 8
//! countries; clicks, impressions, installs, sessions, purchases) through the normal batch
//! path, then runs each summary shape 200 times and prints p50/p95/max latency.

use std::time::Instant;
use unmogrowp_domain::event::EventType;
use unmogrowp_domain::{AppId, Day};
use unmogrowp_eventstore::{
    Batch, Dimension, Dims, EventRow, EventStore, InstallOutcome, SqliteEventStore, SummaryQuery,
};

const APP: &str = "0193a000-0000-7000-8000-00000000bench";
const DAY_MS: i64 = 86_400_000;

fn row(i: u64, start: i64, span_days: i64) -> EventRow {
    let networks = ["meta", "google", "tiktok", "unity", "applovin", "organic"];
    let countries = ["US", "DE", "BR", "IN", "JP", "FR", "GB", "MX"];
    let kind = match i % 20 {
        0..=5 => EventType::Click,
        6..=13 => EventType::Impression,
        14 => EventType::Install,
        15..=18 => EventType::Session,
        _ => EventType::Event,
    };
    // Spread 10 M rows evenly over the span (more wrap around).
    let ts = start + (i as i64 * span_days * DAY_MS / 10_000_000) % (span_days * DAY_MS);
    let day = Day::of_utc_millis(ts);
    EventRow {
        app_id: AppId::from_stored(APP.to_owned()),
        org_id: unmogrowp_domain::OrgId::from_stored("org".to_owned()),
        id: format!("e{i}"),
        kind,
        name: (kind == EventType::Event).then(|| "purchase".to_owned()),
        timestamp_ms: ts,
        received_ms: ts,
        day,
        device_id: Some(format!("gaid:d{}", i % 2_000_000)),
        gaid: None,
        idfa: None,
        idfv: None,
        ip: None,
        user_agent: None,
        os: None,
        os_version: None,
        device_model: None,
        locale: None,
        click_id: None,
        link_id: None,
        network_click_id: None,
        subs: Vec::new(),
        dims: Dims {
            network: networks[(i % 6) as usize].to_owned(),
            campaign: format!("c{}", (i / 6) % 3),
            adgroup: format!("a{}", (i / 18) % 2),
            creative: format!("v{}", (i / 36) % 2),
            country: countries[((i / 72) % 8) as usize].to_owned(),
        },
        revenue_amount: None,
        revenue_currency: None,
        revenue: if kind == EventType::Event { 4.99 } else { 0.0 },
        properties: None,
        install: (kind == EventType::Install).then_some(InstallOutcome::Attributed),
        reattribution: false,
        reengagement: false,
        reinstall: false,
        fraud_reason: None,
    }
}

#[allow(clippy::print_stdout)] // a benchmark's report is its output
fn main() {
    let events: u64 = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(10_000_000);
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async move {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SqliteEventStore::open(dir.path()).await.expect("store");
        let start = jiff::Timestamp::now().as_millisecond() - 30 * DAY_MS;
        let loading = Instant::now();
        let mut next = 0u64;
        let mut offset = 0u64;
        while next < events {
            let end = (next + 50_000).min(events);
            offset += 1;
            let rows = (next..end).map(|i| row(i, start, 30)).collect();
            store
                .apply(Batch { rows, last_offset: offset, ..Batch::default() })
                .await
                .expect("apply");
            next = end;
        }
        let load_seconds = loading.elapsed().as_secs_f64();
        println!(
            "stored {events} rows in {load_seconds:.1} s ({:.0} rows/s)",
            events as f64 / load_seconds
        );
        let from = Day::of_utc_millis(start);
        let to = Day::of_utc_millis(jiff::Timestamp::now().as_millisecond());
        let shapes: Vec<(&str, Vec<Dimension>)> = vec![
            ("totals", vec![]),
            ("by network", vec![Dimension::Network]),
            ("by network, campaign", vec![Dimension::Network, Dimension::Campaign]),
            ("by day, network", vec![Dimension::Day, Dimension::Network]),
            (
                "by everything",
                vec![
                    Dimension::Network,
                    Dimension::Campaign,
                    Dimension::Adgroup,
                    Dimension::Creative,
                    Dimension::Country,
                    Dimension::Day,
                ],
            ),
        ];
        for (label, group_by) in shapes {
            let query = SummaryQuery {
                app_id: AppId::from_stored(APP.to_owned()),
                from_day: from,
                to_day: to,
                group_by,
                attribution_model: None,
                network: None,
                campaign: None,
                country: None,
            };
            let mut latencies = Vec::new();
            let mut rows = 0;
            for _ in 0..200 {
                let started = Instant::now();
                rows = store.summary(&query).await.expect("summary").len();
                latencies.push(started.elapsed().as_secs_f64() * 1000.0);
            }
            latencies.sort_by(f64::total_cmp);
            println!(
                "summary {label}: {rows} rows; p50 {:.2} ms, p95 {:.2} ms, max {:.2} ms",
                latencies[100], latencies[190], latencies[199]
            );
        }
    });
}
