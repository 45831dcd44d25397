//! The event store on ClickHouse, over its HTTP interface.
//!
//! Raw rows go to `events` (MergeTree, one partition per UTC day so retention drops whole
//! partitions, ordered by app, kind and time for exports). ClickHouse maintains the rollups
//! itself: materialized views feed `rollups`, `fraud_rollups` and `device_days`
//! (SummingMergeTree) on every insert into `events`. Decisions, multi-touch credits and
//! quarantined events live in ReplacingMergeTree tables read with `FINAL`, so inserting the
//! same row twice is harmless. Every query sums or deduplicates at read time, since merges are
//! eventual.
//!
//! Only features that ClickHouse 18.16 (Debian's package) and current releases both have are
//! used: MergeTree family engines with custom partitioning, `Nullable`, materialized views
//! with `TO`, `FINAL`, `ALL LEFT JOIN … USING`, `-If` aggregate combinators, JSONEachRow
//! input and output (64-bit integers may come back quoted: both forms are read), and no query
//! parameters (values are quoted here, by one function).
//!
//! Exactly once: ClickHouse has no transactions. A batch's rows carry the batch's log offset;
//! the offset applied so far in each log partition is recorded last, in `offsets` (one key per
//! partition). After a crash, rows of the batch cut short may already be stored, and the batch
//! comes again: every batch is checked against what is stored first — installs by app and id at any time (a
//! cheap range read: `kind` leads the sort key after the app), other rows by app, id and event
//! time (a point read on the sort key). So a re-sent id counts once however it reached the
//! log — through two ingest nodes, or again after the broker's duplicate window — as in the
//! embedded store, whose `seen` tables are unique keys.

//!
//! Code: `mod.rs` (the store and its reads), `schema.rs` (tables, views, migrations),
//! `http.rs` (URL, literals, statements), `rows.rs` (row keys, insert shapes, rows read
//! back), `write.rs` (the batch write path).

mod erase;
mod http;
mod rows;
mod schema;
mod write;

use http::{day_literal, parse_url, quote};
use rows::{attribution_from_row, count, event_from_row, float, int, text};
pub use schema::SCHEMA_VERSION;
use schema::{ATTRIBUTION_COLUMNS, EVENT_COLUMNS};

use crate::{
    ApplyOutcome, AttributionRow, Batch, CohortQuery, CohortRow, Counts, Dimension, EventRow,
    EventStore, ExportQuery, FraudRow, Offset, QuarantinedRow, Result, StoreError, SummaryQuery,
    SummaryRow,
};
use serde_json::{Map, Value};
use std::fmt::Write as _;
use std::time::Duration;
use unmogrowp_domain::attribution::Model;
use unmogrowp_domain::{AppId, Day};

type Row = Map<String, Value>;
/// A user name and an optional password.
type Credentials = (String, Option<String>);

/// The event store on a ClickHouse server or cluster, over its HTTP interface. Made by
/// [`ClickHouseEventStore::connect`].
///
/// Raw rows go to one table partitioned by UTC day; materialized views keep the daily rollups;
/// decisions, credits and quarantined events are de-duplicated when read. ClickHouse has no
/// transactions: a batch's rows are checked against those already stored before they are
/// inserted, and each log partition's position is recorded last, so a batch cut short by a
/// crash can simply be applied again.
///
/// Batches applied through one value go one at a time; workers sharing a database each record
/// the positions of the log partitions they apply. Connecting times out after 3 seconds,
/// queries after 30 (exports have no limit) and inserts after 120. Not reaching ClickHouse is
/// [`StoreError::Unavailable`]; an error status from it is [`StoreError::Query`].
pub struct ClickHouseEventStore {
    client: reqwest::Client,
    endpoint: url::Url,
    database: String,
    user: Option<Credentials>,
    write: tokio::sync::Mutex<WriteState>,
}

struct WriteState {
    /// What this process has recorded (or read at start), per partition.
    positions: std::collections::BTreeMap<u16, Offset>,
}

const QUERY_TIMEOUT: Duration = Duration::from_secs(30);
const INSERT_TIMEOUT: Duration = Duration::from_secs(120);

impl ClickHouseEventStore {
    /// Connects, creates the database and schema when missing, and reads the position.
    pub async fn connect(url: &str) -> Result<Self> {
        let (endpoint, database, user) = parse_url(url)?;
        // reqwest's rustls needs a process-wide crypto provider (for `https` endpoints).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .map_err(|error| StoreError::Unavailable(error.to_string()))?;
        let store = Self {
            client,
            endpoint,
            database,
            user,
            write: tokio::sync::Mutex::new(WriteState { positions: Default::default() }),
        };
        store
            .post(&format!("CREATE DATABASE IF NOT EXISTS {}", store.database), None, false)
            .await?;
        store.migrate().await?;
        let positions = store.read_positions().await?;
        *store.write.lock().await = WriteState { positions };
        Ok(store)
    }

