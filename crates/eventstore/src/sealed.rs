//! An event store whose personal fields are sealed at rest under each organization's data
//! key (see `unmogrowp_vault`): device identifiers (`device_id`, `gaid`, `idfa`, `idfv`, and
//! the decisions' `device_id`) sealed for lookup, so that reports, cohorts, erasures and the
//! attribution lookup keep comparing and grouping by them; IP addresses and quarantined
//! payloads sealed with random nonces (a quarantined payload followed by the lookup-sealed
//! form of each string in it, so an erasure still finds the ones naming the device). Wraps either backend; what goes in and comes out is
//! plain, what the backend stores is sealed. Rows of an organization that no longer exists
//! (its key destroyed) are not stored, and its stored rows can no longer be opened.

use crate::{
    ApplyOutcome, AttributionRow, Batch, CohortQuery, CohortRow, ErasureReport, EventRow,
    EventStore, ExportQuery, FraudRow, QuarantineCursor, QuarantinedRow, Result, StoreError,
    SummaryQuery, SummaryRow,
};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use unmogrowp_domain::erasure::ErasureScope;
use unmogrowp_domain::event::is_placeholder_id;
use unmogrowp_domain::{AppId, Day, Offset, OrgId};
use unmogrowp_vault::{DataKey, KeySource, VaultError};

const IP: &str = "events.ip";
const QUARANTINE_RAW: &str = "quarantine.raw";

fn key_error(error: VaultError) -> StoreError {
    match error {
        VaultError::Unavailable(reason) => StoreError::Unavailable(reason),
        other => StoreError::Query(other.to_string()),
    }
}

/// The event store with sealed personal fields; see the module documentation.
pub struct SealedEventStore {
    inner: Arc<dyn EventStore>,
    keys: Arc<dyn KeySource>,
}

impl SealedEventStore {
    /// Seals what `inner` stores with the data keys from `keys`.
    pub fn new(inner: Arc<dyn EventStore>, keys: Arc<dyn KeySource>) -> Self {
        Self { inner, keys }
    }
}

fn seal_value(key: &DataKey, value: &mut Option<String>) {
    if let Some(text) = value
        && !is_placeholder_id(text)
    {
        *text = key.seal_identifier_value(text);
    }
}

fn open_value(key: &DataKey, value: &mut Option<String>) -> Result<(), VaultError> {
    if let Some(text) = value {
        *text = key.open_identifier_value(text)?;
    }
    Ok(())
}

fn seal_row(key: &DataKey, row: &mut EventRow) {
    if let Some(device) = &mut row.device_id {
        *device = key.seal_identifier(device);
    }
    seal_value(key, &mut row.gaid);
    seal_value(key, &mut row.idfa);
    seal_value(key, &mut row.idfv);
    if let Some(ip) = &mut row.ip {
        *ip = key.seal(IP, ip);
    }
}

/// Opens a row's sealed fields (values stored before encryption pass through).
pub(crate) fn open_row(key: &DataKey, row: &mut EventRow) -> Result<(), VaultError> {
    if let Some(device) = &mut row.device_id {
        *device = key.open_identifier(device)?;
    }
    open_value(key, &mut row.gaid)?;
    open_value(key, &mut row.idfa)?;
    open_value(key, &mut row.idfv)?;
    if let Some(ip) = &mut row.ip {
        *ip = key.open(IP, ip)?;
    }
    Ok(())
}

