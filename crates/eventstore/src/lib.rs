//! The event store: every accepted click, impression and event (raw, partitioned by day so
//! retention drops whole partitions), daily rollups that reports read, and quarantined
//! events. The pipeline applies batches read from the event log together with the log
//! offset they end at, atomically, so a batch replayed after a crash is applied once.

mod clickhouse;
mod model;
mod sqlite;

pub use clickhouse::{ClickHouseEventStore, SCHEMA_VERSION as CLICKHOUSE_SCHEMA_VERSION};
pub use model::*;
pub use sqlite::SqliteEventStore;

pub use unmogrowp_domain::Offset;
use unmogrowp_domain::{AppId, Day};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("event store unavailable: {0}")]
    Unavailable(String),
    #[error("event store query failed: {0}")]
    Query(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> Self {
        StoreError::Query(error.to_string())
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[async_trait::async_trait]
pub trait EventStore: Send + Sync {
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

    /// [`EventStore::apply_shared`] for a batch the caller does not keep.
    async fn apply(&self, batch: Batch) -> Result<ApplyOutcome> {
        self.apply_shared(std::sync::Arc::new(batch)).await
    }

    async fn summary(&self, query: &SummaryQuery) -> Result<Vec<SummaryRow>>;

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

    async fn quarantined(
        &self,
        app_id: &AppId,
        limit: u32,
        before_ms: Option<i64>,
    ) -> Result<Vec<QuarantinedRow>>;

    /// Streams raw rows of one kind for an app and UTC day range, in time order, to `sink`
    /// (which returns `false` to stop). Memory stays constant whatever the size.
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

    async fn ping(&self) -> Result<()>;
}
