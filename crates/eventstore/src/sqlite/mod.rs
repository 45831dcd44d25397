//! The embedded event store: one SQLite file (`<data_dir>/events.db`, WAL) holding the raw
//! rows of each UTC day (`raw_YYYYMMDD` blocks and `seen_YYYYMMDD` keys, dropped whole by
//! retention), the daily rollups, the install decisions, the quarantine and the log offset
//! applied so far. One writer connection applies batches in single transactions
//! (`write.rs`); readers use their own connections. `schema.rs` versions the file.

mod credits;
mod erase;
mod raw;
mod schema;
mod write;

use schema::{ATTRIBUTION_COLUMNS, attribution_from_sql};
use write::Writer;

use crate::{
    ApplyOutcome, AttributionRow, Batch, CohortQuery, CohortRow, Counts, Dimension, EventRow,
    EventStore, ExportQuery, FraudRow, Offset, QuarantinedRow, Result, StoreError, SummaryQuery,
    SummaryRow,
};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use unmogrowp_domain::attribution::Model;
use unmogrowp_domain::{AppId, Day};

/// The embedded event store: one SQLite file, `<data_dir>/events.db`, in WAL mode. Made by
/// [`SqliteEventStore::open`].
///
/// The raw rows of each UTC day have tables of their own, dropped whole by retention; the
/// daily rollups, install decisions, quarantine and log positions live beside them. One writer
/// connection applies each batch, with its log positions, in a single transaction; reads use
/// read-only connections (up to 8 kept for reuse), and a background thread checkpoints the
/// write-ahead log every 500 ms until the store is dropped. SQLite work runs on Tokio's
/// blocking threads, so calls need a Tokio runtime.
pub struct SqliteEventStore {
    path: PathBuf,
    writer: Arc<Mutex<Writer>>,
    readers: Arc<Mutex<Vec<Connection>>>,
    /// Dropping it stops the checkpointer (which then checkpoints once more).
    _checkpointer: std::sync::mpsc::Sender<()>,
}

/// How often the checkpointer copies the write-ahead log into the database file.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

/// Copies the write-ahead log into the database file from its own thread and connection,
/// so the writer never waits for a checkpoint's copying and fsyncs (with SQLite's automatic
/// checkpoints, a large batch's commit also paid for the checkpoint). Only PASSIVE
/// checkpoints: they never take the writer's lock or wait for readers (a RESTART would stall
/// the writer behind a long export). The writer starts the log over once a checkpoint has
/// copied all of it; a reader holding an old snapshot for long (a slow export) delays that,
/// and the log grows meanwhile.
fn spawn_checkpointer(path: &Path) -> Result<std::sync::mpsc::Sender<()>> {
    let connection = open(path, false)?;
    connection.busy_timeout(std::time::Duration::from_millis(100))?;
    let (sender, receiver) = std::sync::mpsc::channel::<()>();
    std::thread::Builder::new()
        .name("event-store-checkpoint".to_owned())
        .spawn(move || {
            loop {
                let stopping = matches!(
                    receiver.recv_timeout(CHECKPOINT_EVERY),
                    Err(std::sync::mpsc::RecvTimeoutError::Disconnected)
                );
                if let Err(error) = connection.execute_batch("PRAGMA wal_checkpoint(PASSIVE)") {
                    tracing::warn!(%error, "event store checkpoint failed");
                }
                if stopping {
                    break;
                }
            }
        })
        .map_err(|error| {
            StoreError::Unavailable(format!("cannot start the checkpointer: {error}"))
        })?;
    Ok(sender)
}

fn open(path: &Path, read_only: bool) -> Result<Connection> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let connection = Connection::open_with_flags(path, flags)
        .map_err(|error| StoreError::Unavailable(format!("{}: {error}", path.display())))?;
    connection.busy_timeout(std::time::Duration::from_secs(10))?;
    if !read_only {
        connection.pragma_update(None, "journal_mode", "WAL")?;
        // The store is rebuilt from the log if its tail is lost; the offset travels in the
        // same transaction, so NORMAL keeps it consistent.
        connection.pragma_update(None, "synchronous", "NORMAL")?;
    }
    connection.pragma_update(None, "cache_size", -65536)?;
    connection.set_prepared_statement_cache_capacity(64);
    Ok(connection)
}

