//! The pipeline's second stage: for each decided batch, in order, the postbacks it
//! triggers are enqueued, the batch is applied to the event store, the partitions' readers
//! are told what is stored (they acknowledge it to the log), the position advances (on a log
//! of its own; a shared log's position is what every worker committed), and the live feed
//! hears it: directly on a log of its own; on a shared log through the log's relay, which
//! every node serving the feed (this one too) subscribes to.

use crate::{CONSUMER, LiveMessage, PipelineHandle, Prepared, attribute, stage_time};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::sync::{mpsc, watch};
use unmogrowp_bus::EventLog;
use unmogrowp_eventstore::EventStore;
use unmogrowp_storage::Store;

/// Live messages per relay payload (~250 bytes each: ~250 KiB a payload).
const LIVE_MESSAGES_PER_PAYLOAD: usize = 1_000;

/// The second stage: postbacks, event store, position, live feed.
pub(crate) struct StoreStage {
    pub(crate) store: Store,
    pub(crate) log: Arc<dyn EventLog>,
    pub(crate) events: Arc<dyn EventStore>,
    pub(crate) handle: Arc<PipelineHandle>,
}

impl StoreStage {
    /// Stores every batch it is handed, in order, until the first stage stops sending.
    /// On shutdown it still stores what is queued, giving up only on a batch whose store
    /// keeps failing.
    pub(crate) async fn run(
        self,
        mut receiver: mpsc::Receiver<Prepared>,
        stored: watch::Sender<u64>,
        acks: watch::Sender<unmogrowp_bus::Offset>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let shared = self.log.relays_live();
        while let Some(prepared) = receiver.recv().await {
            let storing = std::time::Instant::now();
            if !self.store_one(&prepared, &mut shutdown).await {
                return;
            }
            stage_time("store", storing, std::time::Instant::now());
            acks.send_replace(prepared.read_to);
            stored.send_replace(prepared.sequence);
            if !shared {
                // One worker, one partition: the batch's end is the whole log's position.
                let last = prepared.batch.last_offset;
                self.handle.position.store(last, Ordering::Release);
                // The commit belongs to the batch's trace.
                let commit = {
                    use tracing::Instrument as _;
                    self.log.commit(CONSUMER, last).instrument(prepared.span.clone())
                };
                if let Err(error) = commit.await {
                    tracing::warn!(%error, "cannot record the pipeline's log offset");
                }
            }
            metrics::gauge!(crate::metric_names::PIPELINE_POSITION)
                .set(self.handle.position() as f64);
            metrics::gauge!(crate::metric_names::PIPELINE_LAG_RECORDS)
                .set(self.handle.lag() as f64);
            if shared {
                // Every node serving the live feed (this one too) hears it through the
                // relay, with the other workers' records.
                if !prepared.live.is_empty() {
                    self.relay(&prepared.live).await;
                }
            } else {
                for message in prepared.live {
                    let _ = self.handle.live.send(Arc::new(message));
                }
            }
        }
    }

    /// Publishes the batch's live messages to the other nodes (API nodes relay them to
    /// their WebSocket clients). Best effort: a failure is logged and the feed skips them.
    /// Payloads stay far below NATS's default 1 MiB limit (a message is ~250 bytes).
    async fn relay(&self, messages: &[LiveMessage]) {
        for chunk in messages.chunks(LIVE_MESSAGES_PER_PAYLOAD) {
            let wire: Vec<(&str, &LiveMessage)> =
                chunk.iter().map(|m| (m.org_id.as_str(), m)).collect();
            let payload = match serde_json::to_vec(&wire) {
                Ok(payload) => payload,
                Err(error) => return tracing::warn!(%error, "cannot encode live messages"),
            };
            if let Err(error) = self.log.publish_live(payload).await {
                metrics::counter!(crate::metric_names::PIPELINE_LIVE_RELAY_ERRORS_TOTAL)
                    .increment(1);
                tracing::warn!(%error, "cannot relay live messages to other nodes");
            }
        }
    }

