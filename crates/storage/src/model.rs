//! Records as the store hands them out.

use unmogrowp_domain::time::UnixMillis;
use unmogrowp_domain::{OrgId, Role, UserId};

/// An organization (tenant): it owns apps, their keys, links and postbacks, and an audit log; users
/// belong to it through memberships.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Organization {
    /// Its id (a UUIDv7, so ids sort by creation time).
    pub id: OrgId,
    /// Display name, as given when it was created.
    pub name: String,
    /// When it was created, in milliseconds since the Unix epoch.
    pub created_at: UnixMillis,
}

/// A user account. Accounts are not tied to one organization: a user may be a member of several.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// The user's id.
    pub id: UserId,
    /// Normalised (trimmed, lower case).
    pub email: String,
    /// Display name.
    pub name: String,
    /// When the account was created, in milliseconds since the Unix epoch.
    pub created_at: UnixMillis,
}

/// A user together with the stored password hash, for the login path only.
#[derive(Clone, Debug)]
pub struct UserCredentials {
    /// The account.
    pub user: User,
    /// The stored password hash (a PHC string written by the server's password hasher); compare
    /// against it, never show it.
    pub password_hash: String,
    /// When the password was last set (at sign-up or by
    /// [`Accounts::set_password`](crate::Accounts::set_password)), in milliseconds since the Unix
    /// epoch.
    pub password_changed_at: UnixMillis,
}

/// An account to create: by [`Accounts::register_owner`](crate::Accounts::register_owner), or by
/// accepting an invitation as [`Acceptor::New`]. The store assigns the id and creation time.
#[derive(Clone, Debug)]
pub struct NewUser {
    /// Email address, normalised by the caller (trimmed, lower case). It must not be taken yet: the
    /// insert fails with [`StorageError::Conflict`](crate::StorageError::Conflict) (`"email"`)
    /// otherwise.
    pub email: String,
    /// Display name.
    pub name: String,
    /// The password hash to store, made by the caller (the store never sees the password).
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
    /// The organization this membership is in.
    pub fn org_id(&self) -> &OrgId {
        &self.org_id
    }
    /// The member.
    pub fn user_id(&self) -> &UserId {
        &self.user_id
    }
    /// The member's role in the organization.
    pub fn role(&self) -> Role {
        self.role
    }
}

/// A user's membership with the organization's name, for `/me` and the organization list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrganizationMembership {
    /// The organization.
    pub organization: Organization,
    /// The user's membership in it.
    pub membership: Membership,
}

/// One member of an organization as the members list shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// The member's account.
    pub user: User,
    /// The member's role in this organization.
    pub role: Role,
    /// When the user joined (the membership was created), in milliseconds since the Unix epoch.
    pub joined_at: UnixMillis,
}

/// A login session: what access and refresh tokens are issued for, and what logging out or a
/// password reset ends. It is usable while [`Session::is_active`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// The session id.
    pub id: unmogrowp_domain::SessionId,
    /// The user who logged in.
    pub user_id: UserId,
    /// When the session began, in milliseconds since the Unix epoch.
    pub created_at: UnixMillis,
    /// When it ends by itself, in milliseconds since the Unix epoch.
    pub expires_at: UnixMillis,
    /// When it was revoked (logout, password reset, a reused refresh token), in milliseconds since
    /// the Unix epoch; `None` while not revoked.
    pub revoked_at: Option<UnixMillis>,
    /// Whether the user asked to stay logged in (the server then gives the session a longer
    /// lifetime).
    pub remember_me: bool,
    /// The client's IP address at login, as text.
    pub ip: String,
    /// The client's `User-Agent` at login.
    pub user_agent: String,
}

impl Session {
    /// Whether the session can be used at `now` (in milliseconds since the Unix epoch): not
    /// revoked, and `now` is before `expires_at`.
    pub fn is_active(&self, now: UnixMillis) -> bool {
        self.revoked_at.is_none() && self.expires_at > now
    }
}

/// A session to start with [`Accounts::create_session`](crate::Accounts::create_session); the store
/// assigns the id and sets `created_at` to now.
#[derive(Clone, Debug)]
pub struct NewSession {
    /// The user who logged in.
    pub user_id: UserId,
    /// When the session ends by itself, in milliseconds since the Unix epoch.
    pub expires_at: UnixMillis,
    /// Whether the user asked to stay logged in.
    pub remember_me: bool,
    /// The client's IP address, as text.
    pub ip: String,
    /// The client's `User-Agent`.
    pub user_agent: String,
}

