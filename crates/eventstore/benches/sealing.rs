//! What sealing personal fields costs the event store: storing and exporting the same rows
//! through the plain SQLite store and through [`SealedEventStore`], alternated in ABBA order
//! (the machine is shared and noisy), plus the sealing alone.
//!
//! `cargo bench -p unmogrowp-eventstore --bench sealing -- [ROWS] [ROUNDS]` (default 200 000
//! rows, 4 rounds): prints the median rows/s of each and the ratio.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;
use unmogrowp_domain::event::EventType;
use unmogrowp_domain::{AppId, Day, OrgId};
use unmogrowp_eventstore::{
    Batch, Dims, EventRow, EventStore, ExportQuery, InstallOutcome, SealedEventStore,
    SqliteEventStore,
};
use unmogrowp_vault::{DataKey, KeySource, VaultError};

const APP: &str = "0193a000-0000-7000-8000-00000000seal";
const DAY_MS: i64 = 86_400_000;

struct OneKey(Arc<DataKey>);

#[async_trait::async_trait]
impl KeySource for OneKey {
    async fn org_key(&self, _: &OrgId) -> Result<Option<Arc<DataKey>>, VaultError> {
        Ok(Some(self.0.clone()))
    }
    async fn app_key(&self, _: &AppId) -> Result<Option<Arc<DataKey>>, VaultError> {
        Ok(Some(self.0.clone()))
    }
    async fn app_keys(&self) -> Result<HashMap<AppId, Arc<DataKey>>, VaultError> {
        Ok(HashMap::from([(AppId::from_stored(APP.to_owned()), self.0.clone())]))
    }
}

/// A row as an SDK sends it: an advertising id, an IP, a device id.
fn row(i: u64, start: i64) -> EventRow {
    let kind = match i % 10 {
        0..=3 => EventType::Click,
        4 => EventType::Install,
        _ => EventType::Session,
    };
    let ts = start + (i as i64 * 7) % (7 * DAY_MS);
    let gaid = format!("38400000-8cf0-11bd-b23e-{:012x}", i % 100_000);
    EventRow {
        app_id: AppId::from_stored(APP.to_owned()),
        org_id: OrgId::from_stored("org".to_owned()),
        id: format!("e{i}"),
        kind,
        name: None,
        timestamp_ms: ts,
        received_ms: ts,
        day: Day::of_utc_millis(ts),
        device_id: Some(format!("gaid:{gaid}")),
        gaid: Some(gaid),
        idfa: None,
        idfv: None,
        ip: Some(format!("203.0.{}.{}", (i / 256) % 256, i % 256)),
        user_agent: Some("Mozilla/5.0 (Linux; Android 14)".to_owned()),
        os: Some("android".to_owned()),
        os_version: Some("14".to_owned()),
        device_model: None,
        locale: None,
        click_id: None,
        link_id: None,
        network_click_id: None,
        subs: Vec::new(),
        dims: Dims {
            network: "meta".to_owned(),
            campaign: "c1".to_owned(),
            adgroup: String::new(),
            creative: String::new(),
            country: "DE".to_owned(),
        },
        revenue_amount: None,
        revenue_currency: None,
        revenue: 0.0,
        properties: None,
        install: (kind == EventType::Install).then_some(InstallOutcome::Organic),
        reattribution: false,
        reengagement: false,
        reinstall: false,
        fraud_reason: None,
    }
}

/// Stores `rows` rows in batches of 2 000 and exports them: (store rows/s, export rows/s).
async fn run(sealed: bool, rows: u64, start: i64) -> (f64, f64) {
    let dir = tempfile::tempdir().expect("temp dir");
    let plain: Arc<dyn EventStore> =
        Arc::new(SqliteEventStore::open(dir.path()).await.expect("store"));
    let store: Arc<dyn EventStore> = if sealed {
        Arc::new(SealedEventStore::new(plain, Arc::new(OneKey(Arc::new(DataKey::generate("org"))))))
    } else {
        plain
    };
    let storing = Instant::now();
    let mut next = 0;
    let mut offset = 0;
    while next < rows {
        let end = (next + 2_000).min(rows);
        offset += 1;
        let batch = (next..end).map(|i| row(i, start)).collect();
        store
            .apply(Batch { rows: batch, last_offset: offset, ..Batch::default() })
            .await
            .expect("apply");
        next = end;
    }
    let store_rate = rows as f64 / storing.elapsed().as_secs_f64();
    let exporting = Instant::now();
    let query = ExportQuery {
        app_id: AppId::from_stored(APP.to_owned()),
        kinds: vec![EventType::Click, EventType::Install, EventType::Session],
        from_day: Day::of_utc_millis(start - DAY_MS),
        to_day: Day::of_utc_millis(start + 8 * DAY_MS),
    };
    let exported = store.export(query, Box::new(|_| true)).await.expect("export");
    assert_eq!(exported, rows, "every row comes back");
    (store_rate, rows as f64 / exporting.elapsed().as_secs_f64())
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    if values.len().is_multiple_of(2) {
        (values[middle - 1] + values[middle]) / 2.0
    } else {
        values[middle]
    }
}

#[allow(clippy::print_stdout)] // a benchmark's report is its output
fn main() {
    let numbers: Vec<u64> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let rows = numbers.first().copied().unwrap_or(200_000);
    let rounds = numbers.get(1).copied().unwrap_or(4).max(1);
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let start = jiff::Timestamp::now().as_millisecond() - 8 * DAY_MS;

    // Sealing alone: the five fields of one row.
    let key = DataKey::generate("org");
    let sample: Vec<EventRow> = (0..100_000).map(|i| row(i, start)).collect();
    let sealing = Instant::now();
    for row in &sample {
        std::hint::black_box(key.seal_identifier(row.device_id.as_deref().unwrap_or("")));
        std::hint::black_box(key.seal_identifier_value(row.gaid.as_deref().unwrap_or("")));
        std::hint::black_box(key.seal("events.ip", row.ip.as_deref().unwrap_or("")));
    }
    let per_row = sealing.elapsed().as_secs_f64() * 1e9 / sample.len() as f64;
    println!("sealing one row's device id, advertising id and IP: {per_row:.0} ns");

    let (mut plain_store, mut plain_export, mut sealed_store, mut sealed_export) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        // ABBA: plain first in even rounds, sealed first in odd ones.
        let order = if round % 2 == 0 { [false, true] } else { [true, false] };
        for sealed in order {
            let (store, export) = runtime.block_on(run(sealed, rows, start));
            if sealed {
                sealed_store.push(store);
                sealed_export.push(export);
            } else {
                plain_store.push(store);
                plain_export.push(export);
            }
        }
    }
    let (ps, pe, ss, se) =
        (median(plain_store), median(plain_export), median(sealed_store), median(sealed_export));
    println!("{rows} rows, {rounds} rounds (medians):");
    println!("  store:  plain {ps:.0} rows/s, sealed {ss:.0} rows/s, sealed/plain {:.3}", ss / ps);
    println!("  export: plain {pe:.0} rows/s, sealed {se:.0} rows/s, sealed/plain {:.3}", se / pe);
}