impl SqliteEventStore {
    /// Opens `<data_dir>/events.db`, creating the directory and the file when missing, migrates
    /// a file of an older schema version in place and starts the checkpointer.
    ///
    /// Fails with [`StoreError::Unavailable`] when the directory or file cannot be created or
    /// opened, the file's schema version is newer than this binary's, or the checkpointer thread
    /// cannot start; with [`StoreError::Query`] when a migration or setup statement fails. Must be
    /// called within a Tokio runtime.
    pub async fn open(data_dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(data_dir)
            .map_err(|error| StoreError::Unavailable(error.to_string()))?;
        let path = data_dir.join("events.db");
        let opened_path = path.clone();
        let writer = tokio::task::spawn_blocking(move || -> Result<Writer> {
            let mut connection = open(&opened_path, false)?;
            schema::migrate(&mut connection, &opened_path)?;
            // Checkpoints are the checkpointer's; the log file shrinks back after a reset.
            connection.pragma_update(None, "wal_autocheckpoint", 0)?;
            connection.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
            let partitions = partition_days(&connection)?.into_iter().collect();
            Ok(Writer { connection, partitions })
        })
        .await
        .map_err(|error| StoreError::Unavailable(error.to_string()))??;
        let checkpointer = spawn_checkpointer(&path)?;
        Ok(Self {
            path,
            writer: Arc::new(Mutex::new(writer)),
            readers: Arc::new(Mutex::new(Vec::new())),
            _checkpointer: checkpointer,
        })
    }

    /// Runs `work` on a reader connection on a blocking thread.
    async fn read<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let readers = self.readers.clone();
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let pooled = readers.lock().ok().and_then(|mut pool| pool.pop());
            let connection = match pooled {
                Some(connection) => connection,
                None => open(&path, true)?,
            };
            let result = work(&connection);
            if let Ok(mut pool) = readers.lock()
                && pool.len() < 8
            {
                pool.push(connection);
            }
            result
        })
        .await
        .map_err(|error| StoreError::Unavailable(error.to_string()))?
    }

    async fn write<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Writer) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let writer = self.writer.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard =
                writer.lock().map_err(|_| StoreError::Unavailable("writer poisoned".into()))?;
            work(&mut guard)
        })
        .await
        .map_err(|error| StoreError::Unavailable(error.to_string()))?
    }
}

