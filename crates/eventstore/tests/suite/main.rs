//! The event store suite, written once and run against every implementation (the embedded
//! SQLite store here; ClickHouse joins it in the cluster tier).

#![allow(clippy::unwrap_used)]

mod cases;

macro_rules! event_store_suite {
    ($backend:ident, $open:expr) => {
        mod $backend {
            event_store_suite!(@cases $open;
                batches_are_stored_and_rolled_up,
                a_replayed_batch_changes_nothing,
                the_position_is_kept,
                quarantine_is_listed_newest_first,
                exports_stream_every_row_in_order,
                grouping_and_filters,
                old_days_are_dropped,
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
