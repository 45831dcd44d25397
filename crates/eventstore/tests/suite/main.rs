//! The event store suite, written once and run against every implementation (the embedded
//! SQLite store here; ClickHouse joins it in the cluster tier).

#![allow(clippy::unwrap_used)]

mod cases;
mod sealed;
mod upgrade;

macro_rules! event_store_suite {
    ($backend:ident, $open:expr) => {
        mod $backend {
            event_store_suite!(@cases $open;
                batches_are_stored_and_rolled_up,
                a_replayed_batch_changes_nothing,
                the_position_is_kept,
                positions_are_kept_per_partition,
                quarantine_is_listed_newest_first,
                exports_stream_every_row_in_order,
                grouping_and_filters,
                old_days_are_dropped,
                decisions_cohorts_fraud_and_credits,
                a_resent_row_later_in_the_log_counts_once,
                decisions_and_touches_are_read_back_for_a_rebuild,
                erasing_a_device_removes_its_rows_decisions_and_counts,
                erasing_an_app_removes_all_its_data,
                opt_outs_are_kept_and_read_back,
            );
        }
    };
    (@cases $open:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                let (store, _guard) = $open.await;
                crate::cases::$case(store.as_ref()).await;
            }
        )*
    };
}

async fn sqlite() -> (Box<dyn unmogrowp_eventstore::EventStore>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = unmogrowp_eventstore::SqliteEventStore::open(dir.path()).await.unwrap();
    (Box::new(store), dir)
}

event_store_suite!(sqlite, crate::sqlite());
event_store_suite!(sealed_sqlite, crate::sealed::sealed(crate::sqlite()));

#[tokio::test]
async fn sqlite_identifiers_and_ips_are_sealed_at_rest_and_shredded_with_the_key() {
    let (store, _dir) = sqlite().await;
    sealed::identifiers_and_ips_are_sealed_at_rest_and_shredded_with_the_key(std::sync::Arc::from(
        store,
    ))
    .await;
}

/// A fresh database on the test ClickHouse (`TEST_CLICKHOUSE_URL`, started by `make test`),
/// dropped when the guard goes.
async fn clickhouse() -> (Box<dyn unmogrowp_eventstore::EventStore>, ClickHouseDatabase) {
    let Ok(base) = std::env::var("TEST_CLICKHOUSE_URL") else {
        panic!(
            "TEST_CLICKHOUSE_URL is not set: run the suite with `make test` (scripts/with-services.sh)"
        );
    };
    let database = format!("suite_{}", uuid_like());
    let url = format!("{}/{database}", base.trim_end_matches('/'));
    let store = unmogrowp_eventstore::ClickHouseEventStore::connect(&url).await.unwrap();
    (Box::new(store), ClickHouseDatabase { base, database })
}

fn uuid_like() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    format!(
        "{}_{}_{}",
        std::process::id(),
        nanos,
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    )
}

pub struct ClickHouseDatabase {
    base: String,
    database: String,
}

impl ClickHouseDatabase {
    fn url(&self) -> String {
        format!("{}/{}", self.base.trim_end_matches('/'), self.database)
    }

    /// Runs one statement over plain HTTP (no client library needed for a test's cleanup).
    fn run(&self, sql: &str) -> String {
        use std::io::{Read, Write};
        let address = self.base.trim_start_matches("http://").trim_end_matches('/').to_owned();
        let mut stream = std::net::TcpStream::connect(&address).unwrap();
        let request = format!(
            "POST /?database={} HTTP/1.0\r\nHost: {address}\r\nContent-Length: {}\r\n\r\n{sql}",
            self.database,
            sql.len()
        );
        stream.write_all(request.as_bytes()).unwrap();
        let mut response = String::new();
        let _ = stream.read_to_string(&mut response);
        response
    }
}

impl Drop for ClickHouseDatabase {
    fn drop(&mut self) {
        let _ = self.run(&format!("DROP DATABASE IF EXISTS {}", self.database));
    }
}

/// Rows stored past the recorded position (a crash between the two) are found when the
/// store reopens and not stored again when their batch is replayed.
#[tokio::test]
async fn clickhouse_reopened_store_skips_rows_stored_past_its_position() {
    let (store, database) = clickhouse().await;
    let url = database.url();
    let database = std::sync::Arc::new(database);
    let dropper = database.clone();
    cases::reopened_store_skips_rows_stored_past_its_position(
        store.as_ref(),
        &move || {
            let url = url.clone();
            Box::pin(async move {
                Box::new(unmogrowp_eventstore::ClickHouseEventStore::connect(&url).await.unwrap())
                    as Box<dyn unmogrowp_eventstore::EventStore>
            })
        },
        &move || {
            let dropper = dropper.clone();
            Box::pin(async move {
                let answer = dropper.run("DROP TABLE offsets");
                assert!(
                    answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200"),
                    "{answer}"
                );
            })
        },
    )
    .await;
}

event_store_suite!(clickhouse, crate::clickhouse());
event_store_suite!(sealed_clickhouse, crate::sealed::sealed(crate::clickhouse()));

#[tokio::test]
async fn clickhouse_identifiers_and_ips_are_sealed_at_rest_and_shredded_with_the_key() {
    let (store, _database) = clickhouse().await;
    sealed::identifiers_and_ips_are_sealed_at_rest_and_shredded_with_the_key(std::sync::Arc::from(
        store,
    ))
    .await;
}

/// The ClickHouse schema is versioned: a new database records the current version; one
/// written before versions were kept (no `schema_version`) is taken as version 1 and keeps
/// its rows; a database newer than the binary is refused with both versions named.
#[tokio::test]
async fn clickhouse_schema_versions_are_recorded_and_a_newer_one_refused() {
    use unmogrowp_eventstore::{
        CLICKHOUSE_SCHEMA_VERSION as SCHEMA_VERSION, ClickHouseEventStore, EventStore as _,
    };
    let (store, database) = clickhouse().await;
    let url = database.url();
    let fresh = ClickHouseEventStore::connect(&url).await.unwrap();
    assert_eq!(fresh.schema_version().await.unwrap(), SCHEMA_VERSION);
    store.apply(cases::one_session_batch(1)).await.unwrap();

    // As the previous release left it: the tables, no version.
    let answer = database.run("DROP TABLE schema_version");
    assert!(answer.contains(" 200 "), "{answer}");
    let reopened = ClickHouseEventStore::connect(&url).await.unwrap();
    assert_eq!(reopened.schema_version().await.unwrap(), 1);
    assert_eq!(reopened.position().await.unwrap(), 1, "the recorded position is kept");
    assert_eq!(cases::sessions(&reopened).await, 1, "rows are kept");

    let answer = database.run("INSERT INTO schema_version (version) VALUES (99)");
    assert!(answer.contains(" 200 "), "{answer}");
    let refused = ClickHouseEventStore::connect(&url).await.err().map(|e| e.to_string());
    let message = refused.expect("a newer schema is refused");
    assert!(
        message.contains("version 99") && message.contains(&format!("binary's {SCHEMA_VERSION}")),
        "{message}"
    );
    drop(store);
}
