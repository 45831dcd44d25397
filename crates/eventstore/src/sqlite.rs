//! The embedded event store: one SQLite file (`<data_dir>/events.db`, WAL) holding a raw
//! table per UTC day (`events_YYYYMMDD`, dropped whole by retention), the daily rollups, the
//! quarantine and the log offset applied so far. One writer connection applies batches in
//! single transactions; readers use their own connections.

use crate::model::{install_name, parse_install, shift_day, utc_day};
use crate::{
    ApplyOutcome, AttributionRow, Batch, CohortQuery, CohortRow, Counts, Dimension, Dims, EventRow,
    EventStore, ExportQuery, FraudRow, Offset, RejectedRow, Result, StoreError, SummaryQuery,
    SummaryRow,
};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use unmogrowp_domain::event::EventType;

pub struct SqliteEventStore {
    path: PathBuf,
    writer: Arc<Mutex<Writer>>,
    readers: Arc<Mutex<Vec<Connection>>>,
}

struct Writer {
    connection: Connection,
    partitions: HashSet<String>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS partitions (day TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS rollups (
    app_id TEXT NOT NULL, day TEXT NOT NULL, network TEXT NOT NULL, campaign TEXT NOT NULL,
    adgroup TEXT NOT NULL, creative TEXT NOT NULL, country TEXT NOT NULL,
    clicks INTEGER NOT NULL DEFAULT 0, impressions INTEGER NOT NULL DEFAULT 0,
    installs INTEGER NOT NULL DEFAULT 0, organic_installs INTEGER NOT NULL DEFAULT 0,
    rejected_installs INTEGER NOT NULL DEFAULT 0, reattributions INTEGER NOT NULL DEFAULT 0,
    reengagements INTEGER NOT NULL DEFAULT 0, sessions INTEGER NOT NULL DEFAULT 0,
    events INTEGER NOT NULL DEFAULT 0, revenue REAL NOT NULL DEFAULT 0,
    reinstalls INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (app_id, day, network, campaign, adgroup, creative, country)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS attributions (
    app_id TEXT NOT NULL, event_id TEXT NOT NULL, device_id TEXT, status TEXT NOT NULL, match_type TEXT,
    touch_id TEXT, touch_kind TEXT, touch_at INTEGER, link_id TEXT, network TEXT NOT NULL, campaign TEXT NOT NULL,
    adgroup TEXT NOT NULL, creative TEXT NOT NULL, country TEXT NOT NULL, rejection_reason TEXT,
    reattribution INTEGER NOT NULL, reinstall INTEGER NOT NULL, install_at INTEGER NOT NULL, decided_at INTEGER NOT NULL,
    day TEXT NOT NULL,
    PRIMARY KEY (app_id, event_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS attributions_by_device ON attributions (app_id, device_id, install_at);
CREATE INDEX IF NOT EXISTS attributions_by_day ON attributions (app_id, day);
CREATE TABLE IF NOT EXISTS device_days (
    app_id TEXT NOT NULL, device_id TEXT NOT NULL, day TEXT NOT NULL, revenue REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (app_id, device_id, day)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS credit_rollups (
    app_id TEXT NOT NULL, day TEXT NOT NULL, network TEXT NOT NULL, campaign TEXT NOT NULL,
    adgroup TEXT NOT NULL, creative TEXT NOT NULL, country TEXT NOT NULL, model TEXT NOT NULL,
    installs REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (app_id, model, day, network, campaign, adgroup, creative, country)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS fraud_rollups (
    app_id TEXT NOT NULL, day TEXT NOT NULL, kind TEXT NOT NULL, reason TEXT NOT NULL, network TEXT NOT NULL,
    count INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (app_id, day, kind, reason, network)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS quarantine (
    app_id TEXT NOT NULL, received_ms INTEGER NOT NULL, idx INTEGER NOT NULL, event_id TEXT,
    code TEXT NOT NULL, message TEXT NOT NULL, raw TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS quarantine_by_app ON quarantine (app_id, received_ms);
";

const EVENT_COLUMNS: &str = "app_id, org_id, id, kind, name, ts, received, day, device_id, gaid, idfa, idfv, ip, \
    user_agent, os, os_version, model, locale, country, click_id, link_id, network_click_id, subs, network, \
    campaign, adgroup, creative, revenue_amount, revenue_currency, revenue, properties, install, reattribution, \
    reengagement, reinstall, fraud_reason";

fn partition_table(utc_day: &str) -> String {
    format!("events_{}", utc_day.replace('-', ""))
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

fn kind_name(kind: EventType) -> &'static str {
    kind.as_str()
}

impl SqliteEventStore {
    pub async fn open(data_dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(data_dir)
            .map_err(|error| StoreError::Unavailable(error.to_string()))?;
        let path = data_dir.join("events.db");
        let opened_path = path.clone();
        let writer = tokio::task::spawn_blocking(move || -> Result<Writer> {
            let connection = open(&opened_path, false)?;
            connection.execute_batch(SCHEMA)?;
            let partitions = partition_days(&connection)?.into_iter().collect();
            Ok(Writer { connection, partitions })
        })
        .await
        .map_err(|error| StoreError::Unavailable(error.to_string()))??;
        Ok(Self {
            path,
            writer: Arc::new(Mutex::new(writer)),
            readers: Arc::new(Mutex::new(Vec::new())),
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

fn ensure_partition(
    partitions: &HashSet<String>,
    tx: &rusqlite::Transaction<'_>,
    day: &str,
) -> Result<String> {
    let table = partition_table(day);
    if !partitions.contains(day) {
        tx.execute_batch(&format!(
            "CREATE TABLE IF NOT EXISTS {table} (
                app_id TEXT NOT NULL, org_id TEXT NOT NULL, id TEXT NOT NULL, kind TEXT NOT NULL, name TEXT,
                ts INTEGER NOT NULL, received INTEGER NOT NULL, day TEXT NOT NULL, device_id TEXT,
                gaid TEXT, idfa TEXT, idfv TEXT, ip TEXT, user_agent TEXT, os TEXT, os_version TEXT, model TEXT,
                locale TEXT, country TEXT NOT NULL, click_id TEXT, link_id TEXT, network_click_id TEXT, subs TEXT,
                network TEXT NOT NULL, campaign TEXT NOT NULL, adgroup TEXT NOT NULL, creative TEXT NOT NULL,
                revenue_amount REAL, revenue_currency TEXT, revenue REAL NOT NULL, properties TEXT, install TEXT,
                reattribution INTEGER NOT NULL, reengagement INTEGER NOT NULL, reinstall INTEGER NOT NULL,
                fraud_reason TEXT
             );
             CREATE UNIQUE INDEX IF NOT EXISTS {table}_id ON {table} (app_id, id);
             CREATE INDEX IF NOT EXISTS {table}_kind ON {table} (app_id, kind, ts);"
        ))?;
        tx.execute("INSERT OR IGNORE INTO partitions (day) VALUES (?1)", params![day])?;
    }
    Ok(table)
}

fn apply_batch(writer: &mut Writer, batch: &Batch) -> Result<(ApplyOutcome, Vec<String>)> {
    let mut new_partitions = Vec::new();
    let mut outcome = ApplyOutcome::default();
    let mut rollups: HashMap<(String, String, Dims), Counts> = HashMap::new();
    let mut new_installs: HashSet<(&str, &str)> = HashSet::new();
    let mut fraud: HashMap<(String, String, &'static str, String, String), i64> = HashMap::new();
    let Writer { connection, partitions } = writer;
    let tx = connection.unchecked_transaction()?;
    for row in &batch.rows {
        let day = utc_day(row.timestamp_ms);
        let known = partitions.contains(&day);
        let table = ensure_partition(partitions, &tx, &day)?;
        if !known {
            partitions.insert(day.clone());
            new_partitions.push(day);
        }
        let subs = if row.subs.is_empty() { None } else { serde_json_like(&row.subs) };
        let placeholders = (1..=36).map(|i| format!("?{i}")).collect::<Vec<_>>().join(", ");
        let mut statement = tx.prepare_cached(&format!(
            "INSERT OR IGNORE INTO {table} ({EVENT_COLUMNS}) VALUES ({placeholders})"
        ))?;
        let inserted = statement.execute(rusqlite::params![
            row.app_id,
            row.org_id,
            row.id,
            kind_name(row.kind),
            row.name,
            row.timestamp_ms,
            row.received_ms,
            row.day,
            row.device_id,
            row.gaid,
            row.idfa,
            row.idfv,
            row.ip,
            row.user_agent,
            row.os,
            row.os_version,
            row.model,
            row.locale,
            row.dims.country,
            row.click_id,
            row.link_id,
            row.network_click_id,
            subs,
            row.dims.network,
            row.dims.campaign,
            row.dims.adgroup,
            row.dims.creative,
            row.revenue_amount,
            row.revenue_currency,
            row.revenue,
            row.properties,
            install_name(row.install),
            row.reattribution,
            row.reengagement,
            row.reinstall,
            row.fraud_reason,
        ])?;
        if inserted == 0 {
            outcome.duplicates += 1;
            continue;
        }
        outcome.stored += 1;
        if row.kind == EventType::Install {
            new_installs.insert((row.app_id.as_str(), row.id.as_str()));
        }
        if matches!(row.kind, EventType::Open | EventType::Session | EventType::Event)
            && let Some(device) = &row.device_id
        {
            let mut statement = tx.prepare_cached(
                "INSERT INTO device_days (app_id, device_id, day, revenue) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (app_id, device_id, day) DO UPDATE SET revenue = revenue + excluded.revenue",
            )?;
            statement.execute(params![row.app_id, device, row.day, row.revenue])?;
        }
        if let Some(reason) = &row.fraud_reason {
            let kind = if row.kind == EventType::Install { "install" } else { "click" };
            *fraud
                .entry((
                    row.app_id.clone(),
                    row.day.clone(),
                    kind,
                    reason.clone(),
                    row.dims.network.clone(),
                ))
                .or_insert(0) += 1;
        }
        rollups
            .entry((row.app_id.clone(), row.day.clone(), row.dims.clone()))
            .or_default()
            .add(&Counts::of(row));
    }
    {
        let mut statement = tx.prepare_cached(
            "INSERT INTO rollups (app_id, day, network, campaign, adgroup, creative, country, clicks, impressions,
                installs, organic_installs, rejected_installs, reattributions, reengagements, sessions, events, revenue,
                reinstalls)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)
             ON CONFLICT (app_id, day, network, campaign, adgroup, creative, country) DO UPDATE SET
                clicks = clicks + excluded.clicks, impressions = impressions + excluded.impressions,
                installs = installs + excluded.installs, organic_installs = organic_installs + excluded.organic_installs,
                rejected_installs = rejected_installs + excluded.rejected_installs,
                reattributions = reattributions + excluded.reattributions,
                reengagements = reengagements + excluded.reengagements, sessions = sessions + excluded.sessions,
                events = events + excluded.events, revenue = revenue + excluded.revenue,
                reinstalls = reinstalls + excluded.reinstalls",
        )?;
        for ((app_id, day, dims), counts) in &rollups {
            statement.execute(params![
                app_id,
                day,
                dims.network,
                dims.campaign,
                dims.adgroup,
                dims.creative,
                dims.country,
                counts.clicks as i64,
                counts.impressions as i64,
                counts.installs as i64,
                counts.organic_installs as i64,
                counts.rejected_installs as i64,
                counts.reattributions as i64,
                counts.reengagements as i64,
                counts.sessions as i64,
                counts.events as i64,
                counts.revenue,
                counts.reinstalls as i64,
            ])?;
        }
    }
    {
        let mut statement = tx.prepare_cached(
            "INSERT INTO quarantine (app_id, received_ms, idx, event_id, code, message, raw) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        for rejected in &batch.rejected {
            statement.execute(params![
                rejected.app_id,
                rejected.received_ms,
                rejected.index,
                rejected.event_id,
                rejected.code,
                rejected.message,
                rejected.raw
            ])?;
        }
    }
    {
        let mut statement = tx.prepare_cached(
            "INSERT OR IGNORE INTO attributions (app_id, event_id, device_id, status, match_type, touch_id, touch_kind,
                touch_at, link_id, network, campaign, adgroup, creative, country, rejection_reason, reattribution,
                reinstall, install_at, decided_at, day)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)",
        )?;
        for decision in &batch.attributions {
            statement.execute(params![
                decision.app_id,
                decision.event_id,
                decision.device_id,
                decision.status,
                decision.match_type,
                decision.touch_id,
                decision.touch_kind,
                decision.touch_at_ms,
                decision.link_id,
                decision.dims.network,
                decision.dims.campaign,
                decision.dims.adgroup,
                decision.dims.creative,
                decision.dims.country,
                decision.rejection_reason,
                decision.reattribution,
                decision.reinstall,
                decision.install_at_ms,
                decision.decided_at_ms,
                decision.day,
            ])?;
        }
    }
    {
        let mut statement = tx.prepare_cached(
            "INSERT INTO credit_rollups (app_id, model, day, network, campaign, adgroup, creative, country, installs)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT (app_id, model, day, network, campaign, adgroup, creative, country)
             DO UPDATE SET installs = installs + excluded.installs",
        )?;
        for credit in batch
            .credits
            .iter()
            .filter(|c| new_installs.contains(&(c.app_id.as_str(), c.event_id.as_str())))
        {
            statement.execute(params![
                credit.app_id,
                credit.model,
                credit.day,
                credit.dims.network,
                credit.dims.campaign,
                credit.dims.adgroup,
                credit.dims.creative,
                credit.dims.country,
                credit.installs,
            ])?;
        }
    }
    {
        let mut statement = tx.prepare_cached(
            "INSERT INTO fraud_rollups (app_id, day, kind, reason, network, count) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (app_id, day, kind, reason, network) DO UPDATE SET count = count + excluded.count",
        )?;
        for ((app_id, day, kind, reason, network), count) in &fraud {
            statement.execute(params![app_id, day, kind, reason, network, count])?;
        }
    }
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ('log_offset', ?1) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![batch.last_offset.to_string()],
    )?;
    tx.commit()?;
    Ok((outcome, new_partitions))
}

/// A JSON array of optional strings, written by hand (the store needs nothing more).
fn serde_json_like(values: &[Option<String>]) -> Option<String> {
    let mut out = String::from("[");
    for (i, value) in values.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        match value {
            None => out.push_str("null"),
            Some(text) => {
                out.push('"');
                for c in text.chars() {
                    match c {
                        '"' => out.push_str("\\\""),
                        '\\' => out.push_str("\\\\"),
                        c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                        c => out.push(c),
                    }
                }
                out.push('"');
            }
        }
    }
    out.push(']');
    Some(out)
}

fn parse_subs(raw: Option<String>) -> Vec<Option<String>> {
    let Some(raw) = raw else { return Vec::new() };
    let inner = raw.trim().trim_start_matches('[').trim_end_matches(']');
    if inner.is_empty() {
        return Vec::new();
    }
    // Values were written by `serde_json_like`: quoted strings or null, no nested arrays.
    let mut values = Vec::new();
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            'n' => {
                for _ in 0..3 {
                    chars.next();
                }
                values.push(None);
            }
            '"' => {
                let mut text = String::new();
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => match chars.next() {
                            Some('u') => {
                                let code: String = (0..4).filter_map(|_| chars.next()).collect();
                                if let Some(ch) =
                                    u32::from_str_radix(&code, 16).ok().and_then(char::from_u32)
                                {
                                    text.push(ch);
                                }
                            }
                            Some(other) => text.push(other),
                            None => break,
                        },
                        other => text.push(other),
                    }
                }
                values.push(Some(text));
            }
            _ => {}
        }
    }
    values
}

fn row_from_sql(row: &rusqlite::Row<'_>) -> rusqlite::Result<EventRow> {
    let kind: String = row.get(3)?;
    Ok(EventRow {
        app_id: row.get(0)?,
        org_id: row.get(1)?,
        id: row.get(2)?,
        kind: EventType::parse(&kind).unwrap_or(EventType::Event),
        name: row.get(4)?,
        timestamp_ms: row.get(5)?,
        received_ms: row.get(6)?,
        day: row.get(7)?,
        device_id: row.get(8)?,
        gaid: row.get(9)?,
        idfa: row.get(10)?,
        idfv: row.get(11)?,
        ip: row.get(12)?,
        user_agent: row.get(13)?,
        os: row.get(14)?,
        os_version: row.get(15)?,
        model: row.get(16)?,
        locale: row.get(17)?,
        dims: Dims {
            country: row.get(18)?,
            network: row.get(23)?,
            campaign: row.get(24)?,
            adgroup: row.get(25)?,
            creative: row.get(26)?,
        },
        click_id: row.get(19)?,
        link_id: row.get(20)?,
        network_click_id: row.get(21)?,
        subs: parse_subs(row.get(22)?),
        revenue_amount: row.get(27)?,
        revenue_currency: row.get(28)?,
        revenue: row.get(29)?,
        properties: row.get(30)?,
        install: parse_install(row.get::<_, Option<String>>(31)?.as_deref()),
        reattribution: row.get(32)?,
        reengagement: row.get(33)?,
        reinstall: row.get(34)?,
        fraud_reason: row.get(35)?,
    })
}

/// Replaces each group's `installs` by the model's fractional credit.
fn credit_installs(
    connection: &Connection,
    query: &SummaryQuery,
    model: &str,
    rows: &mut Vec<SummaryRow>,
) -> Result<()> {
    let columns: Vec<&str> = query.group_by.iter().map(|d| d.column()).collect();
    let select_dims =
        if columns.is_empty() { String::new() } else { format!("{}, ", columns.join(", ")) };
    let group =
        if columns.is_empty() { String::new() } else { format!("GROUP BY {}", columns.join(", ")) };
    let sql = format!(
        "SELECT {select_dims} SUM(installs) FROM credit_rollups
         WHERE app_id = ?1 AND model = ?2 AND day >= ?3 AND day <= ?4
           AND (?5 IS NULL OR network = ?5) AND (?6 IS NULL OR campaign = ?6) AND (?7 IS NULL OR country = ?7)
         {group}"
    );
    let mut statement = connection.prepare_cached(&sql)?;
    let credited = statement.query_map(
        params![
            query.app_id,
            model,
            query.from_day,
            query.to_day,
            query.network,
            query.campaign,
            query.country
        ],
        |row| {
            let mut key = Vec::new();
            for index in 0..query.group_by.len() {
                key.push(row.get::<_, Option<String>>(index)?);
            }
            Ok((key, row.get::<_, Option<f64>>(query.group_by.len())?.unwrap_or(0.0)))
        },
    )?;
    let credited = credited.collect::<rusqlite::Result<Vec<_>>>()?;
    crate::model::merge_credits(&query.group_by, rows, credited);
    Ok(())
}

fn attribution_from_sql(row: &rusqlite::Row<'_>) -> rusqlite::Result<AttributionRow> {
    Ok(AttributionRow {
        app_id: row.get(0)?,
        event_id: row.get(1)?,
        device_id: row.get(2)?,
        status: row.get(3)?,
        match_type: row.get(4)?,
        touch_id: row.get(5)?,
        touch_kind: row.get(6)?,
        touch_at_ms: row.get(7)?,
        link_id: row.get(8)?,
        dims: Dims {
            network: row.get(9)?,
            campaign: row.get(10)?,
            adgroup: row.get(11)?,
            creative: row.get(12)?,
            country: row.get(13)?,
        },
        rejection_reason: row.get(14)?,
        reattribution: row.get(15)?,
        reinstall: row.get(16)?,
        install_at_ms: row.get(17)?,
        decided_at_ms: row.get(18)?,
        day: row.get(19)?,
    })
}

const ATTRIBUTION_COLUMNS: &str = "app_id, event_id, device_id, status, match_type, touch_id, touch_kind, touch_at, \
    link_id, network, campaign, adgroup, creative, country, rejection_reason, reattribution, reinstall, install_at, decided_at, day";

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

    async fn position(&self) -> Result<Offset> {
        self.write(|writer| {
            let value: Option<String> = writer
                .connection
                .query_row("SELECT value FROM meta WHERE key = 'log_offset'", [], |row| row.get(0))
                .optional()?;
            Ok(value.and_then(|v| v.parse().ok()).unwrap_or(0))
        })
        .await
    }

    async fn apply(&self, batch: Batch) -> Result<ApplyOutcome> {
        self.write(move |writer| {
            match apply_batch(writer, &batch) {
                Ok((outcome, _)) => Ok(outcome),
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
                params![query.app_id, query.from_day, query.to_day, query.network, query.campaign, query.country],
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
            if let Some(model) = query.model.as_deref().filter(|m| *m != "last_touch") {
                credit_installs(connection, &query, model, &mut out)?;
            }
            Ok(out)
        })
        .await
    }

    async fn attribution(&self, app_id: &str, event_id: &str) -> Result<Option<AttributionRow>> {
        let (app_id, event_id) = (app_id.to_owned(), event_id.to_owned());
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
        app_id: &str,
        device_ids: &[String],
    ) -> Result<Option<AttributionRow>> {
        let app_id = app_id.to_owned();
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
                    ", COUNT(DISTINCT CASE WHEN CAST(julianday(d.day) - julianday(a.day) AS INTEGER) = {n} THEN a.device_id END)"
                ));
            }
            for n in &query.days {
                columns.push_str(&format!(
                    ", COALESCE(SUM(CASE WHEN CAST(julianday(d.day) - julianday(a.day) AS INTEGER) BETWEEN 0 AND {n} THEN d.revenue END), 0)"
                ));
            }
            let sql = format!(
                "SELECT a.day, {group}, COUNT(DISTINCT a.event_id){columns}
                 FROM attributions a
                 LEFT JOIN device_days d ON d.app_id = a.app_id AND d.device_id = a.device_id
                 WHERE a.app_id = ?1 AND a.day >= ?2 AND a.day <= ?3 AND a.status != 'rejected' AND a.reinstall = 0
                   AND a.device_id IS NOT NULL
                 GROUP BY a.day, {group}
                 ORDER BY a.day, {group}"
            );
            let mut statement = connection.prepare(&sql)?;
            let count = query.days.len();
            let rows = statement.query_map(params![query.app_id, query.from_day, query.to_day], |row| {
                let mut retained = Vec::with_capacity(count);
                let mut revenue = Vec::with_capacity(count);
                for i in 0..count {
                    retained.push(u64::try_from(row.get::<_, i64>(3 + i)?).unwrap_or(0));
                }
                for i in 0..count {
                    revenue.push(row.get::<_, f64>(3 + count + i)?);
                }
                Ok(CohortRow {
                    install_day: row.get(0)?,
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

    async fn fraud(&self, app_id: &str, from_day: &str, to_day: &str) -> Result<Vec<FraudRow>> {
        let (app_id, from_day, to_day) =
            (app_id.to_owned(), from_day.to_owned(), to_day.to_owned());
        self.read(move |connection| {
            let mut statement = connection.prepare_cached(
                "SELECT kind, reason, network, SUM(count) FROM fraud_rollups
                 WHERE app_id = ?1 AND day >= ?2 AND day <= ?3
                 GROUP BY kind, reason, network ORDER BY kind, reason, network",
            )?;
            let rows = statement.query_map(params![app_id, from_day, to_day], |row| {
                Ok(FraudRow {
                    kind: row.get(0)?,
                    reason: row.get(1)?,
                    network: row.get(2)?,
                    count: u64::try_from(row.get::<_, i64>(3)?).unwrap_or(0),
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn rejected(
        &self,
        app_id: &str,
        limit: u32,
        before_ms: Option<i64>,
    ) -> Result<Vec<RejectedRow>> {
        let app_id = app_id.to_owned();
        self.read(move |connection| {
            let mut statement = connection.prepare_cached(
                "SELECT app_id, received_ms, idx, event_id, code, message, raw FROM quarantine
                 WHERE app_id = ?1 AND (?2 IS NULL OR received_ms < ?2)
                 ORDER BY received_ms DESC, rowid DESC LIMIT ?3",
            )?;
            let rows =
                statement.query_map(params![app_id, before_ms, i64::from(limit)], |row| {
                    Ok(RejectedRow {
                        app_id: row.get(0)?,
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

    async fn export(
        &self,
        query: ExportQuery,
        mut sink: Box<dyn FnMut(EventRow) -> bool + Send>,
    ) -> Result<u64> {
        self.read(move |connection| {
            let partitions = partition_days(connection)?;
            // Report days follow the app's time zone; UTC partitions a day either side hold them.
            let low = shift_day(&query.from_day, -1).unwrap_or_else(|| query.from_day.clone());
            let high = shift_day(&query.to_day, 1).unwrap_or_else(|| query.to_day.clone());
            let kinds: Vec<String> = query.kinds.iter().map(|k| format!("'{}'", k.as_str())).collect();
            let mut sent = 0u64;
            for day in partitions.iter().filter(|d| **d >= low && **d <= high) {
                let sql = format!(
                    "SELECT {EVENT_COLUMNS} FROM {} WHERE app_id = ?1 AND kind IN ({}) AND day >= ?2 AND day <= ?3 ORDER BY ts",
                    partition_table(day),
                    kinds.join(", ")
                );
                let mut statement = connection.prepare(&sql)?;
                let mut rows = statement.query(params![query.app_id, query.from_day, query.to_day])?;
                while let Some(row) = rows.next()? {
                    sent += 1;
                    if !sink(row_from_sql(row)?) {
                        return Ok(sent);
                    }
                }
            }
            Ok(sent)
        })
        .await
    }

    async fn drop_days_before(&self, day: &str) -> Result<usize> {
        let day = day.to_owned();
        self.write(move |writer| {
            let old: Vec<String> =
                writer.partitions.iter().filter(|d| **d < day).cloned().collect();
            let tx = writer.connection.unchecked_transaction()?;
            for partition in &old {
                tx.execute_batch(&format!("DROP TABLE IF EXISTS {}", partition_table(partition)))?;
                tx.execute("DELETE FROM partitions WHERE day = ?1", params![partition])?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subs_round_trip() {
        let subs = vec![Some("a\"b".to_owned()), None, Some("é\\".to_owned())];
        assert_eq!(parse_subs(serde_json_like(&subs)), subs);
        assert!(parse_subs(None).is_empty());
    }

    #[test]
    fn days() {
        assert_eq!(utc_day(0), "1970-01-01");
        assert_eq!(shift_day("2026-03-01", -1).as_deref(), Some("2026-02-28"));
        assert_eq!(partition_table("2026-11-20"), "events_20261120");
    }
}
