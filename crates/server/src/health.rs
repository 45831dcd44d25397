//! Readiness: each configured backend registers a named check; `/readyz` runs them all
//! (concurrently, each with a deadline) and names the ones that fail.

use std::sync::Arc;
use std::time::Duration;

/// One backend that `/readyz` asks about; one is registered at start for each backend in use.
#[async_trait::async_trait]
pub trait ReadinessCheck: Send + Sync {
    /// A short name such as `database`, `event_store`, `redis`.
    fn name(&self) -> &'static str;
    /// Asks the backend; `Err` carries a short reason, shown in the readiness report. Runs under a
    /// 3-second deadline.
    async fn check(&self) -> Result<(), String>;
    /// Whether a failure makes the node unready (false: the node degrades, e.g. Redis).
    fn required(&self) -> bool {
        true
    }
}

/// The registered checks; cheap to clone (the checks are shared).
#[derive(Clone, Default)]
pub struct Readiness {
    checks: Vec<Arc<dyn ReadinessCheck>>,
}

/// The result of one backend check in the readiness report.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct CheckOutcome {
    /// The backend checked: database, event_log, event_store or redis, with the product in
    /// parentheses for a cluster backend, e.g. event_store (clickhouse).
    pub name: &'static str,
    /// Whether the backend answered within 3 seconds without error.
    pub ok: bool,
    /// Why the check failed; absent when it passed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// False for a backend whose failure only degrades the node (it stays ready).
    pub required: bool,
}

const CHECK_DEADLINE: Duration = Duration::from_secs(3);

impl Readiness {
    /// Adds a check to those `/readyz` runs.
    pub fn register(&mut self, check: Arc<dyn ReadinessCheck>) {
        self.checks.push(check);
    }

    /// Runs every check concurrently, each under a 3-second deadline (one that does not answer in
    /// time fails with "no answer within 3s"), and returns the outcomes in registration order.
    pub async fn run(&self) -> Vec<CheckOutcome> {
        let runs = self.checks.iter().map(|check| async move {
            let result = match tokio::time::timeout(CHECK_DEADLINE, check.check()).await {
                Ok(result) => result,
                Err(_) => Err(format!("no answer within {}s", CHECK_DEADLINE.as_secs())),
            };
            CheckOutcome {
                name: check.name(),
                ok: result.is_ok(),
                error: result.err(),
                required: check.required(),
            }
        });
        futures::future::join_all(runs).await
    }
}

/// The OLTP database.
pub struct DatabaseCheck(pub unmogrowp_storage::Store);

#[async_trait::async_trait]
impl ReadinessCheck for DatabaseCheck {
    fn name(&self) -> &'static str {
        "database"
    }
    async fn check(&self) -> Result<(), String> {
        self.0.ping().await.map_err(|error| error.to_string())
    }
}

/// The event log.
pub struct EventLogCheck(pub std::sync::Arc<dyn unmogrowp_bus::EventLog>);

#[async_trait::async_trait]
impl ReadinessCheck for EventLogCheck {
    fn name(&self) -> &'static str {
        match self.0.kind() {
            "nats" => "event_log (nats)",
            _ => "event_log",
        }
    }
    async fn check(&self) -> Result<(), String> {
        self.0.ping().await.map_err(|error| error.to_string())
    }
}

/// The event store.
pub struct EventStoreCheck(pub std::sync::Arc<dyn unmogrowp_eventstore::EventStore>);

#[async_trait::async_trait]
impl ReadinessCheck for EventStoreCheck {
    fn name(&self) -> &'static str {
        match self.0.kind() {
            "clickhouse" => "event_store (clickhouse)",
            _ => "event_store",
        }
    }
    async fn check(&self) -> Result<(), String> {
        self.0.ping().await.map_err(|error| error.to_string())
    }
}

/// Redis (`redis_url`): listed, but never makes the node unready; without it rate limits,
/// login throttling and caches work per node.
pub struct RedisCheck(pub crate::shared::Shared);

#[async_trait::async_trait]
impl ReadinessCheck for RedisCheck {
    fn name(&self) -> &'static str {
        "redis"
    }
    async fn check(&self) -> Result<(), String> {
        self.0.ping().await
    }
    fn required(&self) -> bool {
        false
    }
}
