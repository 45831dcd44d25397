//! Authentication without HTTP: the keyring derived from the master key, password hashing on
//! a bounded pool, access and refresh tokens, sessions, and brute-force throttling. The
//! server's extractors (`Auth`, `TenantApp`) turn requests into calls of this crate.
//!
//! Code: `lib.rs` (the service: sessions, memberships, issuing tokens), `config.rs` (the
//! `[auth]` settings), `secrets.rs` (keyring, HMAC, random tokens), `passwords.rs`,
//! `tokens.rs` (JWT HS256), `throttle.rs` (login throttles), `metric_names.rs`.
#![warn(missing_docs)]

pub mod config;
pub mod metric_names;
pub mod passwords;
pub mod secrets;
pub mod throttle;
pub mod tokens;

use crate::secrets::{Keyring, random_token, token_hash};
pub use config::{AuthConfig, optional_secret};
use passwords::PasswordService;
use std::sync::Arc;
use std::time::Duration;
use throttle::{InMemoryThrottle, LoginThrottle, ThrottlePolicy};
use unmogrowp_domain::{OrgId, SessionId, UserId};
use unmogrowp_storage::{ApiToken, Membership, Session, Store, User};

/// Everything authentication needs, built once at start and shared by the handlers: the keys
/// derived from the master key, the password hasher, the login throttle, the `auth.*` settings, and
/// caches of sessions and memberships (up to 100 000 entries each, kept for
/// `auth.cache_ttl_seconds`).
pub struct AuthService {
    /// Keys derived from the master key: access-token signing and S2S key secrets.
    pub keys: Keyring,
    /// Argon2id hashing and checking on a bounded pool.
    pub passwords: PasswordService,
    /// Failed-login counts per account and per IP: in Redis when `redis_url` is set (shared by
    /// every node), else in this process.
    pub throttle: Arc<dyn LoginThrottle>,
    /// The `auth.*` settings the service was built with.
    pub config: AuthConfig,
    sessions: moka::future::Cache<SessionId, Session>,
    memberships: moka::future::Cache<(UserId, OrgId), Option<Membership>>,
    /// API tokens by the SHA-256 of the token, kept a few seconds (a revocation racing a
    /// lookup cannot outlive that).
    api_tokens: moka::future::Cache<String, (ApiToken, Membership)>,
    /// Hashes of tokens that do not exist, kept apart so guesses cannot push real tokens out.
    unknown_api_tokens: moka::future::Cache<String, ()>,
    /// Tokens whose last use was recorded within the last minute.
    api_tokens_touched: moka::future::Cache<unmogrowp_domain::ApiTokenId, ()>,
}

/// The prefix of every API token (`unm_` then 43 base64url characters, 256 random bits), so a
/// token is recognised in a request, a log line or a secret scanner.
pub const API_TOKEN_PREFIX: &str = "unm_";

/// The longest an API token's record is cached (a revocation made elsewhere reaches every node
/// at once through the invalidation channel; this bounds a lookup that raced it).
const API_TOKEN_CACHE_TTL: Duration = Duration::from_secs(5);

/// A new API token: what the caller is shown once, and what the store keeps.
pub struct IssuedApiToken {
    /// The token to hand out (`unm_…`).
    pub token: String,
    /// Its first 12 characters, kept to recognise it in lists.
    pub prefix: String,
    /// SHA-256 of the token, lowercase hex.
    pub token_hash: String,
}

