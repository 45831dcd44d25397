//! Request rate limits by key (an IP address, a user, a link…), the same on every node: GCRA
//! on Redis's clock when Redis is configured and answering, else an in-process GCRA
//! (`governor`) per node — never "no limit" because a dependency is down.

use crate::Shared;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use std::num::NonZeroU32;
use std::time::Duration;

/// A named limit: `burst` requests at once, refilled at `per_minute` a minute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// The policy's name, used in Redis keys and in the `RateLimit-Policy` header (e.g. `auth`).
    pub name: &'static str,
    /// Sustained requests per minute per key (at least 1).
    pub per_minute: u32,
    /// Requests allowed at once per key before the rate applies (at least 1).
    pub burst: u32,
}

impl Policy {
    /// The window, in seconds, over which the burst refills: `burst / per_minute` minutes.
    pub fn window_seconds(&self) -> u64 {
        (u64::from(self.burst.max(1)) * 60).div_ceil(u64::from(self.per_minute.max(1)))
    }

    /// The `RateLimit-Policy` header value (IETF draft-ietf-httpapi-ratelimit-headers): the
    /// policy's name, its quota and window, e.g. `"auth";q=20;w=120`.
    pub fn header(&self) -> String {
        format!("\"{}\";q={};w={}", self.name, self.burst.max(1), self.window_seconds())
    }
}

/// One policy's limiter.
pub struct Limiter {
    shared: Shared,
    policy: Policy,
    local: DefaultKeyedRateLimiter<String>,
}

impl Limiter {
    /// A limiter for `policy`, shared through `shared` when it has Redis.
    pub fn new(shared: Shared, policy: Policy) -> Self {
        let per_minute = NonZeroU32::new(policy.per_minute).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(policy.burst).unwrap_or(NonZeroU32::MIN);
        let local = governor::RateLimiter::keyed(Quota::per_minute(per_minute).allow_burst(burst));
        Self { shared, policy, local }
    }

    /// The policy this limiter applies.
    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// Counts one request for `key`: `Ok(())` when admitted, `Err(wait)` with how long until
    /// the next would be.
    pub async fn check(&self, key: &str) -> Result<(), Duration> {
        let shared_key = format!("{}:{key}", self.policy.name);
        let per_second = f64::from(self.policy.per_minute.max(1)) / 60.0;
        let burst = f64::from(self.policy.burst.max(1));
        if let Some(decision) = self.shared.rate_limit(&shared_key, per_second, burst, 1).await {
            return decision;
        }
        // Keep the per-node table small: forget keys whose budget is full again.
        if self.local.len() > 10_000 {
            self.local.retain_recent();
            self.local.shrink_to_fit();
        }
        self.local
            .check_key(&key.to_owned())
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_burst_is_admitted_then_the_rate_applies_per_key() {
        let limiter =
            Limiter::new(Shared::local(), Policy { name: "test", per_minute: 6, burst: 3 });
        for _ in 0..3 {
            assert_eq!(limiter.check("203.0.113.1").await, Ok(()));
        }
        let wait = limiter.check("203.0.113.1").await.expect_err("over the burst");
        assert!(wait > Duration::from_secs(5) && wait <= Duration::from_secs(10), "{wait:?}");
        assert_eq!(limiter.check("203.0.113.2").await, Ok(()), "other keys are unaffected");
        assert_eq!(limiter.policy().header(), "\"test\";q=3;w=30");
    }
}
