//! Delivering postbacks: a background sender claims due deliveries (a lease, so several
//! nodes can share the work), calls the filled URL, and records the outcome. Failures retry
//! with exponential backoff up to a bounded number of attempts; each organization has a
//! circuit breaker per destination host, so a network that is down costs no more than a probe
//! now and then, and one tenant's failing endpoint never holds back another's deliveries.
//! Nothing here is on the ingestion or attribution path: a dead destination slows neither.

use crate::outbound::{self, OutboundPolicy};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use unmogrowp_storage::{AttemptOutcome, Delivery, Store};

/// How postbacks are delivered (`postbacks.*` in the configuration file, `UNMOGROWP_POSTBACKS__*`
/// in the environment).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PostbacksConfig {
    /// Attempts before a delivery is marked failed.
    pub max_attempts: u32,
    /// Time allowed for one request to a network.
    pub timeout_ms: u64,
    /// Wait before the first retry; it doubles per attempt (up to an hour).
    pub base_backoff_ms: u64,
    /// Consecutive failures of one destination host that open its circuit breaker.
    pub breaker_failures: u32,
    /// How long an open breaker holds deliveries to that host back.
    pub breaker_open_ms: u64,
    /// Deliveries sent at once.
    pub concurrency: usize,
}

impl Default for PostbacksConfig {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            timeout_ms: 5_000,
            base_backoff_ms: 1_000,
            breaker_failures: 5,
            breaker_open_ms: 30_000,
            concurrency: 16,
        }
    }
}

#[derive(Default)]
struct Breaker {
    failures: u32,
    open_until: Option<Instant>,
}

/// Delivers due postbacks from the OLTP store's delivery queue (see the module docs); one
/// per process that runs the pipeline, shared through an `Arc` by its tasks.
pub struct PostbackSender {
    store: Store,
    client: reqwest::Client,
    policy: OutboundPolicy,
    config: PostbacksConfig,
    breakers: Mutex<HashMap<String, Breaker>>,
}

/// HTTPS destinations need a TLS crypto provider: ring, installed once per process (a
/// second call finds it installed and does nothing).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

