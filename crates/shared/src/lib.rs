//! What the nodes of a cluster share through Redis (`redis_url`):
//!
//! - **rate limits**: one GCRA per key, computed atomically by a Lua script on Redis's clock;
//! - **login failure counts** (brute-force throttling), also in Lua;
//! - **a second-level cache** (L2) behind each node's in-process cache (L1) for report results,
//!   under tenant-prefixed keys `<prefix>:t:<org>:…`;
//! - **invalidations**: a node that changes a session, membership, app, key or app settings
//!   publishes it on `<prefix>:invalidate`, and every node drops the entry from its L1 (this is
//!   what makes a logout or a revoked key take effect on every node at once).
//!
//! Without `redis_url` all of this is per node. When Redis goes away each feature falls back
//! to its per-node form, a warning is logged once, `/readyz` lists `redis` as degraded (the
//! node stays ready) and Redis is tried again after a second; when it is back an info line is
//! logged, and each node empties its L1 caches (it may have missed invalidations meanwhile).

#![warn(missing_docs)]

pub mod limit;
pub mod metric_names;

use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Longest wait for one Redis command before the node falls back to per-node behaviour.
const OP_TIMEOUT: Duration = Duration::from_millis(500);
/// How long a failed Redis stays skipped before the next attempt.
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// How often the listener checks that its subscription still hears this node's messages.
const ECHO_EVERY: Duration = Duration::from_secs(10);

/// GCRA over microseconds of Redis's clock. KEYS[1]: the limit's key; ARGV: emission
/// interval (µs per unit), tolerance (µs: the burst), cost (units). Returns {1, 0} when
/// admitted (and stores the new theoretical arrival time), {0, wait_ms} otherwise.
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local new_tat = tat + interval * cost
local wait = new_tat - tolerance - now
if wait > 0 then return {0, math.ceil(wait / 1000)} end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1)
return {1, 0}
";

/// A failed login. KEYS[1]: the counter; ARGV: threshold, base delay (ms), max delay (ms),
/// window (ms). Failures are forgotten a window after the last one; past the threshold each
/// failure blocks the key for a delay doubling per failure up to the maximum.
const RECORD_FAILURE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
local threshold = tonumber(ARGV[1])
local ttl = tonumber(ARGV[4])
if failures >= threshold then
  local doublings = math.min(failures - threshold, 30)
  local delay = math.min(tonumber(ARGV[2]) * 2 ^ doublings, tonumber(ARGV[3]))
  redis.call('HSET', KEYS[1], 'blocked_until', string.format('%.0f', now + delay))
  if delay > ttl then ttl = delay end
end
redis.call('PEXPIRE', KEYS[1], math.ceil(ttl))
return failures
";

/// Milliseconds KEYS[1] must still wait (0: none).
const BLOCKED_FOR: &str = r"
local blocked_until = tonumber(redis.call('HGET', KEYS[1], 'blocked_until') or '0')
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if blocked_until > now then return blocked_until - now end
return 0
";

/// An entry every node must drop from its in-process caches.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Invalidation {
    /// A session ended (logout, password change, revocation).
    Session {
        /// The session's id.
        id: String,
    },
    /// A member's role changed or the member was removed.
    Membership {
        /// The member's user id.
        user_id: String,
        /// The organization the membership is in.
        org_id: String,
    },
    /// An app changed or was deleted (`token`: its app token, for token lookups).
    App {
        /// The app's id.
        id: String,
        /// The app's SDK token.
        token: String,
    },
    /// A tracking link changed or was deleted.
    Link {
        /// The link's id.
        id: String,
    },
    /// An S2S key was revoked.
    Key {
        /// The key's id.
        id: String,
    },
    /// An API token was revoked.
    ApiToken {
        /// SHA-256 of the token, lowercase hex (what the caches are keyed by).
        token_hash: String,
    },
    /// App settings the pipeline reads (attribution windows, postbacks, blocked IPs) changed.
    AppSettings,
    /// Everything (after a reconnection, when messages may have been missed).
    All,
    /// Nothing to drop: the listener's check that its subscription is alive.
    Heartbeat,
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    node: String,
    #[serde(flatten)]
    invalidation: Invalidation,
}

