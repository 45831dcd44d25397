//! The worker: reads the event log in order, decides what each record of its partitions
//! means (its report day in the app's time zone, its revenue in the app's currency,
//! the source it is credited to), and applies batches to the event store together with the
//! log offset they end at in each partition — so a restart continues exactly where the store
//! stopped, and a replay changes nothing. After each batch it announces the new records to
//! live subscribers. Several workers share a partitioned log, each owning a fixed set of
//! partitions ([`owned_partitions`]) and skipping the others' records.
#![warn(missing_docs)]

mod attribute;
mod backoff;
mod enrich;
mod erasure;
mod feed;
mod handle;
pub mod metric_names;
mod retention;
mod store_stage;
mod trace;
mod warm_up;

pub(crate) use backoff::Backoff;

use store_stage::StoreStage;

pub use enrich::{AppInfo, engine_settings, to_row};
pub use handle::{LiveMessage, PipelineHandle};

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, watch};
use unmogrowp_bus::{EventLog, Offset};
use unmogrowp_domain::event::LogRecord;
use unmogrowp_domain::money::Rates;
use unmogrowp_eventstore::{Batch, EventStore, QuarantinedRow};
use unmogrowp_storage::Store;

/// The consumer name the pipeline commits its log positions under. On the embedded log the
/// single worker commits as `pipeline`; on a shared log each worker commits as
/// `pipeline-w<ordinal>` ([`unmogrowp_bus::worker_consumer_name`]) and the log's overall
/// position is the lowest of those ([`EventLog::watermark`] with this name).
pub const CONSUMER: &str = "pipeline";

/// The partitions worker `ordinal` of `workers` owns among `partitions`: those whose number
/// modulo `workers` is `ordinal` (a Kubernetes StatefulSet's pod `worker-i` of N replicas is
/// ordinal `i`). Every partition has exactly one owner when each ordinal `0..workers` runs.
pub fn owned_partitions(partitions: u16, workers: u16, ordinal: u16) -> Vec<u16> {
    let workers = workers.max(1);
    (0..partitions.max(1)).filter(|p| p % workers == ordinal).collect()
}

/// What a worker runs with: batch sizes, retention, currency rates, the attribution
/// snapshot's file and the log partitions it decides. The server builds it from its
/// configuration (`events.*`, `ingest.max_event_age_days`, `pipeline.*`); batch sizes depend
/// on the event store's kind (few large inserts for a column store, whatever is there for the
/// embedded one).
#[derive(Clone, Debug)]
pub struct PipelineOptions {
    /// The most records applied to the event store at once.
    pub batch_size: usize,
    /// Records to gather before applying, waiting at most `batch_linger` for them (a
    /// column store wants few large inserts; the embedded store applies whatever is there).
    pub min_batch: usize,
    /// The longest a batch waits for `min_batch` records once its first ones have arrived;
    /// after that, what was gathered is applied. Zero applies at once.
    pub batch_linger: Duration,
    /// How long the event log keeps records every consumer has committed; older ones are
    /// removed. It should cover at least ingestion's dedup window, which ingestion rebuilds
    /// from the log when it starts. Enforced every `retention_every`.
    pub log_retention: Duration,
    /// Raw events are kept this many days: the event store's partitions of UTC days before
    /// the day this many days ago are dropped (rollups stay). Checked together with
    /// `log_retention`.
    pub events_retention_days: u32,
    /// How often both retentions are enforced, by a task of their own beside the read loop,
    /// so a worker that is never idle still enforces them (the server's
    /// `events.retention_check_seconds`, default 600 s).
    pub retention_every: Duration,
    /// Exchange rates (units per US dollar) used to convert each event's revenue into its
    /// app's currency; revenue in a currency the rates do not know is stored as 0.
    pub rates: Rates,
    /// Where the attribution engine's snapshot is kept (`None`: rebuild from the log).
    pub snapshot_path: Option<std::path::PathBuf>,
    /// How old an event may be when accepted (ingestion's `max_event_age_days`): touchpoints
    /// stay in the attribution index until no install that could still arrive can use them.
    pub max_event_age: Duration,
    /// The log partitions this worker decides (see [`owned_partitions`]); `None`: all of them.
    pub partitions: Option<Vec<u16>>,
    /// This worker's number among those sharing the log (its consumer is
    /// `pipeline-w<ordinal>` on a shared log), and how many share it.
    pub worker_ordinal: u16,
    /// How many workers share the log (at least 1): the watermark counts this many
    /// `pipeline-w<ordinal>` consumers, and on a shared log the positions committed under a
    /// higher ordinal are forgotten as stale when the worker starts.
    pub workers: u16,
}