/// What presenting a refresh token found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// The token was fresh and is now used up; issue a new pair for this session.
    Rotated {
        /// The session the token belongs to.
        session_id: unmogrowp_domain::SessionId,
        /// The organization the token was issued for.
        org_id: OrgId,
    },
    /// The token had already been used: someone replayed it. The session is now revoked.
    Reused {
        /// The session the token belonged to, now revoked.
        session_id: unmogrowp_domain::SessionId,
    },
    /// No refresh token has this hash.
    Unknown,
}

/// An invitation to join an organization with a role, sent to an email address. The token that
/// accepts it is stored only as a hash; it can be accepted once, before it expires.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invitation {
    /// The invitation's id.
    pub id: unmogrowp_domain::InvitationId,
    /// The organization it invites to.
    pub org_id: OrgId,
    /// The address it was sent to.
    pub email: String,
    /// The role the invitee gets on accepting.
    pub role: Role,
    /// Who sent it; `None` when that account has since been deleted.
    pub invited_by: Option<UserId>,
    /// When it was sent, in milliseconds since the Unix epoch.
    pub created_at: UnixMillis,
    /// When it stops being acceptable, in milliseconds since the Unix epoch (exclusive).
    pub expires_at: UnixMillis,
    /// When it was accepted, in milliseconds since the Unix epoch; `None` while it has not been.
    pub accepted_at: Option<UnixMillis>,
}

/// An invitation to create with [`Tenant::create_invitation`](crate::Tenant::create_invitation) for
/// the handle's organization; the store assigns the id and sets `created_at` to now.
#[derive(Clone, Debug)]
pub struct NewInvitation {
    /// The address it is sent to.
    pub email: String,
    /// The role the invitee gets on accepting.
    pub role: Role,
    /// Hash of the token in the invitation link, made by the caller (the plain token is never
    /// stored); must be unique.
    pub token_hash: String,
    /// The member who sends it.
    pub invited_by: UserId,
    /// When it stops being acceptable, in milliseconds since the Unix epoch.
    pub expires_at: UnixMillis,
}

/// Who accepts an invitation: an account that already exists (its password was checked), or
/// a new one.
#[derive(Clone, Debug)]
pub enum Acceptor {
    /// An existing account, whose password the caller has checked.
    Existing(UserId),
    /// A new account, created in the same transaction; fails with
    /// [`StorageError::Conflict`](crate::StorageError::Conflict) (`"email"`) if the email is taken.
    New(NewUser),
}

/// A mobile app registered in an organization: what SDK events, tracking links, S2S keys and
/// postbacks belong to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct App {
    /// The app's id.
    pub id: unmogrowp_domain::AppId,
    /// The organization that owns it.
    pub org_id: OrgId,
    /// Display name.
    pub name: String,
    /// Android or iOS.
    pub platform: unmogrowp_domain::app::Platform,
    /// The Android package name or iOS bundle identifier; set at creation and not changed after.
    pub bundle_id: String,
    /// The app's store page, where tracking links send users.
    pub store_url: String,
    /// The public token SDKs send to identify the app; unique across all organizations (see
    /// [`Credentials::app_by_token`](crate::Credentials::app_by_token)).
    pub app_token: String,
    /// The app's attribution windows and fraud thresholds.
    pub attribution: unmogrowp_domain::app::AttributionSettings,
    /// The IANA time zone report days follow (e.g. `UTC`, `Europe/Berlin`).
    pub time_zone: String,
    /// The ISO 4217 currency revenue is reported in (e.g. `USD`).
    pub currency: String,
    /// When the app was registered, in milliseconds since the Unix epoch.
    pub created_at: UnixMillis,
    /// When it was last changed, in milliseconds since the Unix epoch.
    pub updated_at: UnixMillis,
}

/// An app to register with [`Tenant::create_app`](crate::Tenant::create_app); the store assigns the
/// id and times. The caller validates the fields; see [`App`] for their meaning.
#[derive(Clone, Debug)]
pub struct NewApp {
    /// Display name.
    pub name: String,
    /// Android or iOS.
    pub platform: unmogrowp_domain::app::Platform,
    /// The Android package name or iOS bundle identifier.
    pub bundle_id: String,
    /// The app's store page, where tracking links send users.
    pub store_url: String,
    /// The public token SDKs will send; must be unique across all organizations.
    pub app_token: String,
    /// Attribution windows and fraud thresholds.
    pub attribution: unmogrowp_domain::app::AttributionSettings,
    /// The IANA time zone report days follow.
    pub time_zone: String,
    /// The ISO 4217 currency revenue is reported in.
    pub currency: String,
}

