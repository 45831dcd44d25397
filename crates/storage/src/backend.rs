//! The crate-private interface every backend implements. Methods that touch tenant rows take
//! the organization explicitly; only the scoped handles in `store.rs` call them, with the
//! organization from a [`crate::Membership`].

use crate::Annotation;
use crate::Result;
use crate::model::*;
use crate::store::Backend;
use unmogrowp_domain::time::UnixMillis;
use unmogrowp_domain::{AppId, InvitationId, KeyId, LinkId, OrgId, Role, SessionId, UserId};

/// Which rows a transaction may see on PostgreSQL (row-level security settings). SQLite has
/// no such wall; there the scoped handles are the only one.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Scope<'a> {
    Tenant(&'a OrgId),
    User(&'a UserId),
    /// Lookups by unguessable token and background work that spans tenants.
    System,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// May go to a read replica.
    Read,
    /// Must see the latest committed state (authentication, read-modify-write).
    ReadFresh,
    Write,
}

/// Users, sessions and tokens: rows that belong to a person, not to one organization.
#[async_trait::async_trait]
pub(crate) trait AccountsBackend: Send + Sync {
    async fn register_owner(
        &self,
        new_user: NewUser,
        organization_name: &str,
    ) -> Result<(User, Organization, Membership)>;
    async fn user_credentials_by_email(&self, email: &str) -> Result<Option<UserCredentials>>;
    async fn user_credentials_by_id(&self, user_id: &UserId) -> Result<Option<UserCredentials>>;
    async fn user_by_id(&self, user_id: &UserId) -> Result<Option<User>>;
    async fn memberships_of(&self, user_id: &UserId) -> Result<Vec<OrganizationMembership>>;
    async fn membership(&self, user_id: &UserId, org_id: &OrgId) -> Result<Option<Membership>>;
    async fn set_password(&self, user_id: &UserId, password_hash: &str) -> Result<()>;
    async fn set_name(&self, user_id: &UserId, name: &str) -> Result<()>;
    /// Creates an organization with the user as its owner.
    async fn create_organization(
        &self,
        user_id: &UserId,
        name: &str,
    ) -> Result<(Organization, Membership)>;

    async fn create_session(&self, session: NewSession) -> Result<Session>;
    async fn session(&self, session_id: &SessionId) -> Result<Option<Session>>;
    async fn revoke_session(&self, session_id: &SessionId, reason: &str) -> Result<()>;
    /// Revokes every active session of the user; returns their ids.
    async fn revoke_user_sessions(&self, user_id: &UserId, reason: &str) -> Result<Vec<SessionId>>;
    /// Revokes every active session of the user but `keep`; returns their ids.
    async fn revoke_other_sessions(
        &self,
        user_id: &UserId,
        keep: &SessionId,
        reason: &str,
    ) -> Result<Vec<SessionId>>;
    async fn add_refresh_token(
        &self,
        token_hash: &str,
        session_id: &SessionId,
        org_id: &OrgId,
    ) -> Result<()>;
    async fn use_refresh_token(&self, token_hash: &str) -> Result<RefreshOutcome>;

    async fn add_one_time_token(
        &self,
        token_hash: &str,
        purpose: &str,
        user_id: &UserId,
        expires_at: UnixMillis,
    ) -> Result<()>;
    /// How many tokens of this purpose the user was given since `since`.
    async fn count_one_time_tokens(
        &self,
        user_id: &UserId,
        purpose: &str,
        since: UnixMillis,
    ) -> Result<u64>;
    /// The user of an unexpired, unused token, without using it; `None` otherwise.
    async fn one_time_token_user(&self, token_hash: &str, purpose: &str) -> Result<Option<UserId>>;
    /// Marks an unexpired, unused token used and returns its user; `None` otherwise.
    async fn use_one_time_token(&self, token_hash: &str, purpose: &str) -> Result<Option<UserId>>;

    async fn invitation_by_token(&self, token_hash: &str) -> Result<Option<Invitation>>;
    async fn accept_invitation(
        &self,
        invitation_id: &InvitationId,
        acceptor: Acceptor,
    ) -> Result<(User, Membership)>;

    /// Records an audit entry for an organization, or for none.
    async fn audit(&self, org_id: Option<&OrgId>, entry: NewAuditEntry) -> Result<()>;
}

/// One organization's members, invitations and audit log.
#[async_trait::async_trait]
pub(crate) trait TenantBackend: Send + Sync {
    async fn organization(&self, org_id: &OrgId) -> Result<Option<Organization>>;
    async fn members(&self, org_id: &OrgId) -> Result<Vec<Member>>;
    async fn member(&self, org_id: &OrgId, user_id: &UserId) -> Result<Option<Member>>;
    /// Changes a member's role, refusing to leave the organization without an owner.
    async fn set_member_role(&self, org_id: &OrgId, user_id: &UserId, role: Role) -> Result<()>;
    /// Removes a member, refusing to remove the last owner.
    async fn remove_member(&self, org_id: &OrgId, user_id: &UserId) -> Result<()>;
    async fn create_invitation(
        &self,
        org_id: &OrgId,
        invitation: NewInvitation,
    ) -> Result<Invitation>;
    async fn invitations(&self, org_id: &OrgId) -> Result<Vec<Invitation>>;
    /// `sealed_actor` is `filter.actor` as the `actor` column holds it (sealed); `filter.actor`
    /// itself is compared with `actor_id`.
    async fn audit_log(
        &self,
        org_id: &OrgId,
        filter: &AuditFilter,
        sealed_actor: Option<&str>,
    ) -> Result<Vec<AuditEntry>>;
}

/// One organization's apps and their keys.
#[async_trait::async_trait]
pub(crate) trait AppsBackend: Send + Sync {
    async fn create_app(&self, org_id: &OrgId, app: NewApp) -> Result<App>;
    async fn apps(&self, org_id: &OrgId) -> Result<Vec<App>>;
    async fn app(&self, org_id: &OrgId, app_id: &AppId) -> Result<Option<App>>;
    async fn update_app(&self, org_id: &OrgId, app_id: &AppId, patch: AppPatch) -> Result<App>;
    async fn delete_app(&self, org_id: &OrgId, app_id: &AppId) -> Result<()>;
    async fn create_key(
        &self,
        org_id: &OrgId,
        app_id: &AppId,
        nonce: &str,
        name: &str,
        created_by: &UserId,
    ) -> Result<AppKey>;
    async fn keys(&self, org_id: &OrgId, app_id: &AppId) -> Result<Vec<AppKey>>;
    async fn revoke_key(&self, org_id: &OrgId, app_id: &AppId, key_id: &KeyId) -> Result<()>;

    async fn create_link(
        &self,
        org_id: &OrgId,
        app_id: &AppId,
        link: NewLink,
        created_by: &UserId,
    ) -> Result<Link>;
    async fn links(&self, org_id: &OrgId, app_id: &AppId) -> Result<Vec<Link>>;

    async fn blocked_ranges(&self, org_id: &OrgId) -> Result<Vec<String>>;
    async fn set_blocked_ranges(&self, org_id: &OrgId, ranges: &[String]) -> Result<()>;

    // lookups across tenants by unguessable credentials (collection endpoints)
    async fn link_by_id(&self, link_id: &LinkId) -> Result<Option<Link>>;
    async fn app_by_token(&self, app_token: &str) -> Result<Option<App>>;
    async fn app_by_id_unscoped(&self, app_id: &AppId) -> Result<Option<App>>;
    async fn key_by_id(&self, key_id: &KeyId) -> Result<Option<AppKey>>;
    async fn all_apps(&self) -> Result<Vec<App>>;

    async fn create_postback(
        &self,
        org_id: &OrgId,
        app_id: &AppId,
        postback: NewPostback,
        created_by: &UserId,
    ) -> Result<Postback>;
    async fn postbacks(&self, org_id: &OrgId, app_id: &AppId) -> Result<Vec<Postback>>;
    async fn deliveries(&self, org_id: &OrgId, app_id: &AppId, limit: u32)
    -> Result<Vec<Delivery>>;
    async fn postbacks_unscoped(&self, app_id: &AppId) -> Result<Vec<Postback>>;
    async fn enqueue_deliveries(&self, deliveries: &[NewDelivery]) -> Result<u64>;
    async fn claim_deliveries(
        &self,
        now: UnixMillis,
        lease_until: UnixMillis,
        limit: u32,
    ) -> Result<Vec<Delivery>>;
    async fn finish_delivery(&self, id: &str, outcome: &AttemptOutcome) -> Result<()>;
    async fn blocked_ranges_unscoped(&self, org_id: &OrgId) -> Result<Vec<String>>;
}

/// Erasure requests of one organization's apps.
#[async_trait::async_trait]
pub(crate) trait ErasuresBackend: Send + Sync {
    /// Records a request for the app ([`crate::StorageError::NotFound`] when the organization
    /// has no such app).
    async fn create_erasure(
        &self,
        org_id: &OrgId,
        app_id: &AppId,
        id: &unmogrowp_domain::ErasureId,
        requested_by: &UserId,
        requested_at: UnixMillis,
    ) -> Result<ErasureRequest>;
    async fn erasure(
        &self,
        org_id: &OrgId,
        app_id: &AppId,
        id: &unmogrowp_domain::ErasureId,
    ) -> Result<Option<ErasureRequest>>;
}

/// Annotations of one organization's apps' charts. Each answers
/// [`crate::StorageError::NotFound`] for an app or annotation not of this organization.
#[async_trait::async_trait]
pub(crate) trait AnnotationsBackend: Send + Sync {
    async fn create_annotation(
        &self,
        org_id: &OrgId,
        annotation: &Annotation,
    ) -> Result<Annotation>;
    /// The app's annotations with `from <= day <= to` (either bound optional), by day then
    /// creation time, at most `limit`.
    async fn annotations(
        &self,
        org_id: &OrgId,
        app_id: &AppId,
        from: Option<unmogrowp_domain::Day>,
        to: Option<unmogrowp_domain::Day>,
        limit: u32,
    ) -> Result<Vec<Annotation>>;
    async fn annotation(
        &self,
        org_id: &OrgId,
        app_id: &AppId,
        id: &unmogrowp_domain::AnnotationId,
    ) -> Result<Option<Annotation>>;
    async fn delete_annotation(
        &self,
        org_id: &OrgId,
        app_id: &AppId,
        id: &unmogrowp_domain::AnnotationId,
    ) -> Result<()>;
}

/// Changes to an organization's links and postbacks, and a delivery retried by hand. Each
/// answers [`crate::StorageError::NotFound`] for an object not of this organization and app.
#[async_trait::async_trait]
pub(crate) trait ChangesBackend: Send + Sync {
    /// Scrubs the app's deliveries with these ids: the URL becomes [`crate::ERASED_URL`], and a
    /// pending one fails (with the reason) instead of being sent. Returns how many were
    /// scrubbed.
    async fn scrub_deliveries(&self, org_id: &OrgId, app_id: &AppId, ids: &[String])
    -> Result<u64>;
    /// A page of the app's deliveries as `(id, url)`, ids after `after` in order.
    async fn delivery_urls(
        &self,
        org_id: &OrgId,
        app_id: &AppId,
        after: &str,
        limit: u32,
    ) -> Result<Vec<(String, String)>>;
    async fn update_link(
        &self,
        org_id: &OrgId,
        app_id: &AppId,
        link_id: &LinkId,
        patch: LinkPatch,
    ) -> Result<Link>;
    async fn delete_link(&self, org_id: &OrgId, app_id: &AppId, link_id: &LinkId) -> Result<()>;
    async fn update_postback(
        &self,
        org_id: &OrgId,
        app_id: &AppId,
        postback_id: &str,
        patch: PostbackPatch,
    ) -> Result<Postback>;
    async fn delete_postback(
        &self,
        org_id: &OrgId,
        app_id: &AppId,
        postback_id: &str,
    ) -> Result<()>;
    /// Sets a failed delivery pending again, due now ([`crate::StorageError::Refused`] when it
    /// is not failed).
    async fn retry_delivery(
        &self,
        org_id: &OrgId,
        app_id: &AppId,
        delivery_id: &str,
    ) -> Result<Delivery>;
}

/// An organization's API tokens; the lookup by hash and the last-use stamp serve every
/// request that sends one, across organizations.
#[async_trait::async_trait]
pub(crate) trait ApiTokensBackend: Send + Sync {
    async fn create_api_token(
        &self,
        org_id: &OrgId,
        token: &crate::NewApiToken,
        created_by: &UserId,
    ) -> Result<crate::ApiToken>;
    /// The organization's tokens, revoked and expired ones included, oldest first.
    async fn api_tokens(&self, org_id: &OrgId) -> Result<Vec<crate::ApiToken>>;
    /// Revokes the token (revoking again keeps the first time) and returns it;
    /// [`crate::StorageError::NotFound`] for a token not of this organization.
    async fn revoke_api_token(
        &self,
        org_id: &OrgId,
        id: &unmogrowp_domain::ApiTokenId,
    ) -> Result<crate::ApiToken>;
    async fn api_token_by_hash(&self, token_hash: &str) -> Result<Option<crate::ApiToken>>;
    async fn touch_api_token(
        &self,
        id: &unmogrowp_domain::ApiTokenId,
        at: unmogrowp_domain::time::UnixMillis,
    ) -> Result<()>;
}

/// Wrapped data keys ([`crate::Vault`]) and sealing rows written before encryption.
#[async_trait::async_trait]
pub(crate) trait KeysBackend: Send + Sync {
    /// The scope's wrapped key: `(master_version, wrapped)`.
    async fn data_key(&self, scope: &str) -> Result<Option<(u32, String)>>;
    /// Stores a new key unless the scope has one already, or the organization it names does
    /// not exist; `true` when stored.
    async fn insert_data_key(
        &self,
        scope: &str,
        org_id: Option<&OrgId>,
        master_version: u32,
        wrapped: &str,
    ) -> Result<bool>;
    /// Every wrapped key: `(scope, master_version, wrapped)`.
    async fn data_keys(&self) -> Result<Vec<(String, u32, String)>>;
    /// Replaces a key's wrapping if it is still under `old_version`; `true` when replaced.
    async fn rewrap_data_key(
        &self,
        scope: &str,
        old_version: u32,
        new_version: u32,
        wrapped: &str,
    ) -> Result<bool>;
    /// Deletes the organization, everything of it in the OLTP store and its data key.
    async fn delete_organization(&self, org_id: &OrgId) -> Result<()>;
    /// Up to `limit` rows whose `column` is not sealed yet: `(id, org_id, value)`.
    async fn unsealed(
        &self,
        column: crate::queries::keys::SealedColumn,
        limit: u32,
    ) -> Result<Vec<(String, Option<String>, String)>>;
    /// Replaces a row's plain value by its sealed form (if it is still `plain`).
    async fn seal_row(
        &self,
        column: crate::queries::keys::SealedColumn,
        id: &str,
        plain: &str,
        sealed: &str,
    ) -> Result<()>;
}

#[async_trait::async_trait]
pub(crate) trait StoreBackend:
    AccountsBackend
    + TenantBackend
    + AppsBackend
    + ErasuresBackend
    + ChangesBackend
    + AnnotationsBackend
    + ApiTokensBackend
    + crate::skan::SkanBackend
    + KeysBackend
    + 'static
{
    fn kind(&self) -> Backend;
    async fn ping(&self) -> Result<()>;
    async fn close(&self);
}
