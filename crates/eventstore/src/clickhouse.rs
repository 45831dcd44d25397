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

use crate::model::{install_name, parse_install, shift_day, utc_day};
use crate::{
    ApplyOutcome, AttributionRow, Batch, CohortQuery, CohortRow, Counts, Dimension, Dims, EventRow,
    EventStore, ExportQuery, FraudRow, Offset, RejectedRow, Result, StoreError, SummaryQuery,
    SummaryRow,
};
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::HashSet;
use std::fmt::Write as _;
use std::time::Duration;
use unmogrowp_domain::event::EventType;

type Row = Map<String, Value>;
/// A user name and an optional password.
type Credentials = (String, Option<String>);

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

const EVENT_COLUMNS: &str = "app_id, org_id, id, kind, name, ts, received, day, device_id, gaid, idfa, idfv, ip, \
    user_agent, os, os_version, model, locale, country, click_id, link_id, network_click_id, subs, network, \
    campaign, adgroup, creative, revenue_amount, revenue_currency, revenue, properties, install, reattribution, \
    reengagement, reinstall, fraud_reason";

const ATTRIBUTION_COLUMNS: &str = "app_id, event_id, device_id, status, match_type, touch_id, touch_kind, touch_at, \
    link_id, network, campaign, adgroup, creative, country, rejection_reason, reattribution, reinstall, install_at, \
    decided_at, day";

/// The schema, in order. Views come after the tables they read and write.
/// The layout this binary writes; see [`MIGRATIONS`].
pub const SCHEMA_VERSION: u32 = 1;

/// Step `i` (from 0) brings a database from version `i` to `i + 1`. Version 1 is the first
/// layout (the tables of [`SCHEMA`]). A later change appends a step (e.g. `ALTER TABLE …
/// ADD COLUMN IF NOT EXISTS`) and updates `SCHEMA` to match what the steps produce.
const MIGRATIONS: &[&[&str]] = &[SCHEMA];

/// Every table and view of the current layout, each created only when missing.
const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS events (
        app_id String, org_id String, id String, kind String, name Nullable(String),
        ts Int64, received Int64, utc_day Date, day Date,
        device_id Nullable(String), gaid Nullable(String), idfa Nullable(String), idfv Nullable(String),
        ip Nullable(String), user_agent Nullable(String), os Nullable(String), os_version Nullable(String),
        model Nullable(String), locale Nullable(String), country String, click_id Nullable(String),
        link_id Nullable(String), network_click_id Nullable(String), subs Nullable(String),
        network String, campaign String, adgroup String, creative String,
        revenue_amount Nullable(Float64), revenue_currency Nullable(String), revenue Float64,
        properties Nullable(String), install Nullable(String), reattribution UInt8, reengagement UInt8,
        reinstall UInt8, fraud_reason Nullable(String), log_offset UInt64
    ) ENGINE = MergeTree() PARTITION BY utc_day ORDER BY (app_id, kind, ts)",
    "CREATE TABLE IF NOT EXISTS rollups (
        app_id String, day Date, network String, campaign String, adgroup String, creative String,
        country String, row_count UInt64, clicks UInt64, impressions UInt64, installs UInt64,
        organic_installs UInt64, rejected_installs UInt64, reattributions UInt64, reengagements UInt64,
        sessions UInt64, events UInt64, reinstalls UInt64, event_revenue Float64
    ) ENGINE = SummingMergeTree() PARTITION BY toYYYYMM(day)
      ORDER BY (app_id, day, network, campaign, adgroup, creative, country)",
    "CREATE MATERIALIZED VIEW IF NOT EXISTS rollups_mv TO rollups AS
     SELECT app_id, day, network, campaign, adgroup, creative, country,
        toUInt64(1) AS row_count,
        toUInt64(kind = 'click') AS clicks,
        toUInt64(kind = 'impression') AS impressions,
        toUInt64(kind = 'install' AND reinstall = 0 AND reattribution = 0
            AND ifNull(install, '') IN ('attributed', 'organic')) AS installs,
        toUInt64(kind = 'install' AND reinstall = 0 AND reattribution = 0
            AND ifNull(install, '') = 'organic') AS organic_installs,
        toUInt64(kind = 'install' AND reinstall = 0 AND ifNull(install, '') = 'rejected') AS rejected_installs,
        toUInt64(kind = 'install' AND reinstall = 0 AND reattribution = 1
            AND ifNull(install, '') IN ('attributed', 'organic')) AS reattributions,
        toUInt64(kind IN ('open', 'session') AND reengagement = 1) AS reengagements,
        toUInt64(kind IN ('open', 'session')) AS sessions,
        toUInt64(kind = 'event') AS events,
        toUInt64(kind = 'install' AND reinstall = 1) AS reinstalls,
        if(kind = 'event', revenue, 0) AS event_revenue
     FROM events",
    "CREATE TABLE IF NOT EXISTS fraud_rollups (
        app_id String, day Date, fraud_kind String, reason String, network String, hits UInt64
    ) ENGINE = SummingMergeTree() PARTITION BY toYYYYMM(day)
      ORDER BY (app_id, day, fraud_kind, reason, network)",
    "CREATE MATERIALIZED VIEW IF NOT EXISTS fraud_rollups_mv TO fraud_rollups AS
     SELECT app_id, day, if(kind = 'install', 'install', 'click') AS fraud_kind,
        assumeNotNull(fraud_reason) AS reason, network, toUInt64(1) AS hits
     FROM events WHERE fraud_reason IS NOT NULL",
    "CREATE TABLE IF NOT EXISTS device_days (
        app_id String, device String, day Date, hits UInt64, device_revenue Float64
    ) ENGINE = SummingMergeTree() PARTITION BY toYYYYMM(day) ORDER BY (app_id, device, day)",
    "CREATE MATERIALIZED VIEW IF NOT EXISTS device_days_mv TO device_days AS
     SELECT app_id, assumeNotNull(device_id) AS device, day, toUInt64(1) AS hits,
        revenue AS device_revenue
     FROM events WHERE kind IN ('open', 'session', 'event') AND device_id IS NOT NULL",
    "CREATE TABLE IF NOT EXISTS attributions (
        app_id String, event_id String, device_id Nullable(String), status String,
        match_type Nullable(String), touch_id Nullable(String), touch_kind Nullable(String),
        touch_at Nullable(Int64), link_id Nullable(String), network String, campaign String,
        adgroup String, creative String, country String, rejection_reason Nullable(String),
        reattribution UInt8, reinstall UInt8, install_at Int64, decided_at Int64, day Date,
        keep UInt64
    ) ENGINE = ReplacingMergeTree(keep) ORDER BY (app_id, event_id)",
    "CREATE TABLE IF NOT EXISTS credits (
        app_id String, model String, day Date, event_id String, network String, campaign String,
        adgroup String, creative String, country String, installs Float64
    ) ENGINE = ReplacingMergeTree() PARTITION BY toYYYYMM(day)
      ORDER BY (app_id, model, day, event_id, network, campaign, adgroup, creative, country)",
    "CREATE TABLE IF NOT EXISTS quarantine (
        app_id String, received_ms Int64, idx UInt32, event_id Nullable(String), code String,
        message String, raw String, raw_hash UInt64 MATERIALIZED cityHash64(raw)
    ) ENGINE = ReplacingMergeTree() ORDER BY (app_id, received_ms, idx, raw_hash)",
    "CREATE TABLE IF NOT EXISTS offsets (key UInt8, log_offset UInt64)
     ENGINE = ReplacingMergeTree(log_offset) ORDER BY key",
];

