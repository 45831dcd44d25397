//! Collection: checking events, recognising re-sent ones, appending to the event log, and
//! refusing work (503/429 with `Retry-After`) when the workers fall behind or an
//! organization sends more than its quota.
#![warn(missing_docs)]

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use unmogrowp_bus::{Entry, EventLog, key_hash};
use unmogrowp_domain::event::{
    CheckContext, Checked, IncomingEvent, LinkRef, LogRecord, LoggedEvent, QuarantinedEvent,
    Rejection, Source, check_event,
};
use unmogrowp_domain::{AppId, KeyId, LinkId, OrgId};
use unmogrowp_pipeline::PipelineHandle;
use unmogrowp_storage::{App, AppKey, Link, Store};

/// The most events one collection request may carry; a request with more is refused whole
/// ([`IngestError::TooManyEvents`], answered 413) before any event is checked.
pub const MAX_EVENTS_PER_REQUEST: usize = 1000;
/// The largest one event may be: 32 KiB of its JSON text. A larger event is rejected
/// (`event_too_large`), and its quarantined copy is cut to this many bytes (at a character
/// boundary).
pub const MAX_EVENT_BYTES: usize = 32 * 1024;
mod dedup;
mod error;
pub mod metric_names;
mod opt_out;
pub mod posthog;
pub mod segment;
pub mod skadnetwork;
mod types;

pub use dedup::Deduper;
pub use error::IngestError;
pub use types::{Client, IngestConfig, IngestResponse, RejectedItem, TruncatedItem};

/// Events per second per organization or app, on this node (GCRA: a theoretical arrival time
/// per key); the fallback when Redis cannot answer.
struct QuotaLimiter {
    /// The Redis key prefix (`ingest` for organizations, `ingest-app` for apps).
    name: &'static str,
    per_second: f64,
    burst: f64,
    arrivals: Mutex<HashMap<String, Instant>>,
}

