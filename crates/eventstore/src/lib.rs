//! The event store: every accepted click, impression and event (raw, partitioned by day so
//! retention drops whole partitions), daily rollups that reports read, and quarantined
//! events. The pipeline applies batches read from the event log together with the log
//! offset they end at, atomically, so a batch replayed after a crash is applied once.
#![warn(missing_docs)]

mod clickhouse;
mod model;
mod sealed;
mod sqlite;

pub use clickhouse::{ClickHouseEventStore, SCHEMA_VERSION as CLICKHOUSE_SCHEMA_VERSION};
pub use model::*;
pub use sealed::SealedEventStore;
pub use sqlite::SqliteEventStore;

pub use unmogrowp_domain::Offset;

/// Where a page of quarantined events ends: the next page holds the entries received before
/// `received_ms`, and, when `index` is set, those received at that very time (one request's
/// events share it) whose index in the request is below `index`. Entries come newest first, by
/// index from last to first within a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuarantineCursor {
    /// The last entry's receipt time, in milliseconds since the Unix epoch.
    pub received_ms: i64,
    /// The last entry's index in its request.
    pub index: Option<u32>,
}
use unmogrowp_domain::{AppId, Day};

/// Why an event store call failed. The text says what failed, for logs (it may quote the
/// backend's own message).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend cannot be reached or used: the SQLite file or its directory cannot be
    /// opened or created, a blocking task or the writer failed, ClickHouse does not answer
    /// (connection refused, timeout, a response cut off), the ClickHouse URL is invalid, or the
    /// stored schema is newer than this binary. Worth retrying later.
    #[error("event store unavailable: {0}")]
    Unavailable(String),
    /// The backend answered but refused the query (any SQLite error, a non-success HTTP
    /// status from ClickHouse), or a stored value could not be read back (an unknown kind,
    /// status or reason, a missing day, an unreadable raw block).
    #[error("event store query failed: {0}")]
    Query(String),
}

impl From<rusqlite::Error> for StoreError {
    /// A busy or locked database (past the busy timeout), a full disk or an I/O failure is the
    /// store being unavailable (503, worth retrying); anything else is a refused query.
    fn from(error: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode;
        let unavailable = matches!(
            error.sqlite_error_code(),
            Some(
                ErrorCode::DatabaseBusy
                    | ErrorCode::DatabaseLocked
                    | ErrorCode::DiskFull
                    | ErrorCode::SystemIoFailure
                    | ErrorCode::CannotOpen
                    | ErrorCode::OutOfMemory
            )
        );
        if unavailable {
            StoreError::Unavailable(error.to_string())
        } else {
            StoreError::Query(error.to_string())
        }
    }
}

/// The result of an event store call: [`StoreError`] unless another error is named.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

impl EventRow {
    /// The device identifiers the row carries, as `kind:value` (placeholders left out): what
    /// an erasure matches.
    pub fn identifiers(&self) -> Vec<String> {
        unmogrowp_domain::erasure::row_identifiers(
            self.gaid.as_deref(),
            self.idfa.as_deref(),
            self.idfv.as_deref(),
            self.device_id.as_deref(),
        )
    }
}

/// An event store backend: [`SqliteEventStore`] (one embedded file) or
/// [`ClickHouseEventStore`] (a ClickHouse server or cluster). The pipeline applies batches
/// from the event log with [`EventStore::apply`]; reports, exports, the attribution API and
/// the engine's rebuild read from it.
///
/// Times are milliseconds since the Unix epoch. Report days ([`SummaryQuery`],
/// [`CohortQuery`], [`EventStore::fraud`], [`ExportQuery`]) are calendar days in the app's
/// time zone, inclusive at both ends; raw partitions ([`EventStore::drop_days_before`]) are
/// UTC days.
///
/// Every call fails with [`StoreError::Unavailable`] when the backend cannot be reached and
/// with [`StoreError::Query`] when it refuses the query or a stored value cannot be read.
#[async_trait::async_trait]
pub trait EventStore: Send + Sync {
    /// The backend's name, `sqlite` or `clickhouse`, for logs, traces and health checks.
    fn kind(&self) -> &'static str;