/// The Redis side of a node; `None` inside [`Shared`] when `redis_url` is not set.
struct Link {
    client: redis::Client,
    connection: Mutex<Option<redis::aio::MultiplexedConnection>>,
    /// Set while one request (re)connects; the others fall back instead of queueing.
    connecting: AtomicBool,
    /// Woken when Redis is back after a failure: invalidations may have been lost meanwhile,
    /// so every node is told to empty its caches.
    resync: tokio::sync::Notify,
    prefix: String,
    /// Set while Redis is failing: skip it until then.
    skip_until: Mutex<Option<Instant>>,
    up: AtomicBool,
    gcra: redis::Script,
    record_failure: redis::Script,
    blocked_for: redis::Script,
}

/// Handle to the shared tier; cheap to clone.
#[derive(Clone)]
pub struct Shared {
    link: Option<std::sync::Arc<Link>>,
    node: std::sync::Arc<str>,
    /// Daily counters of this node, when Redis cannot answer (see [`Shared::add_daily`]).
    daily: std::sync::Arc<Mutex<std::collections::HashMap<(String, i64), u64>>>,
}

impl Shared {
    /// Per-node behaviour only.
    pub fn local() -> Self {
        Self { link: None, node: node_id().into(), daily: Default::default() }
    }

    /// Shared through Redis at `url` (`redis://HOST:PORT/DB`), keys under `prefix`. Does not
    /// need Redis to be up: the first commands connect.
    pub fn redis(url: &str, prefix: &str) -> anyhow::Result<Self> {
        let client = redis::Client::open(url)
            .map_err(|error| anyhow::anyhow!("redis_url is not a Redis URL: {error}"))?;
        let link = Link {
            client,
            connection: Mutex::new(None),
            connecting: AtomicBool::new(false),
            resync: tokio::sync::Notify::new(),
            prefix: prefix.to_owned(),
            skip_until: Mutex::new(None),
            up: AtomicBool::new(true),
            gcra: redis::Script::new(GCRA),
            record_failure: redis::Script::new(RECORD_FAILURE),
            blocked_for: redis::Script::new(BLOCKED_FOR),
        };
        metrics::gauge!(crate::metric_names::REDIS_UP).set(1.0);
        Ok(Self {
            link: Some(std::sync::Arc::new(link)),
            node: node_id().into(),
            daily: Default::default(),
        })
    }

    /// Whether a Redis URL was configured (Redis may still be down: see `is_up`).
    pub fn is_configured(&self) -> bool {
        self.link.is_some()
    }

    /// Whether the last Redis command worked (always false without Redis).
    pub fn is_up(&self) -> bool {
        self.link.as_ref().is_some_and(|link| link.up.load(Ordering::Relaxed))
    }

    /// `<prefix>:<rest>`.
    fn key(&self, rest: &str) -> Option<String> {
        self.link.as_ref().map(|link| format!("{}:{rest}", link.prefix))
    }

    /// Runs one Redis operation; `None` when Redis is not configured, skipped after a recent
    /// failure, being connected to by another request, failing or slow (the caller then does
    /// the per-node thing). Connecting and the command share one deadline.
    async fn run<T, F, Fut>(&self, what: &'static str, operation: F) -> Option<T>
    where
        F: FnOnce(redis::aio::MultiplexedConnection) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let link = self.link.as_ref()?;
        if let Some(until) = *lock(&link.skip_until)
            && Instant::now() < until
        {
            return None;
        }
        let work = async {
            let connection = self.connection(link).await.ok_or(None)?;
            operation(connection).await.map_err(|error| Some(error.to_string()))
        };
        match tokio::time::timeout(OP_TIMEOUT, work).await {
            Ok(Ok(value)) => {
                if !link.up.swap(true, Ordering::Relaxed) {
                    metrics::gauge!(crate::metric_names::REDIS_UP).set(1.0);
                    tracing::info!(
                        "redis is back: rate limits, login throttling, caches and invalidations are shared again"
                    );
                    link.resync.notify_one();
                }
                Some(value)
            }
            Ok(Err(Some(error))) => {
                self.failed(what, &error);
                None
            }
            Ok(Err(None)) => None,
            Err(_) => {
                self.failed(what, "no answer within 500 ms");
                None
            }
        }
    }

