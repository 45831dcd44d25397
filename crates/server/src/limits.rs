//! Rate limits: of the public account endpoints per client address, of the management API per
//! signed-in user, of tracking links per link and address, and the 429 they answer.

use crate::auth::ClientInfo;
use crate::config::LimitsConfig;
use crate::error::ApiError;
use axum::http::{HeaderName, HeaderValue};
use std::net::IpAddr;
use unmogrowp_shared::Shared;
use unmogrowp_shared::limit::{Limiter, Policy};

/// One limiter per endpoint family (see [`LimitsConfig`]).
pub struct Limits {
    /// `POST /api/v1/auth/login`.
    pub login: Limiter,
    /// Registration, forgotten and reset passwords, invitation acceptance: the endpoints that
    /// hash a new password or send email.
    pub auth: Limiter,
    /// `POST /api/v1/auth/check-email`.
    pub check_email: Limiter,
    /// Every request authenticated as a user (the management API), per user.
    pub api: Limiter,
    /// Clicks and impressions (`/c/…`, `/i/…`), per tracking link and client address.
    pub touch: Limiter,
}

impl Limits {
    /// The limiters `config` describes, shared through `shared`.
    pub fn new(shared: &Shared, config: &LimitsConfig) -> Self {
        let policy = |name, per_minute, burst| Policy { name, per_minute, burst };
        Self {
            login: Limiter::new(
                shared.clone(),
                policy("login", config.login_per_minute, config.login_burst),
            ),
            auth: Limiter::new(
                shared.clone(),
                policy("auth", config.auth_per_minute, config.auth_burst),
            ),
            check_email: Limiter::new(
                shared.clone(),
                policy("check_email", config.check_email_per_minute, config.check_email_burst),
            ),
            api: Limiter::new(
                shared.clone(),
                policy("api", config.api_per_minute, config.api_burst),
            ),
            touch: Limiter::new(
                shared.clone(),
                policy("touch", config.touch_per_minute, config.touch_burst),
            ),
        }
    }
}

/// The key a client is limited by: its IPv4 address, or the /64 of its IPv6 address (what
/// one subscriber usually holds).
pub fn address_key(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

/// Counts the request against `limiter` for the client's address; over the limit it is a
/// 429 with `Retry-After` and the IETF draft's `RateLimit-Policy` and `RateLimit` headers.
///
/// # Errors
///
/// The 429 when the client is over the limit.
pub async fn admit(limiter: &Limiter, client: &ClientInfo) -> Result<(), ApiError> {
    admit_key(limiter, &address_key(client.ip)).await
}

/// [`admit`] for any key (a user id for the management API).
///
/// # Errors
///
/// The 429 when the key is over the limit.
pub async fn admit_key(limiter: &Limiter, key: &str) -> Result<(), ApiError> {
    let Err(wait) = limiter.check(key).await else { return Ok(()) };
    metrics::counter!(crate::metric_names::RATE_LIMITED_TOTAL, "policy" => limiter.policy().name)
        .increment(1);
    Err(refusal(limiter, wait))
}

/// The 429 of `limiter` for a client that must wait `wait`: `Retry-After`, and the IETF
/// draft's `RateLimit-Policy` and `RateLimit` headers.
pub fn refusal(limiter: &Limiter, wait: std::time::Duration) -> ApiError {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let policy = limiter.policy();
    let header = |text: String| HeaderValue::from_str(&text).ok();
    let mut error = ApiError::too_many_requests(seconds, "too many requests; slow down");
    if let Some(value) = header(policy.header()) {
        error = error.with_header(HeaderName::from_static("ratelimit-policy"), value);
    }
    if let Some(value) = header(format!("\"{}\";r=0;t={}", policy.name, seconds.max(1))) {
        error = error.with_header(HeaderName::from_static("ratelimit"), value);
    }
    error
}

#[cfg(test)]
mod tests {
    use super::address_key;

    #[test]
    fn ipv6_clients_are_keyed_by_their_64() {
        let key = |text: &str| address_key(text.parse().expect("address"));
        assert_eq!(key("203.0.113.7"), "203.0.113.7");
        assert_eq!(key("::ffff:203.0.113.7"), "203.0.113.7");
        assert_eq!(key("2001:db8:1:2:aaaa::1"), key("2001:db8:1:2:bbbb::9"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
    }
}