impl PostbackSender {
    /// A sender over `store` with `config`'s timeouts, retries and breaker, calling only
    /// destinations `policy` permits (see [`crate::outbound`]).
    ///
    /// # Errors
    ///
    /// The HTTP client could not be built (no TLS provider could be set up).
    pub fn new(
        store: Store,
        config: PostbacksConfig,
        policy: OutboundPolicy,
    ) -> anyhow::Result<Self> {
        install_crypto_provider();
        let client = policy
            .client()
            .timeout(Duration::from_millis(config.timeout_ms))
            .user_agent(concat!("unmogrowp-postbacks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { store, client, policy, config, breakers: Mutex::new(HashMap::new()) })
    }

    /// The breaker a delivery answers to: its organization's, for its destination host.
    fn breaker_key(delivery: &Delivery) -> String {
        let host = url::Url::parse(&delivery.url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_default();
        format!("{}|{host}", delivery.org_id)
    }

    /// `Some(wait)` while the breaker is open.
    fn breaker_open(&self, host: &str) -> Option<Duration> {
        let breakers = self.breakers.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let until = breakers.get(host)?.open_until?;
        until.checked_duration_since(Instant::now())
    }

    fn record(&self, host: &str, success: bool) {
        let mut breakers = self.breakers.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let breaker = breakers.entry(host.to_owned()).or_default();
        if success {
            *breaker = Breaker::default();
            return;
        }
        breaker.failures += 1;
        if breaker.failures >= self.config.breaker_failures {
            breaker.open_until =
                Some(Instant::now() + Duration::from_millis(self.config.breaker_open_ms));
            metrics::counter!(crate::metric_names::POSTBACK_BREAKER_OPENED_TOTAL).increment(1);
            tracing::warn!(breaker = host, "postback destination failing; circuit breaker open");
        }
    }

    /// One attempt, in a `postback.deliver` span that continues the trace of the request
    /// whose event triggered the delivery (when it was traced).
    async fn attempt(&self, delivery: &Delivery) -> AttemptOutcome {
        use tracing::Instrument as _;
        let span = tracing::info_span!("postback.deliver", otel.kind = "client",
            delivery = %delivery.id, app_id = %delivery.app_id, attempt = delivery.attempts + 1);
        if let Some(parent) =
            delivery.traceparent.as_deref().and_then(unmogrowp_domain::trace::TraceContext::parse)
        {
            parent.adopt(&span);
        }
        self.attempt_in_span(delivery).instrument(span).await
    }

    async fn attempt_in_span(&self, delivery: &Delivery) -> AttemptOutcome {
        let host = Self::breaker_key(delivery);
        if let Some(wait) = self.breaker_open(&host) {
            return AttemptOutcome::Postponed {
                next_attempt_at: now_ms() + i64::try_from(wait.as_millis()).unwrap_or(30_000) + 10,
            };
        }
        // Delivery is at least once: a sender that dies between the network's answer and
        // recording it leaves the delivery to be sent again. The key (the delivery's id, the
        // same on every attempt) lets the network drop the repeat.
        // A destination the outbound guard refuses is never called and never retried.
        let checked = url::Url::parse(&delivery.url)
            .map_err(|_| outbound::Refusal::Scheme)
            .and_then(|url| self.policy.check_url(&url));
        if let Err(refusal) = checked {
            tracing::warn!(%refusal, "postback destination refused");
            metrics::counter!(crate::metric_names::POSTBACKS_FAILED_TOTAL).increment(1);
            return AttemptOutcome::Failed { error: "destination refused".to_owned() };
        }
        let mut request = self.client.get(&delivery.url).header("idempotency-key", &delivery.id);
        // The network sees the call as part of the trace (W3C Trace Context): this span's
        // context, or, in a process that does not trace, the triggering request's as it came.
        let stored =
            delivery.traceparent.as_deref().and_then(unmogrowp_domain::trace::TraceContext::parse);
        if let Some(context) = unmogrowp_domain::trace::TraceContext::current().or(stored) {
            request =
                request.header(unmogrowp_domain::trace::TRACEPARENT, context.to_traceparent());
        }
        let result = request.send().await;
        let error = match result {
            Ok(response) if response.status().is_success() => {
                self.record(&host, true);
                metrics::counter!(crate::metric_names::POSTBACKS_DELIVERED_TOTAL).increment(1);
                return AttemptOutcome::Delivered;
            }
            Ok(response) => format!("HTTP {}", response.status().as_u16()),
            Err(error) => {
                let described = outbound::describe(&error);
                if described == "destination refused" {
                    tracing::warn!("postback destination refused at resolution");
                    metrics::counter!(crate::metric_names::POSTBACKS_FAILED_TOTAL).increment(1);
                    return AttemptOutcome::Failed { error: described.to_owned() };
                }
                described.to_owned()
            }
        };
        self.record(&host, false);
        let attempts = u32::try_from(delivery.attempts).unwrap_or(u32::MAX).saturating_add(1);
        if attempts >= self.config.max_attempts {
            metrics::counter!(crate::metric_names::POSTBACKS_FAILED_TOTAL).increment(1);
            return AttemptOutcome::Failed { error };
        }
        let backoff = self
            .config
            .base_backoff_ms
            .saturating_mul(1u64 << (attempts - 1).min(20))
            .min(3_600_000);
        AttemptOutcome::Retry {
            error,
            next_attempt_at: now_ms() + i64::try_from(backoff).unwrap_or(3_600_000),
        }
    }

    /// Runs until `shutdown` turns true.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let lease = i64::try_from(self.config.timeout_ms * 3).unwrap_or(60_000).max(10_000);
        loop {
            if *shutdown.borrow() {
                break;
            }
            let now = now_ms();
            let claimed =
                match self.store.credentials().claim_deliveries(now, now + lease, 64).await {
                    Ok(claimed) => claimed,
                    Err(error) => {
                        tracing::warn!(%error, "cannot read due postback deliveries");
                        Vec::new()
                    }
                };
            if claimed.is_empty() {
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_millis(200)) => {}
                    _ = shutdown.changed() => {}
                }
                continue;
            }
            let sender = self.clone();
            let outcomes = futures::future::join_all(
                claimed.chunks(claimed.len().div_ceil(self.config.concurrency.max(1))).map(
                    |chunk| {
                        let sender = sender.clone();
                        let chunk = chunk.to_vec();
                        async move {
                            let mut done = Vec::with_capacity(chunk.len());
                            for delivery in chunk {
                                let outcome = sender.attempt(&delivery).await;
                                done.push((delivery.id, outcome));
                            }
                            done
                        }
                    },
                ),
            )
            .await;
            for (id, outcome) in outcomes.into_iter().flatten() {
                if let Err(error) = self.store.credentials().finish_delivery(&id, &outcome).await {
                    tracing::warn!(%error, delivery = id, "cannot record a postback outcome");
                }
            }
        }
    }
}