/// One pipeline worker: reads its partitions of the event log in order, enriches each event
/// with its app's settings, runs the attribution engine over it, queues the postbacks it
/// triggers, stores each batch with the log offsets it ends at, and announces the new
/// records to live subscribers.
///
/// Build it with [`Pipeline::new`], give [`Pipeline::handle`] to the server, then spawn
/// [`Pipeline::run`]; the worker owns the engine's state, so only one may run per set of
/// partitions.
pub struct Pipeline {
    attributor: attribute::Attributor,
    log: Arc<dyn EventLog>,
    events: Arc<dyn EventStore>,
    apps: enrich::AppDirectory,
    options: PipelineOptions,
    handle: Arc<PipelineHandle>,
    writer: Option<StoreStage>,
    /// Where the store is, for each partition this worker decides (then how far decided).
    positions: std::collections::BTreeMap<u16, Offset>,
    /// False when the engine may lack history (its rebuild did not finish): no snapshot is
    /// written then, so a restart rebuilds again instead of keeping the gap for good.
    snapshots_allowed: bool,
}

/// A batch decided by the first stage, on its way to the store.
pub(crate) struct Prepared {
    batch: Arc<Batch>,
    /// The batch as the event store stores it, made by [`EventStore::prepare`] in the
    /// deciding stage (sealed personal fields); `None`: store `batch` itself.
    stored: Option<Arc<Batch>>,
    live: Vec<LiveMessage>,
    triggers: Vec<attribute::Trigger>,
    /// The batch's number in this run (1 for the first), so each stage knows what the other
    /// has done.
    sequence: u64,
    /// The last offset read for the batch: every record up to it is processed once the batch
    /// is stored (records of other workers' partitions are skipped).
    read_to: Offset,
    /// The batch's span (`pipeline.batch`), open until the batch is stored.
    span: tracing::Span,
}

impl Pipeline {
    /// Prepares a worker: reads where the event store stands in each partition it decides
    /// (a partition never stored starts at offset 0) and sets the handle's position (on a
    /// shared log, the watermark committed under [`CONSUMER`] by all `options.workers`;
    /// otherwise partition 0's stored offset). The attribution engine starts empty; it is
    /// loaded from its snapshot or rebuilt when [`Pipeline::run`] begins.
    ///
    /// Fails when `options.partitions` names a partition the log does not have, or when the
    /// event store cannot tell its positions.
    pub async fn new(
        log: Arc<dyn EventLog>,
        events: Arc<dyn EventStore>,
        store: Store,
        options: PipelineOptions,
    ) -> anyhow::Result<Self> {
        let partition_count = log.partitions();
        let owned = match &options.partitions {
            Some(owned) => owned.clone(),
            None => (0..partition_count).collect(),
        };
        if let Some(outside) = owned.iter().find(|p| **p >= partition_count) {
            anyhow::bail!(
                "partition {outside} does not exist: the event log has {partition_count}"
            );
        }
        let stored = events.positions().await?;
        let positions: std::collections::BTreeMap<u16, Offset> =
            owned.iter().map(|p| (*p, stored.get(p).copied().unwrap_or(0))).collect();
        // On a shared log the whole log's position is what every worker committed.
        let position = if log.relays_live() {
            log.watermark(CONSUMER, options.workers).await.unwrap_or(0)
        } else {
            positions.get(&0).copied().unwrap_or(0)
        };
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
        let attributor = attribute::Attributor::new(
            options.snapshot_path.clone(),
            i64::try_from(options.max_event_age.as_millis()).unwrap_or(i64::MAX),
        );
        let writer = StoreStage {
            store: store.clone(),
            log: log.clone(),
            events: events.clone(),
            handle: handle.clone(),
        };
        Ok(Self {
            attributor,
            log,
            events,
            apps: enrich::AppDirectory::new(store, apps),
            options,
            handle,
            writer: Some(writer),
            positions,
            snapshots_allowed: true,
        })
    }

    /// The handle the server keeps: the stored position and lag, the pause switch, the live
    /// feed and the app-settings cache. It stays valid after [`Pipeline::run`] takes the
    /// worker.
    pub fn handle(&self) -> Arc<PipelineHandle> {
        self.handle.clone()
    }

