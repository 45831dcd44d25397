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
