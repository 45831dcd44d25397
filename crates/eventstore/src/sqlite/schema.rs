//! The embedded event store's schema and its versions. The version lives in `meta`
//! (`schema_version`); a file without one was written before versions existed (version 0:
//! one SQLite row per event in `events_YYYYMMDD`). Opening migrates an older file in place,
//! each step in one transaction, and refuses a file newer than this binary.

use super::raw;
use crate::AttributionRow;
use crate::model::parse_install;
use crate::{Dims, EventRow, Result, StoreError};
use rusqlite::{Connection, OptionalExtension, params};
use unmogrowp_domain::event::EventType;
use unmogrowp_domain::{AppId, Day, OrgId};

/// The schema version this binary writes.
pub(crate) const VERSION: u32 = 1;

/// The tables every version has (created when missing, so a new file starts at version 0
/// and walks the same steps as an old one).
const BASE: &str = "
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
CREATE TABLE IF NOT EXISTS opt_outs (
    app_key INTEGER NOT NULL, device_key INTEGER NOT NULL, at INTEGER NOT NULL,
    PRIMARY KEY (app_key, device_key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS erasures (
    id TEXT PRIMARY KEY, app_id TEXT NOT NULL, rows INTEGER NOT NULL, completed_ms INTEGER NOT NULL
);
";

/// The steps from each version to the next: `(version reached, what it does)`.
const MIGRATIONS: &[(u32, &str)] = &[(
    1,
    "raw rows in time-sorted blocks per app and kind; seen keys per day; device days and \
     install decisions keyed by integer app and device keys",
)];

/// Brings the file to [`VERSION`]; refuses a newer one.
pub(crate) fn migrate(connection: &mut Connection, path: &std::path::Path) -> Result<()> {
    connection.execute_batch(BASE)?;
    let version = current_version(connection)?;
    if version > VERSION {
        return Err(StoreError::Unavailable(format!(
            "the event store {} has schema version {version}, newer than this binary's {VERSION}; \
             run a release of unmogrowp that knows it",
            path.display()
        )));
    }
    for (target, name) in MIGRATIONS.iter().filter(|(target, _)| *target > version) {
        let started = std::time::Instant::now();
        let tx = connection.transaction()?;
        match target {
            1 => {
                to_blocks(&tx)?;
                to_keyed_device_days(&tx)?;
            }
            _ => return Err(StoreError::Query(format!("no migration to version {target}"))),
        }
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('schema_version', ?1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![target.to_string()],
        )?;
        tx.commit()?;
        tracing::info!(
            version = target,
            name,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "event store migrated"
        );
    }
    Ok(())
}

pub(crate) fn current_version(connection: &Connection) -> Result<u32> {
    let value: Option<String> = connection
        .query_row("SELECT value FROM meta WHERE key = 'schema_version'", [], |row| row.get(0))
        .optional()?;
    match value {
        None => Ok(0),
        Some(text) => text.parse().map_err(|_| {
            StoreError::Query(format!("the event store's schema_version is not a number: {text}"))
        }),
    }
}

/// Version 0 → 1: `device_days` keyed by `(app_key, device_key, day number)` instead of
/// text, and install decisions carry the device's key for the cohort join.
fn to_keyed_device_days(tx: &rusqlite::Transaction<'_>) -> Result<()> {
    tx.execute_batch(
        "CREATE TABLE device_days_keyed (
            app_key INTEGER NOT NULL, device_key INTEGER NOT NULL, day INTEGER NOT NULL,
            revenue REAL NOT NULL DEFAULT 0,
            PRIMARY KEY (app_key, device_key, day)
         ) WITHOUT ROWID;
         ALTER TABLE attributions ADD COLUMN device_key INTEGER;",
    )?;
    let old: Vec<(String, String, String, f64)> = {
        let mut statement =
            tx.prepare("SELECT app_id, device_id, day, revenue FROM device_days")?;
        statement
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)))?
            .collect::<rusqlite::Result<_>>()?
    };
    {
        let mut insert = tx.prepare(
            "INSERT INTO device_days_keyed (app_key, device_key, day, revenue) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (app_key, device_key, day) DO UPDATE SET revenue = revenue + excluded.revenue",
        )?;
        for (app_id, device_id, day, revenue) in &old {
            let Ok(day) = day.parse() else { continue };
            let day = raw::day_number(day);
            insert.execute(params![
                raw::text_key(app_id),
                raw::text_key(device_id),
                day,
                revenue
            ])?;
        }
    }
    // By primary key, one decision at a time (a `WHERE device_id = ?` per device would scan
    // the table once per device).
    let decisions: Vec<(String, String, String)> = {
        let mut statement = tx.prepare(
            "SELECT app_id, event_id, device_id FROM attributions WHERE device_id IS NOT NULL",
        )?;
        statement
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
            .collect::<rusqlite::Result<_>>()?
    };
    {
        let mut update = tx.prepare(
            "UPDATE attributions SET device_key = ?1 WHERE app_id = ?2 AND event_id = ?3",
        )?;
        for (app_id, event_id, device_id) in &decisions {
            update.execute(params![raw::text_key(device_id), app_id, event_id])?;
        }
    }
    tx.execute_batch(
        "DROP TABLE device_days;
         ALTER TABLE device_days_keyed RENAME TO device_days;",
    )?;
    Ok(())
}

