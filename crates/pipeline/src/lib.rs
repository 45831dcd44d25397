//! The worker: reads the event log in order, decides what each record means (its report
//! day in the app's time zone, its revenue in the app's currency, the source it is credited
//! to), and applies batches to the event store together with the log offset they end at —
//! so a restart continues exactly where the store stopped, and a replay changes nothing.
//! After each batch it announces the new records to live subscribers.

mod attribute;
mod enrich;

pub use enrich::{AppInfo, engine_settings, to_row};

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{broadcast, watch};
use unmogrowp_bus::{EventLog, Offset};
use unmogrowp_domain::event::{EventType, LogRecord};
use unmogrowp_domain::money::Rates;
use unmogrowp_eventstore::{Batch, EventStore, RejectedRow};
use unmogrowp_storage::Store;

pub const CONSUMER: &str = "pipeline";

#[derive(Clone, Debug)]
pub struct PipelineOptions {
    /// The most records applied to the event store at once.
    pub batch_size: usize,
    /// Records to gather before applying, waiting at most `batch_linger` for them (a
    /// column store wants few large inserts; the embedded store applies whatever is there).
    pub min_batch: usize,
    pub batch_linger: Duration,
    pub log_retention: Duration,
    pub events_retention_days: u32,
    pub rates: Rates,
    /// Where the attribution engine's snapshot is kept (`None`: rebuild from the log).
    pub snapshot_path: Option<std::path::PathBuf>,
}

/// What live subscribers hear about each stored record.
#[derive(Clone, Debug, serde::Serialize)]
pub struct LiveMessage {
    #[serde(skip)]
    pub org_id: String,
    pub app_id: String,
    #[serde(rename = "type")]
    pub kind: EventType,
    pub id: String,
    pub name: Option<String>,
    pub at: String,
    pub network: String,
    pub campaign: String,
    pub country: String,
    pub revenue: f64,
}

/// Shared with the server: position, pause switch, live feed.
pub struct PipelineHandle {
    position: AtomicU64,
    paused: watch::Sender<bool>,
    live: broadcast::Sender<Arc<LiveMessage>>,
    log: Arc<dyn EventLog>,
    apps: enrich::AppCache,
    postbacks: PostbackCache,
}

type PostbackCache =
    moka::future::Cache<unmogrowp_domain::AppId, Arc<Vec<unmogrowp_storage::Postback>>>;

impl PipelineHandle {
    /// The last log offset the event store holds.
    pub fn position(&self) -> Offset {
        self.position.load(Ordering::Acquire)
    }

    /// On a node that does not run the pipeline: what the worker has stored, as it
    /// committed it to the shared log.
    pub fn follow(&self, committed: Offset) {
        self.position.fetch_max(committed, Ordering::AcqRel);
    }

    /// Records appended but not yet stored.
    pub fn lag(&self) -> u64 {
        self.log.head().saturating_sub(self.position())
    }

    /// Stops taking new batches (operators use it for maintenance; tests for backpressure).
    pub fn pause(&self) {
        self.paused.send_replace(true);
    }

    pub fn resume(&self) {
        self.paused.send_replace(false);
    }