/// Fields to change; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct AppPatch {
    /// A new display name.
    pub name: Option<String>,
    /// A new store page URL.
    pub store_url: Option<String>,
    /// New attribution settings, replacing the old ones as a whole.
    pub attribution: Option<unmogrowp_domain::app::AttributionSettings>,
    /// A new IANA time zone for report days.
    pub time_zone: Option<String>,
    /// A new ISO 4217 reporting currency.
    pub currency: Option<String>,
}

/// A server-to-server (S2S) key of an app. Its secret is derived from the server's master key, the
/// key id and the nonce, and is never stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppKey {
    /// The key's id, which S2S requests present to say which key signs them.
    pub id: unmogrowp_domain::KeyId,
    /// The organization that owns the app.
    pub org_id: OrgId,
    /// The app the key is for.
    pub app_id: unmogrowp_domain::AppId,
    /// Input, with the master key, of the secret's derivation; not a secret by itself.
    pub nonce: String,
    /// What the key is for, as its creator named it (empty when unnamed).
    pub name: String,
    /// When the key was created, in milliseconds since the Unix epoch.
    pub created_at: UnixMillis,
    /// The member who created it; `None` only for keys stored without a creator.
    pub created_by: Option<UserId>,
    /// When it was revoked, in milliseconds since the Unix epoch; `None` while it is valid. A
    /// revoked key must be refused.
    pub revoked_at: Option<UnixMillis>,
}

/// How an audited action ended. Stored as `success`, `failure` or `denied`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The action was done.
    Success,
    /// The action was attempted and failed (e.g. a wrong password).
    Failure,
    /// The action was refused for lack of permission.
    Denied,
}

impl Outcome {
    /// The stored name: `"success"`, `"failure"` or `"denied"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Denied => "denied",
        }
    }

    /// The outcome named by `raw`, as written by [`Outcome::as_str`]; `None` for any other string.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "success" => Some(Outcome::Success),
            "failure" => Some(Outcome::Failure),
            "denied" => Some(Outcome::Denied),
            _ => None,
        }
    }
}

/// One entry of the audit log: who did what, to what, from where, and how it ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    /// The entry's id. Ids are time-ordered, so they sort by when the entry was written; an id
    /// serves as the page cursor [`AuditFilter::before`].
    pub id: unmogrowp_domain::AuditId,
    /// The organization it belongs to; `None` for events tied to none (e.g. a failed login for an
    /// unknown email).
    pub org_id: Option<OrgId>,
    /// When it was recorded, in milliseconds since the Unix epoch.
    pub at: UnixMillis,
    /// The acting user's id, when the actor is a known user.
    pub actor_id: Option<UserId>,
    /// The actor's email at the time (or `system`).
    pub actor: Option<String>,
    /// What was done, a dotted name chosen by the caller (e.g. `app.created`).
    pub action: String,
    /// What it was done to (an id, an email), if anything.
    pub target: Option<String>,
    /// The client's IP address, if known.
    pub ip: Option<String>,
    /// The client's `User-Agent`, if known.
    pub user_agent: Option<String>,
    /// How it ended.
    pub outcome: Outcome,
    /// JSON text with action-specific details.
    pub details: Option<String>,
}

/// An audit entry to record with [`Accounts::audit`](crate::Accounts::audit) or
/// [`Tenant::audit`](crate::Tenant::audit); the store assigns the id and the time.
#[derive(Clone, Debug, Default)]
pub struct NewAuditEntry {
    /// The acting user's id, when the actor is a known user.
    pub actor_id: Option<UserId>,
    /// The actor's email (or `system`), kept as it is at the time.
    pub actor: Option<String>,
    /// What was done, a dotted name (e.g. `app.created`).
    pub action: String,
    /// What it was done to, if anything.
    pub target: Option<String>,
    /// The client's IP address, if known.
    pub ip: Option<String>,
    /// The client's `User-Agent`, if known.
    pub user_agent: Option<String>,
    /// How it ended; `None` records [`Outcome::Success`].
    pub outcome: Option<Outcome>,
    /// JSON text with action-specific details.
    pub details: Option<String>,
}

/// Which entries [`Tenant::audit_log`](crate::Tenant::audit_log) returns: every condition that is
/// set must hold. Entries come newest first.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    /// Only entries with exactly this action.
    pub action: Option<String>,
    /// Only entries whose actor email or actor user id equals this.
    pub actor: Option<String>,
    /// Only entries with this outcome.
    pub outcome: Option<Outcome>,
    /// Only entries recorded at or after this time, in milliseconds since the Unix epoch.
    pub from: Option<UnixMillis>,
    /// Only entries recorded before this time (exclusive), in milliseconds since the Unix epoch.
    pub to: Option<UnixMillis>,
    /// Entries strictly older than this id (the cursor of the previous page).
    pub before: Option<unmogrowp_domain::AuditId>,
    /// At most this many entries; 0 returns none.
    pub limit: u32,
}