    /// The name of the database the store uses: from the URL's path or its `?database=`
    /// parameter, `unmogrowp` when neither is given.
    pub fn database(&self) -> &str {
        &self.database
    }

    fn filters(query: &SummaryQuery) -> String {
        let mut sql = format!(
            "app_id = {} AND day >= {} AND day <= {}",
            quote(query.app_id.as_str()),
            day_literal(query.from_day),
            day_literal(query.to_day)
        );
        for (column, value) in [
            ("network", &query.network),
            ("campaign", &query.campaign),
            ("country", &query.country),
        ] {
            if let Some(value) = value {
                let _ = write!(sql, " AND {column} = {}", quote(value));
            }
        }
        sql
    }

    fn group_key(row: &Row, group_by: &[Dimension]) -> Vec<Option<String>> {
        group_by.iter().map(|d| text(row, d.column())).collect()
    }
}

#[async_trait::async_trait]
impl EventStore for ClickHouseEventStore {
    async fn opt_outs(&self) -> Result<Vec<(u64, u64)>> {
        Ok(self
            .query("SELECT DISTINCT toString(app_key) AS app_key, toString(device_key) AS device_key FROM opt_outs")
            .await?
            .iter()
            .filter_map(|row| {
                let key = |column| text(row, column).and_then(|k| k.parse::<u64>().ok());
                Some((key("app_key")?, key("device_key")?))
            })
            .collect())
    }

    async fn erasure(
        &self,
        app_id: &AppId,
        id: &unmogrowp_domain::ErasureId,
    ) -> Result<Option<crate::ErasureReport>> {
        self.erasure_report(app_id, id).await
    }

