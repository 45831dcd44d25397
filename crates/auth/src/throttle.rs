//! Brute-force protection for logins that does not lock out the account's owner. Failures are
//! counted three ways:
//!
//! - per account *and* client address ([`ThrottleKind::AccountIp`]): past the threshold that
//!   pair must wait, the wait doubling with every failure up to a maximum — guessing one
//!   account from one place is stopped;
//! - per client address, counting *distinct accounts* that failed from it
//!   ([`ThrottleKind::Ip`]): credential stuffing (many accounts, a few tries each) is stopped;
//! - per account from anywhere ([`ThrottleKind::Account`]): a distributed attack on one
//!   account is *slowed* (each attempt waits a little), never blocked, so the owner signing in
//!   from another address still gets in.
//!
//! Never a permanent lock-out: failures older than the window are forgotten, and a
//! successful login clears the pair's and the account's counts.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What a failure count is kept for; each kind has its own threshold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ThrottleKind {
    /// One account from anywhere, keyed by the email address the login named: slows only.
    Account,
    /// One account from one client address, keyed `email|address`: blocks.
    AccountIp,
    /// One client address, keyed by its text; one failure is recorded per account that failed
    /// from it, so the count is of distinct accounts: blocks.
    Ip,
}

/// The lock-out rules, from the `auth.lockout_*` settings.
#[derive(Clone, Copy, Debug)]
pub struct ThrottlePolicy {
    /// Failures of one account before waits begin (`auth.lockout_account_threshold`, default 10).
    pub account_threshold: u32,
    /// Distinct accounts failing from one address before it waits
    /// (`auth.lockout_ip_threshold`, default 20).
    pub ip_threshold: u32,
    /// The wait set by the failure that reaches the threshold; each further failure doubles it
    /// (`auth.lockout_base_delay_seconds`, default 1 s).
    pub base_delay: Duration,
    /// The longest wait (`auth.lockout_max_delay_seconds`, default 900 s).
    pub max_delay: Duration,
    /// Failures are forgotten this long after the last one (`auth.lockout_window_seconds`, default
    /// 3600 s).
    pub window: Duration,
}

impl ThrottlePolicy {
    fn threshold(&self, kind: ThrottleKind) -> u32 {
        match kind {
            ThrottleKind::Account | ThrottleKind::AccountIp => self.account_threshold,
            ThrottleKind::Ip => self.ip_threshold,
        }
    }

    /// The wait after `failures` failures (none below the threshold).
    pub fn delay_after(&self, kind: ThrottleKind, failures: u32) -> Option<Duration> {
        let threshold = self.threshold(kind);
        if failures < threshold {
            return None;
        }
        let doublings = (failures - threshold).min(30);
        let delay = self.base_delay.saturating_mul(1u32 << doublings);
        Some(delay.min(self.max_delay))
    }
}

/// Where failure counts live: in this process, or (cluster tier) shared by every node.
#[async_trait::async_trait]
pub trait LoginThrottle: Send + Sync {
    /// How long the key must still wait, if at all.
    async fn retry_after(&self, kind: ThrottleKind, key: &str) -> Option<Duration>;
    /// Counts a failed login for the key and returns its failures in the window; from the
    /// threshold on, the key must wait before its next attempt.
    async fn record_failure(&self, kind: ThrottleKind, key: &str) -> u32;
    /// Forgets the key's failures and any wait (after a successful login).
    async fn clear(&self, kind: ThrottleKind, key: &str);
}

struct Entry {
    failures: u32,
    last_failure: Instant,
    blocked_until: Option<Instant>,
}

/// Failure counts in this process, behind a mutex: the throttle without Redis, and the fallback of
/// [`SharedThrottle`]. Above 10 000 keys, keys idle for longer than the window are pruned at the
/// next failure.
pub struct InMemoryThrottle {
    policy: ThrottlePolicy,
    entries: Mutex<HashMap<(ThrottleKind, String), Entry>>,
}

const PRUNE_ABOVE: usize = 10_000;

impl InMemoryThrottle {
    /// An empty throttle applying `policy`.
    pub fn new(policy: ThrottlePolicy) -> Self {
        Self { policy, entries: Mutex::new(HashMap::new()) }
    }

    fn with_entries<T>(
        &self,
        f: impl FnOnce(&mut HashMap<(ThrottleKind, String), Entry>) -> T,
    ) -> T {
        let mut entries = self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut entries)
    }
}

#[async_trait::async_trait]
impl LoginThrottle for InMemoryThrottle {
    async fn retry_after(&self, kind: ThrottleKind, key: &str) -> Option<Duration> {
        let now = Instant::now();
        self.with_entries(|entries| {
            let entry = entries.get(&(kind, key.to_owned()))?;
            entry
                .blocked_until
                .and_then(|until| until.checked_duration_since(now))
                .filter(|d| !d.is_zero())
        })
    }