    /// The log offset of the last batch applied to each partition (a partition with none is
    /// absent). A log of one partition has only partition 0.
    async fn positions(&self) -> Result<std::collections::BTreeMap<u16, Offset>>;

    /// The log offset of the last batch applied to partition 0 (0: none): the whole log's
    /// position when it has one partition.
    async fn position(&self) -> Result<Offset> {
        Ok(self.positions().await?.get(&0).copied().unwrap_or(0))
    }

    /// Stores the batch's rows, updates the rollups and records `batch.last_offset`, all or
    /// nothing. Rows already stored are skipped and not counted again: installs by app and
    /// id, other rows by app, id and event time (a re-sent event carries its time), on every
    /// store.
    /// Shared, so a caller that retries after an error keeps the batch without copying it.
    async fn apply_shared(&self, batch: std::sync::Arc<Batch>) -> Result<ApplyOutcome>;

    /// Does ahead of time, on the caller's task, the work that turns `batch` into what the
    /// backend stores (a wrapper's: [`SealedEventStore`] seals it), so that a pipeline can
    /// do it in a stage with time to spare. `None`: nothing to do, apply `batch` itself.
    /// Pass a returned batch to [`EventStore::apply_prepared`], never to `apply_shared`.
    async fn prepare(&self, batch: &Batch) -> Result<Option<Batch>> {
        let _ = batch;
        Ok(None)
    }

    /// Applies what [`EventStore::prepare`] returned, as [`EventStore::apply_shared`] applies
    /// a batch.
    async fn apply_prepared(&self, prepared: std::sync::Arc<Batch>) -> Result<ApplyOutcome> {
        self.apply_shared(prepared).await
    }

    /// [`EventStore::apply_shared`] for a batch the caller does not keep.
    async fn apply(&self, batch: Batch) -> Result<ApplyOutcome> {
        self.apply_shared(std::sync::Arc::new(batch)).await
    }

    /// The summary report, read from the daily rollups: [`Counts`] of one app over the report
    /// days `query.from_day..=query.to_day` (app time zone), restricted to the network,
    /// campaign and country filters that are set, one row per combination of the
    /// `group_by` dimensions (a single totals row when there are none), ordered by those
    /// dimension values. Groups with no rollup row are left out, so a range with no data
    /// gives no rows.
    ///
    /// With a multi-touch `attribution_model` other than last touch, each row's
    /// `counts.installs` is 0 and [`SummaryRow::credited_installs`] holds the model's
    /// fractional installs; groups that have credit but no rollup row are appended after
    /// the ordered rows.
    async fn summary(&self, query: &SummaryQuery) -> Result<Vec<SummaryRow>>;

    /// Whether the erasure `id` of the app was carried out, and what it removed (`None`: not
    /// yet, or no such erasure).
    async fn erasure(
        &self,
        app_id: &AppId,
        id: &unmogrowp_domain::ErasureId,
    ) -> Result<Option<ErasureReport>>;

    /// Every opt-out stored, as `(app key, device key)`: the stable hashes
    /// ([`unmogrowp_domain::hash::stable_hash`]) of the app id and of the device identifier
    /// (`kind:value`). The pipeline loads them at start, snapshot or not.
    async fn opt_outs(&self) -> Result<Vec<(u64, u64)>>;

    /// The decision for an install.
    async fn attribution(&self, app_id: &AppId, event_id: &str) -> Result<Option<AttributionRow>>;

    /// The latest install decision for any of the device's identifiers (`kind:value`).
    async fn device_attribution(
        &self,
        app_id: &AppId,
        device_ids: &[String],
    ) -> Result<Option<AttributionRow>>;

    /// Install cohorts: installs per install day (and group), users active N days later, and
    /// revenue up to day N.
    async fn cohorts(&self, query: &CohortQuery) -> Result<Vec<CohortRow>>;

    /// Rejected installs and flagged clicks by kind, reason and network.
    async fn fraud(&self, app_id: &AppId, from_day: Day, to_day: Day) -> Result<Vec<FraudRow>>;