/// Seals a quarantined event's raw text, followed by the lookup-sealed form of every string
/// value in it (`… v1-… v1-…`), so that an erasure, which looks for the device's sealed
/// identifier values in the text, still finds the quarantined events naming the device.
fn seal_quarantine(key: &DataKey, raw: &str) -> String {
    fn strings<'a>(value: &'a serde_json::Value, out: &mut Vec<&'a str>) {
        match value {
            serde_json::Value::String(text) => out.push(text),
            serde_json::Value::Array(items) => items.iter().for_each(|item| strings(item, out)),
            serde_json::Value::Object(fields) => {
                fields.values().for_each(|item| strings(item, out))
            }
            _ => {}
        }
    }
    let mut sealed = key.seal(QUARANTINE_RAW, raw);
    let Ok(parsed) = serde_json::from_str::<serde_json::Value>(raw) else { return sealed };
    let mut found = Vec::new();
    strings(&parsed, &mut found);
    let mut tokens: Vec<String> = Vec::new();
    for text in found {
        let text = text.trim();
        let candidates = [Some(text), text.split_once(':').map(|(_, value)| value)];
        for candidate in candidates.into_iter().flatten() {
            if candidate.chars().count() <= unmogrowp_domain::event::MAX_ID_CHARS
                && !is_placeholder_id(candidate)
            {
                tokens.push(key.seal_identifier_value(candidate));
            }
        }
    }
    tokens.sort();
    tokens.dedup();
    for token in tokens {
        sealed.push(' ');
        sealed.push_str(&token);
    }
    sealed
}

fn open_quarantine(key: &DataKey, stored: &str) -> Result<String, VaultError> {
    let sealed = stored.split_once(' ').map_or(stored, |(sealed, _)| sealed);
    if unmogrowp_vault::is_sealed(sealed) {
        key.open(QUARANTINE_RAW, sealed)
    } else {
        Ok(stored.to_owned())
    }
}

fn open_decision(key: &DataKey, row: &mut AttributionRow) -> Result<(), VaultError> {
    if let Some(device) = &mut row.device_id {
        *device = key.open_identifier(device)?;
    }
    Ok(())
}

/// Keys looked up once per call.
struct Keys<'a> {
    source: &'a dyn KeySource,
    orgs: HashMap<OrgId, Option<Arc<DataKey>>>,
    apps: HashMap<AppId, Option<Arc<DataKey>>>,
}

impl<'a> Keys<'a> {
    fn new(source: &'a dyn KeySource) -> Self {
        Self { source, orgs: HashMap::new(), apps: HashMap::new() }
    }

    async fn org(&mut self, org_id: &OrgId) -> Result<Option<Arc<DataKey>>> {
        if let Some(key) = self.orgs.get(org_id) {
            return Ok(key.clone());
        }
        let key = self.source.org_key(org_id).await.map_err(key_error)?;
        self.orgs.insert(org_id.clone(), key.clone());
        Ok(key)
    }

    async fn app(&mut self, app_id: &AppId) -> Result<Option<Arc<DataKey>>> {
        if let Some(key) = self.apps.get(app_id) {
            return Ok(key.clone());
        }
        let key = self.source.app_key(app_id).await.map_err(key_error)?;
        self.apps.insert(app_id.clone(), key.clone());
        Ok(key)
    }
}

/// Remembers the first failure of a sink that cannot return one, and stops it.
#[derive(Clone, Default)]
struct FirstError(Arc<Mutex<Option<VaultError>>>);

impl FirstError {
    fn set(&self, error: VaultError) {
        if let Ok(mut first) = self.0.lock()
            && first.is_none()
        {
            *first = Some(error);
        }
    }

    fn check(&self) -> Result<()> {
        match self.0.lock().ok().and_then(|mut first| first.take()) {
            Some(error) => Err(key_error(error)),
            None => Ok(()),
        }
    }
}

/// Wraps a reader's sink so that each row is opened (with its app's key) before `sink` sees
/// it. Rows of apps without a key (their organization is gone) are skipped; a row that does
/// not open stops the read, and the returned [`FirstError`] holds why.
fn opening<R: 'static>(
    keys: HashMap<AppId, Arc<DataKey>>,
    app_of: fn(&R) -> &AppId,
    open: fn(&DataKey, &mut R) -> Result<(), VaultError>,
    mut sink: Box<dyn FnMut(R) -> bool + Send>,
) -> (Box<dyn FnMut(R) -> bool + Send>, FirstError) {
    let failure = FirstError::default();
    let seen = failure.clone();
    let wrapped = Box::new(move |mut row: R| {
        let Some(key) = keys.get(app_of(&row)) else { return true };
        match open(key, &mut row) {
            Ok(()) => sink(row),
            Err(error) => {
                seen.set(error);
                false
            }
        }
    });
    (wrapped, failure)
}