    fn kind(&self) -> &'static str {
        "clickhouse"
    }

    async fn positions(&self) -> Result<std::collections::BTreeMap<u16, Offset>> {
        // Other workers record their partitions here too: read what is stored, and keep
        // this process's own records where they are newer.
        let mut positions = self.read_positions().await?;
        for (partition, offset) in &self.write.lock().await.positions {
            let entry = positions.entry(*partition).or_insert(0);
            *entry = (*entry).max(*offset);
        }
        Ok(positions)
    }

    #[tracing::instrument(name = "event_store.apply", skip_all, fields(store = self.kind(), rows = batch.rows.len(), last_offset = batch.last_offset))]
    async fn apply_shared(&self, batch: std::sync::Arc<Batch>) -> Result<ApplyOutcome> {
        self.apply_batch(batch).await
    }

    async fn summary(&self, query: &SummaryQuery) -> Result<Vec<SummaryRow>> {
        let columns: Vec<&str> = query.group_by.iter().map(|d| d.column()).collect();
        let select_dims =
            if columns.is_empty() { String::new() } else { format!("{}, ", columns.join(", ")) };
        let group = if columns.is_empty() {
            String::new()
        } else {
            format!("GROUP BY {cols} ORDER BY {cols}", cols = columns.join(", "))
        };
        let sql = format!(
            "SELECT {select_dims} sum(row_count) AS t_matched, sum(clicks) AS t_clicks,
                sum(impressions) AS t_impressions, sum(installs) AS t_installs,
                sum(organic_installs) AS t_organic_installs, sum(rejected_installs) AS t_rejected_installs,
                sum(reattributions) AS t_reattributions, sum(reengagements) AS t_reengagements,
                sum(sessions) AS t_sessions, sum(events) AS t_events, sum(event_revenue) AS t_revenue,
                sum(reinstalls) AS t_reinstalls
             FROM rollups WHERE {} {group}",
            Self::filters(query)
        );
        let mut out = Vec::new();
        for row in self.query(&sql).await? {
            if count(&row, "t_matched") == 0 {
                continue;
            }
            let mut summary = SummaryRow::default();
            for dimension in &query.group_by {
                summary.set_dimension(*dimension, text(&row, dimension.column()));
            }
            summary.counts = Counts {
                reinstalls: count(&row, "t_reinstalls"),
                clicks: count(&row, "t_clicks"),
                impressions: count(&row, "t_impressions"),
                installs: count(&row, "t_installs"),
                organic_installs: count(&row, "t_organic_installs"),
                rejected_installs: count(&row, "t_rejected_installs"),
                reattributions: count(&row, "t_reattributions"),
                reengagements: count(&row, "t_reengagements"),
                sessions: count(&row, "t_sessions"),
                events: count(&row, "t_events"),
                revenue: float(&row, "t_revenue").unwrap_or(0.0),
            };
            out.push(summary);
        }
        if let Some(model) = query.attribution_model.filter(|m| *m != Model::LastTouch) {
            let group = if columns.is_empty() {
                String::new()
            } else {
                format!("GROUP BY {}", columns.join(", "))
            };
            let sql = format!(
                "SELECT {select_dims} sum(installs) AS credited FROM credits FINAL
                 WHERE model = {} AND {} {group}",
                quote(model.as_str()),
                Self::filters(query)
            );
            let credited = self
                .query(&sql)
                .await?
                .iter()
                .map(|row| {
                    (Self::group_key(row, &query.group_by), float(row, "credited").unwrap_or(0.0))
                })
                .collect();
            crate::model::merge_credits(&query.group_by, &mut out, credited);
        }
        Ok(out)
    }

    async fn attribution(&self, app_id: &AppId, event_id: &str) -> Result<Option<AttributionRow>> {
        let sql = format!(
            "SELECT {ATTRIBUTION_COLUMNS} FROM attributions FINAL WHERE app_id = {} AND event_id = {} LIMIT 1",
            quote(app_id.as_str()),
            quote(event_id)
        );
        self.query(&sql).await?.first().map(attribution_from_row).transpose()
    }

    #[tracing::instrument(name = "event_store.decisions", skip_all, fields(store = self.kind()))]
    async fn decisions(
        &self,
        mut sink: Box<dyn FnMut(AttributionRow) -> bool + Send>,
    ) -> Result<u64> {
        // A month of installs at a time, so no answer holds everything.
        let bounds = self
            .query("SELECT min(install_at) AS low, max(install_at) AS high FROM attributions")
            .await?;
        let Some(bounds) = bounds.first() else { return Ok(0) };
        let (Some(low), Some(high)) = (int(bounds, "low"), int(bounds, "high")) else {
            return Ok(0);
        };
        const STEP: i64 = 31 * 86_400_000;
        let mut sent = 0;
        let mut from = low;
        while from <= high {
            // Only decisions whose install row is stored: a crash between the two inserts
            // leaves a decision alone, and its batch comes again (the replay decides it anew;
            // the first decision stays). Restoring it would make the replayed install look
            // like a re-install of itself.
            let to = from.saturating_add(STEP);
            let sql = format!(
                "SELECT {ATTRIBUTION_COLUMNS} FROM attributions FINAL
                 WHERE install_at >= {from} AND install_at < {to}
                   AND (app_id, event_id) IN (SELECT app_id, id FROM events
                        WHERE kind = 'install' AND ts >= {} AND ts < {})
                 ORDER BY install_at",
                from.saturating_sub(86_400_000),
                to.saturating_add(86_400_000)
            );
            for row in self.query(&sql).await? {
                sent += 1;
                if !sink(attribution_from_row(&row)?) {
                    return Ok(sent);
                }
            }
            from = from.saturating_add(STEP);
        }
        Ok(sent)
    }

    async fn touch_apps(&self, since_ms: i64) -> Result<Vec<AppId>> {
        let sql = format!(
            "SELECT DISTINCT app_id FROM events WHERE kind IN ('click', 'impression') AND ts >= {since_ms} ORDER BY app_id"
        );
        Ok(self
            .query(&sql)
            .await?
            .iter()
            .filter_map(|row| text(row, "app_id").map(AppId::from_stored))
            .collect())
    }

    async fn device_attribution(
        &self,
        app_id: &AppId,
        device_ids: &[String],
    ) -> Result<Option<AttributionRow>> {
        if device_ids.is_empty() {
            return Ok(None);
        }
        let devices: Vec<String> = device_ids.iter().map(|d| quote(d)).collect();
        let sql = format!(
            "SELECT {ATTRIBUTION_COLUMNS} FROM attributions FINAL
             WHERE app_id = {} AND device_id IN ({}) ORDER BY install_at DESC LIMIT 1",
            quote(app_id.as_str()),
            devices.join(", ")
        );
        self.query(&sql).await?.first().map(attribution_from_row).transpose()
    }

    async fn cohorts(&self, query: &CohortQuery) -> Result<Vec<CohortRow>> {
        let group = match query.group_by {
            Some(Dimension::Network) => Some("network"),
            Some(Dimension::Campaign) => Some("campaign"),
            Some(Dimension::Country) => Some("country"),
            _ => None,
        };
        let mut columns = String::new();
        for (i, n) in query.days.iter().enumerate() {
            let _ = write!(columns, ", uniqExactIf(device, age = {n}) AS retained_{i}");
        }
        for (i, n) in query.days.iter().enumerate() {
            let _ = write!(columns, ", sumIf(revenue, age >= 0 AND age <= {n}) AS revenue_{i}");
        }
        let (select_group, group_by) = match group {
            Some(column) => (format!(", {column} AS grp"), ", grp".to_owned()),
            None => (String::new(), String::new()),
        };
        let app = quote(query.app_id.as_str());
        let sql = format!(
            "SELECT install_day, uniqExact(event_id) AS installs {select_group} {columns}
             FROM (
                SELECT install_day, event_id, device, network, campaign, country, revenue,
                       toInt64(active_day) - toInt64(install_day) AS age
                FROM (
                    SELECT day AS install_day, event_id, assumeNotNull(device_id) AS device,
                           network, campaign, country
                    FROM attributions FINAL
                    WHERE app_id = {app} AND day >= {from} AND day <= {to}
                      AND status != 'rejected' AND reinstall = 0 AND device_id IS NOT NULL
                ) ALL LEFT JOIN (
                    SELECT device, day AS active_day, sum(device_revenue) AS revenue
                    FROM device_days WHERE app_id = {app}
                    GROUP BY device, active_day
                ) USING (device)
             )
             GROUP BY install_day {group_by}
             ORDER BY install_day {group_by}",
            from = day_literal(query.from_day),
            to = day_literal(query.to_day),
        );
        let rows = self.query(&sql).await?;
        rows.iter()
            .map(|row| {
                Ok(CohortRow {
                    install_day: rows::day(row, "install_day")?,
                    group: group.and_then(|_| text(row, "grp")),
                    installs: count(row, "installs"),
                    retained: (0..query.days.len())
                        .map(|i| count(row, &format!("retained_{i}")))
                        .collect(),
                    revenue: (0..query.days.len())
                        .map(|i| float(row, &format!("revenue_{i}")).unwrap_or(0.0))
                        .collect(),
                })
            })
            .collect()
    }

    async fn fraud(&self, app_id: &AppId, from_day: Day, to_day: Day) -> Result<Vec<FraudRow>> {
        let sql = format!(
            "SELECT fraud_kind, reason, network, sum(hits) AS total FROM fraud_rollups
             WHERE app_id = {} AND day >= {} AND day <= {}
             GROUP BY fraud_kind, reason, network ORDER BY fraud_kind, reason, network",
            quote(app_id.as_str()),
            day_literal(from_day),
            day_literal(to_day)
        );
        self.query(&sql)
            .await?
            .iter()
            .map(|row| {
                Ok(FraudRow {
                    reason: rows::term(row, "reason")?
                        .ok_or_else(|| StoreError::Query("reason: missing".to_owned()))?,
                    network: text(row, "network").unwrap_or_default(),
                    count: count(row, "total"),
                })
            })
            .collect()
    }

    async fn quarantined(
        &self,
        app_id: &AppId,
        limit: u32,
        before: Option<crate::QuarantineCursor>,
    ) -> Result<Vec<QuarantinedRow>> {
        let before = match before {
            None => String::new(),
            Some(crate::QuarantineCursor { received_ms, index: None }) => {
                format!(" AND received_ms < {received_ms}")
            }
            Some(crate::QuarantineCursor { received_ms, index: Some(index) }) => format!(
                " AND (received_ms < {received_ms} OR (received_ms = {received_ms} AND idx < {index}))"
            ),
        };
        let sql = format!(
            "SELECT app_id, received_ms, idx, event_id, code, message, raw FROM quarantine FINAL
             WHERE app_id = {}{before} ORDER BY received_ms DESC, idx DESC LIMIT {limit}",
            quote(app_id.as_str())
        );
        Ok(self
            .query(&sql)
            .await?
            .iter()
            .map(|row| QuarantinedRow {
                app_id: AppId::from_stored(text(row, "app_id").unwrap_or_default()),
                received_ms: int(row, "received_ms").unwrap_or(0),
                index: u32::try_from(int(row, "idx").unwrap_or(0)).unwrap_or(0),
                event_id: text(row, "event_id"),
                code: text(row, "code").unwrap_or_default(),
                message: text(row, "message").unwrap_or_default(),
                raw: text(row, "raw").unwrap_or_default(),
            })
            .collect())
    }

    #[tracing::instrument(name = "event_store.export", skip_all, fields(store = self.kind(), app_id = %query.app_id))]
    async fn export(
        &self,
        query: ExportQuery,
        mut sink: Box<dyn FnMut(EventRow) -> bool + Send>,
    ) -> Result<u64> {
        // Report days follow the app's time zone; UTC partitions a day either side hold them.
        // One query per UTC day keeps ClickHouse's sort small whatever the range.
        if query.kinds.is_empty() {
            return Ok(0);
        }
        let (low, high) = query.utc_days();
        let kinds: Vec<String> = query.kinds.iter().map(|k| quote(k.as_str())).collect();
        let mut days = Vec::new();
        let mut day = low;
        while day <= high && days.len() < 400 {
            days.push(day);
            let Some(next) = day.shifted(1) else { break };
            day = next;
        }
        let handle = tokio::runtime::Handle::current();
        let mut sent = 0u64;
        for utc in days {
            let sql = format!(
                "SELECT {EVENT_COLUMNS} FROM events
                 WHERE utc_day = {} AND app_id = {} AND kind IN ({}) AND day >= {} AND day <= {}
                 ORDER BY ts FORMAT JSONEachRow",
                day_literal(utc),
                quote(query.app_id.as_str()),
                kinds.join(", "),
                day_literal(query.from_day),
                day_literal(query.to_day)
            );
            let mut response = self.send(&sql, None, true, None).await?;
            // The sink may block (back-pressure from a slow client): run it, and the reads
            // that feed it, on a blocking thread.
            let handle = handle.clone();
            let (returned_sink, day_sent, stopped) = tokio::task::spawn_blocking(move || {
                let mut pending: Vec<u8> = Vec::new();
                let mut day_sent = 0u64;
                loop {
                    let chunk = handle.block_on(response.chunk()).map_err(|error| {
                        StoreError::Unavailable(format!("reading an export: {error}"))
                    })?;
                    let Some(chunk) = chunk else { break };
                    pending.extend_from_slice(&chunk);
                    while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                        let line: Vec<u8> = pending.drain(..=end).collect();
                        let row: Row = serde_json::from_slice(&line).map_err(|error| {
                            StoreError::Query(format!("reading an export row: {error}"))
                        })?;
                        day_sent += 1;
                        if !sink(event_from_row(&row)?) {
                            return Ok::<_, StoreError>((sink, day_sent, true));
                        }
                    }
                }
                Ok((sink, day_sent, false))
            })
            .await
            .map_err(|error| StoreError::Unavailable(error.to_string()))??;
            sink = returned_sink;
            sent += day_sent;
            if stopped {
                break;
            }
        }
        Ok(sent)
    }

    #[tracing::instrument(name = "event_store.drop_days_before", skip_all, fields(store = self.kind(), day = %day))]
    async fn drop_days_before(&self, day: Day) -> Result<usize> {
        let sql = format!(
            "SELECT partition FROM system.parts
             WHERE database = {} AND table = 'events' AND active AND partition < {}
             GROUP BY partition ORDER BY partition",
            quote(&self.database),
            day_literal(day)
        );
        let partitions = self
            .query(&sql)
            .await?
            .iter()
            .map(|row| rows::day(row, "partition"))
            .collect::<Result<Vec<Day>>>()?;
        for partition in &partitions {
            self.execute(&format!("ALTER TABLE events DROP PARTITION {}", day_literal(*partition)))
                .await?;
        }
        Ok(partitions.len())
    }

    async fn ping(&self) -> Result<()> {
        self.execute("SELECT 1").await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_are_quoted() {
        assert_eq!(quote("it's a \\ test"), "'it\\'s a \\\\ test'");
        let day: Day = "2026-11-20".parse().expect("a day");
        assert_eq!(day_literal(day), "'2026-11-20'");
    }

    #[test]
    fn urls() {
        let (endpoint, database, user) =
            parse_url("clickhouse://u:p%40ss@db.example:8124/analytics")
                .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(endpoint.as_str(), "http://db.example:8124/");
        assert_eq!(database, "analytics");
        assert_eq!(user, Some(("u".to_owned(), Some("p@ss".to_owned()))));
        let (endpoint, database, _) =
            parse_url("http://127.0.0.1:8123/?database=x1").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((endpoint.as_str(), database.as_str()), ("http://127.0.0.1:8123/", "x1"));
        let (_, database, _) = parse_url("clickhouse://h").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(database, "unmogrowp");
        assert!(parse_url("clickhouse://h/bad-name;DROP").is_err());
        assert!(parse_url("ftp://h/x").is_err());
    }

    #[test]
    fn quoted_and_plain_integers_are_read() {
        let row: Row = serde_json::from_str(r#"{"a":"12","b":7,"c":null}"#).unwrap_or_default();
        assert_eq!((int(&row, "a"), int(&row, "b"), int(&row, "c")), (Some(12), Some(7), None));
    }
}
