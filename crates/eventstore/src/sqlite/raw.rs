//! Raw rows of the embedded store. Per UTC day there are two tables: `raw_YYYYMMDD` holds
//! *blocks* — the rows of one app and kind from one batch, sorted by time, encoded together
//! as one blob (postcard) — and `seen_YYYYMMDD` holds `(event time, 64-bit hash of
//! app_id:id)` for every stored row, which makes a re-applied row a duplicate. One SQLite row
//! per block instead of one per event, and seen keys that lead with the event time (so new
//! keys land on the last pages of the tree instead of dirtying pages all over it), are what
//! let a single writer keep up with ingestion (ARCHITECTURE.md has the measurements);
//! exports decode blocks and merge them back into time order.

use crate::model::{install_name, parse_install};
use crate::{Dims, EventRow, Result, StoreError};
use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use unmogrowp_domain::attribution::FraudReason;
use unmogrowp_domain::event::EventType;
use unmogrowp_domain::{AppId, Day, OrgId};

/// The first byte of every block: how the rest is encoded.
const BLOCK_FORMAT: u8 = 1;

/// At most this many rows go into one block, and one block spans at most
/// [`BLOCK_SPAN_MS`] of event time, so an export merging blocks back into time order holds
/// only the blocks that overlap in time (seconds of data), not a day's.
pub(crate) const BLOCK_ROWS: usize = 2_000;
pub(crate) const BLOCK_SPAN_MS: i64 = 60_000;

pub(crate) fn raw_table(utc_day: &str) -> String {
    format!("raw_{}", utc_day.replace('-', ""))
}

pub(crate) fn seen_table(utc_day: &str) -> String {
    format!("seen_{}", utc_day.replace('-', ""))
}

/// The tables of one UTC day.
pub(crate) fn create_partition(connection: &Connection, utc_day: &str) -> Result<()> {
    let (raw, seen) = (raw_table(utc_day), seen_table(utc_day));
    connection.execute_batch(&format!(
        "CREATE TABLE IF NOT EXISTS {raw} (
            app_id TEXT NOT NULL, org_id TEXT NOT NULL, kind TEXT NOT NULL,
            min_ts INTEGER NOT NULL, max_ts INTEGER NOT NULL, rows INTEGER NOT NULL, data BLOB NOT NULL
         );
         CREATE INDEX IF NOT EXISTS {raw}_by_app ON {raw} (app_id, min_ts);
         CREATE TABLE IF NOT EXISTS {seen} (ts INTEGER NOT NULL, key INTEGER NOT NULL, PRIMARY KEY (ts, key)) WITHOUT ROWID;"
    ))?;
    connection.execute("INSERT OR IGNORE INTO partitions (day) VALUES (?1)", params![utc_day])?;
    Ok(())
}

pub(crate) fn drop_partition(connection: &Connection, utc_day: &str) -> Result<()> {
    connection.execute_batch(&format!(
        "DROP TABLE IF EXISTS {}; DROP TABLE IF EXISTS {};",
        raw_table(utc_day),
        seen_table(utc_day)
    ))?;
    connection.execute("DELETE FROM partitions WHERE day = ?1", params![utc_day])?;
    Ok(())
}

/// With the event time, the key that makes a row a duplicate: the stable 64-bit hash of
/// `app_id:id`, as SQLite's signed integer. (A re-sent event carries its id and its time.)
pub(crate) fn seen_key(app_id: &str, id: &str) -> i64 {
    let mut key = String::with_capacity(app_id.len() + id.len() + 1);
    key.push_str(app_id);
    key.push(':');
    key.push_str(id);
    i64::from_ne_bytes(unmogrowp_domain::hash::stable_hash(&key).to_ne_bytes())
}

/// The key of an app or device in `device_days` and `attributions.device_key`: its stable
/// 64-bit hash as SQLite's signed integer (integer keys compare and pack far better than
/// text in a tree that every batch updates).
pub(crate) fn text_key(text: &str) -> i64 {
    i64::from_ne_bytes(unmogrowp_domain::hash::stable_hash(text).to_ne_bytes())
}

/// A report day as days since 1970-01-01, as `device_days` stores it.
pub(crate) fn day_number(day: Day) -> i64 {
    Day::EPOCH.days_until(day)
}