/// A tracking link of an app: clicks and impressions through it are attributed to its network and
/// campaign.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    /// The link's id, which appears in its click and impression URLs.
    pub id: unmogrowp_domain::LinkId,
    /// The organization that owns the app.
    pub org_id: OrgId,
    /// The app the link leads to.
    pub app_id: unmogrowp_domain::AppId,
    /// The ad network (e.g. `meta`, `unity`).
    pub network: String,
    /// The campaign name.
    pub campaign: String,
    /// The ad group; empty when not used.
    pub adgroup: String,
    /// The creative; empty when not used.
    pub creative: String,
    /// Whether opens through this link within the re-engagement window count as re-engagements.
    pub retargeting: bool,
    /// Where the app should take a user who installs after clicking it (a deferred deep link,
    /// e.g. `myapp://product/42` or an https universal link); `None` for none.
    pub deep_link: Option<String>,
    /// When the link was created, in milliseconds since the Unix epoch.
    pub created_at: UnixMillis,
}

/// Fields of a tracking link to change ([`Tenant::update_link`](crate::Tenant::update_link));
/// `None` keeps the current value. The caller validates the labels.
#[derive(Clone, Debug, Default)]
pub struct LinkPatch {
    /// The ad network.
    pub network: Option<String>,
    /// The campaign name.
    pub campaign: Option<String>,
    /// The ad group (empty for none).
    pub adgroup: Option<String>,
    /// The creative (empty for none).
    pub creative: Option<String>,
    /// Whether opens through it count as re-engagements.
    pub retargeting: Option<bool>,
    /// The deferred deep link (an empty string removes it).
    pub deep_link: Option<String>,
}

/// Fields of a postback to change ([`Tenant::update_postback`](crate::Tenant::update_postback));
/// `None` keeps the current value. The caller validates the template.
#[derive(Clone, Debug, Default)]
pub struct PostbackPatch {
    /// The network whose installs and events trigger it.
    pub network: Option<String>,
    /// The URL template.
    pub url_template: Option<String>,
    /// `install` and/or in-app event names.
    pub events: Option<Vec<String>>,
}

/// A tracking link to create with [`Tenant::create_link`](crate::Tenant::create_link); the store
/// assigns the id and time. The caller validates the labels.
#[derive(Clone, Debug)]
pub struct NewLink {
    /// The ad network.
    pub network: String,
    /// The campaign name.
    pub campaign: String,
    /// The ad group; empty for none.
    pub adgroup: String,
    /// The creative; empty for none.
    pub creative: String,
    /// Whether opens through the link within the re-engagement window count as re-engagements.
    pub retargeting: bool,
    /// The deferred deep link, if any.
    pub deep_link: Option<String>,
}

/// A request to erase a device's data from an app (GDPR article 17), as the OLTP store keeps
/// it; whether it was carried out is the event store's to say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErasureRequest {
    /// The request's id.
    pub id: unmogrowp_domain::ErasureId,
    /// The organization that owns the app.
    pub org_id: OrgId,
    /// The app whose data is erased.
    pub app_id: unmogrowp_domain::AppId,
    /// Who asked (`None` once the user is gone).
    pub requested_by: Option<UserId>,
    /// When it was asked, in milliseconds since the Unix epoch.
    pub requested_at: UnixMillis,
}

/// A postback: a URL template the server calls to tell an ad network about installs and in-app
/// events attributed to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Postback {
    /// The postback's id (a UUIDv7 string).
    pub id: String,
    /// The organization that owns the app.
    pub org_id: OrgId,
    /// The app whose events trigger it.
    pub app_id: unmogrowp_domain::AppId,
    /// The network whose attributed installs and events trigger it.
    pub network: String,
    /// An http(s) URL with `{…}` macros (`{click_id}`, `{event_name}`, `{revenue}`, …) that are
    /// filled in for each event.
    pub url_template: String,
    /// `install` and/or in-app event names.
    pub events: Vec<String>,
    /// When the postback was created, in milliseconds since the Unix epoch.
    pub created_at: UnixMillis,
}

/// A postback to create with [`Tenant::create_postback`](crate::Tenant::create_postback); the store
/// assigns the id and time. The caller validates the template.
#[derive(Clone, Debug)]
pub struct NewPostback {
    /// The network whose attributed installs and events trigger it.
    pub network: String,
    /// An http(s) URL with `{…}` macros, filled in for each event.
    pub url_template: String,
    /// `install` and/or in-app event names that trigger it.
    pub events: Vec<String>,
}

pub use crate::delivery::{AttemptOutcome, Delivery, NewDelivery};
