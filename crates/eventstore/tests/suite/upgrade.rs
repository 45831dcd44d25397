//! A data dir written by the release before the event store had versions (`fixtures/v0`:
//! one SQLite row per event, made by that release's server from 174 events and 20 clicks;
//! `expected.json` holds what its API answered) upgrades in place and keeps every event;
//! a file newer than this binary is refused.

use crate::cases::{app_id, day};
use serde_json::Value;
use std::path::Path;
use unmogrowp_domain::event::EventType;
use unmogrowp_eventstore::{
    Batch, CohortQuery, Dimension, EventRow, EventStore, ExportQuery, SqliteEventStore,
    SummaryQuery,
};

/// The fixture's folder. The crate's folder is read at run time (cargo and nextest set it):
/// a test binary shared through the build cache by another checkout of the same sources
/// would otherwise look in that checkout's folder.
fn fixture() -> std::path::PathBuf {
    let crate_dir = std::env::var("CARGO_MANIFEST_DIR")
        .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned());
    Path::new(&crate_dir).join("tests/fixtures/v0")
}

fn expected() -> Value {
    let text = std::fs::read_to_string(fixture().join("expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

async fn upgraded() -> (SqliteEventStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(fixture().join("events.db"), dir.path().join("events.db")).unwrap();
    let store = SqliteEventStore::open(dir.path()).await.unwrap();
    (store, dir)
}

async fn export(
    store: &SqliteEventStore,
    app: &str,
    kinds: Vec<EventType>,
    from: &str,
    to: &str,
) -> Vec<EventRow> {
    let rows = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = rows.clone();
    store
        .export(
            ExportQuery { app_id: app_id(app), kinds, from_day: day(from), to_day: day(to) },
            Box::new(move |row| {
                sink.lock().unwrap().push(row);
                true
            }),
        )
        .await
        .unwrap();
    std::mem::take(&mut *rows.lock().unwrap())
}

/// The columns of the old release's CSV export that every stored row must still have.
fn csv_rows(csv: &str) -> Vec<Vec<String>> {
    csv.lines().skip(1).map(|line| line.split(',').take(23).map(str::to_owned).collect()).collect()
}

fn row_columns(row: &EventRow) -> Vec<String> {
    let text = |value: &Option<String>| value.clone().unwrap_or_default();
    vec![
        row.id.clone(),
        row.kind.as_str().to_owned(),
        text(&row.name),
        row.day.to_string(),
        text(&row.device_id),
        text(&row.gaid),
        text(&row.ip),
        row.dims.country.clone(),
        row.dims.network.clone(),
        row.dims.campaign.clone(),
        row.dims.adgroup.clone(),
        row.dims.creative.clone(),
        text(&row.link_id),
        row.revenue_amount.map(|v| format!("{v}")).unwrap_or_default(),
        text(&row.revenue_currency),
        row.install.map(|o| format!("{o:?}").to_lowercase()).unwrap_or_default(),
    ]
}

fn csv_columns(csv: &[String]) -> Vec<String> {
    // id, type, name, day, device_id, gaid, ip, country, network, campaign, adgroup,
    // creative, link_id, revenue_amount, revenue_currency, install_status
    [0, 1, 2, 5, 6, 7, 10, 11, 12, 13, 14, 15, 16, 19, 20, 22]
        .iter()
        .map(|&i| csv[i].clone())
        .collect()
}

#[tokio::test]
async fn a_version_0_data_dir_upgrades_in_place_and_keeps_every_event() {
    let expected = expected();
    let app = expected["app_id"].as_str().unwrap();
    let (from, to) = (expected["from"].as_str().unwrap(), expected["to"].as_str().unwrap());
    let (store, _dir) = upgraded().await;
    assert_eq!(store.position().await.unwrap(), 194, "the applied log offset is kept");

    // Every event, with the values the old release exported.
    for (file, kinds) in [
        ("export_installs", vec![EventType::Install]),
        ("export_events", vec![EventType::Open, EventType::Session, EventType::Event]),
        ("export_clicks", vec![EventType::Click, EventType::Impression]),
    ] {
        let rows = export(&store, app, kinds, from, to).await;
        assert!(
            rows.windows(2).all(|w| w[0].timestamp_ms <= w[1].timestamp_ms),
            "{file} in time order"
        );
        let mut got: Vec<Vec<String>> = rows.iter().map(row_columns).collect();
        let mut want: Vec<Vec<String>> =
            csv_rows(expected[file].as_str().unwrap()).iter().map(|c| csv_columns(c)).collect();
        for rows in [&mut got, &mut want] {
            for row in rows.iter_mut() {
                // The CSV prints amounts with two decimals.
                if let Ok(amount) = row[13].parse::<f64>() {
                    row[13] = format!("{amount:.2}");
                }
            }
            rows.sort();
        }
        assert_eq!(got.len(), want.len(), "{file}: row count");
        assert_eq!(got, want, "{file}");
    }

    // Reports read the same rollups and decisions.
    let summary = store
        .summary(&SummaryQuery {
            attribution_model: None,
            app_id: app_id(app),
            from_day: day(from),
            to_day: day(to),
            group_by: vec![],
            network: None,
            campaign: None,
            country: None,
        })
        .await
        .unwrap();
    let totals = &expected["summary"]["totals"];
    let counts = &summary[0].counts;
    assert_eq!(counts.clicks, totals["clicks"].as_u64().unwrap());
    assert_eq!(counts.installs, totals["installs"].as_u64().unwrap());
    assert_eq!(counts.organic_installs, totals["organic_installs"].as_u64().unwrap());
    assert_eq!(counts.sessions, totals["sessions"].as_u64().unwrap());
    assert_eq!(counts.events, totals["events"].as_u64().unwrap());
    assert!((counts.revenue - totals["revenue"].as_f64().unwrap()).abs() < 0.01);
    let decision = store.attribution(&app_id(app), "inst-0").await.unwrap().unwrap();
    assert_eq!(decision.status.as_str(), expected["install_0"]["status"].as_str().unwrap());
    assert_eq!(
        decision.match_type.map(|m| m.as_str()),
        expected["install_0"]["match_type"].as_str()
    );
    let cohorts = store
        .cohorts(&CohortQuery {
            app_id: app_id(app),
            from_day: day(from),
            to_day: day(to),
            group_by: Some(Dimension::Network),
            days: vec![0, 1, 2],
        })
        .await
        .unwrap();
    let want = expected["cohorts"]["cohorts"].as_array().unwrap();
    assert_eq!(cohorts.len(), want.len());
    for (got, want) in cohorts.iter().zip(want) {
        assert_eq!(got.install_day.to_string(), want["install_day"].as_str().unwrap());
        assert_eq!(got.installs, want["installs"].as_u64().unwrap());
        let retained: Vec<u64> =
            ["0", "1", "2"].iter().map(|d| want["retained"][d].as_u64().unwrap()).collect();
        assert_eq!(got.retained, retained);
    }

    // The upgraded store still knows every id: re-applying a stored event adds nothing.
    let mut again = export(&store, app, vec![EventType::Install], from, to).await;
    again.truncate(3);
    let outcome =
        store.apply(Batch { rows: again, last_offset: 195, ..Batch::default() }).await.unwrap();
    assert_eq!((outcome.stored, outcome.duplicates), (0, 3));
}

#[tokio::test]
async fn an_upgraded_store_reopens_and_a_newer_one_is_refused() {
    let (store, dir) = upgraded().await;
    drop(store);
    // Reopening an upgraded file migrates nothing and keeps the data.
    let reopened = SqliteEventStore::open(dir.path()).await.unwrap();
    assert_eq!(reopened.position().await.unwrap(), 194);
    drop(reopened);
    let connection = rusqlite::Connection::open(dir.path().join("events.db")).unwrap();
    connection.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'", []).unwrap();
    drop(connection);
    let Err(error) = SqliteEventStore::open(dir.path()).await else {
        panic!("a newer event store must be refused");
    };
    let message = error.to_string();
    assert!(message.contains("schema version 99") && message.contains("newer"), "{message}");
}
