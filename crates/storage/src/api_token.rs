//! Long-lived API tokens of an organization, for BI tools and scripts: named, role-scoped,
//! optionally expiring, revocable. The store keeps the token's SHA-256 hash, never the token.

use unmogrowp_domain::time::UnixMillis;
use unmogrowp_domain::{ApiTokenId, OrgId, Role, UserId};

/// An API token as the store keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiToken {
    /// The token's id.
    pub id: ApiTokenId,
    /// The organization it acts in.
    pub org_id: OrgId,
    /// Its name, e.g. `Looker` (1 to 100 characters, checked by the caller).
    pub name: String,
    /// The role it acts with (never above its creator's when it was made).
    pub role: Role,
    /// The token's first characters (`unm_` and 8 more), to recognise it in lists and logs.
    pub prefix: String,
    /// SHA-256 of the whole token, lowercase hex: how a request's token is found.
    pub token_hash: String,
    /// Who made it; requests with the token act as this user within `role`.
    pub created_by: UserId,
    /// When it was made, in milliseconds since the Unix epoch.
    pub created_at: UnixMillis,
    /// When it stops working, if ever.
    pub expires_at: Option<UnixMillis>,
    /// When a request last used it (updated at most about once a minute).
    pub last_used_at: Option<UnixMillis>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<UnixMillis>,
}

impl ApiToken {
    /// Whether requests may use it at `now` (ms): not revoked, not expired.
    pub fn usable_at(&self, now: UnixMillis) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|end| now < end)
    }
}

/// What [`crate::Tenant::create_api_token`] stores.
#[derive(Clone, Debug)]
pub struct NewApiToken {
    /// Its name.
    pub name: String,
    /// Its role.
    pub role: Role,
    /// The token's first characters.
    pub prefix: String,
    /// SHA-256 of the token, lowercase hex.
    pub token_hash: String,
    /// When it stops working, if ever.
    pub expires_at: Option<UnixMillis>,
}
