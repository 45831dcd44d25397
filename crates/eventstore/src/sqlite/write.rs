//! Applying a batch to the embedded store in one transaction: duplicates are recognised by
//! their seen keys, new rows go into time-sorted blocks per UTC day, app and kind, and every
//! aggregate (rollups, device days, fraud counts, multi-touch credit) is summed in memory
//! first so each key is written once per batch, whatever the batch's size.

use super::raw;
use crate::{ApplyOutcome, Batch, Counts, Dims, EventRow, Result};
use crate::{MatchType, RejectionReason, TouchKind};
use rusqlite::params;
use std::collections::BTreeMap;
use unmogrowp_domain::Day;
use unmogrowp_domain::attribution::FraudReason;

/// Maps keyed by borrowed strings, filled per row: a fast non-cryptographic hasher (the keys
/// are the batch's own data, and the maps live for one batch).
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
type HashSet<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;
use unmogrowp_domain::event::EventType;

const DAY_MS: i64 = 86_400_000;

/// The writer's connection and the UTC days whose tables exist.
pub(crate) struct Writer {
    pub(crate) connection: rusqlite::Connection,
    pub(crate) partitions: HashSet<String>,
}

/// Inserts rows of one app, organization and kind (in any order) as blocks of `utc_day`.
pub(crate) fn insert_blocks(
    tx: &rusqlite::Transaction<'_>,
    utc_day: &str,
    rows: &[&EventRow],
) -> Result<()> {
    let Some(first) = rows.first() else { return Ok(()) };
    let mut sorted = rows.to_vec();
    sorted.sort_by_key(|row| row.timestamp_ms);
    let mut statement = tx.prepare_cached(&format!(
        "INSERT INTO {} (app_id, org_id, kind, min_ts, max_ts, rows, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        raw::raw_table(utc_day)
    ))?;
    for block in raw::blocks(&sorted) {
        let data = raw::encode_block(block)?;
        let min_ts = block.first().map_or(0, |row| row.timestamp_ms);
        let max_ts = block.last().map_or(0, |row| row.timestamp_ms);
        statement.execute(params![
            first.app_id.as_str(),
            first.org_id.as_str(),
            first.kind.as_str(),
            min_ts,
            max_ts,
            block.len() as i64,
            data
        ])?;
    }
    Ok(())
}

/// Rows per multi-row statement: one statement per row costs more than the row itself
/// (measured: a seen key 2.6 µs alone), while a few hundred rows per statement keep the
/// parameter count far below SQLite's limit.
const ROWS_PER_STATEMENT: usize = 250;

/// `(?, ?), (?, ?), …`: `rows` groups of `columns` parameters.
fn placeholders(rows: usize, columns: usize) -> String {
    let group = format!("({})", vec!["?"; columns].join(", "));
    vec![group; rows].join(", ")
}

/// Which of a day's rows are new: not stored before (their `(time, key)` is not in the day's
/// seen table) and not repeated earlier in the batch. Records the new ones as seen.
fn mark_new(
    tx: &rusqlite::Transaction<'_>,
    utc_day: &str,
    rows: &[&EventRow],
) -> Result<Vec<bool>> {
    let seen = raw::seen_table(utc_day);
    let keys: Vec<(i64, i64)> = rows
        .iter()
        .map(|row| (row.timestamp_ms, raw::seen_key(row.app_id.as_str(), &row.id)))
        .collect();
    let mut unique: Vec<(i64, i64)> = keys.clone();
    unique.sort_unstable();
    unique.dedup();
    let mut stored: HashSet<(i64, i64)> = HashSet::default();
    for chunk in unique.chunks(ROWS_PER_STATEMENT) {
        let mut statement = tx.prepare_cached(&format!(
            "SELECT s.ts, s.key FROM (VALUES {}) AS v JOIN {seen} AS s ON s.ts = v.column1 AND s.key = v.column2",
            placeholders(chunk.len(), 2)
        ))?;
        let values = chunk.iter().flat_map(|(ts, key)| [*ts, *key]);
        let mut found = statement.query(rusqlite::params_from_iter(values))?;
        while let Some(row) = found.next()? {
            stored.insert((row.get(0)?, row.get(1)?));
        }
    }
    let mut taken: HashSet<(i64, i64)> =
        HashSet::with_capacity_and_hasher(keys.len(), Default::default());
    let new: Vec<bool> =
        keys.iter().map(|key| !stored.contains(key) && taken.insert(*key)).collect();
    let mut inserts: Vec<(i64, i64)> =
        unique.into_iter().filter(|key| !stored.contains(key)).collect();
    inserts.sort_unstable();
    for chunk in inserts.chunks(ROWS_PER_STATEMENT) {
        let mut statement = tx.prepare_cached(&format!(
            "INSERT INTO {seen} (ts, key) VALUES {}",
            placeholders(chunk.len(), 2)
        ))?;
        statement
            .execute(rusqlite::params_from_iter(chunk.iter().flat_map(|(ts, key)| [*ts, *key])))?;
    }
    Ok(new)
}