impl SealedEventStore {
    async fn seal_batch(&self, batch: &Batch) -> Result<Batch> {
        let mut keys = Keys::new(self.keys.as_ref());
        let mut sealed = Batch {
            rows: Vec::with_capacity(batch.rows.len()),
            quarantined: Vec::with_capacity(batch.quarantined.len()),
            attributions: Vec::with_capacity(batch.attributions.len()),
            credits: batch.credits.clone(),
            fraud: batch.fraud.clone(),
            last_offset: batch.last_offset,
            positions: batch.positions.clone(),
            erasures: Vec::with_capacity(batch.erasures.len()),
            opt_outs: batch.opt_outs.clone(),
        };
        for row in &batch.rows {
            let Some(key) = keys.org(&row.org_id).await? else { continue };
            keys.apps.entry(row.app_id.clone()).or_insert_with(|| Some(key.clone()));
            let mut row = row.clone();
            seal_row(&key, &mut row);
            sealed.rows.push(row);
        }
        for decision in &batch.attributions {
            let Some(key) = keys.app(&decision.app_id).await? else { continue };
            let mut decision = decision.clone();
            if let Some(device) = &mut decision.device_id {
                *device = key.seal_identifier(device);
            }
            sealed.attributions.push(decision);
        }
        for quarantined in &batch.quarantined {
            let Some(key) = keys.app(&quarantined.app_id).await? else { continue };
            let mut quarantined = quarantined.clone();
            quarantined.raw = seal_quarantine(&key, &quarantined.raw);
            sealed.quarantined.push(quarantined);
        }
        for erasure in &batch.erasures {
            let mut erasure = erasure.clone();
            if let ErasureScope::Device { identifiers } = &mut erasure.scope
                && let Some(key) = keys.org(&erasure.org_id).await?
            {
                for identifier in identifiers.iter_mut() {
                    *identifier = key.seal_identifier(identifier);
                }
            }
            sealed.erasures.push(erasure);
        }
        Ok(sealed)
    }
}

#[async_trait::async_trait]
impl EventStore for SealedEventStore {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    async fn positions(&self) -> Result<BTreeMap<u16, Offset>> {
        self.inner.positions().await
    }

    async fn apply_shared(&self, batch: Arc<Batch>) -> Result<ApplyOutcome> {
        let sealed = self.seal_batch(&batch).await?;
        let dropped = (batch.rows.len() - sealed.rows.len()) as u64;
        let mut outcome = self.inner.apply(sealed).await?;
        // Rows of a deleted organization are not stored: counted as skipped.
        outcome.duplicates += dropped;
        Ok(outcome)
    }

    async fn prepare(&self, batch: &Batch) -> Result<Option<Batch>> {
        Ok(Some(self.seal_batch(batch).await?))
    }

    async fn apply_prepared(&self, prepared: Arc<Batch>) -> Result<ApplyOutcome> {
        self.inner.apply_shared(prepared).await
    }

    async fn summary(&self, query: &SummaryQuery) -> Result<Vec<SummaryRow>> {
        self.inner.summary(query).await
    }

    async fn erasure(
        &self,
        app_id: &AppId,
        id: &unmogrowp_domain::ErasureId,
    ) -> Result<Option<ErasureReport>> {
        self.inner.erasure(app_id, id).await
    }

    async fn opt_outs(&self) -> Result<Vec<(u64, u64)>> {
        self.inner.opt_outs().await
    }