/// What makes a stored row the same as another: app, id and — except for installs, which
/// are one per id whatever their time — the event time.
type StoredKey = (String, String, i64);

fn stored_key(app_id: &str, id: &str, kind: EventType, ts: i64) -> StoredKey {
    let ts = if kind == EventType::Install { i64::MIN } else { ts };
    (app_id.to_owned(), id.to_owned(), ts)
}

fn key_of(row: &Row) -> Result<StoredKey> {
    let kind = stored_kind(text(row, "kind").as_deref())?;
    Ok(stored_key(
        &text(row, "app_id").unwrap_or_default(),
        &text(row, "id").unwrap_or_default(),
        kind,
        int(row, "ts").unwrap_or_default(),
    ))
}

/// A ClickHouse string literal.
fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        match c {
            '\'' => out.push_str("\\'"),
            '\\' => out.push_str("\\\\"),
            '\0' => out.push_str("\\0"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// A day (`YYYY-MM-DD`) checked before it goes into a query.
fn day_literal(day: &str) -> Result<String> {
    day.parse::<jiff::civil::Date>()
        .map(|date| quote(&date.to_string()))
        .map_err(|_| StoreError::Query(format!("not a day: {day:?}")))
}

fn text(row: &Row, key: &str) -> Option<String> {
    match row.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

fn int(row: &Row, key: &str) -> Option<i64> {
    match row.get(key)? {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn count(row: &Row, key: &str) -> u64 {
    int(row, key).and_then(|n| u64::try_from(n).ok()).unwrap_or(0)
}

fn float(row: &Row, key: &str) -> Option<f64> {
    match row.get(key)? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn flag(row: &Row, key: &str) -> bool {
    int(row, key).unwrap_or(0) != 0
}

#[derive(Serialize)]
struct EventInsert<'a> {
    app_id: &'a str,
    org_id: &'a str,
    id: &'a str,
    kind: &'static str,
    name: Option<&'a str>,
    ts: i64,
    received: i64,
    utc_day: String,
    day: &'a str,
    device_id: Option<&'a str>,
    gaid: Option<&'a str>,
    idfa: Option<&'a str>,
    idfv: Option<&'a str>,
    ip: Option<&'a str>,
    user_agent: Option<&'a str>,
    os: Option<&'a str>,
    os_version: Option<&'a str>,
    model: Option<&'a str>,
    locale: Option<&'a str>,
    country: &'a str,
    click_id: Option<&'a str>,
    link_id: Option<&'a str>,
    network_click_id: Option<&'a str>,
    subs: Option<String>,
    network: &'a str,
    campaign: &'a str,
    adgroup: &'a str,
    creative: &'a str,
    revenue_amount: Option<f64>,
    revenue_currency: Option<&'a str>,
    revenue: f64,
    properties: Option<&'a str>,
    install: Option<&'static str>,
    reattribution: u8,
    reengagement: u8,
    reinstall: u8,
    fraud_reason: Option<&'a str>,
    log_offset: u64,
}

impl<'a> EventInsert<'a> {
    fn of(row: &'a EventRow, log_offset: u64) -> Self {
        Self {
            app_id: &row.app_id,
            org_id: &row.org_id,
            id: &row.id,
            kind: row.kind.as_str(),
            name: row.name.as_deref(),
            ts: row.timestamp_ms,
            received: row.received_ms,
            utc_day: utc_day(row.timestamp_ms),
            day: &row.day,
            device_id: row.device_id.as_deref(),
            gaid: row.gaid.as_deref(),
            idfa: row.idfa.as_deref(),
            idfv: row.idfv.as_deref(),
            ip: row.ip.as_deref(),
            user_agent: row.user_agent.as_deref(),
            os: row.os.as_deref(),
            os_version: row.os_version.as_deref(),
            model: row.model.as_deref(),
            locale: row.locale.as_deref(),
            country: &row.dims.country,
            click_id: row.click_id.as_deref(),
            link_id: row.link_id.as_deref(),
            network_click_id: row.network_click_id.as_deref(),
            subs: if row.subs.is_empty() { None } else { serde_json::to_string(&row.subs).ok() },
            network: &row.dims.network,
            campaign: &row.dims.campaign,
            adgroup: &row.dims.adgroup,
            creative: &row.dims.creative,
            revenue_amount: row.revenue_amount,
            revenue_currency: row.revenue_currency.as_deref(),
            revenue: row.revenue,
            properties: row.properties.as_deref(),
            install: install_name(row.install),
            reattribution: u8::from(row.reattribution),
            reengagement: u8::from(row.reengagement),
            reinstall: u8::from(row.reinstall),
            fraud_reason: row.fraud_reason.as_deref(),
            log_offset,
        }
    }
}

/// The stored kind as an [`EventType`]; an unknown one is an error, never a guess.
fn stored_kind(text: Option<&str>) -> Result<EventType> {
    let text = text.unwrap_or_default();
    EventType::parse(text)
        .ok_or_else(|| StoreError::Query(format!("a stored row has an unknown kind {text:?}")))
}

fn event_from_row(row: &Row) -> Result<EventRow> {
    let kind = stored_kind(text(row, "kind").as_deref())?;
    Ok(EventRow {
        app_id: text(row, "app_id").unwrap_or_default(),
        org_id: text(row, "org_id").unwrap_or_default(),
        id: text(row, "id").unwrap_or_default(),
        kind,
        name: text(row, "name"),
        timestamp_ms: int(row, "ts").unwrap_or(0),
        received_ms: int(row, "received").unwrap_or(0),
        day: text(row, "day").unwrap_or_default(),
        device_id: text(row, "device_id"),
        gaid: text(row, "gaid"),
        idfa: text(row, "idfa"),
        idfv: text(row, "idfv"),
        ip: text(row, "ip"),
        user_agent: text(row, "user_agent"),
        os: text(row, "os"),
        os_version: text(row, "os_version"),
        model: text(row, "model"),
        locale: text(row, "locale"),
        click_id: text(row, "click_id"),
        link_id: text(row, "link_id"),
        network_click_id: text(row, "network_click_id"),
        subs: text(row, "subs")
            .and_then(|raw| serde_json::from_str::<Vec<Option<String>>>(&raw).ok())
            .unwrap_or_default(),
        dims: Dims {
            network: text(row, "network").unwrap_or_default(),
            campaign: text(row, "campaign").unwrap_or_default(),
            adgroup: text(row, "adgroup").unwrap_or_default(),
            creative: text(row, "creative").unwrap_or_default(),
            country: text(row, "country").unwrap_or_default(),
        },
        revenue_amount: float(row, "revenue_amount"),
        revenue_currency: text(row, "revenue_currency"),
        revenue: float(row, "revenue").unwrap_or(0.0),
        properties: text(row, "properties"),
        install: parse_install(text(row, "install").as_deref()),
        reattribution: flag(row, "reattribution"),
        reengagement: flag(row, "reengagement"),
        reinstall: flag(row, "reinstall"),
        fraud_reason: text(row, "fraud_reason"),
    })
}

#[derive(Serialize)]
struct AttributionInsert<'a> {
    app_id: &'a str,
    event_id: &'a str,
    device_id: Option<&'a str>,
    status: &'a str,
    match_type: Option<&'a str>,
    touch_id: Option<&'a str>,
    touch_kind: Option<&'a str>,
    touch_at: Option<i64>,
    link_id: Option<&'a str>,
    network: &'a str,
    campaign: &'a str,
    adgroup: &'a str,
    creative: &'a str,
    country: &'a str,
    rejection_reason: Option<&'a str>,
    reattribution: u8,
    reinstall: u8,
    install_at: i64,
    decided_at: i64,
    day: &'a str,
    /// The first decision stored wins, as in the embedded store.
    keep: u64,
}

fn attribution_from_row(row: &Row) -> AttributionRow {
    AttributionRow {
        app_id: text(row, "app_id").unwrap_or_default(),
        event_id: text(row, "event_id").unwrap_or_default(),
        day: text(row, "day").unwrap_or_default(),
        device_id: text(row, "device_id"),
        status: text(row, "status").unwrap_or_default(),
        match_type: text(row, "match_type"),
        touch_id: text(row, "touch_id"),
        touch_kind: text(row, "touch_kind"),
        touch_at_ms: int(row, "touch_at"),
        link_id: text(row, "link_id"),
        dims: Dims {
            network: text(row, "network").unwrap_or_default(),
            campaign: text(row, "campaign").unwrap_or_default(),
            adgroup: text(row, "adgroup").unwrap_or_default(),
            creative: text(row, "creative").unwrap_or_default(),
            country: text(row, "country").unwrap_or_default(),
        },
        rejection_reason: text(row, "rejection_reason"),
        reattribution: flag(row, "reattribution"),
        reinstall: flag(row, "reinstall"),
        install_at_ms: int(row, "install_at").unwrap_or(0),
        decided_at_ms: int(row, "decided_at").unwrap_or(0),
    }
}

#[derive(Serialize)]
struct CreditInsert<'a> {
    app_id: &'a str,
    model: &'a str,
    day: &'a str,
    event_id: &'a str,
    network: &'a str,
    campaign: &'a str,
    adgroup: &'a str,
    creative: &'a str,
    country: &'a str,
    installs: f64,
}

#[derive(Serialize)]
struct FraudInsert<'a> {
    app_id: &'a str,
    day: &'a str,
    fraud_kind: &'a str,
    reason: &'a str,
    network: &'a str,
    hits: u64,
}

#[derive(Serialize)]
struct QuarantineInsert<'a> {
    app_id: &'a str,
    received_ms: i64,
    idx: u32,
    event_id: Option<&'a str>,
    code: &'a str,
    message: &'a str,
    raw: &'a str,
}

/// Newline-separated JSON objects, as `FORMAT JSONEachRow` reads them.
fn json_lines<T: Serialize>(items: impl IntoIterator<Item = T>) -> Result<String> {
    let mut body = String::new();
    for item in items {
        let line = serde_json::to_string(&item)
            .map_err(|error| StoreError::Query(format!("encoding a row: {error}")))?;
        body.push_str(&line);
        body.push('\n');
    }
    Ok(body)
}

/// Where to connect, from `clickhouse://[USER[:PASSWORD]@]HOST:HTTP_PORT/DATABASE` or
/// `http(s)://…/DATABASE` (or `?database=NAME`); the database defaults to `unmogrowp`.
fn parse_url(raw: &str) -> Result<(url::Url, String, Option<Credentials>)> {
    let invalid = |why: &str| StoreError::Unavailable(format!("events_url: {why}"));
    let parsed = url::Url::parse(raw).map_err(|error| invalid(&error.to_string()))?;
    let scheme = match parsed.scheme() {
        "clickhouse" | "http" => "http",
        "clickhouses" | "https" => "https",
        other => return Err(invalid(&format!("unsupported scheme {other:?}"))),
    };
    let host = parsed.host_str().ok_or_else(|| invalid("no host"))?;
    let port = parsed.port().unwrap_or(if scheme == "https" { 8443 } else { 8123 });
    let endpoint = url::Url::parse(&format!("{scheme}://{host}:{port}/"))
        .map_err(|error| invalid(&error.to_string()))?;
    let from_path = parsed.path().trim_matches('/').to_owned();
    let from_query = parsed
        .query_pairs()
        .find(|(key, _)| key == "database")
        .map(|(_, value)| value.into_owned());
    let database = from_query
        .or((!from_path.is_empty()).then_some(from_path))
        .unwrap_or_else(|| "unmogrowp".to_owned());
    if database.is_empty()
        || !database.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        || database.starts_with(|c: char| c.is_ascii_digit())
    {
        return Err(invalid("the database name must be letters, digits and underscores"));
    }
    let user = (!parsed.username().is_empty())
        .then(|| (percent_decode(parsed.username()), parsed.password().map(percent_decode)));
    Ok((endpoint, database, user))
}

fn percent_decode(raw: &str) -> String {
    url::form_urlencoded::parse(raw.as_bytes())
        .next()
        .map(|(key, _)| key.into_owned())
        .unwrap_or_default()
}

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

    pub fn database(&self) -> &str {
        &self.database
    }

    /// The schema version recorded in `schema_version` (0: none recorded).
    pub async fn schema_version(&self) -> Result<u32> {
        Ok(self
            .query("SELECT max(version) AS version FROM schema_version")
            .await?
            .first()
            .and_then(|row| u32::try_from(count(row, "version")).ok())
            .unwrap_or(0))
    }

    /// Brings the database to [`SCHEMA_VERSION`] and refuses a newer one. A database written
    /// before versions were recorded (its `events` table exists, no version) is version 1,
    /// the layout it already has. Each step's statements are idempotent (`IF NOT EXISTS`),
    /// since ClickHouse has no transactions: a step cut short is run again, and the version
    /// is recorded after it. The current layout's tables are ensured on every start (a table
    /// dropped by hand comes back empty).
    async fn migrate(&self) -> Result<()> {
        self.execute(
            "CREATE TABLE IF NOT EXISTS schema_version (version UInt32, applied_at DateTime DEFAULT now())
             ENGINE = MergeTree() ORDER BY version",
        )
        .await?;
        let mut version = self.schema_version().await?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::Unavailable(format!(
                "the ClickHouse event store {} has schema version {version}, newer than this binary's \
                 {SCHEMA_VERSION}; run a release that knows version {version} or newer",
                self.database
            )));
        }
        if version == 0 {
            let existing = self
                .query(&format!(
                    "SELECT count() AS tables FROM system.tables WHERE database = {} AND name = 'events'",
                    quote(&self.database)
                ))
                .await?
                .first()
                .map_or(0, |row| count(row, "tables"));
            if existing > 0 {
                version = 1;
                self.record_version(1).await?;
                tracing::info!(database = %self.database, "recorded schema version 1 for an event store written before versions were kept");
            }
        }
        for (step, statements) in MIGRATIONS.iter().enumerate() {
            let step = u32::try_from(step + 1).unwrap_or(u32::MAX);
            if step <= version {
                continue;
            }
            for statement in *statements {
                self.execute(statement).await?;
            }
            self.record_version(step).await?;
            if version > 0 {
                tracing::info!(database = %self.database, from = version, to = step, "event store migrated");
            }
            version = step;
        }
        for statement in SCHEMA {
            self.execute(statement).await?;
        }
        Ok(())
    }

    async fn record_version(&self, version: u32) -> Result<()> {
        self.insert("schema_version", format!("{{\"version\":{version}}}\n")).await
    }

    /// Sends one statement (`body`: rows for an `INSERT … FORMAT`, with the statement then
    /// going in the URL). Returns the response body.
    async fn post(&self, sql: &str, body: Option<String>, in_database: bool) -> Result<String> {
        let response = self.send(sql, body, in_database, Some(QUERY_TIMEOUT)).await?;
        response.text().await.map_err(|error| StoreError::Unavailable(error.to_string()))
    }

    async fn send(
        &self,
        sql: &str,
        body: Option<String>,
        in_database: bool,
        timeout: Option<Duration>,
    ) -> Result<reqwest::Response> {
        let mut url = self.endpoint.clone();
        {
            let mut query = url.query_pairs_mut();
            if in_database {
                query.append_pair("database", &self.database);
            }
            if body.is_some() {
                query.append_pair("query", sql);
            } else {
                // De-duplication reads name a batch's ids: allow queries beyond the
                // default 256 KiB.
                query.append_pair("max_query_size", "33554432");
            }
        }
        let mut request = self.client.post(url).body(body.unwrap_or_else(|| sql.to_owned()));
        if let Some(timeout) = timeout {
            request = request.timeout(timeout);
        }
        if let Some((user, password)) = &self.user {
            request = request.basic_auth(user, password.as_ref());
        }
        let response = request.send().await.map_err(|error| {
            StoreError::Unavailable(format!("ClickHouse at {}: {error}", self.endpoint))
        })?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status();
        let detail = response.text().await.unwrap_or_default();
        let detail: String = detail.trim().chars().take(600).collect();
        Err(StoreError::Query(format!("ClickHouse answered {status}: {detail}")))
    }

    async fn execute(&self, sql: &str) -> Result<()> {
        self.post(sql, None, true).await.map(|_| ())
    }

    async fn query(&self, sql: &str) -> Result<Vec<Row>> {
        let body = self.post(&format!("{sql} FORMAT JSONEachRow"), None, true).await?;
        body.lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| {
                serde_json::from_str::<Row>(line).map_err(|error| {
                    StoreError::Query(format!("reading ClickHouse's answer: {error}"))
                })
            })
            .collect()
    }

    async fn insert(&self, table: &str, body: String) -> Result<()> {
        if body.is_empty() {
            return Ok(());
        }
        let sql = format!("INSERT INTO {table} FORMAT JSONEachRow");
        self.send(&sql, Some(body), true, Some(INSERT_TIMEOUT)).await.map(|_| ())
    }

    /// The recorded position of every partition (see [`EventStore::positions`]).
    async fn read_positions(&self) -> Result<std::collections::BTreeMap<u16, Offset>> {
        let rows =
            self.query("SELECT key, max(log_offset) AS position FROM offsets GROUP BY key").await?;
        Ok(rows
            .iter()
            .map(|row| {
                (u16::try_from(count(row, "key")).unwrap_or(u16::MAX), count(row, "position"))
            })
            .collect())
    }

    /// Which of the batch's rows are stored already, as [`stored_key`]s: installs by app and
    /// id whatever their time (an install counted twice would skew every report and credit),
    /// other rows by app, id and event time — a re-sent event carries its time, so the
    /// lookup is a point read on the sort key `(app_id, kind, ts)`. This is what makes a
    /// re-sent id count once however it reached the log (two ingest nodes, a retry after
    /// the broker's duplicate window), as the embedded store's `seen` tables do.
    async fn stored_rows(&self, rows: &[EventRow]) -> Result<HashSet<StoredKey>> {
        let mut found = HashSet::new();
        let (installs, others): (Vec<&EventRow>, Vec<&EventRow>) =
            rows.iter().partition(|row| row.kind == EventType::Install);
        let set = |values: &mut dyn Iterator<Item = String>| -> String {
            let unique: std::collections::BTreeSet<String> = values.collect();
            unique.into_iter().collect::<Vec<_>>().join(", ")
        };
        if !installs.is_empty() {
            let sql = format!(
                "SELECT app_id, id, kind, ts FROM events WHERE app_id IN ({}) AND kind = 'install' AND id IN ({})",
                set(&mut installs.iter().map(|row| quote(&row.app_id))),
                set(&mut installs.iter().map(|row| quote(&row.id))),
            );
            for row in self.query(&sql).await? {
                found.insert(key_of(&row)?);
            }
        }
        if !others.is_empty() {
            let sql = format!(
                "SELECT app_id, id, kind, ts FROM events WHERE app_id IN ({}) AND kind IN ({}) AND ts IN ({}) AND id IN ({})",
                set(&mut others.iter().map(|row| quote(&row.app_id))),
                set(&mut others.iter().map(|row| quote(row.kind.as_str()))),
                set(&mut others.iter().map(|row| row.timestamp_ms.to_string())),
                set(&mut others.iter().map(|row| quote(&row.id))),
            );
            for row in self.query(&sql).await? {
                found.insert(key_of(&row)?);
            }
        }
        Ok(found)
    }

    fn filters(query: &SummaryQuery) -> Result<String> {
        let mut sql = format!(
            "app_id = {} AND day >= {} AND day <= {}",
            quote(&query.app_id),
            day_literal(&query.from_day)?,
            day_literal(&query.to_day)?
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
        Ok(sql)
    }

    fn group_key(row: &Row, group_by: &[Dimension]) -> Vec<Option<String>> {
        group_by.iter().map(|d| text(row, d.column())).collect()
    }
}