/// A row inside a block: what [`EventRow`] holds besides the block's app, organization and
/// kind. Fields are appended only at the end, with a new [`BLOCK_FORMAT`] when the layout
/// changes.
#[derive(Serialize)]
struct BlockRowRef<'a> {
    id: &'a str,
    name: Option<&'a str>,
    timestamp_ms: i64,
    received_ms: i64,
    day: Day,
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
    click_id: Option<&'a str>,
    link_id: Option<&'a str>,
    network_click_id: Option<&'a str>,
    subs: &'a [Option<String>],
    network: &'a str,
    campaign: &'a str,
    adgroup: &'a str,
    creative: &'a str,
    country: &'a str,
    revenue_amount: Option<f64>,
    revenue_currency: Option<&'a str>,
    revenue: f64,
    properties: Option<&'a str>,
    install: Option<&'a str>,
    reattribution: bool,
    reengagement: bool,
    reinstall: bool,
    fraud_reason: Option<FraudReason>,
}

#[derive(Deserialize)]
struct BlockRow {
    id: String,
    name: Option<String>,
    timestamp_ms: i64,
    received_ms: i64,
    day: Day,
    device_id: Option<String>,
    gaid: Option<String>,
    idfa: Option<String>,
    idfv: Option<String>,
    ip: Option<String>,
    user_agent: Option<String>,
    os: Option<String>,
    os_version: Option<String>,
    model: Option<String>,
    locale: Option<String>,
    click_id: Option<String>,
    link_id: Option<String>,
    network_click_id: Option<String>,
    subs: Vec<Option<String>>,
    network: String,
    campaign: String,
    adgroup: String,
    creative: String,
    country: String,
    revenue_amount: Option<f64>,
    revenue_currency: Option<String>,
    revenue: f64,
    properties: Option<String>,
    install: Option<String>,
    reattribution: bool,
    reengagement: bool,
    reinstall: bool,
    fraud_reason: Option<FraudReason>,
}

fn row_ref(row: &EventRow) -> BlockRowRef<'_> {
    BlockRowRef {
        id: &row.id,
        name: row.name.as_deref(),
        timestamp_ms: row.timestamp_ms,
        received_ms: row.received_ms,
        day: row.day,
        device_id: row.device_id.as_deref(),
        gaid: row.gaid.as_deref(),
        idfa: row.idfa.as_deref(),
        idfv: row.idfv.as_deref(),
        ip: row.ip.as_deref(),
        user_agent: row.user_agent.as_deref(),
        os: row.os.as_deref(),
        os_version: row.os_version.as_deref(),
        model: row.device_model.as_deref(),
        locale: row.locale.as_deref(),
        click_id: row.click_id.as_deref(),
        link_id: row.link_id.as_deref(),
        network_click_id: row.network_click_id.as_deref(),
        subs: &row.subs,
        network: &row.dims.network,
        campaign: &row.dims.campaign,
        adgroup: &row.dims.adgroup,
        creative: &row.dims.creative,
        country: &row.dims.country,
        revenue_amount: row.revenue_amount,
        revenue_currency: row.revenue_currency.as_deref(),
        revenue: row.revenue,
        properties: row.properties.as_deref(),
        install: install_name(row.install),
        reattribution: row.reattribution,
        reengagement: row.reengagement,
        reinstall: row.reinstall,
        fraud_reason: row.fraud_reason,
    }
}

/// Encodes rows (of one app, organization and kind, sorted by time) as one block.
pub(crate) fn encode_block(rows: &[&EventRow]) -> Result<Vec<u8>> {
    let refs: Vec<BlockRowRef<'_>> = rows.iter().map(|row| row_ref(row)).collect();
    let mut out = Vec::with_capacity(rows.len() * 160 + 8);
    out.push(BLOCK_FORMAT);
    postcard::to_io(&refs, &mut out)
        .map_err(|error| StoreError::Query(format!("encoding a block failed: {error}")))?;
    Ok(out)
}

