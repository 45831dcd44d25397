//! Erasures in the embedded store, inside the transaction of the batch that carries them:
//! rows are taken out of their blocks (a block left empty is deleted, the others re-encoded),
//! their counts subtracted from the rollups, their installs' decisions and the device's
//! activity days deleted, and the erasure recorded in `erasures` so a replay skips it.

use super::raw;
use crate::{Counts, Dims, EventRow, Result, StoreError};
use rusqlite::{OptionalExtension, Transaction, params, params_from_iter};
use std::collections::{HashMap, HashSet};
use unmogrowp_domain::erasure::{Erasure, ErasureScope};
use unmogrowp_domain::event::EventType;
use unmogrowp_domain::{Day, ErasureId};

/// Carries out `erasure` unless it was already (a replayed batch). `days` are the UTC days
/// that have raw partitions.
pub(crate) fn erase(tx: &Transaction<'_>, days: &[String], erasure: &Erasure) -> Result<()> {
    let done: Option<i64> = tx
        .query_row("SELECT rows FROM erasures WHERE id = ?1", params![erasure.id.as_str()], |row| {
            row.get(0)
        })
        .optional()?;
    if done.is_some() {
        return Ok(());
    }
    let rows = match &erasure.scope {
        ErasureScope::App => erase_app(tx, days, erasure.app_id.as_str())?,
        ErasureScope::Device { identifiers } => erase_device(tx, days, erasure, identifiers)?,
    };
    tx.execute(
        "INSERT INTO erasures (id, app_id, rows, completed_ms) VALUES (?1, ?2, ?3, ?4)",
        params![
            erasure.id.as_str(),
            erasure.app_id.as_str(),
            rows as i64,
            jiff::Timestamp::now().as_millisecond()
        ],
    )?;
    tracing::info!(erasure = %erasure.id, app_id = %erasure.app_id, rows, "erasure carried out");
    Ok(())
}