/// The UTC days that have a raw partition, oldest first.
fn partition_days(connection: &Connection) -> Result<Vec<String>> {
    let mut statement = connection.prepare("SELECT day FROM partitions ORDER BY day")?;
    let days = statement
        .query_map([], |row| row.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(days)
}

#[async_trait::async_trait]
impl EventStore for SqliteEventStore {
    fn kind(&self) -> &'static str {
        "sqlite"
    }

    async fn positions(&self) -> Result<std::collections::BTreeMap<u16, Offset>> {
        self.write(|writer| {
            let mut statement = writer.connection.prepare_cached(
                "SELECT key, value FROM meta WHERE key = 'log_offset' OR key LIKE 'log_offset.%'",
            )?;
            let rows = statement
                .query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)))?;
            let mut positions = std::collections::BTreeMap::new();
            for row in rows {
                let (key, value) = row?;
                let partition = match key.strip_prefix("log_offset.") {
                    None => 0,
                    Some(number) => number.parse().map_err(|_| {
                        StoreError::Query(format!("unreadable position key {key:?}"))
                    })?,
                };
                let offset = value.parse().map_err(|_| {
                    StoreError::Query(format!("unreadable position {value:?} for {key:?}"))
                })?;
                positions.insert(partition, offset);
            }
            Ok(positions)
        })
        .await
    }

    #[tracing::instrument(name = "event_store.apply", skip_all, fields(store = self.kind(), rows = batch.rows.len(), last_offset = batch.last_offset))]
    async fn apply_shared(&self, batch: Arc<Batch>) -> Result<ApplyOutcome> {
        self.write(move |writer| {
            match write::apply_batch(writer, &batch) {
                Ok(outcome) => Ok(outcome),
                Err(error) => {
                    // The transaction rolled back: forget partitions it claimed to create.
                    writer.partitions = partition_days(&writer.connection)?.into_iter().collect();
                    Err(error)
                }
            }
        })
        .await
    }

    async fn summary(&self, query: &SummaryQuery) -> Result<Vec<SummaryRow>> {
        let query = query.clone();
        self.read(move |connection| {
            let columns: Vec<&str> = query.group_by.iter().map(|d| d.column()).collect();
            let select_dims = if columns.is_empty() { String::new() } else { format!("{}, ", columns.join(", ")) };
            let group = if columns.is_empty() {
                String::new()
            } else {
                format!("GROUP BY {cols} ORDER BY {cols}", cols = columns.join(", "))
            };
            let sql = format!(
                "SELECT {select_dims} SUM(clicks), SUM(impressions), SUM(installs), SUM(organic_installs),
                    SUM(rejected_installs), SUM(reattributions), SUM(reengagements), SUM(sessions), SUM(events),
                    SUM(revenue), COUNT(*), SUM(reinstalls)
                 FROM rollups
                 WHERE app_id = ?1 AND day >= ?2 AND day <= ?3
                   AND (?4 IS NULL OR network = ?4) AND (?5 IS NULL OR campaign = ?5) AND (?6 IS NULL OR country = ?6)
                 {group}"
            );
            let mut statement = connection.prepare_cached(&sql)?;
            let rows = statement.query_map(
                params![
                    query.app_id.as_str(),
                    &*query.from_day.text(),
                    &*query.to_day.text(),
                    query.network,
                    query.campaign,
                    query.country
                ],
                |row| {
                    let mut out = SummaryRow::default();
                    for (index, dimension) in query.group_by.iter().enumerate() {
                        let value: Option<String> = row.get(index)?;
                        match dimension {
                            Dimension::Network => out.network = value,
                            Dimension::Campaign => out.campaign = value,
                            Dimension::Adgroup => out.adgroup = value,
                            Dimension::Creative => out.creative = value,
                            Dimension::Country => out.country = value,
                            Dimension::Day => out.day = value,
                        }
                    }
                    let base = query.group_by.len();
                    let count = |i: usize| -> rusqlite::Result<u64> {
                        Ok(u64::try_from(row.get::<_, Option<i64>>(base + i)?.unwrap_or(0)).unwrap_or(0))
                    };
                    out.counts = Counts {
                        reinstalls: 0,
                        clicks: count(0)?,
                        impressions: count(1)?,
                        installs: count(2)?,
                        organic_installs: count(3)?,
                        rejected_installs: count(4)?,
                        reattributions: count(5)?,
                        reengagements: count(6)?,
                        sessions: count(7)?,
                        events: count(8)?,
                        revenue: row.get::<_, Option<f64>>(base + 9)?.unwrap_or(0.0),
                    };
                    out.counts.reinstalls = count(11)?;
                    let matched: i64 = row.get(base + 10)?;
                    Ok((out, matched))
                },
            )?;
            let mut out = Vec::new();
            for row in rows {
                let (row, matched) = row?;
                if matched > 0 {
                    out.push(row);
                }
            }
            if let Some(model) = query.attribution_model.filter(|m| *m != Model::LastTouch) {
                credits::credit_installs(connection, &query, model.as_str(), &mut out)?;
            }
            Ok(out)
        })
        .await
    }

    async fn opt_outs(&self) -> Result<Vec<(u64, u64)>> {
        self.read(erase::opt_outs).await
    }

    async fn erasure(
        &self,
        app_id: &AppId,
        id: &unmogrowp_domain::ErasureId,
    ) -> Result<Option<crate::ErasureReport>> {
        let (app_id, id) = (app_id.to_string(), id.clone());
        self.read(move |connection| {
            Ok(erase::report(connection, &app_id, &id)?
                .map(|(rows, completed_ms)| crate::ErasureReport { rows, completed_ms }))
        })
        .await
    }

    async fn attribution(&self, app_id: &AppId, event_id: &str) -> Result<Option<AttributionRow>> {
        let (app_id, event_id) = (app_id.to_string(), event_id.to_owned());
        self.read(move |connection| {
            let sql = format!(
                "SELECT {ATTRIBUTION_COLUMNS} FROM attributions WHERE app_id = ?1 AND event_id = ?2"
            );
            Ok(connection
                .query_row(&sql, params![app_id, event_id], attribution_from_sql)
                .optional()?)
        })
        .await
    }

    async fn device_attribution(
        &self,
        app_id: &AppId,
        device_ids: &[String],
    ) -> Result<Option<AttributionRow>> {
        let app_id = app_id.to_string();
        let device_ids = device_ids.to_vec();
        self.read(move |connection| {
            let sql = format!(
                "SELECT {ATTRIBUTION_COLUMNS} FROM attributions WHERE app_id = ?1 AND device_id = ?2 ORDER BY install_at DESC LIMIT 1"
            );
            let mut best: Option<AttributionRow> = None;
            for device in &device_ids {
                let found = connection.query_row(&sql, params![app_id, device], attribution_from_sql).optional()?;
                if let Some(found) = found
                    && best.as_ref().is_none_or(|b| found.install_at_ms > b.install_at_ms)
                {
                    best = Some(found);
                }
            }
            Ok(best)
        })
        .await
    }

    async fn cohorts(&self, query: &CohortQuery) -> Result<Vec<CohortRow>> {
        let query = query.clone();
        self.read(move |connection| {
            let group = match query.group_by {
                Some(Dimension::Network) => "a.network",
                Some(Dimension::Campaign) => "a.campaign",
                Some(Dimension::Country) => "a.country",
                _ => "NULL",
            };
            let mut columns = String::new();
            for n in &query.days {
                columns.push_str(&format!(
                    ", COUNT(DISTINCT CASE WHEN d.day - CAST(julianday(a.day) - 2440587.5 AS INTEGER) = {n} THEN a.device_id END)"
                ));
            }
            for n in &query.days {
                columns.push_str(&format!(
                    ", COALESCE(SUM(CASE WHEN d.day - CAST(julianday(a.day) - 2440587.5 AS INTEGER) BETWEEN 0 AND {n} THEN d.revenue END), 0)"
                ));
            }
            let sql = format!(
                "SELECT a.day, {group}, COUNT(DISTINCT a.event_id){columns}
                 FROM attributions a
                 LEFT JOIN device_days d ON d.app_key = ?4 AND d.device_key = a.device_key
                 WHERE a.app_id = ?1 AND a.day >= ?2 AND a.day <= ?3 AND a.status != 'rejected' AND a.reinstall = 0
                   AND a.device_id IS NOT NULL
                 GROUP BY a.day, {group}
                 ORDER BY a.day, {group}"
            );
            let mut statement = connection.prepare(&sql)?;
            let count = query.days.len();
            let app_key = raw::text_key(query.app_id.as_str());
            let (from_day, to_day) = (query.from_day.text(), query.to_day.text());
            let params = params![query.app_id.as_str(), &*from_day, &*to_day, app_key];
            let rows = statement.query_map(params, |row| {
                let mut retained = Vec::with_capacity(count);
                let mut revenue = Vec::with_capacity(count);
                for i in 0..count {
                    retained.push(u64::try_from(row.get::<_, i64>(3 + i)?).unwrap_or(0));
                }
                for i in 0..count {
                    revenue.push(row.get::<_, f64>(3 + count + i)?);
                }
                Ok(CohortRow {
                    install_day: schema::day(row, 0)?,
                    group: row.get(1)?,
                    installs: u64::try_from(row.get::<_, i64>(2)?).unwrap_or(0),
                    retained,
                    revenue,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn fraud(&self, app_id: &AppId, from_day: Day, to_day: Day) -> Result<Vec<FraudRow>> {
        let (app_id, from_day, to_day) = (app_id.to_string(), from_day.text(), to_day.text());
        self.read(move |connection| {
            let mut statement = connection.prepare_cached(
                "SELECT kind, reason, network, SUM(count) FROM fraud_rollups
                 WHERE app_id = ?1 AND day >= ?2 AND day <= ?3
                 GROUP BY kind, reason, network ORDER BY kind, reason, network",
            )?;
            let rows = statement.query_map(params![app_id, &*from_day, &*to_day], |row| {
                Ok(FraudRow {
                    reason: schema::term(row, 1)?.ok_or(rusqlite::Error::InvalidColumnType(
                        1,
                        "reason".to_owned(),
                        rusqlite::types::Type::Null,
                    ))?,
                    network: row.get(2)?,
                    count: u64::try_from(row.get::<_, i64>(3)?).unwrap_or(0),
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn quarantined(
        &self,
        app_id: &AppId,
        limit: u32,
        before: Option<crate::QuarantineCursor>,
    ) -> Result<Vec<QuarantinedRow>> {
        let app_id = app_id.to_string();
        let before_ms = before.map(|cursor| cursor.received_ms);
        let before_index = before.and_then(|cursor| cursor.index).map(i64::from);
        self.read(move |connection| {
            let mut statement = connection.prepare_cached(
                "SELECT app_id, received_ms, idx, event_id, code, message, raw FROM quarantine
                 WHERE app_id = ?1 AND (?2 IS NULL OR received_ms < ?2
                     OR (received_ms = ?2 AND ?3 IS NOT NULL AND idx < ?3))
                 ORDER BY received_ms DESC, idx DESC, rowid DESC LIMIT ?4",
            )?;
            let values = params![app_id, before_ms, before_index, i64::from(limit)];
            let rows = statement.query_map(values, |row| {
                Ok(QuarantinedRow {
                    app_id: AppId::from_stored(row.get(0)?),
                    received_ms: row.get(1)?,
                    index: row.get(2)?,
                    event_id: row.get(3)?,
                    code: row.get(4)?,
                    message: row.get(5)?,
                    raw: row.get(6)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    #[tracing::instrument(name = "event_store.export", skip_all, fields(store = self.kind(), app_id = %query.app_id))]
    async fn export(
        &self,
        query: ExportQuery,
        mut sink: Box<dyn FnMut(EventRow) -> bool + Send>,
    ) -> Result<u64> {
        self.read(move |connection| {
            let partitions = partition_days(connection)?;
            let (low, high) = query.utc_days();
            let (low, high) = (low.to_string(), high.to_string());
            let mut sent = 0u64;
            for day in partitions.iter().filter(|d| **d >= low && **d <= high) {
                let (count, stopped) = raw::export_partition(
                    connection,
                    day,
                    query.app_id.as_str(),
                    &query.kinds,
                    query.from_day,
                    query.to_day,
                    &mut *sink,
                )?;
                sent += count;
                if stopped {
                    return Ok(sent);
                }
            }
            Ok(sent)
        })
        .await
    }

    #[tracing::instrument(name = "event_store.decisions", skip_all, fields(store = self.kind()))]
    async fn decisions(
        &self,
        mut sink: Box<dyn FnMut(AttributionRow) -> bool + Send>,
    ) -> Result<u64> {
        self.read(move |connection| {
            let sql = format!("SELECT {ATTRIBUTION_COLUMNS} FROM attributions ORDER BY install_at");
            let mut statement = connection.prepare(&sql)?;
            let mut rows = statement.query([])?;
            let mut sent = 0;
            while let Some(row) = rows.next()? {
                sent += 1;
                if !sink(attribution_from_sql(row)?) {
                    break;
                }
            }
            Ok(sent)
        })
        .await
    }

    async fn touch_apps(&self, since_ms: i64) -> Result<Vec<AppId>> {
        self.read(move |connection| {
            let first_day = Day::of_utc_millis(since_ms).to_string();
            let mut apps = std::collections::BTreeSet::new();
            for day in partition_days(connection)?.iter().filter(|d| **d >= first_day) {
                let sql = format!(
                    "SELECT DISTINCT app_id FROM {} WHERE kind IN ('click', 'impression') AND max_ts >= ?1",
                    raw::raw_table(day)
                );
                let mut statement = connection.prepare(&sql)?;
                let found = statement.query_map(params![since_ms], |row| row.get::<_, String>(0))?;
                for app in found {
                    apps.insert(app?);
                }
            }
            Ok(apps.into_iter().map(AppId::from_stored).collect())
        })
        .await
    }

    #[tracing::instrument(name = "event_store.drop_days_before", skip_all, fields(store = self.kind(), day = %day))]
    async fn drop_days_before(&self, day: Day) -> Result<usize> {
        let day = day.to_string();
        self.write(move |writer| {
            let old: Vec<String> =
                writer.partitions.iter().filter(|d| **d < day).cloned().collect();
            let tx = writer.connection.unchecked_transaction()?;
            for partition in &old {
                raw::drop_partition(&tx, partition)?;
            }
            tx.commit()?;
            for partition in &old {
                writer.partitions.remove(partition);
            }
            Ok(old.len())
        })
        .await
    }

    async fn ping(&self) -> Result<()> {
        self.read(|connection| Ok(connection.query_row("SELECT 1", [], |_| Ok(()))?)).await
    }
}

/// The `meta` key of a partition's position: `log_offset` for partition 0 (the key stores
/// made before partitions used), `log_offset.<partition>` for the others.
pub(crate) fn position_key(partition: u16) -> String {
    if partition == 0 { "log_offset".to_owned() } else { format!("log_offset.{partition}") }
}

#[cfg(test)]
mod tests {
    #[test]
    fn days() {
        assert_eq!(super::raw::raw_table("2026-11-20"), "raw_20261120");
    }
}