    async fn record_failure(&self, kind: ThrottleKind, key: &str) -> u32 {
        let now = Instant::now();
        let window = self.policy.window;
        self.with_entries(|entries| {
            if entries.len() > PRUNE_ABOVE {
                entries.retain(|_, entry| now.duration_since(entry.last_failure) < window);
            }
            let entry = entries.entry((kind, key.to_owned())).or_insert(Entry {
                failures: 0,
                last_failure: now,
                blocked_until: None,
            });
            if now.duration_since(entry.last_failure) >= window {
                entry.failures = 0;
            }
            entry.failures = entry.failures.saturating_add(1);
            entry.last_failure = now;
            entry.blocked_until =
                self.policy.delay_after(kind, entry.failures).map(|delay| now + delay);
            entry.failures
        })
    }

    async fn clear(&self, kind: ThrottleKind, key: &str) {
        self.with_entries(|entries| entries.remove(&(kind, key.to_owned())));
    }
}

/// Failure counts in Redis, shared by every node; per node (through [`InMemoryThrottle`])
/// while Redis cannot answer. Keys hold an HMAC of the account or address (keyed by a secret
/// derived from the master key), never the value, and cannot be reversed by guessing.
pub struct SharedThrottle {
    policy: ThrottlePolicy,
    secret: [u8; 32],
    shared: unmogrowp_shared::Shared,
    local: InMemoryThrottle,
}

impl SharedThrottle {
    /// A throttle in Redis through `shared`; `secret` keys the HMAC-SHA256 that stands for each
    /// account or IP in the Redis keys.
    pub fn new(policy: ThrottlePolicy, shared: unmogrowp_shared::Shared, secret: [u8; 32]) -> Self {
        Self { policy, secret, shared, local: InMemoryThrottle::new(policy) }
    }

    fn key(&self, kind: ThrottleKind, key: &str) -> String {
        let kind = match kind {
            ThrottleKind::Account => "account",
            ThrottleKind::AccountIp => "account_ip",
            ThrottleKind::Ip => "ip",
        };
        format!("{kind}:{}", hex::encode(crate::secrets::hmac_sha256(&self.secret, key.as_bytes())))
    }
}

#[async_trait::async_trait]
impl LoginThrottle for SharedThrottle {
    async fn retry_after(&self, kind: ThrottleKind, key: &str) -> Option<Duration> {
        match self.shared.login_blocked_for(&self.key(kind, key)).await {
            Some(wait) => wait,
            None => self.local.retry_after(kind, key).await,
        }
    }

    async fn record_failure(&self, kind: ThrottleKind, key: &str) -> u32 {
        let recorded = self
            .shared
            .record_login_failure(
                &self.key(kind, key),
                self.policy.threshold(kind),
                self.policy.base_delay,
                self.policy.max_delay,
                self.policy.window,
            )
            .await;
        match recorded {
            Some(failures) => failures,
            None => self.local.record_failure(kind, key).await,
        }
    }

    async fn clear(&self, kind: ThrottleKind, key: &str) {
        self.shared.clear_login(&self.key(kind, key)).await;
        self.local.clear(kind, key).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> ThrottlePolicy {
        ThrottlePolicy {
            account_threshold: 3,
            ip_threshold: 5,
            base_delay: Duration::from_millis(40),
            max_delay: Duration::from_millis(100),
            window: Duration::from_secs(60),
        }
    }

    #[test]
    fn delays_double_up_to_the_maximum() {
        let policy = policy();
        assert_eq!(policy.delay_after(ThrottleKind::Account, 2), None);
        assert_eq!(policy.delay_after(ThrottleKind::Account, 3), Some(Duration::from_millis(40)));
        assert_eq!(policy.delay_after(ThrottleKind::Account, 4), Some(Duration::from_millis(80)));
        assert_eq!(policy.delay_after(ThrottleKind::Account, 5), Some(Duration::from_millis(100)));
        assert_eq!(policy.delay_after(ThrottleKind::Ip, 4), None);
        assert_eq!(
            policy.delay_after(ThrottleKind::Account, 1000),
            Some(Duration::from_millis(100))
        );
    }

    #[tokio::test]
    async fn the_threshold_blocks_then_the_wait_passes() {
        let throttle = InMemoryThrottle::new(policy());
        for _ in 0..2 {
            throttle.record_failure(ThrottleKind::Account, "a@b.c").await;
        }
        assert!(throttle.retry_after(ThrottleKind::Account, "a@b.c").await.is_none());
        throttle.record_failure(ThrottleKind::Account, "a@b.c").await;
        assert!(throttle.retry_after(ThrottleKind::Account, "a@b.c").await.is_some());
        assert!(throttle.retry_after(ThrottleKind::Account, "other@b.c").await.is_none());
        assert!(throttle.retry_after(ThrottleKind::Ip, "a@b.c").await.is_none());
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(throttle.retry_after(ThrottleKind::Account, "a@b.c").await.is_none());
        throttle.clear(ThrottleKind::Account, "a@b.c").await;
        throttle.record_failure(ThrottleKind::Account, "a@b.c").await;
        assert!(throttle.retry_after(ThrottleKind::Account, "a@b.c").await.is_none());
    }
}