/// Every stored opt-out as `(app key, device key)` (see [`crate::EventStore::opt_outs`]).
pub(crate) fn opt_outs(connection: &rusqlite::Connection) -> Result<Vec<(u64, u64)>> {
    let mut statement = connection.prepare("SELECT app_key, device_key FROM opt_outs")?;
    let keys = statement
        .query_map([], |row| {
            let (app, device): (i64, i64) = (row.get(0)?, row.get(1)?);
            Ok((u64::from_ne_bytes(app.to_ne_bytes()), u64::from_ne_bytes(device.to_ne_bytes())))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(keys)
}

/// `(rows, completed_ms)` of a carried-out erasure.
pub(crate) fn report(
    connection: &rusqlite::Connection,
    app_id: &str,
    id: &ErasureId,
) -> Result<Option<(u64, i64)>> {
    Ok(connection
        .query_row(
            "SELECT rows, completed_ms FROM erasures WHERE id = ?1 AND app_id = ?2",
            params![id.as_str(), app_id],
            |row| Ok((row.get::<_, i64>(0)?.max(0) as u64, row.get(1)?)),
        )
        .optional()?)
}

fn erase_app(tx: &Transaction<'_>, days: &[String], app_id: &str) -> Result<u64> {
    let mut rows = 0u64;
    for day in days {
        let table = raw::raw_table(day);
        let count: i64 = tx.query_row(
            &format!("SELECT coalesce(sum(rows), 0) FROM {table} WHERE app_id = ?1"),
            params![app_id],
            |row| row.get(0),
        )?;
        rows += count.max(0) as u64;
        tx.execute(&format!("DELETE FROM {table} WHERE app_id = ?1"), params![app_id])?;
    }
    for table in ["rollups", "attributions", "credit_rollups", "fraud_rollups", "quarantine"] {
        tx.execute(&format!("DELETE FROM {table} WHERE app_id = ?1"), params![app_id])?;
    }
    tx.execute("DELETE FROM device_days WHERE app_key = ?1", params![raw::text_key(app_id)])?;
    Ok(rows)
}

/// One stored block: its row id and rows.
struct Block {
    rowid: i64,
    rows: Vec<EventRow>,
}

/// Calls `each` with every block of the app in the day's partition.
fn blocks_of(
    tx: &Transaction<'_>,
    day: &str,
    app_id: &str,
    each: &mut dyn FnMut(Block) -> Result<()>,
) -> Result<()> {
    let mut statement = tx.prepare(&format!(
        "SELECT rowid, org_id, kind, data FROM {} WHERE app_id = ?1",
        raw::raw_table(day)
    ))?;
    let mut found = statement.query(params![app_id])?;
    while let Some(block) = found.next()? {
        let (rowid, org_id, kind): (i64, String, String) =
            (block.get(0)?, block.get(1)?, block.get(2)?);
        let data: Vec<u8> = block.get(3)?;
        let kind = EventType::parse(&kind).ok_or_else(|| {
            StoreError::Query(format!("a stored block has an unknown kind {kind:?}"))
        })?;
        let rows = raw::decode_block(app_id, &org_id, kind, &data)?;
        each(Block { rowid, rows })?;
    }
    Ok(())
}

fn erase_device(
    tx: &Transaction<'_>,
    days: &[String],
    erasure: &Erasure,
    asked: &[String],
) -> Result<u64> {
    let app_id = erasure.app_id.as_str();
    // The device's identifiers: those asked for and those seen with them on a row.
    // Until no pass adds one (a row may link two identifiers that only a later row ties to
    // the device); usually two passes.
    let mut ids: HashSet<String> = asked.iter().cloned().collect();
    loop {
        let known = ids.len();
        for day in days {
            blocks_of(tx, day, app_id, &mut |block| {
                for row in &block.rows {
                    let row_ids = row.identifiers();
                    if row_ids.iter().any(|id| ids.contains(id)) {
                        ids.extend(row_ids);
                    }
                }
                Ok(())
            })?;
        }
        if ids.len() == known {
            break;
        }
    }
    let id_list: Vec<&str> = ids.iter().map(String::as_str).collect();
    let marks = vec!["?"; id_list.len()].join(", ");
    // Its installs' decisions, and the touchpoints they were credited to (a click matched
    // by fingerprint carries the device's IP and user agent but none of its identifiers).
    let mut installs: HashSet<String> = HashSet::new();
    let mut touches: HashSet<String> = HashSet::new();
    {
        let mut statement = tx.prepare(&format!(
            "SELECT event_id, touch_id FROM attributions
             WHERE app_id = ? AND device_id IN ({marks})"
        ))?;
        let values = [rusqlite::types::Value::Text(app_id.to_owned())]
            .into_iter()
            .chain(id_list.iter().map(|id| rusqlite::types::Value::Text((*id).to_owned())));
        let mut found = statement.query(params_from_iter(values))?;
        while let Some(row) = found.next()? {
            installs.insert(row.get(0)?);
            if let Some(touch) = row.get::<_, Option<String>>(1)? {
                touches.insert(touch);
            }
        }
    }
    let mut removed = 0u64;
    let mut rollups: HashMap<(Day, Dims), Counts> = HashMap::new();
    for day in days {
        let mut rewrites: Vec<(i64, Vec<EventRow>)> = Vec::new();
        blocks_of(tx, day, app_id, &mut |block| {
            let (gone, kept): (Vec<EventRow>, Vec<EventRow>) =
                block.rows.into_iter().partition(|row| {
                    let own = row.identifiers().iter().any(|id| ids.contains(id));
                    let credited = matches!(row.kind, EventType::Click | EventType::Impression)
                        && touches.contains(&row.id);
                    own || credited
                        || (row.kind == EventType::Install && installs.contains(&row.id))
                });
            if gone.is_empty() {
                return Ok(());
            }
            removed += gone.len() as u64;
            for row in &gone {
                if row.kind == EventType::Install {
                    installs.insert(row.id.clone());
                }
                rollups.entry((row.day, row.dims.clone())).or_default().add(&Counts::of(row));
            }
            rewrites.push((block.rowid, kept));
            Ok(())
        })?;
        let table = raw::raw_table(day);
        for (rowid, kept) in rewrites {
            match kept.as_slice() {
                [] => {
                    tx.execute(&format!("DELETE FROM {table} WHERE rowid = ?1"), params![rowid])?;
                }
                rows => {
                    // The rows stay in time order, so the block stays sorted.
                    let refs: Vec<&EventRow> = rows.iter().collect();
                    let data = raw::encode_block(&refs)?;
                    let min_ts = refs.iter().map(|row| row.timestamp_ms).min().unwrap_or(0);
                    let max_ts = refs.iter().map(|row| row.timestamp_ms).max().unwrap_or(0);
                    tx.execute(
                        &format!(
                            "UPDATE {table} SET rows = ?1, min_ts = ?2, max_ts = ?3, data = ?4 WHERE rowid = ?5"
                        ),
                        params![refs.len() as i64, min_ts, max_ts, data, rowid],
                    )?;
                }
            }
        }
    }
    subtract_rollups(tx, app_id, &rollups)?;
    {
        let mut statement =
            tx.prepare_cached("DELETE FROM attributions WHERE app_id = ?1 AND event_id = ?2")?;
        for install in &installs {
            statement.execute(params![app_id, install])?;
        }
        let mut statement =
            tx.prepare_cached("DELETE FROM device_days WHERE app_key = ?1 AND device_key = ?2")?;
        for id in &ids {
            statement.execute(params![raw::text_key(app_id), raw::text_key(id)])?;
        }
        // Quarantined events keep the raw JSON as sent: those naming the device go too.
        let mut statement = tx.prepare_cached(
            "DELETE FROM quarantine WHERE app_id = ?1 AND instr(lower(raw), ?2) > 0",
        )?;
        for value in ids.iter().filter_map(|id| id.split_once(':').map(|(_, value)| value)) {
            statement.execute(params![app_id, value])?;
        }
    }
    Ok(removed)
}

fn subtract_rollups(
    tx: &Transaction<'_>,
    app_id: &str,
    rollups: &HashMap<(Day, Dims), Counts>,
) -> Result<()> {
    let mut statement = tx.prepare_cached(
        "UPDATE rollups SET clicks = clicks - ?8, impressions = impressions - ?9, installs = installs - ?10,
            organic_installs = organic_installs - ?11, rejected_installs = rejected_installs - ?12,
            reattributions = reattributions - ?13, reengagements = reengagements - ?14,
            sessions = sessions - ?15, events = events - ?16, revenue = revenue - ?17,
            reinstalls = reinstalls - ?18
         WHERE app_id = ?1 AND day = ?2 AND network = ?3 AND campaign = ?4 AND adgroup = ?5
            AND creative = ?6 AND country = ?7",
    )?;
    for ((day, dims), counts) in rollups {
        let values = super::write::rollup_params(app_id, *day, dims, counts);
        statement.execute(params_from_iter(values))?;
    }
    // A group left with nothing is removed, as if it had never been counted.
    tx.execute(
        "DELETE FROM rollups WHERE app_id = ?1 AND clicks = 0 AND impressions = 0 AND installs = 0
            AND organic_installs = 0 AND rejected_installs = 0 AND reattributions = 0 AND reengagements = 0
            AND sessions = 0 AND events = 0 AND reinstalls = 0 AND abs(revenue) < 1e-9",
        params![app_id],
    )?;
    Ok(())
}