    /// The shared connection, connecting when there is none. Only one request connects at a
    /// time; the others wait for it (within their own deadline, side by side, never in a
    /// queue) and fall back if it fails.
    async fn connection(&self, link: &Link) -> Option<redis::aio::MultiplexedConnection> {
        loop {
            if let Some(connection) = lock(&link.connection).clone() {
                return Some(connection);
            }
            if let Some(until) = *lock(&link.skip_until)
                && Instant::now() < until
            {
                return None;
            }
            if !link.connecting.swap(true, Ordering::AcqRel) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let _connecting = ClearOnDrop(&link.connecting);
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(OP_TIMEOUT))
            .set_response_timeout(Some(OP_TIMEOUT));
        match link.client.get_multiplexed_async_connection_with_config(&config).await {
            Ok(connection) => {
                *lock(&link.connection) = Some(connection.clone());
                Some(connection)
            }
            Err(error) => {
                self.failed("connect", &error.to_string());
                None
            }
        }
    }

    fn failed(&self, what: &'static str, error: &str) {
        let Some(link) = self.link.as_ref() else { return };
        *lock(&link.skip_until) = Some(Instant::now() + RETRY_AFTER);
        *lock(&link.connection) = None;
        metrics::counter!(crate::metric_names::REDIS_ERRORS_TOTAL).increment(1);
        if link.up.swap(false, Ordering::Relaxed) {
            metrics::gauge!(crate::metric_names::REDIS_UP).set(0.0);
            tracing::warn!(
                operation = what,
                error,
                "redis is unavailable: rate limits, login throttling, caches and invalidations fall back to this node"
            );
        }
    }

    /// GCRA on the shared clock: `Some(Ok(()))` admitted, `Some(Err(wait))` refused, `None`
    /// when Redis cannot answer (use the per-node limiter).
    pub async fn rate_limit(
        &self,
        key: &str,
        per_second: f64,
        burst: f64,
        cost: u64,
    ) -> Option<Result<(), Duration>> {
        let key = self.key(&format!("rl:{key}"))?;
        let link = self.link.as_ref()?;
        let interval = (1_000_000.0 / per_second).round().max(1.0) as u64;
        let tolerance = (burst * 1_000_000.0 / per_second).round() as u64;
        let reply: Vec<i64> = self
            .run("rate limit", |mut connection| async move {
                link.gcra
                    .key(&key)
                    .arg(interval)
                    .arg(tolerance)
                    .arg(cost)
                    .invoke_async(&mut connection)
                    .await
            })
            .await?;
        match reply.as_slice() {
            [1, ..] => Some(Ok(())),
            [0, wait_ms] => Some(Err(Duration::from_millis(u64::try_from(*wait_ms).unwrap_or(0)))),
            _ => None,
        }
    }

    /// Records a failed login for `key` and returns its failures in the window; `None` when
    /// Redis could not (count it per node).
    pub async fn record_login_failure(
        &self,
        key: &str,
        threshold: u32,
        base: Duration,
        max: Duration,
        window: Duration,
    ) -> Option<u32> {
        let key = self.key(&format!("login:{key}"))?;
        let link = self.link.as_ref()?;
        self.run("login failure", |mut connection| async move {
            link.record_failure
                .key(&key)
                .arg(threshold.max(1))
                .arg(base.as_millis() as u64)
                .arg(max.as_millis() as u64)
                .arg(window.as_millis().max(1) as u64)
                .invoke_async::<i64>(&mut connection)
                .await
        })
        .await
        .map(|failures| u32::try_from(failures).unwrap_or(u32::MAX))
    }