/// Which of the batch's installs have a stored decision already (by app and id).
fn stored_installs(
    tx: &rusqlite::Transaction<'_>,
    rows: &[EventRow],
) -> Result<HashSet<(String, String)>> {
    let installs: Vec<(&str, &str)> = rows
        .iter()
        .filter(|row| row.kind == EventType::Install)
        .map(|row| (row.app_id.as_str(), row.id.as_str()))
        .collect();
    let mut found = HashSet::default();
    for chunk in installs.chunks(ROWS_PER_STATEMENT) {
        let mut statement = tx.prepare_cached(&format!(
            "SELECT a.app_id, a.event_id FROM (VALUES {}) AS v
             JOIN attributions AS a ON a.app_id = v.column1 AND a.event_id = v.column2",
            placeholders(chunk.len(), 2)
        ))?;
        let values = chunk.iter().flat_map(|(app, id)| [*app, *id]);
        let mut rows = statement.query(rusqlite::params_from_iter(values))?;
        while let Some(row) = rows.next()? {
            found.insert((row.get(0)?, row.get(1)?));
        }
    }
    Ok(found)
}

/// A rollup row as statement parameters `?1..?18`: its key (app, day, network, campaign, ad
/// group, creative, country), then its counts in column order (clicks, impressions, installs,
/// organic installs, rejected installs, re-attributions, re-engagements, sessions, events,
/// revenue, re-installs). The batch's upsert adds them; an erasure subtracts them.
pub(crate) fn rollup_params(
    app_id: &str,
    day: Day,
    dims: &Dims,
    counts: &Counts,
) -> [rusqlite::types::Value; 18] {
    use rusqlite::types::Value::{Integer, Real, Text};
    let count = |n: u64| Integer(i64::try_from(n).unwrap_or(i64::MAX));
    [
        Text(app_id.to_owned()),
        Text(day.text().to_string()),
        Text(dims.network.clone()),
        Text(dims.campaign.clone()),
        Text(dims.adgroup.clone()),
        Text(dims.creative.clone()),
        Text(dims.country.clone()),
        count(counts.clicks),
        count(counts.impressions),
        count(counts.installs),
        count(counts.organic_installs),
        count(counts.rejected_installs),
        count(counts.reattributions),
        count(counts.reengagements),
        count(counts.sessions),
        count(counts.events),
        Real(counts.revenue),
        count(counts.reinstalls),
    ]
}

type FraudKey<'a> = (&'a str, Day, FraudReason, &'a str);

