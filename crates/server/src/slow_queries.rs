//! The slow-query log (`observability.slow_query_ms`, default 100 ms).
//!
//! - **Event store**: [`SlowQueryLog`] wraps the store; a report query, lookup or batch write
//!   slower than the threshold is logged as a warning (target `unmogrowp::slow_query`) with its
//!   kind, duration, rows and app, and counted in `slow_queries_total{store="events", kind}`.
//!   Exports and rebuild scans stream for as long as they need and are not timed.
//! - **OLTP store**: sqlx logs its own slow statements (target `sqlx::query`, a warning with the
//!   statement's summary, `elapsed_secs`, `rows_affected` and `rows_returned`) at the same
//!   threshold ([`unmogrowp_storage::StoreOptions::slow_statement_ms`]); [`SlowStatementCounter`],
//!   a layer of the process's log subscriber, counts them as
//!   `slow_queries_total{store="oltp", kind}` (kind: the statement's first word).
//!
//! Both log lines carry the request's span fields (its request id) when made inside one.

use std::sync::Arc;
use std::time::{Duration, Instant};
use unmogrowp_domain::{AppId, Day};
use unmogrowp_eventstore::{
    ApplyOutcome, AttributionRow, Batch, CohortQuery, CohortRow, ErasureReport, EventRow,
    EventStore, ExportQuery, FraudRow, Offset, QuarantinedRow, Result, SummaryQuery, SummaryRow,
};

/// Counts one slow query of `store` (`events`, `oltp`) and `kind`.
fn count(store: &'static str, kind: String) {
    metrics::counter!(crate::metric_names::SLOW_QUERIES_TOTAL, "store" => store, "kind" => kind)
        .increment(1);
}

/// An event store whose queries are timed against a threshold (see the module).
pub struct SlowQueryLog {
    inner: Arc<dyn EventStore>,
    threshold: Duration,
}

impl SlowQueryLog {
    /// Wraps `inner`; queries taking `threshold` or longer are logged and counted.
    pub fn new(inner: Arc<dyn EventStore>, threshold: Duration) -> Self {
        Self { inner, threshold }
    }

    /// The span of one event-store query (`event_store.<kind>`): the store
    /// (`db.system.name`), the query kind (`db.operation.name`), the app, and the rows it
    /// answered (`db.rows_returned`, recorded by [`SlowQueryLog::check`]).
    fn span(&self, kind: &'static str, app_id: Option<&AppId>) -> tracing::Span {
        tracing::info_span!(
            "event_store.query",
            otel.name = %format_args!("event_store.{kind}"),
            otel.kind = "client",
            db.system.name = self.inner.kind(),
            db.operation.name = kind,
            app_id = app_id.map(AppId::as_str),
            db.rows_returned = tracing::field::Empty,
        )
    }

    /// Runs `query` in its span ([`SlowQueryLog::span`]); records its rows, and logs and
    /// counts it if it took too long; passes its result on.
    async fn timed<T>(
        &self,
        kind: &'static str,
        app_id: Option<&AppId>,
        query: impl Future<Output = Result<T>>,
        rows: impl FnOnce(&T) -> usize,
    ) -> Result<T> {
        use tracing::Instrument as _;
        let span = self.span(kind, app_id);
        let started = Instant::now();
        let result = query.instrument(span.clone()).await;
        let rows = result.as_ref().map(rows).ok();
        if let Some(rows) = rows {
            span.record("db.rows_returned", rows);
        }
        self.check(kind, app_id, started, &result, rows);
        result
    }

    /// Logs and counts the query if it took too long.
    fn check<T>(
        &self,
        kind: &'static str,
        app_id: Option<&AppId>,
        started: Instant,
        result: &Result<T>,
        rows: Option<usize>,
    ) {
        let elapsed = started.elapsed();
        if elapsed >= self.threshold {
            tracing::warn!(
                target: "unmogrowp::slow_query",
                store = self.inner.kind(),
                kind,
                duration_ms = elapsed.as_secs_f64() * 1000.0,
                threshold_ms = self.threshold.as_millis() as u64,
                rows,
                app_id = app_id.map(AppId::as_str),
                failed = result.is_err(),
                "slow event-store query"
            );
            count("events", kind.to_owned());
        }
    }
}