    /// How long `key` must still wait: `Some(None)` not at all, `None` when Redis cannot say.
    pub async fn login_blocked_for(&self, key: &str) -> Option<Option<Duration>> {
        let key = self.key(&format!("login:{key}"))?;
        let link = self.link.as_ref()?;
        let wait: i64 = self
            .run("login throttle", |mut connection| async move {
                link.blocked_for.key(&key).invoke_async(&mut connection).await
            })
            .await?;
        Some((wait > 0).then(|| Duration::from_millis(u64::try_from(wait).unwrap_or(0))))
    }

    /// Forgets a login counter (after a successful login).
    pub async fn clear_login(&self, key: &str) {
        let Some(key) = self.key(&format!("login:{key}")) else { return };
        self.run(
            "login throttle",
            |mut connection| async move { connection.del::<_, i64>(&key).await },
        )
        .await;
    }

    /// Adds `amount` to the counter `key` of `day` (days since the epoch) and returns the
    /// counts of the days `day - back ..= day`, oldest first. Shared by every node through
    /// Redis (each day's key expires after `back + 2` days); per node when Redis cannot answer
    /// (days older than the window are dropped).
    pub async fn add_daily(&self, key: &str, day: i64, amount: u64, back: i64) -> Vec<u64> {
        let days: Vec<i64> = (day - back..=day).collect();
        if let Some(prefix) = self.key(&format!("daily:{key}")) {
            let today = format!("{prefix}:{day}");
            let keys: Vec<String> = days.iter().map(|d| format!("{prefix}:{d}")).collect();
            let ttl = (back + 2) * 86_400;
            let reply: Option<(i64, i64, Vec<Option<u64>>)> = self
                .run("daily counter", |mut connection| async move {
                    redis::pipe()
                        .incr(&today, amount)
                        .expire(&today, ttl)
                        .mget(&keys)
                        .query_async(&mut connection)
                        .await
                })
                .await;
            if let Some((_, _, counts)) = reply {
                return counts.into_iter().map(Option::unwrap_or_default).collect();
            }
        }
        let mut daily = lock(&self.daily);
        daily.retain(|(_, d), _| *d >= day - back);
        *daily.entry((key.to_owned(), day)).or_insert(0) += amount;
        days.iter().map(|d| daily.get(&(key.to_owned(), *d)).copied().unwrap_or(0)).collect()
    }

    /// A cached value from L2 under the organization's prefix.
    pub async fn cache_get(&self, org: &str, key: &str) -> Option<bytes::Bytes> {
        let key = self.key(&format!("t:{org}:{key}"))?;
        let value: Option<Vec<u8>> = self
            .run("cache read", |mut connection| async move { connection.get(&key).await })
            .await?;
        value.map(bytes::Bytes::from)
    }

    /// Stores a value in L2 under the organization's prefix for `ttl`.
    pub async fn cache_put(&self, org: &str, key: &str, value: &[u8], ttl: Duration) {
        let Some(key) = self.key(&format!("t:{org}:{key}")) else { return };
        let millis = ttl.as_millis().max(1) as u64;
        self.run("cache write", |mut connection| async move {
            connection.pset_ex::<_, _, ()>(&key, value, millis).await
        })
        .await;
    }

    /// Tells the other nodes to drop an entry (they ignore messages from themselves). Without
    /// Redis, or while it is away, nothing is sent: the other nodes' L1 entries then expire
    /// with their time to live (`auth.cache_ttl_seconds`, at most a minute for apps).
    pub async fn publish(&self, invalidation: &Invalidation) {
        let Some(channel) = self.key("invalidate") else { return };
        let Ok(message) = serde_json::to_string(&Envelope {
            node: self.node.to_string(),
            invalidation: invalidation.clone(),
        }) else {
            return;
        };
        self.run("invalidation", |mut connection| async move {
            connection.publish::<_, _, i64>(&channel, message).await
        })
        .await;
    }

