//! What the server holds of the pipeline: its position, the pause switch and the live feed
//! ([`PipelineHandle`]), and what live subscribers hear ([`LiveMessage`]).

use crate::enrich;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{broadcast, watch};
use unmogrowp_bus::{EventLog, Offset};
use unmogrowp_domain::event::EventType;

/// What live subscribers hear about each stored record.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct LiveMessage {
    /// The organization that owns the app; used to route the message to that
    /// organization's connections and never serialized (the shared log's relay carries it
    /// beside the message).
    #[serde(skip)]
    pub org_id: String,
    /// The app the record belongs to.
    pub app_id: String,
    /// What the record is (`install`, `open`, `session`, `event`, `click` or `impression`),
    /// serialized as `type`.
    #[serde(rename = "type")]
    pub kind: EventType,
    /// The client's event id (for a click recorded by a tracking link, the click id).
    pub id: String,
    /// The event's name (e.g. `purchase`): always present for `event` records, for other
    /// types only when the client sent one.
    pub name: Option<String>,
    /// When the event happened (the client's clock), as RFC 3339 in UTC.
    pub at: String,
    /// The network the record is credited to, as stored after attribution (`organic` when
    /// no source is credited; for a rejected install, the rejected touchpoint's network).
    pub network: String,
    /// The campaign the record is credited to (empty when organic).
    pub campaign: String,
    /// The device's country, a two-letter ISO 3166-1 code (empty when unknown).
    pub country: String,
    /// Revenue converted into the app's currency (0 when the event has none or its
    /// currency cannot be converted).
    pub revenue: f64,
}

/// Shared with the server: position, pause switch, live feed.
pub struct PipelineHandle {
    pub(crate) position: AtomicU64,
    pub(crate) paused: watch::Sender<bool>,
    pub(crate) live: broadcast::Sender<Arc<LiveMessage>>,
    pub(crate) log: Arc<dyn EventLog>,
    pub(crate) apps: enrich::AppCache,
    pub(crate) postbacks: PostbackCache,
}

pub(crate) type PostbackCache =
    moka::future::Cache<unmogrowp_domain::AppId, Arc<Vec<unmogrowp_storage::Postback>>>;

impl PipelineHandle {
    /// The log offset up to which every record is stored (on a log shared by several
    /// workers, the lowest of what each partition's worker committed).
    pub fn position(&self) -> Offset {
        self.position.load(Ordering::Acquire)
    }

    /// On a shared log: what the workers have stored, as they committed it to the log
    /// ([`EventLog::watermark`]).
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

    /// Lets the worker take batches again after [`PipelineHandle::pause`].
    pub fn resume(&self) {
        self.paused.send_replace(false);
    }

    /// Forgets cached app settings (time zone, currency, attribution windows, blocked IPs)
    /// after a change, so the next records use the new ones.
    pub fn forget_app_settings(&self) {
        self.apps.invalidate_all();
        self.postbacks.invalidate_all();
    }

    /// A receiver of every record this node announces, for all organizations (the caller
    /// filters by [`LiveMessage::org_id`]). The channel holds 4 096 messages; a receiver
    /// that falls further behind gets `RecvError::Lagged` and misses the skipped ones.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<LiveMessage>> {
        self.live.subscribe()
    }

    /// On a node that does not run the pipeline: relays the live messages the worker
    /// publishes through the shared log into this node's live feed, so WebSocket clients of
    /// any API node hear every stored record (still filtered per organization by each
    /// connection). Resubscribes after an error; ends with the task that runs it.
    pub async fn relay_live(self: Arc<Self>) {
        if !self.log.relays_live() {
            return;
        }
        loop {
            match self.log.subscribe_live().await {
                Ok(Some(mut payloads)) => {
                    while let Some(payload) = payloads.recv().await {
                        let Ok(batch) =
                            serde_json::from_slice::<Vec<(String, LiveMessage)>>(&payload)
                        else {
                            tracing::warn!("skipping an unreadable live-feed payload");
                            continue;
                        };
                        for (org_id, mut message) in batch {
                            message.org_id = org_id;
                            let _ = self.live.send(Arc::new(message));
                        }
                    }
                }
                Ok(None) => return,
                Err(error) => tracing::warn!(%error, "cannot subscribe to the live feed relay"),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
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
