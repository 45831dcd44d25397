//! The ClickHouse schema: tables, views and their columns, and the versioned migrations that
//! bring a database to the layout this binary writes.

use super::{ClickHouseEventStore, count, quote};
use crate::{Result, StoreError};

pub(super) const EVENT_COLUMNS: &str = "app_id, org_id, id, kind, name, ts, received, day, device_id, gaid, idfa, idfv, ip, \
    user_agent, os, os_version, model, locale, country, click_id, link_id, network_click_id, subs, network, \
    campaign, adgroup, creative, revenue_amount, revenue_currency, revenue, properties, install, reattribution, \
    reengagement, reinstall, fraud_reason";

pub(super) const ATTRIBUTION_COLUMNS: &str = "app_id, event_id, device_id, status, match_type, touch_id, touch_kind, touch_at, \
    link_id, network, campaign, adgroup, creative, country, rejection_reason, reattribution, reinstall, install_at, \
    decided_at, day";

/// The rollups of events, as the `rollups_mv` view computes them on insert; also what an
/// erasure recomputes a day's rollups from (append a `WHERE`).
macro_rules! rollup_select {
    () => {
        "SELECT app_id, day, network, campaign, adgroup, creative, country,
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
     FROM events"
    };
}

/// The device days of events, as `device_days_mv` computes them; an erasure recomputes a
/// device's days from it (append `AND …`).
macro_rules! device_days_select {
    () => {
        "SELECT app_id, assumeNotNull(device_id) AS device, day, toUInt64(1) AS hits,
        revenue AS device_revenue
     FROM events WHERE kind IN ('open', 'session', 'event') AND device_id IS NOT NULL"
    };
}

pub(super) const ROLLUP_SELECT: &str = rollup_select!();
pub(super) const DEVICE_DAYS_SELECT: &str = device_days_select!();

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
    concat!("CREATE MATERIALIZED VIEW IF NOT EXISTS rollups_mv TO rollups AS ", rollup_select!()),
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
    concat!(
        "CREATE MATERIALIZED VIEW IF NOT EXISTS device_days_mv TO device_days AS ",
        device_days_select!()
    ),
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
    // Devices that opted out (hashes of the app id and of the identifier), kept for good.
    "CREATE TABLE IF NOT EXISTS opt_outs (app_key UInt64, device_key UInt64, at Int64)
     ENGINE = ReplacingMergeTree() ORDER BY (app_key, device_key)",
    // Erasures in progress (stage 1: what to delete, kept until done so a crash can finish
    // it) and carried out (stage 2). A table added without a version step: it is created
    // on every start, and releases that do not know it leave it alone.
    "CREATE TABLE IF NOT EXISTS erasures (
        app_id String, id String, stage UInt8, rows UInt64, days Array(Date),
        event_ids Array(String), identifiers Array(String), touch_ids Array(String),
        completed_ms Int64
    ) ENGINE = ReplacingMergeTree(stage) ORDER BY (app_id, id)",
];

impl ClickHouseEventStore {
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
    pub(super) async fn migrate(&self) -> Result<()> {
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

    pub(super) async fn record_version(&self, version: u32) -> Result<()> {
        self.insert("schema_version", format!("{{\"version\":{version}}}\n")).await
    }
}