#[async_trait::async_trait]
impl EventStore for ClickHouseEventStore {
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

    async fn apply_shared(&self, batch: std::sync::Arc<Batch>) -> Result<ApplyOutcome> {
        let batch = &*batch;
        let mut state = self.write.lock().await;
        let ends = batch.ends();
        let applied = |(partition, offset): &(u16, Offset)| {
            state.positions.get(partition).is_some_and(|stored| *stored > 0 && offset <= stored)
        };
        if ends.iter().all(applied) {
            // Already applied (a replay after a restart).
            return Ok(ApplyOutcome { stored: 0, duplicates: batch.rows.len() as u64 });
        }
        let stored_before: HashSet<StoredKey> = self.stored_rows(&batch.rows).await?;
        let mut outcome = ApplyOutcome::default();
        let mut seen: HashSet<StoredKey> = HashSet::new();
        let mut fresh: Vec<&EventRow> = Vec::with_capacity(batch.rows.len());
        for row in &batch.rows {
            let key = stored_key(&row.app_id, &row.id, row.kind, row.timestamp_ms);
            if stored_before.contains(&key) || !seen.insert(key) {
                outcome.duplicates += 1;
                continue;
            }
            fresh.push(row);
        }
        outcome.stored = fresh.len() as u64;
        let new_installs: HashSet<(&str, &str)> = fresh
            .iter()
            .filter(|row| row.kind == EventType::Install)
            .map(|row| (row.app_id.as_str(), row.id.as_str()))
            .collect();
        let mut decided: HashSet<(&str, &str)> = HashSet::new();
        // Idempotent tables first; the events (and, through the views, the rollups) next; the
        // offset last.
        self.insert(
            "quarantine",
            json_lines(batch.rejected.iter().map(|r| QuarantineInsert {
                app_id: &r.app_id,
                received_ms: r.received_ms,
                idx: r.index,
                event_id: r.event_id.as_deref(),
                code: &r.code,
                message: &r.message,
                raw: &r.raw,
            }))?,
        )
        .await?;
        self.insert(
            "attributions",
            // Decisions of installs stored anew only, the first per install: a copy of an
            // install (decided again, as a re-install) must not replace the original's.
            json_lines(
                batch
                    .attributions
                    .iter()
                    .filter(|a| {
                        let key = (a.app_id.as_str(), a.event_id.as_str());
                        new_installs.contains(&key) && decided.insert(key)
                    })
                    .map(|a| AttributionInsert {
                        app_id: &a.app_id,
                        event_id: &a.event_id,
                        device_id: a.device_id.as_deref(),
                        status: &a.status,
                        match_type: a.match_type.as_deref(),
                        touch_id: a.touch_id.as_deref(),
                        touch_kind: a.touch_kind.as_deref(),
                        touch_at: a.touch_at_ms,
                        link_id: a.link_id.as_deref(),
                        network: &a.dims.network,
                        campaign: &a.dims.campaign,
                        adgroup: &a.dims.adgroup,
                        creative: &a.dims.creative,
                        country: &a.dims.country,
                        rejection_reason: a.rejection_reason.as_deref(),
                        reattribution: u8::from(a.reattribution),
                        reinstall: u8::from(a.reinstall),
                        install_at: a.install_at_ms,
                        decided_at: a.decided_at_ms,
                        day: &a.day,
                        keep: u64::MAX - u64::try_from(a.decided_at_ms).unwrap_or(0),
                    }),
            )?,
        )
        .await?;
        self.insert(
            "credits",
            json_lines(
                batch
                    .credits
                    .iter()
                    .filter(|c| new_installs.contains(&(c.app_id.as_str(), c.event_id.as_str())))
                    .map(|c| CreditInsert {
                        app_id: &c.app_id,
                        model: &c.model,
                        day: &c.day,
                        event_id: &c.event_id,
                        network: &c.dims.network,
                        campaign: &c.dims.campaign,
                        adgroup: &c.dims.adgroup,
                        creative: &c.dims.creative,
                        country: &c.dims.country,
                        installs: c.installs,
                    }),
            )?,
        )
        .await?;
        self.insert(
            "events",
            json_lines(fresh.iter().map(|row| EventInsert::of(row, batch.last_offset)))?,
        )
        .await?;
        // Fraud signals of installs stored anew (after the events: a crash in between loses
        // a signal rather than counting it twice).
        self.insert(
            "fraud_rollups",
            json_lines(
                batch
                    .fraud
                    .iter()
                    .filter(|hit| {
                        new_installs.contains(&(hit.app_id.as_str(), hit.event_id.as_str()))
                    })
                    .map(|hit| FraudInsert {
                        app_id: &hit.app_id,
                        day: &hit.day,
                        fraud_kind: &hit.kind,
                        reason: &hit.reason,
                        network: &hit.network,
                        hits: 1,
                    }),
            )?,
        )
        .await?;
        let mut recorded = String::new();
        for (partition, offset) in &ends {
            let offset = state.positions.get(partition).map_or(*offset, |o| (*o).max(*offset));
            let _ = writeln!(recorded, "{{\"key\":{partition},\"log_offset\":{offset}}}");
        }
        self.insert("offsets", recorded).await?;
        for (partition, offset) in ends {
            let entry = state.positions.entry(partition).or_insert(0);
            *entry = (*entry).max(offset);
        }
        Ok(outcome)
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
            Self::filters(query)?
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
        if let Some(model) = query.model.as_deref().filter(|m| *m != "last_touch") {
            let group = if columns.is_empty() {
                String::new()
            } else {
                format!("GROUP BY {}", columns.join(", "))
            };
            let sql = format!(
                "SELECT {select_dims} sum(installs) AS credited FROM credits FINAL
                 WHERE model = {} AND {} {group}",
                quote(model),
                Self::filters(query)?
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

    async fn attribution(&self, app_id: &str, event_id: &str) -> Result<Option<AttributionRow>> {
        let sql = format!(
            "SELECT {ATTRIBUTION_COLUMNS} FROM attributions FINAL WHERE app_id = {} AND event_id = {} LIMIT 1",
            quote(app_id),
            quote(event_id)
        );
        Ok(self.query(&sql).await?.first().map(attribution_from_row))
    }

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
                if !sink(attribution_from_row(&row)) {
                    return Ok(sent);
                }
            }
            from = from.saturating_add(STEP);
        }
        Ok(sent)
    }

