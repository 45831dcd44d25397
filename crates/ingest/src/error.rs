//! What can stop a collection request as a whole (an event's own fault is answered inside
//! the 200, per event). Mapped to problem documents in one place: `From<IngestError> for
//! ApiError` in `error.rs`.

use unmogrowp_bus::LogError;
use unmogrowp_storage::StorageError;

/// Why a collection request failed as a whole; an event's own fault is reported per event
/// in the 200 answer instead. The server answers: `Body` as a malformed-JSON or validation
/// problem, `TooManyEvents` 413, `OverQuota` 429, `Backlog`, `Overloaded`, `LogUnavailable`
/// and `LinkLookup` 503 with `Retry-After` (the client retries the whole request; an event
/// that reached the log before a failure is still stored once), `Storage` as the store's
/// failure, `Encoding` 500.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The body is not JSON of the expected shape (the error names the field).
    #[error(transparent)]
    Body(#[from] unmogrowp_domain::json::JsonError),
    /// More events than one request may carry.
    #[error("at most {max} events per request; this one has {count}")]
    TooManyEvents {
        /// How many events the request carried.
        count: usize,
        /// The most one request may carry
        /// ([`MAX_EVENTS_PER_REQUEST`](crate::MAX_EVENTS_PER_REQUEST)).
        max: usize,
    },
    /// The organization is over its event quota.
    #[error("this organization is over its event quota; slow down")]
    OverQuota {
        /// Whole seconds to wait before the request's events fit the quota (at least 1); sent
        /// as `Retry-After`.
        retry_after_s: u64,
    },
    /// The workers are too far behind the log.
    #[error("ingestion is paused while the workers catch up ({lag} records behind); retry shortly")]
    Backlog {
        /// Records appended to the log but not yet stored (more than `max_lag_records`).
        lag: u64,
    },
    /// The log's queue is full.
    #[error("ingestion is overloaded; retry shortly")]
    Overloaded,
    /// The log did not take the records.
    #[error("the event log is unavailable; retry shortly")]
    LogUnavailable(#[source] LogError),
    /// A tracking link could not be looked up (never turned into "unknown link").
    #[error("tracking links cannot be looked up; retry shortly")]
    LinkLookup(#[source] StorageError),
    /// Apps, keys or links could not be read.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A record could not be encoded (a bug).
    #[error("encoding a log record: {0}")]
    Encoding(String),
}

impl From<LogError> for IngestError {
    fn from(error: LogError) -> Self {
        match error {
            LogError::Overloaded => {
                metrics::counter!(crate::metric_names::INGEST_OVERLOADED_TOTAL).increment(1);
                IngestError::Overloaded
            }
            other => IngestError::LogUnavailable(other),
        }
    }
}