impl QuotaLimiter {
    fn new(name: &'static str, per_second: u32, burst: u32) -> Self {
        Self {
            name,
            per_second: f64::from(per_second),
            burst: f64::from(burst.max(1)),
            arrivals: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(retry_after)` when `events` more would exceed the key's rate.
    fn admit(&self, key: &str, events: usize) -> Result<(), Duration> {
        if self.per_second <= 0.0 {
            return Ok(());
        }
        let now = Instant::now();
        let cost = Duration::from_secs_f64(events as f64 / self.per_second);
        let tolerance = Duration::from_secs_f64(self.burst / self.per_second);
        let mut arrivals = self.arrivals.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let tat = arrivals.get(key).copied().unwrap_or(now).max(now);
        let new_tat = tat + cost;
        if new_tat > now + tolerance {
            return Err(new_tat - (now + tolerance));
        }
        arrivals.insert(key.to_owned(), new_tat);
        Ok(())
    }
}

/// The collection service shared by the collection routes: checks SDK and S2S events,
/// recognises re-sent ones, appends accepted events and quarantined rejects to the event
/// log, and refuses work when the workers fall behind (503) or an organization exceeds its
/// quota (429). It also caches credential lookups: apps by token or id for 30 seconds,
/// tracking links for 60, S2S keys for 5 (misses included), each up to 200 000 entries.
pub struct Ingest {
    /// The event log accepted events are appended to (the one the pipeline reads).
    pub log: Arc<dyn EventLog>,
    pipeline: Arc<PipelineHandle>,
    store: Store,
    dedup: Deduper,
    limiter: QuotaLimiter,
    app_limiter: QuotaLimiter,
    shared: unmogrowp_shared::Shared,
    config: IngestConfig,
    apps_by_token: moka::future::Cache<String, Option<Arc<App>>>,
    apps_by_id: moka::future::Cache<AppId, Option<Arc<App>>>,
    links: moka::future::Cache<LinkId, Option<Link>>,
    keys: moka::future::Cache<KeyId, Option<AppKey>>,
}

fn cache<K, V>(ttl_seconds: u64) -> moka::future::Cache<K, V>
where
    K: std::hash::Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    moka::future::Cache::builder()
        .max_capacity(200_000)
        .time_to_live(Duration::from_secs(ttl_seconds))
        .build()
}

/// A record for the log; failing to encode one is a bug (500), never an empty record.
pub(crate) fn encode(record: &LogRecord) -> Result<Vec<u8>, IngestError> {
    record.encode().map_err(|error| IngestError::Encoding(error.to_string()))
}

impl Ingest {
    /// Sets collection up, rebuilding the dedup window from the keys of records the log
    /// appended within the last `dedup_window_days` (only as far back as the log still
    /// holds), so a restart still recognises re-sent events.
    ///
    /// Fails when the log cannot list its recent keys.
    pub async fn new(
        log: Arc<dyn EventLog>,
        pipeline: Arc<PipelineHandle>,
        store: Store,
        config: IngestConfig,
        shared: unmogrowp_shared::Shared,
    ) -> anyhow::Result<Self> {
        let dedup = Deduper::new(config.dedup_window_days);
        let window = Duration::from_secs(u64::from(config.dedup_window_days) * 86_400);
        let started = Instant::now();
        let keys = log.recent_keys(window).await?;
        let loaded = keys.len();
        for key in keys {
            dedup.insert(key);
        }
        tracing::info!(
            keys = loaded,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "dedup window rebuilt from the event log"
        );
        let limiter =
            QuotaLimiter::new("ingest", config.org_events_per_second, config.org_events_burst);
        let app_limiter =
            QuotaLimiter::new("ingest-app", config.app_events_per_second, config.app_events_burst);
        Ok(Self {
            log,
            pipeline,
            store,
            dedup,
            limiter,
            app_limiter,
            shared,
            config,
            apps_by_token: cache(30),
            apps_by_id: cache(30),
            links: cache(60),
            keys: cache(5),
        })
    }

    /// How many event keys the dedup window holds. Days that left the window are dropped
    /// lazily (when a key is next recorded in their shard), so this may count a few
    /// expired keys.
    pub fn dedup_len(&self) -> usize {
        self.dedup.len()
    }

    /// The app an SDK token belongs to, or `None` for an unknown token. Answers, misses
    /// included, are cached for 30 seconds ([`Ingest::forget_app`] clears them at once).
    ///
    /// Fails with [`IngestError::Storage`] when the store cannot be read.
    pub async fn app_by_token(&self, token: &str) -> Result<Option<Arc<App>>, IngestError> {
        if let Some(app) = self.apps_by_token.get(token).await {
            return Ok(app);
        }
        let app = self.store.credentials().app_by_token(token).await?.map(Arc::new);
        self.apps_by_token.insert(token.to_owned(), app.clone()).await;
        Ok(app)
    }

    /// The app with this id, or `None` when there is none (e.g. deleted). Cached like
    /// [`Ingest::app_by_token`]; fails with [`IngestError::Storage`] when the store cannot
    /// be read.
    pub async fn app_by_id(&self, app_id: &AppId) -> Result<Option<Arc<App>>, IngestError> {
        if let Some(app) = self.apps_by_id.get(app_id).await {
            return Ok(app);
        }
        let app = self.store.credentials().app(app_id).await?.map(Arc::new);
        self.apps_by_id.insert(app_id.clone(), app.clone()).await;
        Ok(app)
    }

    /// The tracking link with this id, or `None` when there is none. Answers, misses
    /// included, are cached for 60 seconds. Fails with [`IngestError::Storage`] when the
    /// store cannot be read (event checks turn that into [`IngestError::LinkLookup`]).
    pub async fn link(&self, link_id: &LinkId) -> Result<Option<Link>, IngestError> {
        if let Some(link) = self.links.get(link_id).await {
            return Ok(link);
        }
        let link = self.store.credentials().link(link_id).await?;
        self.links.insert(link_id.clone(), link.clone()).await;
        Ok(link)
    }

    /// The S2S key with this id, or `None` when there is none. Revoked keys are returned
    /// too: the caller checks `revoked_at`. Answers are cached for only 5 seconds, so a
    /// revocation made elsewhere applies quickly. Fails with [`IngestError::Storage`] when
    /// the store cannot be read.
    pub async fn key(&self, key_id: &KeyId) -> Result<Option<AppKey>, IngestError> {
        if let Some(key) = self.keys.get(key_id).await {
            return Ok(key);
        }
        let key = self.store.credentials().key(key_id).await?;
        self.keys.insert(key_id.clone(), key.clone()).await;
        Ok(key)
    }

    /// Forgets cached credentials after a change on this node (revocation applies at once).
    pub async fn forget_app(&self, app_id: &AppId, app_token: &str) {
        self.apps_by_token.invalidate(app_token).await;
        self.apps_by_id.invalidate(app_id).await;
    }

    /// Empties every credentials cache.
    pub fn forget_all(&self) {
        self.apps_by_token.invalidate_all();
        self.apps_by_id.invalidate_all();
        self.links.invalidate_all();
        self.keys.invalidate_all();
    }

    /// Forgets the cached tracking link (after it was changed or deleted), so the next click
    /// reads it from the store.
    pub async fn forget_link(&self, link_id: &LinkId) {
        self.links.invalidate(link_id).await;
    }

    /// Forgets the cached S2S key (after it was revoked or changed), so the next request
    /// reads it from the store.
    pub async fn forget_key(&self, key_id: &KeyId) {
        self.keys.invalidate(key_id).await;
    }

    /// 503 when the workers are too far behind the log.
    pub fn check_backlog(&self) -> Result<(), IngestError> {
        let lag = self.pipeline.lag();
        if lag > self.config.max_lag_records {
            metrics::counter!(crate::metric_names::INGEST_BACKPRESSURE_TOTAL).increment(1);
            return Err(IngestError::Backlog { lag });
        }
        Ok(())
    }

    /// The organization's and the app's event quotas: shared by every node through Redis
    /// when configured, per node otherwise (or while Redis cannot answer).
    async fn admit(&self, org: &OrgId, app: &AppId, events: usize) -> Result<(), IngestError> {
        self.admit_to(&self.limiter, org.as_str(), events).await?;
        self.admit_to(&self.app_limiter, app.as_str(), events).await
    }

    async fn admit_to(
        &self,
        limiter: &QuotaLimiter,
        key: &str,
        events: usize,
    ) -> Result<(), IngestError> {
        if limiter.per_second <= 0.0 {
            return Ok(());
        }
        let shared = self
            .shared
            .rate_limit(
                &format!("{}:{key}", limiter.name),
                limiter.per_second,
                limiter.burst,
                events as u64,
            )
            .await;
        let admitted = match shared {
            Some(result) => result,
            None => limiter.admit(key, events),
        };
        admitted.map_err(|wait| {
            metrics::counter!(crate::metric_names::INGEST_QUOTA_EXCEEDED_TOTAL, "scope" => limiter.name)
                .increment(1);
            IngestError::OverQuota { retry_after_s: wait.as_secs() + 1 }
        })
    }

    /// Checks and appends a batch of SDK or S2S events for `app`. Good events are kept,
    /// bad ones reported (and quarantined), re-sent ones counted once.
    pub async fn ingest(
        &self,
        app: &App,
        body: &[u8],
        source: Source,
        client: &Client<'_>,
    ) -> Result<IngestResponse, IngestError> {
        #[derive(serde::Deserialize)]
        struct Envelope<'a> {
            #[serde(borrow)]
            events: Vec<&'a serde_json::value::RawValue>,
        }
        let envelope: Envelope<'_> = unmogrowp_domain::json::parse(body)?;
        if envelope.events.len() > MAX_EVENTS_PER_REQUEST {
            return Err(IngestError::TooManyEvents {
                count: envelope.events.len(),
                max: MAX_EVENTS_PER_REQUEST,
            });
        }
        self.check_backlog()?;
        self.admit(&app.org_id, &app.id, envelope.events.len()).await?;
        let now = jiff::Timestamp::now().as_millisecond();
        let context = CheckContext {
            now_ms: now,
            max_age_ms: i64::from(self.config.max_event_age_days) * 86_400_000,
            max_future_ms: i64::from(self.config.max_future_minutes) * 60_000,
            allow_touches: source == Source::S2s,
            trace: unmogrowp_domain::trace::TraceContext::current(),
        };
        let mut entries = Vec::with_capacity(envelope.events.len());
        let mut appended = Vec::new();
        let mut in_request = HashSet::new();
        let mut rejected = Vec::new();
        let mut truncated = Vec::new();
        let mut duplicates = 0usize;
        let mut accepted = 0usize;
        for (index, raw) in envelope.events.iter().enumerate() {
            let text = raw.get();
            let outcome = self.check_one(app, text, source, &context, client).await?;
            match outcome {
                Ok(Checked { event, truncated: fields, opt_out }) => {
                    let key = event.dedup_key();
                    let hash = key_hash(&key);
                    // A duplicate is only an id whose first copy is durable (appended
                    // before), or one repeated inside this request. A copy whose first
                    // append is still in flight is appended again: the event store keeps
                    // one (it is idempotent by app, id and event time).
                    if self.dedup.contains(hash) || !in_request.insert(hash) {
                        duplicates += 1;
                        continue;
                    }
                    appended.push(hash);
                    accepted += 1;
                    if !fields.is_empty() {
                        metrics::counter!(crate::metric_names::INGEST_EVENTS_TRUNCATED_TOTAL)
                            .increment(1);
                        truncated.push(TruncatedItem { index, id: event.id.clone(), fields });
                    }
                    let mut event = event;
                    if opt_out {
                        // The opt-out goes first, so the worker applies it to this event and
                        // every later one; this event is stripped here already.
                        if let Some(entry) = opt_out::opt_out_entry(&event)? {
                            entries.push(entry);
                        }
                        event.anonymize();
                    }
                    entries.push(Entry { key, payload: encode(&LogRecord::Event(event))? });
                }
                Err((id, rejection)) => {
                    let mut raw_text = text.to_owned();
                    if raw_text.len() > MAX_EVENT_BYTES {
                        let mut cut = MAX_EVENT_BYTES;
                        while !raw_text.is_char_boundary(cut) {
                            cut -= 1;
                        }
                        raw_text.truncate(cut);
                    }
                    let record = QuarantinedEvent {
                        org_id: app.org_id.clone(),
                        app_id: app.id.clone(),
                        received_ms: now,
                        index: u32::try_from(index).unwrap_or(u32::MAX),
                        event_id: id.clone(),
                        code: rejection.code.to_owned(),
                        message: rejection.message.clone(),
                        raw: raw_text,
                    };
                    entries.push(Entry {
                        key: format!("{}:rejected:{now}:{index}", app.id),
                        payload: encode(&LogRecord::Quarantined(record))?,
                    });
                    rejected.push(RejectedItem {
                        index,
                        id,
                        code: rejection.code.to_owned(),
                        message: rejection.message,
                    });
                }
            }
        }
        self.log.append(entries).await?;
        // Durable now: from here on a re-sent copy is a duplicate.
        for hash in appended {
            self.dedup.insert(hash);
        }
        metrics::counter!(crate::metric_names::INGEST_EVENTS_ACCEPTED_TOTAL)
            .increment(accepted as u64);
        metrics::counter!(crate::metric_names::INGEST_EVENTS_DUPLICATE_TOTAL)
            .increment(duplicates as u64);
        metrics::counter!(crate::metric_names::INGEST_EVENTS_REJECTED_TOTAL)
            .increment(rejected.len() as u64);
        count_for_tenant(&app.org_id, accepted, duplicates, rejected.len());
        Ok(IngestResponse { accepted, duplicates, rejected, truncated })
    }

    /// Checks one event. The outer error is a dependency failure (the request is answered
    /// 503 and retried whole); the inner one the event's own fault.
    async fn check_one(
        &self,
        app: &App,
        text: &str,
        source: Source,
        context: &CheckContext,
        client: &Client<'_>,
    ) -> Result<Result<Checked, (Option<String>, Rejection)>, IngestError> {
        Ok(match self.check_one_event(app, text, source, context).await? {
            Err(refusal) => Err(refusal),
            Ok((mut checked, link)) => {
                let device = &mut checked.event.device;
                // SDK requests cannot choose their own IP or user agent (a spoofed IP could
                // win a probabilistic match or dodge a blocked range): those are the
                // connection's. Servers calling S2S may report the device's.
                if source != Source::S2s || device.ip.is_none() {
                    device.ip = Some(client.ip.to_canonical().to_string());
                }
                if source != Source::S2s || device.user_agent.is_none() {
                    device.user_agent =
                        Some(client.user_agent.to_owned()).filter(|ua| !ua.is_empty());
                    if client.user_agent_truncated {
                        checked.truncated.push("device.user_agent");
                    }
                }
                checked.event.link = link;
                Ok(checked)
            }
        })
    }

    #[allow(clippy::type_complexity)]
    async fn check_one_event(
        &self,
        app: &App,
        text: &str,
        source: Source,
        context: &CheckContext,
    ) -> Result<Result<(Checked, Option<LinkRef>), (Option<String>, Rejection)>, IngestError> {
        if text.len() > MAX_EVENT_BYTES {
            return Ok(Err((
                None,
                Rejection::new("event_too_large", "the event is larger than 32 KiB"),
            )));
        }

        // Parse straight into the event; only a failure pays for a second, untyped parse to
        // find the event's id for the report.
        let mut deserializer = serde_json::Deserializer::from_str(text);
        let incoming: IncomingEvent = match serde_path_to_error::deserialize(&mut deserializer) {
            Ok(incoming) => incoming,
            Err(error) => {
                let value: Option<serde_json::Value> = serde_json::from_str(text).ok();
                let id = value
                    .as_ref()
                    .and_then(|v| v.get("id"))
                    .and_then(|v| v.as_str())
                    .map(str::to_owned);
                if !value.as_ref().is_some_and(serde_json::Value::is_object) {
                    return Ok(Err((
                        None,
                        Rejection::new("invalid_event", "each event must be a JSON object"),
                    )));
                }
                let path = error.path().to_string();
                let message = error.inner().to_string();
                let message = message
                    .rfind(" at line ")
                    .map_or(message.as_str(), |cut| &message[..cut])
                    .to_owned();
                let message = match message.strip_prefix("missing field `") {
                    Some(rest) => {
                        let name = rest.trim_end_matches('`');
                        let field =
                            if path == "." { name.to_owned() } else { format!("{path}.{name}") };
                        format!("{field}: is required")
                    }
                    None => format!("{path}: {message}"),
                };
                return Ok(Err((id, Rejection::new("invalid_field", message))));
            }
        };
        let mut incoming = incoming;
        if source != Source::S2s {
            // Only servers may report the device's IP and user agent (see `check_one`).
            incoming.device.ip = None;
            incoming.device.user_agent = None;
        }
        let id = Some(incoming.id.clone());
        let link_id = incoming.link_id.clone();
        let checked = match check_event(incoming, &app.org_id, &app.id, source, context) {
            Ok(checked) => checked,
            Err(rejection) => return Ok(Err((id, rejection))),
        };
        let mut link = None;
        if let Some(link_id) = link_id.filter(|l| !l.is_empty()) {
            let found = match LinkId::parse(&link_id) {
                // A failed lookup is not an unknown link: the request is answered 503 and
                // retried, never turned into a different outcome inside a 200.
                Some(parsed) => self.link(&parsed).await.map_err(|error| match error {
                    IngestError::Storage(error) => IngestError::LinkLookup(error),
                    other => other,
                })?,
                None => None,
            };
            let Some(found) = found.filter(|l| l.app_id == app.id) else {
                return Ok(Err((
                    id,
                    Rejection::new("unknown_link", "link_id: no such tracking link for this app"),
                )));
            };
            link = Some(link_ref(&found));
        }
        Ok(Ok((checked, link)))
    }

    /// Appends one click or impression recorded by a tracking link.
    pub async fn record_touch(&self, event: LoggedEvent) -> Result<(), IngestError> {
        self.check_backlog()?;
        self.admit(&event.org_id, &event.app_id, 1).await?;
        let key = event.dedup_key();
        let hash = key_hash(&key);
        self.log.append(vec![Entry { key, payload: encode(&LogRecord::Event(event))? }]).await?;
        self.dedup.insert(hash);
        metrics::counter!(crate::metric_names::INGEST_TOUCHES_TOTAL).increment(1);
        Ok(())
    }
}