    /// An app's quarantined events (those that failed ingestion's checks), newest first by
    /// receipt time and, within a request, last index first, at most `limit` of them. With
    /// `before`, only those after that point in this order: pass the last entry's
    /// `received_ms` and `index` to page back.
    async fn quarantined(
        &self,
        app_id: &AppId,
        limit: u32,
        before: Option<QuarantineCursor>,
    ) -> Result<Vec<QuarantinedRow>>;

    /// Streams raw rows of the query's kinds for an app and range of report days (app time
    /// zone), in time order, to `sink` (which returns `false` to stop). Memory stays constant
    /// whatever the size. No kinds: nothing is sent.
    async fn export(
        &self,
        query: ExportQuery,
        sink: Box<dyn FnMut(EventRow) -> bool + Send>,
    ) -> Result<u64>;

    /// Every stored install decision of every app, oldest install first, to `sink` (which
    /// returns `false` to stop). With [`EventStore::touches`], what the attribution engine is
    /// rebuilt from when its snapshot is missing: the store holds everything, the log only
    /// its retention.
    async fn decisions(&self, sink: Box<dyn FnMut(AttributionRow) -> bool + Send>) -> Result<u64>;

    /// Apps with a click or impression stamped at or after `since_ms`.
    async fn touch_apps(&self, since_ms: i64) -> Result<Vec<AppId>>;

    /// Every stored click and impression stamped at or after `since_ms`, app by app and in
    /// time order within an app, to `sink` (which returns `false` to stop).
    async fn touches(
        &self,
        since_ms: i64,
        sink: Box<dyn FnMut(EventRow) -> bool + Send>,
    ) -> Result<u64> {
        let sink = std::sync::Arc::new(std::sync::Mutex::new(sink));
        let stopped = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let from_day = Day::of_utc_millis(since_ms.saturating_sub(86_400_000));
        // Report days run at most a day from UTC days, and nothing is stamped in the future
        // by more than minutes.
        let now = jiff::Timestamp::now().as_millisecond().max(since_ms);
        let to_day = Day::of_utc_millis(now.saturating_add(2 * 86_400_000));
        let mut sent = 0;
        for app_id in self.touch_apps(since_ms).await? {
            let (sink, stopped_flag) = (sink.clone(), stopped.clone());
            let query = ExportQuery {
                app_id,
                kinds: vec![
                    unmogrowp_domain::event::EventType::Click,
                    unmogrowp_domain::event::EventType::Impression,
                ],
                from_day,
                to_day,
            };
            sent += self
                .export(
                    query,
                    Box::new(move |row| {
                        if row.timestamp_ms < since_ms {
                            return true;
                        }
                        let go_on = sink.lock().map(|mut sink| sink(row)).unwrap_or(false);
                        if !go_on {
                            stopped_flag.store(true, std::sync::atomic::Ordering::Relaxed);
                        }
                        go_on
                    }),
                )
                .await?;
            if stopped.load(std::sync::atomic::Ordering::Relaxed) {
                break;
            }
        }
        Ok(sent)
    }

    /// Drops raw partitions of UTC days before `day`.
    async fn drop_days_before(&self, day: Day) -> Result<usize>;

    /// Runs a trivial query (`SELECT 1`) to check that the backend answers, for readiness
    /// checks: `Ok(())`, or the error that a real call would meet.
    async fn ping(&self) -> Result<()>;
}

#[cfg(test)]
mod tests {
    use super::StoreError;

    #[test]
    fn a_busy_or_failing_database_is_unavailable_and_a_bad_query_is_not() {
        let failure = |code| {
            rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), Some("detail".into()))
        };
        for code in
            [rusqlite::ffi::SQLITE_BUSY, rusqlite::ffi::SQLITE_FULL, rusqlite::ffi::SQLITE_IOERR]
        {
            assert!(
                matches!(StoreError::from(failure(code)), StoreError::Unavailable(_)),
                "{code}"
            );
        }
        assert!(matches!(
            StoreError::from(failure(rusqlite::ffi::SQLITE_ERROR)),
            StoreError::Query(_)
        ));
        assert!(matches!(
            StoreError::from(rusqlite::Error::QueryReturnedNoRows),
            StoreError::Query(_)
        ));
    }
}
