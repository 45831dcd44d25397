//! The event log suite, written once and run against the embedded segment-file log and the
//! cluster tier's NATS JetStream log (`TEST_NATS_URL`, started by `make test`).

#![allow(clippy::unwrap_used)]

mod cases;

use std::sync::Arc;
use std::time::Duration;
use unmogrowp_bus::{EventLog, FileLog, FileLogOptions, NatsLog, NatsLogOptions};

macro_rules! event_log_suite {
    ($backend:ident, $open:expr) => {
        mod $backend {
            event_log_suite!(@cases $open;
                appends_are_read_back_in_order_from_any_offset,
                concurrent_appends_all_land,
                readers_wait_for_new_records,
                offsets_recent_keys_and_retention,
                consumers_read_from_their_position_and_take_acks,
                consumers_are_listed_and_forgotten,
            );
        }
    };
    (@cases $open:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let (log, _guard) = $open.await;
                crate::cases::$case(log).await;
            }
        )*
    };
}

async fn file() -> (Arc<dyn EventLog>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let log = FileLog::open(FileLogOptions::new(dir.path())).unwrap();
    (Arc::new(log), dir)
}

pub fn nats_url() -> String {
    std::env::var("TEST_NATS_URL").unwrap_or_else(|_| {
        panic!(
            "TEST_NATS_URL is not set: run the suite with `make test` (scripts/with-services.sh)"
        )
    })
}

/// A prefix no other test uses, so each test has its own stream and bucket.
pub fn unique_prefix() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!(
        "t{}_{}_{}",
        std::process::id(),
        nanos % 1_000_000_000,
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    )
}

async fn nats() -> (Arc<dyn EventLog>, ()) {
    let log = NatsLog::connect(NatsLogOptions::new(nats_url(), unique_prefix())).await.unwrap();
    (Arc::new(log), ())
}

event_log_suite!(file, crate::file());
event_log_suite!(nats, crate::nats());

/// The broker drops a record whose key it has seen inside its duplicate window, answering
/// with the first one's offset; a new connection sees the same log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_duplicates_are_dropped_and_a_reconnect_sees_the_log() {
    let prefix = unique_prefix();
    let log = NatsLog::connect(NatsLogOptions::new(nats_url(), &prefix)).await.unwrap();
    let first = log.append(vec![cases::entry("app1", 1), cases::entry("app2", 2)]).await.unwrap();
    let again = log.append(vec![cases::entry("app1", 1)]).await.unwrap();
    assert_eq!(again, first - 1, "the duplicate answers with the original's offset");
    let third = log.append(vec![cases::entry("app1", 3)]).await.unwrap();
    assert_eq!(third, first + 1);
    log.close().await;
    let reopened = NatsLog::connect(NatsLogOptions::new(nats_url(), &prefix)).await.unwrap();
    assert_eq!(reopened.head(), third);
    let all = cases::read_all(&reopened, 1).await;
    assert_eq!(all.len(), 3);
    assert_eq!(all[2].1, b"app1 record 3");
}