    async fn attribution(&self, app_id: &AppId, event_id: &str) -> Result<Option<AttributionRow>> {
        let Some(mut row) = self.inner.attribution(app_id, event_id).await? else {
            return Ok(None);
        };
        if let Some(key) = Keys::new(self.keys.as_ref()).app(app_id).await? {
            open_decision(&key, &mut row).map_err(key_error)?;
        }
        Ok(Some(row))
    }

    async fn device_attribution(
        &self,
        app_id: &AppId,
        device_ids: &[String],
    ) -> Result<Option<AttributionRow>> {
        let Some(key) = Keys::new(self.keys.as_ref()).app(app_id).await? else {
            return Ok(None);
        };
        // Sealed, and as given: installs stored before encryption was turned on are plain.
        let mut sealed: Vec<String> = device_ids.iter().map(|id| key.seal_identifier(id)).collect();
        sealed.extend(device_ids.iter().cloned());
        let Some(mut row) = self.inner.device_attribution(app_id, &sealed).await? else {
            return Ok(None);
        };
        open_decision(&key, &mut row).map_err(key_error)?;
        Ok(Some(row))
    }

    async fn cohorts(&self, query: &CohortQuery) -> Result<Vec<CohortRow>> {
        self.inner.cohorts(query).await
    }

    async fn fraud(&self, app_id: &AppId, from_day: Day, to_day: Day) -> Result<Vec<FraudRow>> {
        self.inner.fraud(app_id, from_day, to_day).await
    }

    async fn quarantined(
        &self,
        app_id: &AppId,
        limit: u32,
        before: Option<QuarantineCursor>,
    ) -> Result<Vec<QuarantinedRow>> {
        let rows = self.inner.quarantined(app_id, limit, before).await?;
        let Some(key) = Keys::new(self.keys.as_ref()).app(app_id).await? else {
            return Ok(Vec::new());
        };
        rows.into_iter()
            .map(|mut row| {
                row.raw = open_quarantine(&key, &row.raw).map_err(key_error)?;
                Ok(row)
            })
            .collect()
    }

    async fn export(
        &self,
        query: ExportQuery,
        sink: Box<dyn FnMut(EventRow) -> bool + Send>,
    ) -> Result<u64> {
        let Some(key) = Keys::new(self.keys.as_ref()).app(&query.app_id).await? else {
            // The organization is gone, and with it the key: nothing can be opened.
            return Ok(0);
        };
        let keys = HashMap::from([(query.app_id.clone(), key)]);
        let (sink, failure) = opening(keys, |row: &EventRow| &row.app_id, open_row, sink);
        let sent = self.inner.export(query, sink).await?;
        failure.check()?;
        Ok(sent)
    }

    async fn decisions(&self, sink: Box<dyn FnMut(AttributionRow) -> bool + Send>) -> Result<u64> {
        let keys = self.keys.app_keys().await.map_err(key_error)?;
        let (sink, failure) =
            opening(keys, |row: &AttributionRow| &row.app_id, open_decision, sink);
        let sent = self.inner.decisions(sink).await?;
        failure.check()?;
        Ok(sent)
    }

    async fn touch_apps(&self, since_ms: i64) -> Result<Vec<AppId>> {
        self.inner.touch_apps(since_ms).await
    }

    async fn touches(
        &self,
        since_ms: i64,
        sink: Box<dyn FnMut(EventRow) -> bool + Send>,
    ) -> Result<u64> {
        let keys = self.keys.app_keys().await.map_err(key_error)?;
        let (sink, failure) = opening(keys, |row: &EventRow| &row.app_id, open_row, sink);
        let sent = self.inner.touches(since_ms, sink).await?;
        failure.check()?;
        Ok(sent)
    }

    async fn drop_days_before(&self, day: Day) -> Result<usize> {
        self.inner.drop_days_before(day).await
    }

    async fn ping(&self) -> Result<()> {
        self.inner.ping().await
    }
}