/// Decodes a block written by [`encode_block`].
pub(crate) fn decode_block(
    app_id: &str,
    org_id: &str,
    kind: EventType,
    data: &[u8],
) -> Result<Vec<EventRow>> {
    let Some((&format, body)) = data.split_first() else {
        return Err(StoreError::Query("an empty raw block".to_owned()));
    };
    if format != BLOCK_FORMAT {
        return Err(StoreError::Query(format!(
            "a raw block has format {format}, this binary reads format {BLOCK_FORMAT}"
        )));
    }
    let rows: Vec<BlockRow> = postcard::from_bytes(body)
        .map_err(|error| StoreError::Query(format!("a raw block is unreadable: {error}")))?;
    Ok(rows
        .into_iter()
        .map(|row| EventRow {
            app_id: AppId::from_stored(app_id.to_owned()),
            org_id: OrgId::from_stored(org_id.to_owned()),
            id: row.id,
            kind,
            name: row.name,
            timestamp_ms: row.timestamp_ms,
            received_ms: row.received_ms,
            day: row.day,
            device_id: row.device_id,
            gaid: row.gaid,
            idfa: row.idfa,
            idfv: row.idfv,
            ip: row.ip,
            user_agent: row.user_agent,
            os: row.os,
            os_version: row.os_version,
            device_model: row.model,
            locale: row.locale,
            click_id: row.click_id,
            link_id: row.link_id,
            network_click_id: row.network_click_id,
            subs: row.subs,
            dims: Dims {
                network: row.network,
                campaign: row.campaign,
                adgroup: row.adgroup,
                creative: row.creative,
                country: row.country,
            },
            revenue_amount: row.revenue_amount,
            revenue_currency: row.revenue_currency,
            revenue: row.revenue,
            properties: row.properties,
            install: parse_install(row.install.as_deref()),
            reattribution: row.reattribution,
            reengagement: row.reengagement,
            reinstall: row.reinstall,
            fraud_reason: row.fraud_reason,
        })
        .collect())
}

