//! The `[auth]` settings and the serde helper for secrets in the configuration.

use secrecy::SecretString;
use serde::{Deserialize, Deserializer};

/// The `[auth]` section: the master key, lifetimes of tokens, sessions and emailed links, login
/// throttling, password hashing and caches.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// The master key (base64 or hex, at least 32 bytes) from which token-signing and S2S
    /// key secrets are derived. Unset: generated once and kept in `<data_dir>/secret.key`.
    /// Several nodes sharing one database must share this key.
    #[serde(deserialize_with = "optional_secret")]
    pub secret_key: Option<SecretString>,
    /// Lifetime of an access token in seconds (`auth.access_token_ttl_seconds` /
    /// `UNMOGROWP_AUTH__ACCESS_TOKEN_TTL_SECONDS`, default 900; must be positive). A token never
    /// outlives its session.
    pub access_token_ttl_seconds: u64,
    /// Lifetime of a session signed in without "remember me", in hours (`auth.session_ttl_hours` /
    /// `UNMOGROWP_AUTH__SESSION_TTL_HOURS`, default 24; must be positive).
    pub session_ttl_hours: u64,
    /// Lifetime of a session signed in with "remember me", in days (`auth.remember_me_ttl_days` /
    /// `UNMOGROWP_AUTH__REMEMBER_ME_TTL_DAYS`, default 30).
    pub remember_me_ttl_days: u64,
    /// How long an emailed password-reset link works, in minutes
    /// (`auth.password_reset_ttl_minutes` / `UNMOGROWP_AUTH__PASSWORD_RESET_TTL_MINUTES`, default
    /// 15).
    pub password_reset_ttl_minutes: u64,
    /// How long an emailed invitation works, in days (`auth.invitation_ttl_days` /
    /// `UNMOGROWP_AUTH__INVITATION_TTL_DAYS`, default 7).
    pub invitation_ttl_days: u64,
    /// Failed logins of one account from one client address before that address must wait
    /// for that account (429 with Retry-After); failures of the account from everywhere past
    /// this count only slow its sign-ins (up to 2 s), so the owner is never locked out
    /// (`auth.lockout_account_threshold`, default 10).
    pub lockout_account_threshold: u32,
    /// Distinct accounts that failed to sign in from one client address before that address
    /// must wait (credential stuffing; `auth.lockout_ip_threshold`, default 20).
    pub lockout_ip_threshold: u32,
    /// The first wait; it doubles with every further failure, up to the maximum.
    pub lockout_base_delay_seconds: u64,
    /// The longest wait imposed after repeated failures, in seconds
    /// (`auth.lockout_max_delay_seconds` / `UNMOGROWP_AUTH__LOCKOUT_MAX_DELAY_SECONDS`, default
    /// 900).
    pub lockout_max_delay_seconds: u64,
    /// Failures older than this are forgotten.
    pub lockout_window_seconds: u64,
    /// Password hashes computed at once (0: one per CPU).
    pub hash_concurrency: usize,
    /// Hash requests allowed to wait for a slot before the server answers 503.
    pub hash_queue: usize,
    /// How long a session or membership check is cached (revocations on this node are
    /// immediate; this bounds how long another node may take to notice).
    pub cache_ttl_seconds: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            secret_key: None,
            access_token_ttl_seconds: 900,
            session_ttl_hours: 24,
            remember_me_ttl_days: 30,
            password_reset_ttl_minutes: 15,
            invitation_ttl_days: 7,
            lockout_account_threshold: 10,
            lockout_ip_threshold: 20,
            lockout_base_delay_seconds: 1,
            lockout_max_delay_seconds: 900,
            lockout_window_seconds: 3600,
            hash_concurrency: 0,
            hash_queue: 64,
            cache_ttl_seconds: 30,
        }
    }
}

/// Environment values are parsed as TOML-ish values, so a secret made of digits arrives as a
/// number; accept any scalar and keep its text.
pub fn optional_secret<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<SecretString>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Scalar {
        Text(String),
        Integer(i64),
        Float(f64),
        Bool(bool),
    }
    let value = Option::<Scalar>::deserialize(deserializer)?;
    Ok(value.map(|scalar| {
        let text = match scalar {
            Scalar::Text(text) => text,
            Scalar::Integer(number) => number.to_string(),
            Scalar::Float(number) => number.to_string(),
            Scalar::Bool(flag) => flag.to_string(),
        };
        SecretString::from(text)
    }))
}