    async fn touch_apps(&self, since_ms: i64) -> Result<Vec<String>> {
        let sql = format!(
            "SELECT DISTINCT app_id FROM events WHERE kind IN ('click', 'impression') AND ts >= {since_ms} ORDER BY app_id"
        );
        Ok(self.query(&sql).await?.iter().filter_map(|row| text(row, "app_id")).collect())
    }

    async fn device_attribution(
        &self,
        app_id: &str,
        device_ids: &[String],
    ) -> Result<Option<AttributionRow>> {
        if device_ids.is_empty() {
            return Ok(None);
        }
        let devices: Vec<String> = device_ids.iter().map(|d| quote(d)).collect();
        let sql = format!(
            "SELECT {ATTRIBUTION_COLUMNS} FROM attributions FINAL
             WHERE app_id = {} AND device_id IN ({}) ORDER BY install_at DESC LIMIT 1",
            quote(app_id),
            devices.join(", ")
        );
        Ok(self.query(&sql).await?.first().map(attribution_from_row))
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
        let app = quote(&query.app_id);
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
            from = day_literal(&query.from_day)?,
            to = day_literal(&query.to_day)?,
        );
        let rows = self.query(&sql).await?;
        Ok(rows
            .iter()
            .map(|row| CohortRow {
                install_day: text(row, "install_day").unwrap_or_default(),
                group: group.and_then(|_| text(row, "grp")),
                installs: count(row, "installs"),
                retained: (0..query.days.len())
                    .map(|i| count(row, &format!("retained_{i}")))
                    .collect(),
                revenue: (0..query.days.len())
                    .map(|i| float(row, &format!("revenue_{i}")).unwrap_or(0.0))
                    .collect(),
            })
            .collect())
    }

    async fn fraud(&self, app_id: &str, from_day: &str, to_day: &str) -> Result<Vec<FraudRow>> {
        let sql = format!(
            "SELECT fraud_kind, reason, network, sum(hits) AS total FROM fraud_rollups
             WHERE app_id = {} AND day >= {} AND day <= {}
             GROUP BY fraud_kind, reason, network ORDER BY fraud_kind, reason, network",
            quote(app_id),
            day_literal(from_day)?,
            day_literal(to_day)?
        );
        Ok(self
            .query(&sql)
            .await?
            .iter()
            .map(|row| FraudRow {
                kind: text(row, "fraud_kind").unwrap_or_default(),
                reason: text(row, "reason").unwrap_or_default(),
                network: text(row, "network").unwrap_or_default(),
                count: count(row, "total"),
            })
            .collect())
    }

    async fn rejected(
        &self,
        app_id: &str,
        limit: u32,
        before_ms: Option<i64>,
    ) -> Result<Vec<RejectedRow>> {
        let before = before_ms.map(|ms| format!(" AND received_ms < {ms}")).unwrap_or_default();
        let sql = format!(
            "SELECT app_id, received_ms, idx, event_id, code, message, raw FROM quarantine FINAL
             WHERE app_id = {}{before} ORDER BY received_ms DESC, idx DESC LIMIT {limit}",
            quote(app_id)
        );
        Ok(self
            .query(&sql)
            .await?
            .iter()
            .map(|row| RejectedRow {
                app_id: text(row, "app_id").unwrap_or_default(),
                received_ms: int(row, "received_ms").unwrap_or(0),
                index: u32::try_from(int(row, "idx").unwrap_or(0)).unwrap_or(0),
                event_id: text(row, "event_id"),
                code: text(row, "code").unwrap_or_default(),
                message: text(row, "message").unwrap_or_default(),
                raw: text(row, "raw").unwrap_or_default(),
            })
            .collect())
    }

    async fn export(
        &self,
        query: ExportQuery,
        mut sink: Box<dyn FnMut(EventRow) -> bool + Send>,
    ) -> Result<u64> {
        // Report days follow the app's time zone; UTC partitions a day either side hold them.
        // One query per UTC day keeps ClickHouse's sort small whatever the range.
        let low = shift_day(&query.from_day, -1).unwrap_or_else(|| query.from_day.clone());
        let high = shift_day(&query.to_day, 1).unwrap_or_else(|| query.to_day.clone());
        let kinds: Vec<String> = query.kinds.iter().map(|k| quote(k.as_str())).collect();
        let mut days = Vec::new();
        let mut day = low;
        while day <= high && days.len() < 400 {
            let next = shift_day(&day, 1).unwrap_or_else(|| high.clone() + "~");
            days.push(day);
            day = next;
        }
        let handle = tokio::runtime::Handle::current();
        let mut sent = 0u64;
        for utc in days {
            let sql = format!(
                "SELECT {EVENT_COLUMNS} FROM events
                 WHERE utc_day = {} AND app_id = {} AND kind IN ({}) AND day >= {} AND day <= {}
                 ORDER BY ts FORMAT JSONEachRow",
                day_literal(&utc)?,
                quote(&query.app_id),
                kinds.join(", "),
                day_literal(&query.from_day)?,
                day_literal(&query.to_day)?
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

    async fn drop_days_before(&self, day: &str) -> Result<usize> {
        let sql = format!(
            "SELECT partition FROM system.parts
             WHERE database = {} AND table = 'events' AND active AND partition < {}
             GROUP BY partition ORDER BY partition",
            quote(&self.database),
            day_literal(day)?
        );
        let partitions: Vec<String> =
            self.query(&sql).await?.iter().filter_map(|row| text(row, "partition")).collect();
        for partition in &partitions {
            self.execute(&format!("ALTER TABLE events DROP PARTITION {}", day_literal(partition)?))
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
        assert_eq!(day_literal("2026-11-20").ok().as_deref(), Some("'2026-11-20'"));
        assert!(day_literal("2026-11-20' OR 1").is_err());
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