/// Splits rows (one app, organization and kind, sorted by time) into blocks of at most
/// [`BLOCK_ROWS`] rows spanning at most [`BLOCK_SPAN_MS`].
pub(crate) fn blocks<'a>(rows: &'a [&'a EventRow]) -> impl Iterator<Item = &'a [&'a EventRow]> {
    let mut rest = rows;
    std::iter::from_fn(move || {
        let first = rest.first()?;
        let limit = first.timestamp_ms.saturating_add(BLOCK_SPAN_MS);
        let end = rest
            .iter()
            .take(BLOCK_ROWS)
            .position(|row| row.timestamp_ms > limit)
            .unwrap_or_else(|| rest.len().min(BLOCK_ROWS));
        let (block, tail) = rest.split_at(end.max(1));
        rest = tail;
        Some(block)
    })
}

/// Streams the rows of one app and some kinds in a UTC day's partition to `sink`, in time
/// order (ties by their blocks' first time, then storage order), keeping only rows whose
/// report day is within `[from_day, to_day]`. Blocks are read in order of their first time
/// straight from the `(app_id, min_ts)` index (no sort, whatever the kinds) and merged; a
/// block is decoded only when the merge reaches its first time. Returns `(rows sent, stopped)`.
pub(crate) fn export_partition(
    connection: &Connection,
    utc_day: &str,
    app_id: &str,
    kinds: &[EventType],
    from_day: Day,
    to_day: Day,
    sink: &mut dyn FnMut(EventRow) -> bool,
) -> Result<(u64, bool)> {
    let kinds_sql: Vec<String> = kinds.iter().map(|k| format!("'{}'", k.as_str())).collect();
    if kinds_sql.is_empty() {
        return Ok((0, false));
    }
    let sql = format!(
        "SELECT org_id, kind, min_ts, data FROM {} WHERE app_id = ?1 AND kind IN ({}) ORDER BY min_ts, rowid",
        raw_table(utc_day),
        kinds_sql.join(", ")
    );
    let mut statement = connection.prepare(&sql)?;
    let mut blocks = statement.query(params![app_id])?;
    // Open blocks, each a queue of rows; the heap orders them by their next row's time and
    // then by the order the blocks were stored.
    let mut open: Vec<std::collections::VecDeque<EventRow>> = Vec::new();
    let mut heap: BinaryHeap<Reverse<(i64, usize)>> = BinaryHeap::new();
    let mut next_block: Option<(i64, Vec<EventRow>)> = None;
    let mut exhausted = false;
    let mut sent = 0u64;
    loop {
        if next_block.is_none() && !exhausted {
            match blocks.next()? {
                Some(block) => {
                    let org_id: String = block.get(0)?;
                    let kind: String = block.get(1)?;
                    let min_ts: i64 = block.get(2)?;
                    let data: Vec<u8> = block.get(3)?;
                    let kind = EventType::parse(&kind).ok_or_else(|| {
                        StoreError::Query(format!("a stored block has an unknown kind {kind:?}"))
                    })?;
                    next_block = Some((min_ts, decode_block(app_id, &org_id, kind, &data)?));
                }
                None => exhausted = true,
            }
        }
        // Open the next block if it starts no later than the earliest open row.
        let earliest = heap.peek().map(|Reverse((ts, _))| *ts);
        if let Some((min_ts, _)) = &next_block
            && earliest.is_none_or(|ts| *min_ts <= ts)
        {
            let Some((_, rows)) = next_block.take() else { continue };
            let index = open.len();
            let queue: std::collections::VecDeque<EventRow> = rows.into();
            if let Some(first) = queue.front() {
                heap.push(Reverse((first.timestamp_ms, index)));
            }
            open.push(queue);
            continue;
        }
        let Some(Reverse((_, index))) = heap.pop() else { break };
        let Some(queue) = open.get_mut(index) else { break };
        let Some(row) = queue.pop_front() else { continue };
        if let Some(next) = queue.front() {
            heap.push(Reverse((next.timestamp_ms, index)));
        } else {
            // Release the finished block's memory (its slot stays so indexes hold).
            *queue = std::collections::VecDeque::new();
        }
        if row.day < from_day || row.day > to_day {
            continue;
        }
        sent += 1;
        if !sink(row) {
            return Ok((sent, true));
        }
    }
    Ok((sent, false))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn row(id: &str, ts: i64) -> EventRow {
        EventRow {
            app_id: AppId::from_stored("app".to_owned()),
            org_id: OrgId::from_stored("org".to_owned()),
            id: id.to_owned(),
            kind: EventType::Session,
            name: Some("n".to_owned()),
            timestamp_ms: ts,
            received_ms: ts + 1,
            day: "2026-11-20".parse().expect("a day"),
            device_id: Some("gaid:x".to_owned()),
            gaid: Some("x".to_owned()),
            idfa: None,
            idfv: None,
            ip: Some("2001:db8::1".to_owned()),
            user_agent: Some("ua".to_owned()),
            os: None,
            os_version: None,
            device_model: None,
            locale: None,
            click_id: None,
            link_id: None,
            network_click_id: None,
            subs: vec![Some("s1".to_owned()), None],
            dims: Dims::organic("DE"),
            revenue_amount: Some(1.5),
            revenue_currency: Some("EUR".to_owned()),
            revenue: 1.6,
            properties: Some("{\"a\":1}".to_owned()),
            install: Some(crate::InstallOutcome::Organic),
            reattribution: false,
            reengagement: true,
            reinstall: false,
            fraud_reason: None,
        }
    }

    #[test]
    fn day_numbers() {
        let day = |text: &str| text.parse::<Day>().expect("a day");
        assert_eq!(day_number(day("1970-01-01")), 0);
        assert_eq!(day_number(day("2026-11-20")), 20_777);
        assert_eq!(day_number(day("1969-12-31")), -1);
    }

    #[test]
    fn blocks_round_trip() {
        let rows = [row("a", 1), row("b", 2)];
        let refs: Vec<&EventRow> = rows.iter().collect();
        let data = encode_block(&refs).unwrap();
        let back = decode_block("app", "org", EventType::Session, &data).unwrap();
        assert_eq!(back, rows);
        assert!(decode_block("app", "org", EventType::Session, &[9, 0]).is_err());
    }

    #[test]
    fn blocks_are_cut_by_size_and_time_span() {
        let rows: Vec<EventRow> = (0..5_000).map(|i| row(&i.to_string(), i)).collect();
        let refs: Vec<&EventRow> = rows.iter().collect();
        let sizes: Vec<usize> = blocks(&refs).map(<[_]>::len).collect();
        assert_eq!(sizes, vec![2_000, 2_000, 1_000]);
        let spread = [row("a", 0), row("b", BLOCK_SPAN_MS), row("c", BLOCK_SPAN_MS + 1)];
        let refs: Vec<&EventRow> = spread.iter().collect();
        let sizes: Vec<usize> = blocks(&refs).map(<[_]>::len).collect();
        assert_eq!(sizes, vec![2, 1]);
    }
}
