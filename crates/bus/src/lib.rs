//! The event log between ingestion and the workers.
//!
//! Ingestion appends and answers only once the append is durable; workers read from any
//! offset at their own pace, so decisions can be rebuilt by replaying the log. Records are
//! opaque bytes with a dedup key. One log is totally ordered, so each app's records keep the
//! order in which they were acknowledged.
#![warn(missing_docs)]

mod file;
pub mod metric_names;
mod nats;

pub use file::{FileLog, FileLogOptions};
pub use nats::{NatsLog, NatsLogOptions};

use std::time::Duration;

pub use unmogrowp_domain::Offset;

/// A record to append.
#[derive(Clone, Debug)]
pub struct Entry {
    /// Identifies the record for de-duplication (e.g. `app_id:event_id`).
    pub key: String,
    /// The record itself, opaque to the log (the server stores an encoded log record, e.g. an
    /// SDK event); read back unchanged by [`LogReader::next_batch`].
    pub payload: Vec<u8>,
}

/// Why an event-log operation failed.
///
/// Returned by every [`EventLog`] and [`LogReader`] method that can fail; an I/O error
/// converts to [`LogError::Failed`].
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// Too many appends are waiting; the caller should answer 503 and let the client retry.
    #[error("the event log is overloaded")]
    Overloaded,
    /// The log no longer accepts work: [`EventLog::close`] was called, or its writer (file
    /// log) has stopped. Appends and pings answer this until the process opens the log again.
    #[error("the event log is closed")]
    Closed,
    /// The operation failed and may succeed if retried: an I/O error, the broker unreachable
    /// or refusing, an invalid consumer name, an offset already removed by retention, or a
    /// bad configuration (e.g. a partition count that differs from the existing stream's).
    /// The text says what went wrong.
    #[error("the event log failed: {0}")]
    Failed(String),
    /// Stored data is damaged and cannot be trusted: a frame with a bad checksum, segments
    /// that do not follow each other, a committed position that is not a number, or a
    /// partial write that could not be undone. Needs an operator; retrying will not help.
    #[error("the event log is corrupt: {0}")]
    Corrupt(String),
}

impl From<std::io::Error> for LogError {
    fn from(error: std::io::Error) -> Self {
        LogError::Failed(error.to_string())
    }
}

/// An append-only, totally ordered log of records, numbered by [`Offset`] (1 is the first
/// record ever appended, 0 means "none").
///
/// Implemented by [`FileLog`] (segment files, one process) and [`NatsLog`] (a JetStream
/// stream shared by a cluster). Ingestion appends; the pipeline's workers and replays read
/// with [`EventLog::reader`] or [`EventLog::consumer`] and record their progress with
/// [`EventLog::commit`], which retention respects.
#[async_trait::async_trait]
pub trait EventLog: Send + Sync {
    /// A short name for readiness and logs (`file`, `nats`).
    fn kind(&self) -> &'static str;

    /// Appends the entries, in order, and returns the offset of the last one once all are
    /// durable. Either all entries are appended or the call fails.
    async fn append(&self, entries: Vec<Entry>) -> Result<Offset, LogError>;

    /// The offset of the newest durable record.
    fn head(&self) -> Offset;

    /// A reader positioned at `from` (inclusive; 0 or 1 for the beginning).
    async fn reader(&self, from: Offset) -> Result<Box<dyn LogReader>, LogError>;

    /// The reader of a processing consumer (the pipeline's worker), positioned at `from`:
    /// records it has processed are acknowledged with [`LogReader::ack`]. On NATS this is a
    /// durable consumer with explicit acks (visible to the broker's tooling); the file log has
    /// no broker, so it is the plain reader and acks do nothing.
    async fn consumer(&self, name: &str, from: Offset) -> Result<Box<dyn LogReader>, LogError> {
        let _ = name;
        self.reader(from).await
    }

    /// How many partitions the log is split into (at least 1). Records of one app always go
    /// to the same partition ([`unmogrowp_domain::hash::partition_of`] of the app id, the
    /// part of the key before the first `:`), so each partition keeps its apps' order and can
    /// be decided by a different worker ([`LogReader::next_partitioned`] says which partition
    /// each record is in). The file log serves one process: one partition.
    fn partitions(&self) -> u16 {
        1
    }

    /// The offset below which every worker of `consumer` has processed every record: what
    /// was committed under `consumer`, or, on a log shared by `workers` workers, the lowest of
    /// what each committed under [`worker_consumer_name`] (a worker that never committed
    /// counts as 0).
    async fn watermark(&self, consumer: &str, workers: u16) -> Result<Offset, LogError> {
        let _ = workers;
        self.committed(consumer).await
    }

    /// Records that `consumer` has processed everything up to `offset` (retention keeps what
    /// any consumer still needs).
    async fn commit(&self, consumer: &str, offset: Offset) -> Result<(), LogError>;

