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

pub type Offset = u64;

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

    /// The log offset of the last batch applied (0: none).
    async fn position(&self) -> Result<Offset>;

    /// Stores the batch's rows, updates the rollups and records `batch.last_offset`, all or
    /// nothing. Rows already stored are skipped and not counted again: same app, id and
    /// event time on the embedded store (a re-sent event carries its time; one re-sent with
    /// another time is caught by ingestion's dedup window, not here), same app and id on
    /// ClickHouse.
    /// Shared, so a caller that retries after an error keeps the batch without copying it.
    async fn apply_shared(&self, batch: std::sync::Arc<Batch>) -> Result<ApplyOutcome>;

    /// [`EventStore::apply_shared`] for a batch the caller does not keep.
    async fn apply(&self, batch: Batch) -> Result<ApplyOutcome> {
        self.apply_shared(std::sync::Arc::new(batch)).await
    }

    async fn summary(&self, query: &SummaryQuery) -> Result<Vec<SummaryRow>>;

    /// The decision for an install.
    async fn attribution(&self, app_id: &str, event_id: &str) -> Result<Option<AttributionRow>>;

    /// The latest install decision for any of the device's identifiers (`kind:value`).
    async fn device_attribution(
        &self,
        app_id: &str,
        device_ids: &[String],
    ) -> Result<Option<AttributionRow>>;

    /// Install cohorts: installs per install day (and group), users active N days later, and
    /// revenue up to day N.
    async fn cohorts(&self, query: &CohortQuery) -> Result<Vec<CohortRow>>;

    /// Rejected installs and flagged clicks by kind, reason and network.
    async fn fraud(&self, app_id: &str, from_day: &str, to_day: &str) -> Result<Vec<FraudRow>>;

    async fn rejected(
        &self,
        app_id: &str,
        limit: u32,
        before_ms: Option<i64>,
    ) -> Result<Vec<RejectedRow>>;

    /// Streams raw rows of one kind for an app and UTC day range, in time order, to `sink`
    /// (which returns `false` to stop). Memory stays constant whatever the size.
    async fn export(
        &self,
        query: ExportQuery,
        sink: Box<dyn FnMut(EventRow) -> bool + Send>,
    ) -> Result<u64>;

    /// Drops raw partitions of days before `day` (`YYYY-MM-DD`, UTC).
    async fn drop_days_before(&self, day: &str) -> Result<usize>;

    async fn ping(&self) -> Result<()>;
}