#[async_trait::async_trait]
impl EventStore for SlowQueryLog {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    async fn positions(&self) -> Result<std::collections::BTreeMap<u16, Offset>> {
        self.inner.positions().await
    }

    async fn apply_shared(&self, batch: Arc<Batch>) -> Result<ApplyOutcome> {
        let (started, rows) = (Instant::now(), batch.rows.len());
        let result = self.inner.apply_shared(batch).await;
        self.check("apply", None, started, &result, Some(rows));
        result
    }

    async fn summary(&self, query: &SummaryQuery) -> Result<Vec<SummaryRow>> {
        self.timed("summary", Some(&query.app_id), self.inner.summary(query), Vec::len).await
    }

    async fn erasure(
        &self,
        app_id: &AppId,
        id: &unmogrowp_domain::ErasureId,
    ) -> Result<Option<ErasureReport>> {
        self.timed("erasure", Some(app_id), self.inner.erasure(app_id, id), |found| {
            usize::from(found.is_some())
        })
        .await
    }

    async fn opt_outs(&self) -> Result<Vec<(u64, u64)>> {
        self.inner.opt_outs().await
    }

    async fn attribution(&self, app_id: &AppId, event_id: &str) -> Result<Option<AttributionRow>> {
        self.timed("attribution", Some(app_id), self.inner.attribution(app_id, event_id), |row| {
            usize::from(row.is_some())
        })
        .await
    }

    async fn device_attribution(
        &self,
        app_id: &AppId,
        device_ids: &[String],
    ) -> Result<Option<AttributionRow>> {
        let rows = |row: &Option<AttributionRow>| usize::from(row.is_some());
        self.timed(
            "device_attribution",
            Some(app_id),
            self.inner.device_attribution(app_id, device_ids),
            rows,
        )
        .await
    }

    async fn cohorts(&self, query: &CohortQuery) -> Result<Vec<CohortRow>> {
        self.timed("cohorts", Some(&query.app_id), self.inner.cohorts(query), Vec::len).await
    }

    async fn fraud(&self, app_id: &AppId, from_day: Day, to_day: Day) -> Result<Vec<FraudRow>> {
        self.timed("fraud", Some(app_id), self.inner.fraud(app_id, from_day, to_day), Vec::len)
            .await
    }

    async fn quarantined(
        &self,
        app_id: &AppId,
        limit: u32,
        before: Option<unmogrowp_eventstore::QuarantineCursor>,
    ) -> Result<Vec<QuarantinedRow>> {
        self.timed(
            "quarantined",
            Some(app_id),
            self.inner.quarantined(app_id, limit, before),
            Vec::len,
        )
        .await
    }

    async fn export(
        &self,
        query: ExportQuery,
        sink: Box<dyn FnMut(EventRow) -> bool + Send>,
    ) -> Result<u64> {
        self.inner.export(query, sink).await
    }

    async fn decisions(&self, sink: Box<dyn FnMut(AttributionRow) -> bool + Send>) -> Result<u64> {
        self.inner.decisions(sink).await
    }

    async fn touch_apps(&self, since_ms: i64) -> Result<Vec<AppId>> {
        self.inner.touch_apps(since_ms).await
    }

    async fn touches(
        &self,
        since_ms: i64,
        sink: Box<dyn FnMut(EventRow) -> bool + Send>,
    ) -> Result<u64> {
        self.inner.touches(since_ms, sink).await
    }

    async fn drop_days_before(&self, day: Day) -> Result<usize> {
        self.inner.drop_days_before(day).await
    }

    async fn ping(&self) -> Result<()> {
        self.inner.ping().await
    }
}

/// A log-subscriber layer that counts sqlx's slow-statement warnings (target `sqlx::query`)
/// in `slow_queries_total{store="oltp", kind}`.
pub struct SlowStatementCounter;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for SlowStatementCounter {
    fn on_event(
        &self,
        event: &tracing::Event<'_>,
        _context: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let metadata = event.metadata();
        if metadata.target() != "sqlx::query" || *metadata.level() != tracing::Level::WARN {
            return;
        }
        let mut summary = SummaryField(None);
        event.record(&mut summary);
        let kind = summary
            .0
            .as_deref()
            .and_then(|text| text.split_whitespace().next())
            .map(|word| word.to_ascii_uppercase())
            .filter(|word| word.len() <= 16 && word.chars().all(|c| c.is_ascii_alphabetic()))
            .unwrap_or_else(|| "OTHER".to_owned());
        count("oltp", kind);
    }
}