    /// The offset `consumer` last recorded with [`EventLog::commit`]; 0 when it never
    /// committed (or was forgotten).
    async fn committed(&self, consumer: &str) -> Result<Offset, LogError>;

    /// The consumers that have committed a position, by name.
    async fn consumers(&self) -> Result<Vec<String>, LogError>;

    /// Forgets what `consumer` committed, so retention stops waiting for it: for a consumer
    /// gone for good (a worker numbered above the worker count, the name an older layout
    /// used). Forgetting one that never committed does nothing.
    async fn forget(&self, consumer: &str) -> Result<(), LogError>;

    /// Hashes (see [`key_hash`]) of the keys of records appended within `window`.
    async fn recent_keys(&self, window: Duration) -> Result<Vec<u64>, LogError>;

    /// Drops data older than `keep` that every consumer has committed.
    async fn enforce_retention(&self, keep: Duration) -> Result<usize, LogError>;

    /// Checks that the log can serve requests, for readiness probes: `Ok` when the file log's
    /// writer is running or NATS answers within 2 s; [`LogError::Closed`] or
    /// [`LogError::Failed`] otherwise.
    async fn ping(&self) -> Result<(), LogError>;

    /// Stops accepting appends and waits for those in flight.
    async fn close(&self);

    /// Whether live-feed messages published with [`EventLog::publish_live`] reach other
    /// nodes (the file log serves one process, which broadcasts in memory).
    fn relays_live(&self) -> bool {
        false
    }

    /// Publishes one payload of live-feed messages to every node that subscribed with
    /// [`EventLog::subscribe_live`]. Best effort (not stored): the live feed is a view of
    /// what is stored, never a source of it.
    async fn publish_live(&self, payload: Vec<u8>) -> Result<(), LogError> {
        let _ = payload;
        Ok(())
    }

    /// Payloads published by any node's [`EventLog::publish_live`]; `None` when the log does
    /// not relay.
    async fn subscribe_live(
        &self,
    ) -> Result<Option<tokio::sync::mpsc::Receiver<Vec<u8>>>, LogError> {
        Ok(None)
    }

    /// Publishes one collaboration payload (presence, annotation announcements) to every node
    /// that subscribed with [`EventLog::subscribe_collab`]. Best effort, not stored; logs that
    /// do not relay ([`EventLog::relays_live`] false) drop it.
    async fn publish_collab(&self, payload: Vec<u8>) -> Result<(), LogError> {
        let _ = payload;
        Ok(())
    }

    /// Payloads published by any node's [`EventLog::publish_collab`] (this node's own
    /// included); `None` when the log does not relay.
    async fn subscribe_collab(
        &self,
    ) -> Result<Option<tokio::sync::mpsc::Receiver<Vec<u8>>>, LogError> {
        Ok(None)
    }
}

/// A cursor over an [`EventLog`], returning records in offset order from where it was
/// opened ([`EventLog::reader`] or [`EventLog::consumer`]).
///
/// Each reader keeps its own position; a processing consumer also acknowledges what it has
/// stored with [`LogReader::ack`].
#[async_trait::async_trait]
pub trait LogReader: Send {
    /// Up to `max` records after the last one returned, waiting up to `wait` for the first.
    /// An empty batch means nothing new arrived in time.
    async fn next_batch(
        &mut self,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<(Offset, Vec<u8>)>, LogError>;

    /// [`LogReader::next_batch`] with each record's partition (see [`EventLog::partitions`]).
    async fn next_partitioned(
        &mut self,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<(u16, Offset, Vec<u8>)>, LogError> {
        let batch = self.next_batch(max, wait).await?;
        Ok(batch.into_iter().map(|(offset, payload)| (0, offset, payload)).collect())
    }

    /// Acknowledges every record returned so far up to `offset` (processed and stored).
    async fn ack(&mut self, offset: Offset) -> Result<(), LogError> {
        let _ = offset;
        Ok(())
    }

    /// Whether every record this reader's consumer could read has been returned and
    /// acknowledged, as the broker sees it now (a worker then knows it has processed
    /// everything below the log's head, read before asking). `false` when the log cannot tell.
    async fn caught_up(&mut self) -> Result<bool, LogError> {
        Ok(false)
    }
}

/// The name worker `ordinal`'s consumer is known by on a shared log (and commits under):
/// `<consumer>-w<ordinal>`.
pub fn worker_consumer_name(consumer: &str, ordinal: u16) -> String {
    format!("{consumer}-w{ordinal}")
}

/// The 64-bit hash of a dedup key, stable across releases and platforms.
pub fn key_hash(key: &str) -> u64 {
    unmogrowp_domain::hash::stable_hash(key)
}