/// What a logged event carries of its tracking link: the link's id, the network, campaign,
/// ad group and creative it credits, and whether it is a retargeting link (whose opens can
/// count as re-engagements).
pub fn link_ref(link: &Link) -> LinkRef {
    LinkRef {
        link_id: link.id.to_string(),
        network: link.network.clone(),
        campaign: link.campaign.clone(),
        adgroup: link.adgroup.clone(),
        creative: link.creative.clone(),
        retargeting: link.retargeting,
    }
}

/// Counts a request's events for its organization under a bounded label
/// ([`unmogrowp_domain::tenant_label`]): `tenant_events_total{org_id, outcome}`.
fn count_for_tenant(org_id: &OrgId, accepted: usize, duplicates: usize, rejected: usize) {
    let label = unmogrowp_domain::tenant_label::label(
        org_id.as_str(),
        (accepted + duplicates + rejected) as u64,
    );
    for (outcome, count) in
        [("accepted", accepted), ("duplicate", duplicates), ("rejected", rejected)]
    {
        if count > 0 {
            metrics::counter!(crate::metric_names::TENANT_EVENTS_TOTAL,
                "org_id" => label.to_string(), "outcome" => outcome)
            .increment(count as u64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deduper_recognises_what_it_recorded() {
        let dedup = Deduper::new(7);
        assert!(!dedup.contains(42));
        assert!(dedup.insert(42));
        assert!(dedup.contains(42));
        assert!(!dedup.insert(42));
        assert!(!dedup.contains(43));
        assert_eq!(dedup.len(), 1);
    }

    #[test]
    fn the_quota_limiter_allows_a_burst_then_refuses() {
        let limiter = QuotaLimiter::new("ingest", 10, 20);
        let org = OrgId::generate();
        assert!(limiter.admit(org.as_str(), 20).is_ok());
        let wait = limiter.admit(org.as_str(), 5).expect_err("over the burst");
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(1), "{wait:?}");
        assert!(
            limiter.admit(OrgId::generate().as_str(), 20).is_ok(),
            "other organizations are unaffected"
        );
        let unlimited = QuotaLimiter::new("ingest", 0, 1);
        assert!(unlimited.admit(org.as_str(), 1_000_000).is_ok());
    }
}