    /// Listens for other nodes' invalidations until the process ends, calling `apply` for each
    /// (and with [`Invalidation::All`] after every (re)subscription). Reconnects every second
    /// while Redis is away; resubscribes when its own heartbeats stop coming back (a half-open
    /// connection). After Redis was away from this node, tells every node to empty its caches.
    pub async fn listen<F, Fut>(self, apply: F)
    where
        F: Fn(Invalidation) -> Fut,
        Fut: Future<Output = ()>,
    {
        use futures::StreamExt;
        let (Some(link), Some(channel)) = (self.link.clone(), self.key("invalidate")) else {
            return;
        };
        let resync = self.clone();
        let resync_link = link.clone();
        tokio::spawn(async move {
            loop {
                resync_link.resync.notified().await;
                resync.publish(&Invalidation::All).await;
            }
        });
        let mut first = true;
        loop {
            let subscribed = tokio::time::timeout(OP_TIMEOUT, async {
                let mut pubsub = link.client.get_async_pubsub().await?;
                pubsub.subscribe(&channel).await?;
                Ok::<_, redis::RedisError>(pubsub)
            })
            .await;
            match subscribed {
                Ok(Ok(mut pubsub)) => {
                    if !first {
                        tracing::info!(
                            "invalidation channel resubscribed: in-process caches emptied"
                        );
                    }
                    first = false;
                    apply(Invalidation::All).await;
                    let mut messages = pubsub.on_message();
                    let mut echo = tokio::time::interval(ECHO_EVERY);
                    let mut heard_self = Instant::now();
                    loop {
                        tokio::select! {
                            message = messages.next() => {
                                let Some(message) = message else {
                                    tracing::warn!("the invalidation channel closed; resubscribing");
                                    break;
                                };
                                let Ok(payload) = message.get_payload::<String>() else { continue };
                                match serde_json::from_str::<Envelope>(&payload) {
                                    Ok(envelope) if *envelope.node == *self.node => {
                                        heard_self = Instant::now();
                                    }
                                    Ok(Envelope { invalidation: Invalidation::Heartbeat, .. }) => {}
                                    Ok(envelope) => {
                                        metrics::counter!(crate::metric_names::CACHE_INVALIDATIONS_RECEIVED_TOTAL)
                                            .increment(1);
                                        apply(envelope.invalidation).await;
                                    }
                                    Err(error) => {
                                        tracing::warn!(%error, "ignoring a malformed invalidation message");
                                    }
                                }
                            }
                            _ = echo.tick() => {
                                if self.is_up() && heard_self.elapsed() > ECHO_EVERY * 3 {
                                    tracing::warn!("the invalidation channel went silent; resubscribing");
                                    break;
                                }
                                self.publish(&Invalidation::Heartbeat).await;
                            }
                        }
                    }
                }
                Ok(Err(error)) => {
                    tracing::debug!(%error, "cannot subscribe to the invalidation channel yet");
                }
                Err(_) => tracing::debug!("subscribing to the invalidation channel timed out"),
            }
            tokio::time::sleep(RETRY_AFTER).await;
        }
    }

    /// Readiness detail: `Err` while Redis is configured and failing (reported as degraded).
    pub async fn ping(&self) -> Result<(), String> {
        if self.link.is_none() {
            return Ok(());
        }
        let pong: Option<String> = self
            .run("ping", |mut connection| async move {
                redis::cmd("PING").query_async(&mut connection).await
            })
            .await;
        match pong {
            Some(_) => Ok(()),
            None => {
                Err("unreachable: rate limits, login throttling and caches are per node".into())
            }
        }
    }
}

/// A name for this process in invalidation messages.
fn node_id() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "node".to_owned());
    format!("{host}-{}-{}", std::process::id(), uuid::Uuid::new_v4().simple())
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Clears the flag when the connecting request ends, however it ends.
struct ClearOnDrop<'a>(&'a AtomicBool);

impl Drop for ClearOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}