    /// Forgets cached app settings (time zone, currency, attribution windows, blocked IPs)
    /// after a change, so the next records use the new ones.
    pub fn forget_app_settings(&self) {
        self.apps.invalidate_all();
        self.postbacks.invalidate_all();
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<LiveMessage>> {
        self.live.subscribe()
    }

    /// Waits until the store holds everything up to `offset` (or the timeout passes).
    pub async fn wait_for(&self, offset: Offset, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        while self.position() < offset {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        true
    }
}

pub struct Pipeline {
    store: Store,
    attributor: attribute::Attributor,
    log: Arc<dyn EventLog>,
    events: Arc<dyn EventStore>,
    apps: enrich::AppDirectory,
    options: PipelineOptions,
    handle: Arc<PipelineHandle>,
}

impl Pipeline {
    pub async fn new(
        log: Arc<dyn EventLog>,
        events: Arc<dyn EventStore>,
        store: Store,
        options: PipelineOptions,
    ) -> anyhow::Result<Self> {
        let position = events.position().await?;
        let (paused, _) = watch::channel(false);
        let (live, _) = broadcast::channel(4096);
        let apps = enrich::app_cache();
        let handle = Arc::new(PipelineHandle {
            position: AtomicU64::new(position),
            paused,
            live,
            log: log.clone(),
            apps: apps.clone(),
            postbacks: moka::future::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(Duration::from_secs(60))
                .build(),
        });
        let attributor = attribute::Attributor::new(options.snapshot_path.clone());
        Ok(Self {
            store: store.clone(),
            attributor,
            log,
            events,
            apps: enrich::AppDirectory::new(store, apps),
            options,
            handle,
        })
    }

    pub fn handle(&self) -> Arc<PipelineHandle> {
        self.handle.clone()
    }

    /// Rebuilds the attribution engine: the snapshot, then the log from there up to what
    /// the event store already holds (decisions for those records are stored; only the
    /// engine's memory is rebuilt).
    async fn warm_up(&mut self) -> anyhow::Result<()> {
        let position = self.handle.position();
        let from = self.attributor.load(position);
        if from >= position {
            return Ok(());
        }
        let started = std::time::Instant::now();
        let mut reader = self.log.reader(from + 1).await?;
        let mut next = from + 1;
        while next <= position {
            let records = reader
                .next_batch(
                    self.options
                        .batch_size
                        .min(usize::try_from(position - next + 1).unwrap_or(usize::MAX)),
                    Duration::from_millis(200),
                )
                .await?;
            if records.is_empty() {
                anyhow::bail!("the event log ends at {} but the store is at {position}", next - 1);
            }
            next = records.last().map_or(next, |(offset, _)| offset + 1);
            let _ = self.prepare(records).await;
        }
        tracing::info!(
            from,
            to = position,
            touchpoints = self.attributor.touch_count(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "attribution index rebuilt"
        );
        Ok(())
    }

    /// Runs until `shutdown` turns true; then finishes the batch in hand and returns.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        if let Err(error) = self.warm_up().await {
            tracing::error!(
                error = format!("{error:#}"),
                "rebuilding the attribution index failed; decisions may lack history"
            );
        }
        let mut last_snapshot = tokio::time::Instant::now();
        let mut backoff = Duration::from_millis(100);
        let mut last_retention = tokio::time::Instant::now();
        'outer: loop {
            let start = self.handle.position() + 1;
            let mut reader = match self.log.consumer(CONSUMER, start).await {
                Ok(reader) => reader,
                Err(error) => {
                    tracing::error!(%error, "the pipeline cannot read the event log");
                    if sleep_or_stop(&mut shutdown, backoff).await {
                        break;
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    continue;
                }
            };
            loop {
                if *shutdown.borrow() {
                    break 'outer;
                }
                let mut paused = self.handle.paused.subscribe();
                if *paused.borrow() {
                    tokio::select! {
                        _ = paused.wait_for(|p| !*p) => {}
                        _ = shutdown.changed() => {}
                    }
                    continue;
                }
                let batch = tokio::select! {
                    batch = reader.next_batch(self.options.batch_size, Duration::from_millis(200)) => batch,
                    _ = shutdown.changed() => continue,
                };
                let records = match batch {
                    Ok(records)
                        if !records.is_empty() && records.len() < self.options.min_batch =>
                    {
                        match self.gather(&mut reader, records, &mut shutdown).await {
                            Ok(records) => records,
                            Err(error) => {
                                tracing::error!(%error, "reading the event log failed");
                                if sleep_or_stop(&mut shutdown, backoff).await {
                                    break 'outer;
                                }
                                backoff = (backoff * 2).min(Duration::from_secs(5));
                                continue 'outer;
                            }
                        }
                    }
                    Ok(records) => records,
                    Err(error) => {
                        tracing::error!(%error, "reading the event log failed");
                        if sleep_or_stop(&mut shutdown, backoff).await {
                            break 'outer;
                        }
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                        continue 'outer;
                    }
                };
                if records.is_empty() {
                    if last_retention.elapsed() > Duration::from_secs(600) {
                        self.retention().await;
                        last_retention = tokio::time::Instant::now();
                    }
                    continue;
                }
                let last = records.last().map_or(0, |(offset, _)| *offset);
                let (batch, live, triggers) = self.prepare(records).await;
                // Postbacks are enqueued before the batch is stored: a crash in between
                // replays the batch, and the deliveries' keys keep them single.
                while let Err(error) = self.enqueue_postbacks(&triggers).await {
                    tracing::error!(
                        error = format!("{error:#}"),
                        "enqueueing postbacks failed; retrying"
                    );
                    if sleep_or_stop(&mut shutdown, backoff).await {
                        break 'outer;
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
                // Applying must succeed before moving on: retry the same batch.
                loop {
                    match self.events.apply(batch.clone()).await {
                        Ok(outcome) => {
                            metrics::counter!("pipeline_records_stored_total")
                                .increment(outcome.stored);
                            break;
                        }
                        Err(error) => {
                            tracing::error!(%error, "applying a batch to the event store failed; retrying");
                            if sleep_or_stop(&mut shutdown, backoff).await {
                                break 'outer;
                            }
                            backoff = (backoff * 2).min(Duration::from_secs(5));
                        }
                    }
                }
                backoff = Duration::from_millis(100);
                self.handle.position.store(last, Ordering::Release);
                metrics::gauge!("pipeline_position").set(last as f64);
                metrics::gauge!("pipeline_lag_records").set(self.handle.lag() as f64);
                if let Err(error) = self.log.commit(CONSUMER, last).await {
                    tracing::warn!(%error, "cannot record the pipeline's log offset");
                }
                if let Err(error) = reader.ack(last).await {
                    tracing::warn!(%error, "cannot acknowledge the stored records to the log");
                }
                for message in live {
                    let _ = self.handle.live.send(Arc::new(message));
                }
                if last_snapshot.elapsed() > Duration::from_secs(60) {
                    self.snapshot(last);
                    last_snapshot = tokio::time::Instant::now();
                }
            }
        }
        self.snapshot(self.handle.position());
        tracing::info!(position = self.handle.position(), "pipeline stopped");
    }

    /// Adds to `records` until there are `min_batch` of them, `batch_size` at most, or
    /// `batch_linger` has passed, or shutdown was asked for.
    async fn gather(
        &self,
        reader: &mut Box<dyn unmogrowp_bus::LogReader>,
        mut records: Vec<(Offset, Vec<u8>)>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<Vec<(Offset, Vec<u8>)>, unmogrowp_bus::LogError> {
        let deadline = tokio::time::Instant::now() + self.options.batch_linger;
        while records.len() < self.options.min_batch && !*shutdown.borrow() {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                break;
            }
            let room = self.options.batch_size.saturating_sub(records.len()).max(1);
            let more = tokio::select! {
                more = reader.next_batch(room, left) => more?,
                _ = shutdown.changed() => break,
            };
            records.extend(more);
        }
        Ok(records)
    }

    fn snapshot(&self, offset: Offset) {
        if let Err(error) = self.attributor.save(offset) {
            tracing::warn!(%error, "cannot write the attribution snapshot");
        }
    }

    async fn prepare(
        &mut self,
        records: Vec<(Offset, Vec<u8>)>,
    ) -> (Batch, Vec<LiveMessage>, Vec<attribute::Trigger>) {
        let mut batch =
            Batch { last_offset: records.last().map_or(0, |(o, _)| *o), ..Batch::default() };
        let mut live = Vec::new();
        let mut outputs = attribute::Outputs::default();
        for (offset, bytes) in records {
            let record = match LogRecord::decode(&bytes) {
                Ok(record) => record,
                Err(error) => {
                    metrics::counter!("pipeline_undecodable_records_total").increment(1);
                    tracing::error!(offset, %error, "skipping an undecodable log record");
                    continue;
                }
            };
            match record {
                LogRecord::Event(event) => {
                    let app = self.apps.get(&event.app_id).await;
                    let mut row = to_row(&event, &app, &self.options.rates);
                    self.attributor.process(&event, &app, &mut row, &mut outputs);
                    live.push(LiveMessage {
                        org_id: row.org_id.clone(),
                        app_id: row.app_id.clone(),
                        kind: row.kind,
                        id: row.id.clone(),
                        name: row.name.clone(),
                        at: unmogrowp_domain::time::rfc3339(row.timestamp_ms),
                        network: row.dims.network.clone(),
                        campaign: row.dims.campaign.clone(),
                        country: row.dims.country.clone(),
                        revenue: row.revenue,
                    });
                    batch.rows.push(row);
                }
                LogRecord::Rejected(rejected) => batch.rejected.push(RejectedRow {
                    app_id: rejected.app_id.to_string(),
                    received_ms: rejected.received_ms,
                    index: rejected.index,
                    event_id: rejected.event_id,
                    code: rejected.code,
                    message: rejected.message,
                    raw: rejected.raw,
                }),
            }
        }
        batch.attributions = outputs.attributions;
        batch.credits = outputs.credits;
        (batch, live, outputs.triggers)
    }

    /// Enqueues a delivery for every postback a trigger matches (idempotent: a replayed
    /// trigger finds its delivery already there).
    async fn enqueue_postbacks(&self, triggers: &[attribute::Trigger]) -> anyhow::Result<()> {
        let mut deliveries = Vec::new();
        for trigger in triggers {
            let app_id = unmogrowp_domain::AppId::from_stored(trigger.app_id.clone());
            let postbacks = match self.handle.postbacks.get(&app_id).await {
                Some(cached) => cached,
                None => {
                    let loaded = Arc::new(self.store.credentials().postbacks(&app_id).await?);
                    self.handle.postbacks.insert(app_id.clone(), loaded.clone()).await;
                    loaded
                }
            };
            for postback in postbacks.iter() {
                if postback.network != trigger.network
                    || !postback.events.contains(&trigger.event_name)
                {
                    continue;
                }
                let url = unmogrowp_domain::postback::fill(
                    &postback.url_template,
                    &[
                        ("click_id", trigger.click_id.clone()),
                        ("network_click_id", trigger.network_click_id.clone()),
                        ("event_name", Some(trigger.event_name.clone())),
                        ("revenue", trigger.revenue.map(|r| format!("{r}"))),
                        ("currency", trigger.currency.clone()),
                        ("device_id", trigger.device_id.clone()),
                        ("install_time", trigger.install_time.map(unmogrowp_domain::time::rfc3339)),
                        ("campaign", Some(trigger.campaign.clone())),
                    ],
                );
                deliveries.push(unmogrowp_storage::NewDelivery {
                    org_id: postback.org_id.clone(),
                    app_id: app_id.clone(),
                    postback_id: postback.id.clone(),
                    dedup_key: format!("{}:{}", postback.id, trigger.event_id),
                    url,
                });
            }
        }
        if !deliveries.is_empty() {
            let added = self.store.credentials().enqueue_deliveries(&deliveries).await?;
            metrics::counter!("postbacks_enqueued_total").increment(added);
        }
        Ok(())
    }

    async fn retention(&self) {
        match self.log.enforce_retention(self.options.log_retention).await {
            Ok(removed) if removed > 0 => {
                tracing::info!(removed, "event log segments past retention removed")
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "event log retention failed"),
        }
        let cutoff = jiff::Timestamp::now()
            .checked_sub(jiff::SignedDuration::from_hours(
                24 * i64::from(self.options.events_retention_days),
            ))
            .map(|t| t.to_zoned(jiff::tz::TimeZone::UTC).date().to_string());
        if let Ok(cutoff) = cutoff {
            match self.events.drop_days_before(&cutoff).await {
                Ok(dropped) if dropped > 0 => {
                    tracing::info!(dropped, "raw event partitions past retention dropped")
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "event store retention failed"),
            }
        }
    }
}

/// Sleeps unless told to stop first; returns whether to stop.
async fn sleep_or_stop(shutdown: &mut watch::Receiver<bool>, duration: Duration) -> bool {
    tokio::select! {
        () = tokio::time::sleep(duration) => *shutdown.borrow(),
        _ = shutdown.changed() => true,
    }
}