    /// Enqueues the batch's postbacks, then applies it; retried with backoff. `false` when
    /// shutdown came while retrying.
    #[tracing::instrument(name = "pipeline.store_batch", parent = &prepared.span, skip_all, fields(batch = prepared.sequence, rows = prepared.batch.rows.len(), read_to = prepared.read_to))]
    async fn store_one(&self, prepared: &Prepared, shutdown: &mut watch::Receiver<bool>) -> bool {
        let mut backoff = crate::Backoff::new();
        // Postbacks are enqueued before the batch is stored: a crash in between replays the
        // batch, and the deliveries' keys keep them single.
        while let Err(error) = self.enqueue_postbacks(&prepared.triggers).await {
            tracing::error!(error = format!("{error:#}"), "enqueueing postbacks failed; retrying");
            if backoff.wait(shutdown).await {
                return false;
            }
        }
        // An erased device's postback URLs go too (those just enqueued included), and what was
        // still to be sent about it is not sent.
        while let Err(error) = self.scrub_erased_deliveries(&prepared.batch).await {
            tracing::error!(%error, "scrubbing an erased device's postbacks failed; retrying");
            if backoff.wait(shutdown).await {
                return false;
            }
        }
        loop {
            let applied = match &prepared.stored {
                Some(stored) => self.events.apply_prepared(stored.clone()).await,
                None => self.events.apply_shared(prepared.batch.clone()).await,
            };
            match applied {
                Ok(outcome) => {
                    metrics::counter!(crate::metric_names::PIPELINE_RECORDS_STORED_TOTAL)
                        .increment(outcome.stored);
                    metrics::counter!(crate::metric_names::PIPELINE_RECORDS_DUPLICATE_TOTAL)
                        .increment(outcome.duplicates);
                    count_installs_by_tenant(&prepared.batch);
                    record_visible_latency(&prepared.batch);
                    return true;
                }
                Err(error) => {
                    tracing::error!(%error, "applying a batch to the event store failed; retrying");
                    if backoff.wait(shutdown).await {
                        return false;
                    }
                }
            }
        }
    }

    /// Enqueues a delivery for every postback a trigger matches (idempotent: a replayed
    /// trigger finds its delivery already there).
    async fn scrub_erased_deliveries(
        &self,
        batch: &unmogrowp_eventstore::Batch,
    ) -> unmogrowp_storage::Result<()> {
        use unmogrowp_domain::erasure::ErasureScope;
        for erasure in &batch.erasures {
            let ErasureScope::Device { identifiers } = &erasure.scope else { continue };
            let values: Vec<String> = identifiers
                .iter()
                .filter_map(|id| id.split_once(':').map(|(_, value)| value.to_owned()))
                .collect();
            let credentials = self.store.credentials();
            let scrubbed =
                credentials.scrub_deliveries(&erasure.org_id, &erasure.app_id, &values).await?;
            if scrubbed > 0 {
                tracing::info!(erasure_id = %erasure.id, scrubbed, "erased a device's postback URLs");
            }
        }
        Ok(())
    }

    #[tracing::instrument(name = "pipeline.enqueue_postbacks", skip_all, fields(triggers = triggers.len()))]
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
                    traceparent: trigger.trace.map(|trace| trace.to_traceparent()),
                });
            }
        }
        if !deliveries.is_empty() {
            let added = self.store.credentials().enqueue_deliveries(&deliveries).await?;
            metrics::counter!(crate::metric_names::POSTBACKS_ENQUEUED_TOTAL).increment(added);
        }
        Ok(())
    }
}

/// Records how long the batch's oldest row took from acknowledgement to being stored (what
/// reports see): `pipeline_visible_latency_seconds`, one observation per batch.
fn record_visible_latency(batch: &unmogrowp_eventstore::Batch) {
    if let Some(oldest) = batch.rows.iter().map(|row| row.received_ms).min() {
        let now = unmogrowp_domain::time::now_millis();
        let seconds = (now.saturating_sub(oldest)).max(0) as f64 / 1000.0;
        metrics::histogram!(crate::metric_names::PIPELINE_VISIBLE_LATENCY_SECONDS).record(seconds);
    }
}

/// Counts the batch's install decisions per organization and status under a bounded label
/// ([`unmogrowp_domain::tenant_label`]): `tenant_installs_total{org_id, status}`.
fn count_installs_by_tenant(batch: &unmogrowp_eventstore::Batch) {
    if batch.attributions.is_empty() {
        return;
    }
    let orgs: std::collections::HashMap<(&str, &str), &str> = batch
        .rows
        .iter()
        .filter(|row| row.kind == unmogrowp_domain::event::EventType::Install)
        .map(|row| ((row.app_id.as_str(), row.id.as_str()), row.org_id.as_str()))
        .collect();
    let mut counts: std::collections::HashMap<(&str, &'static str), u64> =
        std::collections::HashMap::new();
    for decision in &batch.attributions {
        if let Some(org) = orgs.get(&(decision.app_id.as_str(), decision.event_id.as_str())) {
            *counts.entry((*org, decision.status.as_str())).or_default() += 1;
        }
    }
    for ((org, status), count) in counts {
        // Activity is counted where the events arrive; a label is only looked up here.
        let label = unmogrowp_domain::tenant_label::label(org, 0).to_string();
        metrics::counter!(crate::metric_names::TENANT_INSTALLS_TOTAL,
            "org_id" => label, "status" => status)
        .increment(count);
    }
}
