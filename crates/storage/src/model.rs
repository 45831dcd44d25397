//! Records as the store hands them out.

use unmogrowp_domain::time::UnixMillis;
use unmogrowp_domain::{OrgId, Role, UserId};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Organization {
    pub id: OrgId,
    pub name: String,
    pub created_at: UnixMillis,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    /// Normalised (trimmed, lower case).
    pub email: String,
    pub name: String,
    pub created_at: UnixMillis,
}

/// A user together with the stored password hash, for the login path only.
#[derive(Clone, Debug)]
pub struct UserCredentials {
    pub user: User,
    pub password_hash: String,
    pub password_changed_at: UnixMillis,
}

#[derive(Clone, Debug)]
pub struct NewUser {
    pub email: String,
    pub name: String,
    pub password_hash: String,
}

/// Proof that a user belongs to an organization with a role. Only the store makes these
/// (from rows it read), and [`crate::Store::tenant`] asks for one: holding a `Membership` is
/// what entitles code to a tenant handle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Membership {
    pub(crate) org_id: OrgId,
    pub(crate) user_id: UserId,
    pub(crate) role: Role,
}

impl Membership {
    pub fn org_id(&self) -> &OrgId {
        &self.org_id
    }
    pub fn user_id(&self) -> &UserId {
        &self.user_id
    }
    pub fn role(&self) -> Role {
        self.role
    }
}

/// A user's membership with the organization's name, for `/me` and the organization list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrganizationMembership {
    pub organization: Organization,
    pub membership: Membership,
}

/// One member of an organization as the members list shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub user: User,
    pub role: Role,
    pub joined_at: UnixMillis,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub id: unmogrowp_domain::SessionId,
    pub user_id: UserId,
    pub created_at: UnixMillis,
    pub expires_at: UnixMillis,
    pub revoked_at: Option<UnixMillis>,
    pub remember_me: bool,
    pub ip: String,
    pub user_agent: String,
}

impl Session {
    pub fn is_active(&self, now: UnixMillis) -> bool {
        self.revoked_at.is_none() && self.expires_at > now
    }
}

#[derive(Clone, Debug)]
pub struct NewSession {
    pub user_id: UserId,
    pub expires_at: UnixMillis,
    pub remember_me: bool,
    pub ip: String,
    pub user_agent: String,
}

/// What presenting a refresh token found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// The token was fresh and is now used up; issue a new pair for this session.
    Rotated {
        session_id: unmogrowp_domain::SessionId,
        org_id: OrgId,
    },
    /// The token had already been used: someone replayed it. The session is now revoked.
    Reused {
        session_id: unmogrowp_domain::SessionId,
    },
    Unknown,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invitation {
    pub id: unmogrowp_domain::InvitationId,
    pub org_id: OrgId,
    pub email: String,
    pub role: Role,
    pub invited_by: Option<UserId>,
    pub created_at: UnixMillis,
    pub expires_at: UnixMillis,
    pub accepted_at: Option<UnixMillis>,
}

#[derive(Clone, Debug)]
pub struct NewInvitation {
    pub email: String,
    pub role: Role,
    pub token_hash: String,
    pub invited_by: UserId,
    pub expires_at: UnixMillis,
}