/// Whether `text` has the shape of an API token (`unm_` and 43 base64url characters), checked
/// before any lookup.
pub fn is_api_token(text: &str) -> bool {
    text.strip_prefix(API_TOKEN_PREFIX).is_some_and(|rest| {
        rest.len() == 43
            && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// Makes a new API token (see [`API_TOKEN_PREFIX`]).
pub fn new_api_token() -> IssuedApiToken {
    let token = format!("{API_TOKEN_PREFIX}{}", random_token(32));
    IssuedApiToken {
        prefix: token.chars().take(12).collect(),
        token_hash: token_hash(&token),
        token,
    }
}

/// A freshly issued pair.
pub struct IssuedTokens {
    /// A signed JWT (HS256), sent as `Authorization: Bearer <token>`.
    pub access_token: String,
    /// A random 256-bit token (43 base64url characters) given to the client once; only its SHA-256
    /// is stored.
    pub refresh_token: String,
    /// Seconds until the access token expires: `auth.access_token_ttl_seconds`, or less when the
    /// session ends sooner (at least 1).
    pub expires_in: u64,
}

impl AuthService {
    /// Builds the service from the `auth.*` settings, the keyring and the shared (Redis) link. With
    /// Redis configured the login throttle is shared by every node, its keys HMACs of the account
    /// or IP under a key derived from the token-signing key; otherwise it lives in this process.
    pub fn new(config: &AuthConfig, keys: Keyring, shared: &unmogrowp_shared::Shared) -> Self {
        let policy = ThrottlePolicy {
            account_threshold: config.lockout_account_threshold,
            ip_threshold: config.lockout_ip_threshold,
            base_delay: Duration::from_secs(config.lockout_base_delay_seconds),
            max_delay: Duration::from_secs(config.lockout_max_delay_seconds),
            window: Duration::from_secs(config.lockout_window_seconds),
        };
        let ttl = Duration::from_secs(config.cache_ttl_seconds.max(1));
        let throttle_secret =
            crate::secrets::hmac_sha256(&keys.token_signing, b"unmogrowp login throttle");
        Self {
            keys,
            passwords: PasswordService::new(config.hash_concurrency, config.hash_queue),
            throttle: if shared.is_configured() {
                Arc::new(throttle::SharedThrottle::new(policy, shared.clone(), throttle_secret))
            } else {
                Arc::new(InMemoryThrottle::new(policy))
            },
            config: config.clone(),
            sessions: moka::future::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(ttl)
                .build(),
            memberships: moka::future::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(ttl)
                .build(),
            api_tokens: moka::future::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(ttl.min(API_TOKEN_CACHE_TTL))
                .build(),
            unknown_api_tokens: moka::future::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(ttl.min(API_TOKEN_CACHE_TTL))
                .build(),
            api_tokens_touched: moka::future::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(Duration::from_secs(60))
                .build(),
        }
    }

    /// The API token `token` names and the membership its requests act under, through the
    /// cache; `None` for an unknown token. Revoked and expired tokens are returned too (check
    /// [`ApiToken::usable_at`]).
    pub async fn api_token(
        &self,
        store: &Store,
        token: &str,
    ) -> unmogrowp_storage::Result<Option<(ApiToken, Membership)>> {
        let hash = token_hash(token);
        if let Some(cached) = self.api_tokens.get(&hash).await {
            return Ok(Some(cached));
        }
        if self.unknown_api_tokens.contains_key(&hash) {
            return Ok(None);
        }
        let loaded = store.credentials().api_token(&hash).await?;
        match &loaded {
            Some(found) => self.api_tokens.insert(hash, found.clone()).await,
            None => self.unknown_api_tokens.insert(hash, ()).await,
        }
        Ok(loaded)
    }

    /// Records the token's use at `now` (ms) unless that was done within the last minute; in
    /// the background, a failure only logged.
    pub async fn touch_api_token(&self, store: &Store, token: &ApiToken, now: i64) {
        if self.api_tokens_touched.contains_key(&token.id) {
            return;
        }
        self.api_tokens_touched.insert(token.id.clone(), ()).await;
        let (store, id) = (store.clone(), token.id.clone());
        tokio::spawn(async move {
            if let Err(error) = store.credentials().touch_api_token(&id, now).await {
                tracing::debug!(%error, token = %id, "could not record an API token's use");
            }
        });
    }

    /// Drops an API token from the cache (by the SHA-256 of the token): its next use reads the
    /// database (and sees it revoked).
    pub async fn forget_api_token(&self, token_hash: &str) {
        self.api_tokens.invalidate(token_hash).await;
        self.unknown_api_tokens.invalidate(token_hash).await;
    }

    /// How long a new session lasts: `auth.remember_me_ttl_days` with "remember me", else
    /// `auth.session_ttl_hours`.
    pub fn session_ttl(&self, remember_me: bool) -> Duration {
        if remember_me {
            Duration::from_secs(self.config.remember_me_ttl_days * 86_400)
        } else {
            Duration::from_secs(self.config.session_ttl_hours * 3_600)
        }
    }

    /// Signs an access token and stores a new refresh token for the session.
    pub async fn issue(
        &self,
        store: &Store,
        user: &User,
        session: &Session,
        membership: &Membership,
    ) -> unmogrowp_storage::Result<IssuedTokens> {
        let now = jiff::Timestamp::now().as_second();
        // Never outlive the session itself.
        let session_left = (session.expires_at / 1000 - now).max(1);
        let lifetime =
            i64::try_from(self.config.access_token_ttl_seconds).unwrap_or(900).min(session_left);
        let claims = tokens::Claims {
            sub: user.id.to_string(),
            org: membership.org_id().to_string(),
            role: membership.role().as_str().to_owned(),
            sid: session.id.to_string(),
            email: user.email.clone(),
            iss: tokens::ISSUER.to_owned(),
            iat: now,
            exp: now + lifetime,
            jti: random_token(16),
        };
        let access_token = tokens::encode(&self.keys.token_signing, &claims);
        let refresh_token = random_token(32);
        store
            .accounts()
            .add_refresh_token(&token_hash(&refresh_token), &session.id, membership.org_id())
            .await?;
        Ok(IssuedTokens {
            access_token,
            refresh_token,
            expires_in: u64::try_from(lifetime).unwrap_or(0),
        })
    }

    /// The session, through the cache (so every request checks it without a query each time).
    pub async fn session(
        &self,
        store: &Store,
        session_id: &SessionId,
    ) -> unmogrowp_storage::Result<Option<Session>> {
        if let Some(session) = self.sessions.get(session_id).await {
            return Ok(Some(session));
        }
        let loaded = store.accounts().session(session_id).await?;
        if let Some(session) = &loaded {
            self.sessions.insert(session_id.clone(), session.clone()).await;
        }
        Ok(loaded)
    }

    /// Drops a session from the cache: its next use reads the database (and sees it ended).
    pub async fn forget_session(&self, session_id: &SessionId) {
        self.sessions.invalidate(session_id).await;
    }

    /// The user's membership of the organization (`None`: not a member), through the cache. An
    /// absent membership is cached too, for the same time, unless invalidated.
    pub async fn membership(
        &self,
        store: &Store,
        user_id: &UserId,
        org_id: &OrgId,
    ) -> unmogrowp_storage::Result<Option<Membership>> {
        let key = (user_id.clone(), org_id.clone());
        if let Some(cached) = self.memberships.get(&key).await {
            return Ok(cached);
        }
        let loaded = store.accounts().membership(user_id, org_id).await?;
        self.memberships.insert(key, loaded.clone()).await;
        Ok(loaded)
    }

    /// Drops a membership from the cache: its next check reads the database.
    pub async fn forget_membership(&self, user_id: &UserId, org_id: &OrgId) {
        self.memberships.invalidate(&(user_id.clone(), org_id.clone())).await;
    }

    /// Empties the session, membership and API-token caches.
    pub fn forget_all(&self) {
        self.sessions.invalidate_all();
        self.memberships.invalidate_all();
        self.api_tokens.invalidate_all();
        self.unknown_api_tokens.invalidate_all();
    }
}