/// The worker's consumer is a durable JetStream consumer: the broker's ack floor follows the
/// acks, and re-opening it positions it where the caller says (the event store's offset).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_the_worker_consumer_is_durable_and_acked() {
    let prefix = unique_prefix();
    let log = NatsLog::connect(NatsLogOptions::new(nats_url(), &prefix)).await.unwrap();
    let entries = (1..=10).map(|i| cases::entry("app1", i)).collect();
    assert_eq!(log.append(entries).await.unwrap(), 10);

    let client = async_nats::connect(nats_url()).await.unwrap();
    let stream = async_nats::jetstream::new(client)
        .get_stream(format!("{}_EVENTS", prefix.to_uppercase()))
        .await
        .unwrap();
    let floor = async |expected_floor: u64, most_pending: usize| {
        let mut consumer: async_nats::jetstream::consumer::PullConsumer =
            stream.get_consumer("pipeline").await.unwrap();
        let info = consumer.info().await.unwrap();
        assert!(info.config.durable_name.is_some(), "a durable consumer");
        assert_eq!(info.ack_floor.stream_sequence, expected_floor);
        assert!(info.num_ack_pending <= most_pending, "{} pending", info.num_ack_pending);
    };

    let mut reader = log.consumer("pipeline", 1).await.unwrap();
    let mut seen = Vec::new();
    while seen.len() < 6 {
        let batch = reader.next_batch(6 - seen.len(), Duration::from_secs(5)).await.unwrap();
        assert!(!batch.is_empty());
        seen.extend(batch.into_iter().map(|(offset, _)| offset));
    }
    reader.ack(6).await.unwrap();
    // Records 7..=10 may already be delivered (the pull prefetches) but not acked.
    floor(6, 4).await;
    while seen.len() < 10 {
        let batch = reader.next_batch(10, Duration::from_secs(5)).await.unwrap();
        assert!(!batch.is_empty());
        seen.extend(batch.into_iter().map(|(offset, _)| offset));
    }
    assert_eq!(seen, (1..=10).collect::<Vec<_>>());
    floor(6, 4).await;
    reader.ack(10).await.unwrap();
    floor(10, 0).await;
    drop(reader);

    // The store said 4 (say it lost the rest): the consumer starts there again.
    let mut again = log.consumer("pipeline", 4).await.unwrap();
    let first = again.next_batch(1, Duration::from_secs(5)).await.unwrap();
    assert_eq!(first.first().map(|(offset, _)| *offset), Some(4));
}

/// A partitioned log: each app's records go to its partition, and a worker's consumer reads
/// them all, in order, each with its partition; it says when it is caught up (everything read
/// and acknowledged); the whole log's watermark is the lowest of the workers' commits; a node
/// with another partition count is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_partitions_split_the_log_by_app() {
    use unmogrowp_bus::worker_consumer_name;
    use unmogrowp_domain::hash::partition_of;
    let prefix = unique_prefix();
    let options = NatsLogOptions { partitions: 4, ..NatsLogOptions::new(nats_url(), &prefix) };
    let log = NatsLog::connect(options.clone()).await.unwrap();
    assert_eq!(log.partitions(), 4);
    // Two apps in different partitions.
    let first = "app-a".to_owned();
    let second = (0..100)
        .map(|i| format!("app-{i}"))
        .find(|app| partition_of(app, 4) != partition_of(&first, 4))
        .unwrap();
    let (p1, p2) = (partition_of(&first, 4), partition_of(&second, 4));
    let entries: Vec<_> =
        (1..=6).map(|i| cases::entry(if i % 2 == 1 { &first } else { &second }, i)).collect();
    assert_eq!(log.append(entries).await.unwrap(), 6);

    let mut reader = log.consumer(&worker_consumer_name("pipeline", 1), 2).await.unwrap();
    let mut seen = Vec::new();
    while seen.len() < 5 {
        let batch = reader.next_partitioned(10, Duration::from_secs(5)).await.unwrap();
        assert!(!batch.is_empty(), "{seen:?}");
        seen.extend(batch);
    }
    let read: Vec<(u16, u64)> = seen.iter().map(|(p, o, _)| (*p, *o)).collect();
    assert_eq!(read, vec![(p2, 2), (p1, 3), (p2, 4), (p1, 5), (p2, 6)]);
    assert_eq!(seen[1].2, format!("{first} record 3").into_bytes());
    assert!(!reader.caught_up().await.unwrap(), "read but not acknowledged");
    reader.ack(6).await.unwrap();
    assert!(reader.caught_up().await.unwrap());

    // The watermark: the lowest of the workers' commits (one never committed counts 0).
    log.commit(&worker_consumer_name("pipeline", 0), 6).await.unwrap();
    assert_eq!(log.watermark("pipeline", 2).await.unwrap(), 0);
    log.commit(&worker_consumer_name("pipeline", 1), 4).await.unwrap();
    assert_eq!(log.watermark("pipeline", 2).await.unwrap(), 4);
    assert_eq!(log.watermark("pipeline", 1).await.unwrap(), 6);

    let error = NatsLog::connect(NatsLogOptions { partitions: 8, ..options }).await.err().unwrap();
    assert!(error.to_string().contains("has 4 partitions"), "{error}");
}