/// Who accepts an invitation: an account that already exists (its password was checked), or
/// a new one.
#[derive(Clone, Debug)]
pub enum Acceptor {
    Existing(UserId),
    New(NewUser),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct App {
    pub id: unmogrowp_domain::AppId,
    pub org_id: OrgId,
    pub name: String,
    pub platform: unmogrowp_domain::app::Platform,
    pub bundle_id: String,
    pub store_url: String,
    pub app_token: String,
    pub attribution: unmogrowp_domain::app::AttributionSettings,
    pub time_zone: String,
    pub currency: String,
    pub created_at: UnixMillis,
    pub updated_at: UnixMillis,
}

#[derive(Clone, Debug)]
pub struct NewApp {
    pub name: String,
    pub platform: unmogrowp_domain::app::Platform,
    pub bundle_id: String,
    pub store_url: String,
    pub app_token: String,
    pub attribution: unmogrowp_domain::app::AttributionSettings,
    pub time_zone: String,
    pub currency: String,
}

/// Fields to change; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct AppPatch {
    pub name: Option<String>,
    pub store_url: Option<String>,
    pub attribution: Option<unmogrowp_domain::app::AttributionSettings>,
    pub time_zone: Option<String>,
    pub currency: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppKey {
    pub id: unmogrowp_domain::KeyId,
    pub org_id: OrgId,
    pub app_id: unmogrowp_domain::AppId,
    /// Input, with the master key, of the secret's derivation; not a secret by itself.
    pub nonce: String,
    pub created_at: UnixMillis,
    pub created_by: Option<UserId>,
    pub revoked_at: Option<UnixMillis>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
    Denied,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Denied => "denied",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "success" => Some(Outcome::Success),
            "failure" => Some(Outcome::Failure),
            "denied" => Some(Outcome::Denied),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    pub id: unmogrowp_domain::AuditId,
    pub org_id: Option<OrgId>,
    pub at: UnixMillis,
    pub actor_id: Option<UserId>,
    /// The actor's email at the time (or `system`).
    pub actor: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub outcome: Outcome,
    /// JSON text with action-specific details.
    pub details: Option<String>,
}

#[derive(Clone, Debug, Default)]
pub struct NewAuditEntry {
    pub actor_id: Option<UserId>,
    pub actor: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub outcome: Option<Outcome>,
    pub details: Option<String>,
}

#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    pub action: Option<String>,
    pub actor: Option<String>,
    pub outcome: Option<Outcome>,
    pub from: Option<UnixMillis>,
    pub to: Option<UnixMillis>,
    /// Entries strictly older than this id (the cursor of the previous page).
    pub before: Option<unmogrowp_domain::AuditId>,
    pub limit: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub id: unmogrowp_domain::LinkId,
    pub org_id: OrgId,
    pub app_id: unmogrowp_domain::AppId,
    pub network: String,
    pub campaign: String,
    pub adgroup: String,
    pub creative: String,
    pub retargeting: bool,
    pub created_at: UnixMillis,
}

#[derive(Clone, Debug)]
pub struct NewLink {
    pub network: String,
    pub campaign: String,
    pub adgroup: String,
    pub creative: String,
    pub retargeting: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Postback {
    pub id: String,
    pub org_id: OrgId,
    pub app_id: unmogrowp_domain::AppId,
    pub network: String,
    pub url_template: String,
    /// `install` and/or in-app event names.
    pub events: Vec<String>,
    pub created_at: UnixMillis,
}

#[derive(Clone, Debug)]
pub struct NewPostback {
    pub network: String,
    pub url_template: String,
    pub events: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    pub id: String,
    pub org_id: OrgId,
    pub app_id: unmogrowp_domain::AppId,
    pub postback_id: String,
    pub url: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub next_attempt_at: UnixMillis,
    pub created_at: UnixMillis,
    pub updated_at: UnixMillis,
}

#[derive(Clone, Debug)]
pub struct NewDelivery {
    pub org_id: OrgId,
    pub app_id: unmogrowp_domain::AppId,
    pub postback_id: String,
    pub dedup_key: String,
    pub url: String,
}

/// How one delivery attempt ended.
#[derive(Clone, Debug)]
pub enum AttemptOutcome {
    Delivered,
    /// Try again at the given time.
    Retry {
        error: String,
        next_attempt_at: UnixMillis,
    },
    /// No more attempts.
    Failed {
        error: String,
    },
    /// Not attempted (circuit open): try again later without counting an attempt.
    Postponed {
        next_attempt_at: UnixMillis,
    },
}