pub(crate) fn apply_batch(writer: &mut Writer, batch: &Batch) -> Result<ApplyOutcome> {
    let mut outcome = ApplyOutcome::default();
    let mut rollups: HashMap<(&str, Day, &Dims), Counts> = HashMap::default();
    let mut device_days: HashMap<(&str, &str, Day), f64> = HashMap::default();
    let mut new_installs: HashSet<(&str, &str)> = HashSet::default();
    let mut fraud: HashMap<FraudKey<'_>, i64> = HashMap::default();
    let Writer { connection, partitions } = writer;
    let tx = connection.unchecked_transaction()?;
    // Erasures first: they take what earlier batches stored (the pipeline already took this
    // batch's rows from before the request out of it; its rows after the request stay).
    if !batch.erasures.is_empty() {
        let mut days: Vec<String> = partitions.iter().cloned().collect();
        days.sort_unstable();
        for erasure in &batch.erasures {
            super::erase::erase(&tx, &days, erasure)?;
        }
    }

    // Installs are one per id whatever their time (as on ClickHouse): a copy re-sent with
    // another timestamp is found through the decisions already stored.
    let stored_installs = stored_installs(&tx, &batch.rows)?;
    let mut installs_taken: HashSet<(&str, &str)> = HashSet::default();
    // Rows by UTC day (their partition), keeping the batch's order within a day.
    let mut by_day: BTreeMap<i64, Vec<&EventRow>> = BTreeMap::new();
    for row in &batch.rows {
        by_day.entry(row.timestamp_ms.div_euclid(DAY_MS)).or_default().push(row);
    }
    for (day_index, rows) in by_day {
        let day = Day::of_utc_millis(day_index * DAY_MS).to_string();
        if !partitions.contains(&day) {
            raw::create_partition(&tx, &day)?;
            partitions.insert(day.clone());
        }
        let new = mark_new(&tx, &day, &rows)?;
        let mut fresh: HashMap<(&str, &str, EventType), Vec<&EventRow>> = HashMap::default();
        for (row, new) in rows.into_iter().zip(new) {
            let install_again = row.kind == EventType::Install
                && (stored_installs.contains(&(row.app_id.to_string(), row.id.clone()))
                    || !installs_taken.insert((row.app_id.as_str(), row.id.as_str())));
            if !new || install_again {
                outcome.duplicates += 1;
                continue;
            }
            outcome.stored += 1;
            fresh
                .entry((row.app_id.as_str(), row.org_id.as_str(), row.kind))
                .or_default()
                .push(row);
            if row.kind == EventType::Install {
                new_installs.insert((row.app_id.as_str(), row.id.as_str()));
            }
            if matches!(row.kind, EventType::Open | EventType::Session | EventType::Event)
                && let Some(device) = &row.device_id
            {
                *device_days
                    .entry((row.app_id.as_str(), device.as_str(), row.day))
                    .or_insert(0.0) += row.revenue;
            }
            if let Some(reason) = row.fraud_reason {
                *fraud
                    .entry((row.app_id.as_str(), row.day, reason, row.dims.network.as_str()))
                    .or_insert(0) += 1;
            }
            rollups
                .entry((row.app_id.as_str(), row.day, &row.dims))
                .or_default()
                .add(&Counts::of(row));
        }
        for group in fresh.values() {
            insert_blocks(&tx, &day, group)?;
        }
    }
    for hit in batch
        .fraud
        .iter()
        .filter(|hit| new_installs.contains(&(hit.app_id.as_str(), hit.event_id.as_str())))
    {
        *fraud
            .entry((hit.app_id.as_str(), hit.day, hit.reason, hit.network.as_str()))
            .or_insert(0) += 1;
    }
    {
        // In key order, so the tree is walked once from left to right.
        let mut keyed: Vec<(i64, i64, i64, f64)> = device_days
            .iter()
            .map(|((app_id, device, day), revenue)| {
                (raw::text_key(app_id), raw::text_key(device), raw::day_number(*day), *revenue)
            })
            .collect();
        keyed.sort_unstable_by_key(|(app, device, day, _)| (*app, *device, *day));
        for chunk in keyed.chunks(ROWS_PER_STATEMENT) {
            let mut statement = tx.prepare_cached(&format!(
                "INSERT INTO device_days (app_key, device_key, day, revenue) VALUES {}
                 ON CONFLICT (app_key, device_key, day) DO UPDATE SET revenue = revenue + excluded.revenue",
                placeholders(chunk.len(), 4)
            ))?;
            let values = chunk.iter().flat_map(|(app, device, day, revenue)| {
                [
                    rusqlite::types::Value::Integer(*app),
                    rusqlite::types::Value::Integer(*device),
                    rusqlite::types::Value::Integer(*day),
                    rusqlite::types::Value::Real(*revenue),
                ]
            });
            statement.execute(rusqlite::params_from_iter(values))?;
        }
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
            statement
                .execute(rusqlite::params_from_iter(rollup_params(app_id, *day, dims, counts)))?;
        }
    }
    {
        let mut statement = tx.prepare_cached(
            "INSERT INTO quarantine (app_id, received_ms, idx, event_id, code, message, raw) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        for rejected in &batch.quarantined {
            statement.execute(params![
                rejected.app_id.as_str(),
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
                reinstall, install_at, decided_at, day, device_key)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21)",
        )?;
        for decision in &batch.attributions {
            statement.execute(params![
                decision.app_id.as_str(),
                decision.event_id,
                decision.device_id,
                decision.status.as_str(),
                decision.match_type.map(MatchType::as_str),
                decision.touch_id,
                decision.touch_kind.map(TouchKind::as_str),
                decision.touch_at_ms,
                decision.link_id,
                decision.dims.network,
                decision.dims.campaign,
                decision.dims.adgroup,
                decision.dims.creative,
                decision.dims.country,
                decision.rejection_reason.map(RejectionReason::as_str),
                decision.reattribution,
                decision.reinstall,
                decision.install_at_ms,
                decision.decided_at_ms,
                &*decision.day.text(),
                decision.device_id.as_deref().map(raw::text_key),
            ])?;
        }
    }
    {
        let mut credits: HashMap<(&str, &str, Day, &Dims), f64> = HashMap::default();
        for credit in batch
            .credits
            .iter()
            .filter(|c| new_installs.contains(&(c.app_id.as_str(), c.event_id.as_str())))
        {
            *credits
                .entry((
                    credit.app_id.as_str(),
                    credit.attribution_model.as_str(),
                    credit.day,
                    &credit.dims,
                ))
                .or_insert(0.0) += credit.installs;
        }
        let mut statement = tx.prepare_cached(
            "INSERT INTO credit_rollups (app_id, model, day, network, campaign, adgroup, creative, country, installs)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT (app_id, model, day, network, campaign, adgroup, creative, country)
             DO UPDATE SET installs = installs + excluded.installs",
        )?;
        for ((app_id, model, day, dims), installs) in &credits {
            statement.execute(params![
                app_id,
                model,
                &*day.text(),
                dims.network,
                dims.campaign,
                dims.adgroup,
                dims.creative,
                dims.country,
                installs,
            ])?;
        }
    }
    {
        let mut statement = tx.prepare_cached(
            "INSERT INTO fraud_rollups (app_id, day, kind, reason, network, count) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (app_id, day, kind, reason, network) DO UPDATE SET count = count + excluded.count",
        )?;
        for ((app_id, day, reason, network), count) in &fraud {
            statement.execute(params![
                app_id,
                &*day.text(),
                reason.kind().as_str(),
                reason.as_str(),
                network,
                count
            ])?;
        }
    }
    {
        let mut statement = tx.prepare_cached(
            "INSERT OR IGNORE INTO opt_outs (app_key, device_key, at) VALUES (?1, ?2, ?3)",
        )?;
        for opt_out in &batch.opt_outs {
            for identifier in &opt_out.identifiers {
                statement.execute(params![
                    raw::text_key(opt_out.app_id.as_str()),
                    raw::text_key(identifier),
                    opt_out.received_ms
                ])?;
            }
        }
    }
    for (partition, offset) in batch.ends() {
        tx.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![super::position_key(partition), offset.to_string()],
        )?;
    }
    tx.commit()?;
    Ok(outcome)
}