/// Reads the `summary` field of a sqlx statement event.
struct SummaryField(Option<String>);

impl tracing::field::Visit for SummaryField {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "summary" {
            self.0 = Some(value.to_owned());
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "summary" {
            self.0 = Some(format!("{value:?}").trim_matches('"').to_owned());
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt;

    /// Log lines written to a shared buffer.
    #[derive(Clone, Default)]
    struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// The counter's value for `store` and `kind` (0 before it is first counted).
    fn counted(
        handle: &metrics_exporter_prometheus::PrometheusHandle,
        store: &str,
        kind: &str,
    ) -> f64 {
        let name = format!("{}{{", crate::metric_names::SLOW_QUERIES_TOTAL);
        let (store, kind) = (format!("store=\"{store}\""), format!("kind=\"{kind}\""));
        handle
            .render()
            .lines()
            .find(|line| line.starts_with(&name) && line.contains(&store) && line.contains(&kind))
            .and_then(|line| line.rsplit(' ').next())
            .map_or(0.0, |value| value.parse().unwrap())
    }

    #[test]
    fn a_slow_report_query_is_logged_with_its_duration_and_counted() {
        let handle = crate::telemetry::prometheus();
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber =
            tracing_subscriber::fmt().json().with_writer(move || writer.clone()).finish();
        let dir = tempfile::tempdir().unwrap();
        let before = counted(&handle, "events", "summary");
        tracing::subscriber::with_default(subscriber, || {
            let runtime =
                tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                let store = unmogrowp_eventstore::SqliteEventStore::open(dir.path()).await.unwrap();
                let fast = SlowQueryLog::new(Arc::new(store), Duration::from_secs(3600));
                let query = SummaryQuery {
                    attribution_model: None,
                    app_id: AppId::generate(),
                    from_day: Day::new(2026, 11, 1).unwrap(),
                    to_day: Day::new(2026, 11, 30).unwrap(),
                    group_by: Vec::new(),
                    network: None,
                    campaign: None,
                    country: None,
                };
                fast.summary(&query).await.unwrap();
                let store = unmogrowp_eventstore::SqliteEventStore::open(dir.path()).await.unwrap();
                let slow = SlowQueryLog::new(Arc::new(store), Duration::ZERO);
                slow.summary(&query).await.unwrap();
            });
        });
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<serde_json::Value> =
            text.lines().filter_map(|line| serde_json::from_str(line).ok()).collect();
        let slow: Vec<&serde_json::Value> =
            lines.iter().filter(|line| line["target"] == "unmogrowp::slow_query").collect();
        assert_eq!(slow.len(), 1, "only the query over its threshold: {text}");
        let fields = &slow[0]["fields"];
        assert_eq!(fields["kind"], "summary");
        assert_eq!(fields["store"], "sqlite");
        assert_eq!(fields["rows"], 0);
        assert!(fields["duration_ms"].as_f64().unwrap() >= 0.0, "{fields}");
        assert_eq!(counted(&handle, "events", "summary") - before, 1.0);
    }

    #[test]
    fn sqlx_slow_statement_warnings_are_counted_by_kind() {
        let handle = crate::telemetry::prometheus();
        let subscriber = tracing_subscriber::registry().with(SlowStatementCounter);
        let before = counted(&handle, "oltp", "SELECT");
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(target: "sqlx::query", summary = "select id, name …", elapsed_secs = 0.2, "slow statement");
            // Not slow (another level), and not sqlx's: neither counts.
            tracing::info!(target: "sqlx::query", summary = "select 1", "statement");
            tracing::warn!(target: "unmogrowp::other", summary = "select 1", "unrelated");
        });
        assert_eq!(counted(&handle, "oltp", "SELECT") - before, 1.0);
    }
}