/// Version 0 → 1: every `events_YYYYMMDD` table becomes blocks in `raw_YYYYMMDD` and keys
/// in `seen_YYYYMMDD`; the old table is dropped.
fn to_blocks(tx: &rusqlite::Transaction<'_>) -> Result<()> {
    let days: Vec<String> = {
        let mut statement = tx.prepare("SELECT day FROM partitions ORDER BY day")?;
        statement.query_map([], |row| row.get::<_, String>(0))?.collect::<rusqlite::Result<_>>()?
    };
    for day in days {
        let old = format!("events_{}", day.replace('-', ""));
        let exists: Option<String> = tx
            .query_row(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?1",
                params![old],
                |row| row.get(0),
            )
            .optional()?;
        raw::create_partition(tx, &day)?;
        if exists.is_none() {
            continue;
        }
        let rows: Vec<EventRow> = {
            let mut statement = tx.prepare(&format!(
                "SELECT {V0_COLUMNS} FROM {old} ORDER BY app_id, org_id, kind, ts, rowid"
            ))?;
            statement.query_map([], v0_row)?.collect::<rusqlite::Result<_>>()?
        };
        let mut seen = tx.prepare(&format!(
            "INSERT OR IGNORE INTO {} (ts, key) VALUES (?1, ?2)",
            raw::seen_table(&day)
        ))?;
        for row in &rows {
            seen.execute(params![row.timestamp_ms, raw::seen_key(row.app_id.as_str(), &row.id)])?;
        }
        let mut start = 0;
        while start < rows.len() {
            let first = &rows[start];
            let end = rows[start..]
                .iter()
                .position(|r| {
                    r.app_id != first.app_id || r.org_id != first.org_id || r.kind != first.kind
                })
                .map_or(rows.len(), |offset| start + offset);
            let group: Vec<&EventRow> = rows[start..end].iter().collect();
            super::write::insert_blocks(tx, &day, &group)?;
            start = end;
        }
        tx.execute_batch(&format!("DROP TABLE {old}"))?;
    }
    Ok(())
}

const V0_COLUMNS: &str = "app_id, org_id, id, kind, name, ts, received, day, device_id, gaid, idfa, idfv, ip, \
    user_agent, os, os_version, model, locale, country, click_id, link_id, network_click_id, subs, network, \
    campaign, adgroup, creative, revenue_amount, revenue_currency, revenue, properties, install, reattribution, \
    reengagement, reinstall, fraud_reason";

/// A JSON array of optional strings, written by hand (the store needs nothing more).
#[cfg(test)]
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

/// A row of a version 0 raw table.
fn v0_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<EventRow> {
    let kind: String = row.get(3)?;
    Ok(EventRow {
        app_id: AppId::from_stored(row.get(0)?),
        org_id: OrgId::from_stored(row.get(1)?),
        id: row.get(2)?,
        kind: EventType::parse(&kind).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                3,
                rusqlite::types::Type::Text,
                format!("unknown event kind {kind:?}").into(),
            )
        })?,
        name: row.get(4)?,
        timestamp_ms: row.get(5)?,
        received_ms: row.get(6)?,
        day: day(row, 7)?,
        device_id: row.get(8)?,
        gaid: row.get(9)?,
        idfa: row.get(10)?,
        idfv: row.get(11)?,
        ip: row.get(12)?,
        user_agent: row.get(13)?,
        os: row.get(14)?,
        os_version: row.get(15)?,
        device_model: row.get(16)?,
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
        fraud_reason: term(row, 35)?,
    })
}

/// A stored term read back into its type; unknown text is an error naming the column.
pub(super) fn term<T>(row: &rusqlite::Row<'_>, index: usize) -> rusqlite::Result<Option<T>>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    let Some(text) = row.get::<_, Option<String>>(index)? else { return Ok(None) };
    text.parse().map(Some).map_err(|error: T::Err| {
        rusqlite::Error::FromSqlConversionFailure(
            index,
            rusqlite::types::Type::Text,
            error.to_string().into(),
        )
    })
}

/// A stored day (`YYYY-MM-DD`) read back; NULL or other text is an error naming the column.
pub(super) fn day(row: &rusqlite::Row<'_>, index: usize) -> rusqlite::Result<Day> {
    term(row, index)?.ok_or(rusqlite::Error::InvalidColumnType(
        index,
        "day".to_owned(),
        rusqlite::types::Type::Null,
    ))
}

pub(super) fn attribution_from_sql(row: &rusqlite::Row<'_>) -> rusqlite::Result<AttributionRow> {
    Ok(AttributionRow {
        app_id: AppId::from_stored(row.get(0)?),
        event_id: row.get(1)?,
        device_id: row.get(2)?,
        status: term(row, 3)?.ok_or(rusqlite::Error::InvalidColumnType(
            3,
            "status".to_owned(),
            rusqlite::types::Type::Null,
        ))?,
        match_type: term(row, 4)?,
        touch_id: row.get(5)?,
        touch_kind: term(row, 6)?,
        touch_at_ms: row.get(7)?,
        link_id: row.get(8)?,
        dims: Dims {
            network: row.get(9)?,
            campaign: row.get(10)?,
            adgroup: row.get(11)?,
            creative: row.get(12)?,
            country: row.get(13)?,
        },
        rejection_reason: term(row, 14)?,
        reattribution: row.get(15)?,
        reinstall: row.get(16)?,
        install_at_ms: row.get(17)?,
        decided_at_ms: row.get(18)?,
        day: day(row, 19)?,
    })
}

/// The columns [`attribution_from_sql`] reads, in its order.
pub(super) const ATTRIBUTION_COLUMNS: &str = "app_id, event_id, device_id, status, match_type, touch_id, touch_kind, touch_at, \
    link_id, network, campaign, adgroup, creative, country, rejection_reason, reattribution, reinstall, install_at, decided_at, day";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subs_round_trip() {
        let subs = vec![Some("a\"b".to_owned()), None, Some("é\\".to_owned())];
        assert_eq!(parse_subs(serde_json_like(&subs)), subs);
        assert!(parse_subs(None).is_empty());
    }
}