    /// Runs until `shutdown` turns true; then stores what was decided and returns.
    ///
    /// Two stages run side by side: this task reads the log, decodes and attributes
    /// (the engine's state lives here), and hands each batch to the store stage, which
    /// enqueues its postbacks, applies it to the event store, advances the position and
    /// announces it to live subscribers. So reading and deciding the next batch overlaps
    /// with writing the last one; at most [`IN_FLIGHT`] batches wait between the two.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        if let Err(error) = self.warm_up(&mut shutdown).await {
            self.snapshots_allowed = false;
            tracing::error!(
                error = format!("{error:#}"),
                "rebuilding the attribution index failed; decisions may lack history \
                 (no snapshot is written until a restart rebuilds it)"
            );
        }
        let Some(writer) = self.writer.take() else { return };
        let (sender, receiver) = mpsc::channel::<Prepared>(IN_FLIGHT);
        let (stored_sender, stored) = watch::channel(0u64);
        if self.log.relays_live() {
            self.forget_stale_consumers().await;
        }
        let from = self.positions.values().min().copied().unwrap_or(0) + 1;
        let name = if self.log.relays_live() {
            unmogrowp_bus::worker_consumer_name(CONSUMER, self.options.worker_ordinal)
        } else {
            CONSUMER.to_owned()
        };
        let (feed, acks) =
            feed::Feed::start(&self.log, name, from, self.options.batch_size, &shutdown);
        let store_stage = tokio::spawn(writer.run(receiver, stored_sender, acks, shutdown.clone()));
        let retention = tokio::spawn(retention::enforce_every(
            self.log.clone(),
            self.events.clone(),
            self.options.log_retention,
            self.options.events_retention_days,
            self.options.retention_every,
            shutdown.clone(),
        ));
        let prepared = self.read_and_decide(feed, sender, stored.clone(), &mut shutdown).await;
        let _ = store_stage.await;
        retention.abort();
        let stored_through = *stored.borrow();
        match prepared {
            Some(sequence) if sequence == stored_through => {
                let positions = self.positions.clone();
                self.snapshot(positions).await;
            }
            _ => tracing::warn!(
                "decisions made after the stored position were not stored; the last snapshot stays"
            ),
        }
        tracing::info!(positions = ?self.positions, "pipeline stopped");
    }

    /// The first stage. Returns the number of the last batch handed on, or `None` when a
    /// batch was only half decided (the engine then holds more than the store will).
    async fn read_and_decide(
        &mut self,
        mut feed: feed::Feed,
        sender: mpsc::Sender<Prepared>,
        mut stored: watch::Receiver<u64>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Option<u64> {
        let mut last_snapshot = tokio::time::Instant::now();
        let mut sequence = 0;
        loop {
            if *shutdown.borrow() {
                break;
            }
            let mut paused = self.handle.paused.subscribe();
            if *paused.borrow() {
                tokio::select! {
                    _ = paused.wait_for(|p| !*p) => {}
                    _ = shutdown.changed() => {}
                }
                continue;
            }
            let reading = std::time::Instant::now();
            let mut records = tokio::select! {
                records = feed.next_batch(self.options.batch_size, Duration::from_millis(200)) => records,
                _ = shutdown.changed() => continue,
            };
            if !records.is_empty() && records.len() < self.options.min_batch {
                self.gather(&mut feed, &mut records, shutdown).await;
            }
            let Some(read_to) = records.last().map(|(_, offset, _)| *offset) else { continue };
            // This worker's records not stored yet (after a restart, a partition may be
            // further than the others).
            let positions = &self.positions;
            records.retain(|(partition, offset, _)| {
                positions.get(partition).is_some_and(|stored| offset > stored)
            });
            let deciding = std::time::Instant::now();
            stage_time("read", reading, deciding);
            let records = trace::decode(records);
            let span = trace::batch_span(&records, self.handle.lag());
            let (mut batch, live, triggers) = {
                use tracing::Instrument as _;
                self.prepare(records, shutdown).instrument(span.clone()).await?
            };
            // Everything up to `read_to` is processed for every partition of this worker.
            batch.last_offset = read_to;
            batch.positions =
                self.positions.keys().map(|partition| (*partition, read_to)).collect();
            for position in self.positions.values_mut() {
                *position = read_to;
            }
            sequence += 1;
            // The store's own preparation (sealing) here, where there is time to spare; if
            // it fails, the store stage does it with its retries.
            let stored_form = match self.events.prepare(&batch).await {
                Ok(stored_form) => stored_form.map(Arc::new),
                Err(error) => {
                    tracing::warn!(%error, "preparing a batch for the event store failed; the store stage will");
                    None
                }
            };
            let prepared = Prepared {
                batch: Arc::new(batch),
                stored: stored_form,
                live,
                triggers,
                sequence,
                read_to,
                span,
            };
            let handing = std::time::Instant::now();
            stage_time("decide", deciding, handing);
            let sent = sender.send(prepared).await;
            stage_time("hand_over", handing, std::time::Instant::now());
            if sent.is_err() {
                // The store stage gave up (shutdown while retrying): what it did not
                // store is decided but not stored.
                return None;
            }
            if last_snapshot.elapsed() > SNAPSHOT_EVERY {
                // A snapshot must not be ahead of the store: wait for it to catch up.
                let caught_up = tokio::select! {
                    result = stored.wait_for(|stored| *stored >= sequence) => result.is_ok(),
                    _ = shutdown.changed() => false,
                };
                if caught_up {
                    let positions = self.positions.clone();
                    self.snapshot(positions).await;
                }
                last_snapshot = tokio::time::Instant::now();
            }
        }
        Some(sequence)
    }

    /// On a shared log: forgets the positions committed under names no worker uses any more
    /// — the unpartitioned layout's `pipeline`, and `pipeline-w<N>` for a worker numbered at
    /// or above `pipeline.workers` — so that retention does not wait for them forever.
    async fn forget_stale_consumers(&self) {
        let consumers = match self.log.consumers().await {
            Ok(consumers) => consumers,
            Err(error) => return tracing::warn!(%error, "cannot list the log's consumers"),
        };
        let worker_prefix = format!("{CONSUMER}-w");
        for name in consumers {
            let stale = name == CONSUMER
                || name
                    .strip_prefix(&worker_prefix)
                    .and_then(|ordinal| ordinal.parse::<u16>().ok())
                    .is_some_and(|ordinal| ordinal >= self.options.workers);
            if stale {
                match self.log.forget(&name).await {
                    Ok(()) => tracing::info!(consumer = name, "forgot a consumer no worker uses"),
                    Err(error) => {
                        tracing::warn!(%error, consumer = name, "cannot forget a consumer")
                    }
                }
            }
        }
    }

    /// Adds to `records` until there are `min_batch` of them, `batch_size` at most, or
    /// `batch_linger` has passed, or shutdown was asked for.
    async fn gather(
        &self,
        feed: &mut feed::Feed,
        records: &mut Vec<feed::Record>,
        shutdown: &mut watch::Receiver<bool>,
    ) {
        let deadline = tokio::time::Instant::now() + self.options.batch_linger;
        while records.len() < self.options.min_batch && !*shutdown.borrow() {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                break;
            }
            let room = self.options.batch_size.saturating_sub(records.len()).max(1);
            let more = tokio::select! {
                more = feed.next_batch(room, left) => more,
                _ = shutdown.changed() => break,
            };
            records.extend(more);
        }
    }

    /// Writes the engine's state as of `positions` (per partition). Encoding runs on a blocking thread while
    /// this stage waits (the engine must not change meanwhile; a panic while encoding is
    /// caught so the engine always comes back); then the file is written and synced on
    /// another blocking thread (the async runtime's threads never do either).
    async fn snapshot(&mut self, positions: std::collections::BTreeMap<u16, Offset>) {
        if !self.snapshots_allowed {
            return;
        }
        let attributor =
            std::mem::replace(&mut self.attributor, attribute::Attributor::new(None, 0));
        let encoded = tokio::task::spawn_blocking(move || {
            let bytes = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                attributor.encode(&positions)
            }));
            (attributor, bytes)
        })
        .await;
        let (attributor, bytes) = match encoded {
            Ok(result) => result,
            Err(error) => {
                // Unreachable in practice (the closure catches panics); without the engine
                // every later decision would be wrong, so stop writing snapshots and say so.
                self.snapshots_allowed = false;
                tracing::error!(%error, "the attribution snapshot task failed; the engine is lost");
                return;
            }
        };
        self.attributor = attributor;
        let bytes = match bytes {
            Ok(bytes) => bytes,
            Err(_) => {
                tracing::error!("encoding the attribution snapshot panicked; no snapshot written");
                return;
            }
        };
        let (Some(path), Ok(bytes)) = (self.options.snapshot_path.clone(), bytes) else {
            return;
        };
        let written =
            tokio::task::spawn_blocking(move || attribute::write_atomically(&path, &bytes)).await;
        match written {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "cannot write the attribution snapshot"),
            Err(error) => tracing::warn!(%error, "writing the attribution snapshot panicked"),
        }
    }

    /// Decides a run of decoded records. `None` when shutdown came while the settings
    /// of an app could not be read (the run is then only partly decided).
    async fn prepare(
        &mut self,
        records: Vec<trace::Decoded>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Option<(Batch, Vec<LiveMessage>, Vec<attribute::Trigger>)> {
        let mut ends = std::collections::BTreeMap::new();
        for (partition, offset, _) in &records {
            let end = ends.entry(*partition).or_insert(0);
            *end = (*end).max(*offset);
        }
        let mut batch = Batch {
            last_offset: ends.values().copied().max().unwrap_or(0),
            positions: ends.into_iter().collect(),
            ..Batch::default()
        };
        batch.rows.reserve(records.len());
        let announce = self.handle.live.receiver_count() > 0 || self.log.relays_live();
        let mut live = Vec::new();
        let mut outputs = attribute::Outputs::default();
        let mut apps: std::collections::HashMap<unmogrowp_domain::AppId, Arc<AppInfo>> =
            std::collections::HashMap::new();
        for (_, _, record) in records {
            match record {
                LogRecord::Event(mut event) => {
                    if self.attributor.opted_out(&event) {
                        event.anonymize();
                    }
                    let app = match apps.get(&event.app_id) {
                        Some(app) => app.clone(),
                        None => {
                            let app = self.app_settings(&event.app_id, shutdown).await?;
                            apps.insert(event.app_id.clone(), app.clone());
                            app
                        }
                    };
                    let mut row = to_row(&event, &app, &self.options.rates);
                    self.attributor.process(&event, &app, &mut row, &mut outputs);
                    if announce {
                        live.push(LiveMessage {
                            org_id: row.org_id.to_string(),
                            app_id: row.app_id.to_string(),
                            kind: row.kind,
                            id: row.id.clone(),
                            name: row.name.clone(),
                            at: unmogrowp_domain::time::rfc3339(row.timestamp_ms),
                            network: row.dims.network.clone(),
                            campaign: row.dims.campaign.clone(),
                            country: row.dims.country.clone(),
                            revenue: row.revenue,
                        });
                    }
                    batch.rows.push(row);
                }
                LogRecord::Erasure(erasure) => {
                    self.attributor.forget(&erasure);
                    erasure::drop_erased(&erasure, &mut batch, &mut outputs, &mut live);
                    batch.erasures.push(erasure);
                }
                LogRecord::OptOut(opt_out) => {
                    self.attributor.opt_out(&opt_out);
                    batch.opt_outs.push(opt_out);
                }
                LogRecord::Quarantined(rejected) => batch.quarantined.push(QuarantinedRow {
                    app_id: rejected.app_id.clone(),
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
        batch.fraud = outputs.fraud;
        Some((batch, live, outputs.triggers))
    }

    /// The app's settings, retried until the OLTP store answers (`None` on shutdown).
    async fn app_settings(
        &self,
        app_id: &unmogrowp_domain::AppId,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Option<Arc<AppInfo>> {
        let mut backoff = Backoff::new();
        loop {
            match self.apps.get(app_id).await {
                Ok(app) => return Some(app),
                Err(error) => {
                    metrics::counter!(crate::metric_names::PIPELINE_DEPENDENCY_ERRORS_TOTAL)
                        .increment(1);
                    tracing::error!(%error, app_id = %app_id, "cannot read app settings; retrying");
                    if backoff.wait(shutdown).await {
                        return None;
                    }
                }
            }
        }
    }
}

/// Batches decided but not yet stored, at most.
const IN_FLIGHT: usize = 2;

const SNAPSHOT_EVERY: Duration = Duration::from_secs(60);

/// Time a batch spent in a stage: `read` (waiting for and reading log records), `decide`
/// (decoding, enrichment, attribution), `hand_over` (waiting for the store stage to take the
/// batch: the store is the slower stage), `store` (postbacks and the event store).
pub(crate) fn stage_time(stage: &'static str, from: std::time::Instant, to: std::time::Instant) {
    metrics::histogram!(crate::metric_names::PIPELINE_STAGE_SECONDS, "stage" => stage)
        .record(to.duration_since(from).as_secs_f64());
}
