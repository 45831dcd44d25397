//! Role-typed handles on one organization's rows.
//!
//! A [`Tenant`] is made by [`crate::Store::tenant`] for a [`Membership`] at a role level
//! ([`AsViewer`], [`AsMember`], [`AsAdmin`], [`AsOwner`]) the membership's role reaches. Its type
//! carries the level, and each write method exists only for the levels whose role the
//! permission table ([`unmogrowp_domain::policy::POLICY`]) allows the matching action, so a
//! handler that asked for a viewer's handle cannot call a write method at all: the mistake is
//! a compile error, not a missing check.
//!
//! ```
//! # async fn example(store: &unmogrowp_storage::Store, membership: &unmogrowp_storage::Membership,
//! #                  app_id: &unmogrowp_domain::AppId) {
//! use unmogrowp_storage::tenant::AsAdmin;
//! if let Some(admin) = store.tenant::<AsAdmin>(membership) {
//!     let _ = admin.delete_app(app_id).await;
//! }
//! # }
//! ```
//!
//! A viewer's handle has no `delete_app`:
//!
//! ```compile_fail
//! # async fn example(store: &unmogrowp_storage::Store, membership: &unmogrowp_storage::Membership,
//! #                  app_id: &unmogrowp_domain::AppId) {
//! use unmogrowp_storage::tenant::AsViewer;
//! if let Some(viewer) = store.tenant::<AsViewer>(membership) {
//!     let _ = viewer.delete_app(app_id).await;
//! }
//! # }
//! ```

use crate::Annotation;
use crate::Result;
use crate::StorageError;
use crate::backend::StoreBackend;
use crate::model::*;
use std::marker::PhantomData;
use unmogrowp_domain::{Action, AppId, KeyId, OrgId, Role, UserId};

mod sealed {
    pub trait Sealed {}
}

/// A role level a handle is made at.
pub trait Level: sealed::Sealed + Send + Sync + 'static {
    /// The lowest role that reaches this level.
    const ROLE: Role;
}

macro_rules! levels {
    ($($(#[$doc:meta])* $name:ident => $role:expr),* $(,)?) => {$(
        $(#[$doc])*
        #[derive(Clone, Copy, Debug)]
        pub struct $name;
        impl sealed::Sealed for $name {}
        impl Level for $name {
            const ROLE: Role = $role;
        }
    )*};
}

levels! {
    /// Every member: reads.
    AsViewer => Role::Viewer,
    /// Tracking links, postbacks, exports.
    AsMember => Role::Member,
    /// Apps, keys, members, the audit log.
    AsAdmin => Role::Admin,
    /// Everything, including the organization itself.
    AsOwner => Role::Owner,
}

/// Capabilities: a level has one when its role is allowed the capability's action. Written
/// as a table so a test can check it against the permission table.
macro_rules! capabilities {
    ($($(#[$doc:meta])* $name:ident = $action:expr => [$($level:ident),*];)*) => {
        $(
            $(#[$doc])*
            pub trait $name: Level {
                /// The action of the permission table this capability stands for.
                const ACTION: Action;
            }
            $(impl $name for $level { const ACTION: Action = $action; })*
        )*
        /// Each capability's action and the roles of the levels that have it.
        #[cfg(test)]
        const CAPABILITIES: &[(Action, &[Role])] = &[$(($action, &[$($level::ROLE),*])),*];
    };
}

capabilities! {
    /// Create tracking links.
    ManagesLinks = Action::ManageLinks => [AsMember, AsAdmin, AsOwner];
    /// Create postbacks.
    ManagesPostbacks = Action::ManagePostbacks => [AsMember, AsAdmin, AsOwner];
    /// Create, change and delete apps; the organization's blocked IP ranges.
    ManagesApps = Action::ManageApps => [AsAdmin, AsOwner];
    /// Create, list and revoke S2S keys.
    ManagesKeys = Action::ManageKeys => [AsAdmin, AsOwner];
    /// Invite members, change their roles, remove them.
    ManagesMembers = Action::ManageMembers => [AsAdmin, AsOwner];
    /// Read the audit log.
    ReadsAuditLog = Action::ReadAuditLog => [AsAdmin, AsOwner];
    /// Pin annotations to an app's charts and delete them.
    Annotates = Action::Annotate => [AsMember, AsAdmin, AsOwner];
}

/// One organization's rows, reached through a proven [`Membership`], at level `L`.
pub struct Tenant<'a, L: Level> {
    backend: &'a dyn StoreBackend,
    vault: &'a crate::vault::Vault,
    membership: Membership,
    level: PhantomData<L>,
}

impl<L: Level> Clone for Tenant<'_, L> {
    fn clone(&self) -> Self {
        Self {
            backend: self.backend,
            vault: self.vault,
            membership: self.membership.clone(),
            level: PhantomData,
        }
    }
}

impl<'a, L: Level> Tenant<'a, L> {
    pub(crate) fn new(
        backend: &'a dyn StoreBackend,
        vault: &'a crate::vault::Vault,
        membership: &Membership,
    ) -> Option<Self> {
        (membership.role >= L::ROLE).then(|| Self {
            backend,
            vault,
            membership: membership.clone(),
            level: PhantomData,
        })
    }

    /// The membership this handle was made for: its organization, user and role.
    pub fn membership(&self) -> &Membership {
        &self.membership
    }

    fn org(&self) -> &OrgId {
        &self.membership.org_id
    }

    pub(crate) fn org_id(&self) -> &OrgId {
        &self.membership.org_id
    }

    pub(crate) fn backend(&self) -> &dyn StoreBackend {
        self.backend
    }

    async fn key(&self) -> Result<std::sync::Arc<crate::vault::DataKey>> {
        self.vault.org_key_required(self.org()).await
    }

    async fn platform_key(&self) -> Result<std::sync::Arc<crate::vault::DataKey>> {
        self.vault.platform_key().await
    }

    /// The organization's record. [`StorageError::NotFound`] if it no longer exists.
    pub async fn organization(&self) -> Result<Organization> {
        self.backend.organization(self.org()).await?.ok_or(StorageError::NotFound)
    }

    /// The organization's members, oldest membership first.
    pub async fn members(&self) -> Result<Vec<Member>> {
        let key = self.platform_key().await?;
        let members = self.backend.members(self.org()).await?;
        members.into_iter().map(|member| crate::sealing::open_member(&key, member)).collect()
    }

    /// One member of the organization; `None` when the user is not a member of it.
    pub async fn member(&self, user_id: &UserId) -> Result<Option<Member>> {
        let key = self.platform_key().await?;
        let member = self.backend.member(self.org(), user_id).await?;
        member.map(|member| crate::sealing::open_member(&key, member)).transpose()
    }

    /// Removes the caller's own membership (anyone may leave).
    pub async fn leave(&self) -> Result<()> {
        self.backend.remove_member(self.org(), &self.membership.user_id).await
    }

    /// Records an audit entry in this organization (every handle: the record of what was
    /// done is not a permission).
    pub async fn audit(&self, entry: NewAuditEntry) -> Result<()> {
        let key = self.key().await?;
        self.backend.audit(Some(self.org()), crate::sealing::seal_audit(&key, entry)).await
    }

    /// The organization's apps, oldest first.
    pub async fn apps(&self) -> Result<Vec<App>> {
        self.backend.apps(self.org()).await
    }

    /// One of the organization's apps; `None` when there is no such app or it belongs to another
    /// organization.
    pub async fn app(&self, app_id: &AppId) -> Result<Option<App>> {
        self.backend.app(self.org(), app_id).await
    }

    /// The app's tracking links, oldest first; empty when the organization has no such app.
    pub async fn links(&self, app_id: &AppId) -> Result<Vec<Link>> {
        self.backend.links(self.org(), app_id).await
    }

    /// The app's postbacks, oldest first; empty when the organization has no such app.
    pub async fn postbacks(&self, app_id: &AppId) -> Result<Vec<Postback>> {
        let key = self.key().await?;
        let postbacks = self.backend.postbacks(self.org(), app_id).await?;
        postbacks
            .into_iter()
            .map(|postback| crate::sealing::open_postback(&key, postback))
            .collect()
    }

    /// The app's postback deliveries, newest first.
    pub async fn deliveries(&self, app_id: &AppId, limit: u32) -> Result<Vec<Delivery>> {
        let key = self.key().await?;
        let deliveries = self.backend.deliveries(self.org(), app_id, limit).await?;
        deliveries
            .into_iter()
            .map(|delivery| crate::sealing::open_delivery(&key, delivery))
            .collect()
    }

    /// The organization's blocked IP ranges (CIDR text).
    pub async fn blocked_ranges(&self) -> Result<Vec<String>> {
        self.backend.blocked_ranges(self.org()).await
    }

    /// The app's chart annotations with `from <= day <= to` (either bound optional), by day
    /// then creation time, at most `limit`. [`StorageError::NotFound`] when the organization
    /// has no such app.
    pub async fn annotations(
        &self,
        app_id: &AppId,
        from: Option<unmogrowp_domain::Day>,
        to: Option<unmogrowp_domain::Day>,
        limit: u32,
    ) -> Result<Vec<Annotation>> {
        let key = self.platform_key().await?;
        let annotations = self.backend.annotations(self.org(), app_id, from, to, limit).await?;
        annotations.into_iter().map(|a| crate::sealing::open_annotation(&key, a)).collect()
    }

    /// One annotation of the app; `None` when this organization has no such annotation.
    pub async fn annotation(
        &self,
        app_id: &AppId,
        id: &unmogrowp_domain::AnnotationId,
    ) -> Result<Option<Annotation>> {
        let key = self.platform_key().await?;
        let annotation = self.backend.annotation(self.org(), app_id, id).await?;
        annotation.map(|a| crate::sealing::open_annotation(&key, a)).transpose()
    }
}

impl<L: Annotates> Tenant<'_, L> {
    /// Pins `text` (validated by the caller) to `day` of the app's charts, written by the
    /// handle's user at `created_at` (ms). [`StorageError::NotFound`] when the organization
    /// has no such app.
    pub async fn create_annotation(
        &self,
        app_id: &AppId,
        day: unmogrowp_domain::Day,
        text: String,
        created_at: unmogrowp_domain::time::UnixMillis,
    ) -> Result<Annotation> {
        let annotation = Annotation {
            id: unmogrowp_domain::AnnotationId::generate(),
            org_id: self.org().clone(),
            app_id: app_id.clone(),
            day,
            text,
            created_by: Some(self.membership.user_id.clone()),
            author_name: None,
            created_at,
        };
        let key = self.platform_key().await?;
        let created = self.backend.create_annotation(self.org(), &annotation).await?;
        crate::sealing::open_annotation(&key, created)
    }

    /// Deletes an annotation of the app (who may delete whose is the caller's rule).
    /// [`StorageError::NotFound`] when this organization has no such annotation.
    pub async fn delete_annotation(
        &self,
        app_id: &AppId,
        id: &unmogrowp_domain::AnnotationId,
    ) -> Result<()> {
        self.backend.delete_annotation(self.org(), app_id, id).await
    }
}

impl<L: ManagesMembers> Tenant<'_, L> {
    /// Gives a member another role.
    ///
    /// [`StorageError::NotFound`] when the user is not a member; [`StorageError::Refused`] when it
    /// would leave the organization without an owner. Whether the caller may grant `role` at all
    /// (e.g. an admin making someone owner) is for the caller to check.
    pub async fn set_member_role(&self, user_id: &UserId, role: Role) -> Result<()> {
        self.backend.set_member_role(self.org(), user_id, role).await
    }

    /// Removes a member from the organization.
    ///
    /// [`StorageError::NotFound`] when the user is not a member; [`StorageError::Refused`] when
    /// they are its last owner.
    pub async fn remove_member(&self, user_id: &UserId) -> Result<()> {
        self.backend.remove_member(self.org(), user_id).await
    }

    /// Records an invitation to this organization and returns it (with a fresh id, `created_at` now
    /// and not yet accepted).
    pub async fn create_invitation(&self, invitation: NewInvitation) -> Result<Invitation> {
        let key = self.key().await?;
        let mut invitation = invitation;
        invitation.email =
            crate::vault::seal(&key, crate::vault::INVITATION_EMAIL, &invitation.email);
        let created = self.backend.create_invitation(self.org(), invitation).await?;
        crate::sealing::open_invitation(&key, created)
    }

    /// The organization's invitations, newest first, accepted and expired ones included.
    pub async fn invitations(&self) -> Result<Vec<Invitation>> {
        let key = self.key().await?;
        let invitations = self.backend.invitations(self.org()).await?;
        invitations.into_iter().map(|i| crate::sealing::open_invitation(&key, i)).collect()
    }
}

impl<L: ReadsAuditLog> Tenant<'_, L> {
    /// The organization's audit entries that match `filter`, newest first, at most `filter.limit`
    /// of them.
    pub async fn audit_log(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>> {
        let key = self.key().await?;
        let actor = filter
            .actor
            .as_deref()
            .map(|actor| crate::vault::seal(&key, crate::vault::AUDIT_ACTOR, actor));
        let entries = self.backend.audit_log(self.org(), filter, actor.as_deref()).await?;
        entries.into_iter().map(|entry| crate::sealing::open_audit(&key, entry)).collect()
    }
}

impl<L: ManagesApps> Tenant<'_, L> {
    /// Registers an app in the organization and returns it, with a fresh id.
    ///
    /// [`StorageError::Conflict`] (`"app token"`) when the app token is already in use.
    pub async fn create_app(&self, app: NewApp) -> Result<App> {
        self.backend.create_app(self.org(), app).await
    }

    /// Changes the fields set in `patch`, sets `updated_at` to now and returns the updated app.
    ///
    /// [`StorageError::NotFound`] when the organization has no such app.
    pub async fn update_app(&self, app_id: &AppId, patch: AppPatch) -> Result<App> {
        self.backend.update_app(self.org(), app_id, patch).await
    }

    /// Deletes the app together with its keys, links, postbacks and deliveries.
    ///
    /// [`StorageError::NotFound`] when the organization has no such app.
    pub async fn delete_app(&self, app_id: &AppId) -> Result<()> {
        self.backend.delete_app(self.org(), app_id).await
    }

    /// Replaces the organization's blocked IP ranges.
    pub async fn set_blocked_ranges(&self, ranges: &[String]) -> Result<()> {
        self.backend.set_blocked_ranges(self.org(), ranges).await
    }

    /// Records the request `id` to erase a device's data from the app, made by the handle's
    /// user at `requested_at` (ms). Nothing of the device is kept.
    ///
    /// [`StorageError::NotFound`] when the organization has no such app.
    pub async fn create_erasure(
        &self,
        app_id: &AppId,
        id: &unmogrowp_domain::ErasureId,
        requested_at: unmogrowp_domain::time::UnixMillis,
    ) -> Result<ErasureRequest> {
        let user = &self.membership.user_id;
        self.backend.create_erasure(self.org(), app_id, id, user, requested_at).await
    }

    /// An erasure request of the app; `None` when the organization has no such request.
    pub async fn erasure(
        &self,
        app_id: &AppId,
        id: &unmogrowp_domain::ErasureId,
    ) -> Result<Option<ErasureRequest>> {
        self.backend.erasure(self.org(), app_id, id).await
    }
}

impl<L: ManagesKeys> Tenant<'_, L> {
    /// Stores a new API token of the organization, made by the handle's user. The caller
    /// made the token, hashed it, and checked the name, the role (never above the caller's)
    /// and the expiry.
    pub async fn create_api_token(&self, token: &crate::NewApiToken) -> Result<crate::ApiToken> {
        self.backend.create_api_token(self.org(), token, &self.membership.user_id).await
    }

    /// The organization's API tokens, revoked and expired ones included, oldest first.
    pub async fn api_tokens(&self) -> Result<Vec<crate::ApiToken>> {
        self.backend.api_tokens(self.org()).await
    }

    /// Revokes the token now (revoking again keeps the first time) and returns it.
    ///
    /// [`StorageError::NotFound`] when the organization has no such token.
    pub async fn revoke_api_token(
        &self,
        id: &unmogrowp_domain::ApiTokenId,
    ) -> Result<crate::ApiToken> {
        self.backend.revoke_api_token(self.org(), id).await
    }

    /// Creates an S2S key for the app with `nonce` (from which, with the master key, its secret is
    /// derived) and `name` (validated by the caller; may be empty), recording the handle's user
    /// as its creator.
    ///
    /// [`StorageError::NotFound`] when the organization has no such app.
    pub async fn create_key(&self, app_id: &AppId, nonce: &str, name: &str) -> Result<AppKey> {
        let user = &self.membership.user_id;
        let key = self.key().await?;
        let sealed = crate::vault::seal(&key, crate::vault::KEY_NONCE, nonce);
        let created = self.backend.create_key(self.org(), app_id, &sealed, name, user).await?;
        crate::sealing::open_key(&key, created)
    }

    /// The app's S2S keys, revoked ones included, oldest first; empty when the organization has no
    /// such app.
    pub async fn keys(&self, app_id: &AppId) -> Result<Vec<AppKey>> {
        let key = self.key().await?;
        let keys = self.backend.keys(self.org(), app_id).await?;
        keys.into_iter().map(|app_key| crate::sealing::open_key(&key, app_key)).collect()
    }

    /// Revokes the key now; revoking it again keeps the first time.
    ///
    /// [`StorageError::NotFound`] when the key is not one of this app's in this organization.
    pub async fn revoke_key(&self, app_id: &AppId, key_id: &KeyId) -> Result<()> {
        self.backend.revoke_key(self.org(), app_id, key_id).await
    }
}

impl<L: ManagesLinks> Tenant<'_, L> {
    /// Creates a tracking link for the app, recording the handle's user as its creator.
    ///
    /// [`StorageError::NotFound`] when the organization has no such app.
    pub async fn create_link(&self, app_id: &AppId, link: NewLink) -> Result<Link> {
        self.backend.create_link(self.org(), app_id, link, &self.membership.user_id).await
    }

    /// Changes the fields set in `patch` and returns the link. Touchpoints recorded before keep
    /// the network and campaign they were recorded with.
    ///
    /// [`StorageError::NotFound`] when the app has no such link in this organization.
    pub async fn update_link(
        &self,
        app_id: &AppId,
        link_id: &unmogrowp_domain::LinkId,
        patch: LinkPatch,
    ) -> Result<Link> {
        self.backend.update_link(self.org(), app_id, link_id, patch).await
    }

    /// Deletes the link: its click and impression URLs stop recording (404).
    ///
    /// [`StorageError::NotFound`] when the app has no such link in this organization.
    pub async fn delete_link(
        &self,
        app_id: &AppId,
        link_id: &unmogrowp_domain::LinkId,
    ) -> Result<()> {
        self.backend.delete_link(self.org(), app_id, link_id).await
    }
}

impl<L: ManagesPostbacks> Tenant<'_, L> {
    /// Creates a postback for the app, recording the handle's user as its creator.
    ///
    /// [`StorageError::NotFound`] when the organization has no such app.
    pub async fn create_postback(&self, app_id: &AppId, postback: NewPostback) -> Result<Postback> {
        let key = self.key().await?;
        let mut postback = postback;
        postback.url_template =
            crate::vault::seal(&key, crate::vault::POSTBACK_URL, &postback.url_template);
        let created = self
            .backend
            .create_postback(self.org(), app_id, postback, &self.membership.user_id)
            .await?;
        crate::sealing::open_postback(&key, created)
    }

    /// Changes the fields set in `patch` and returns the postback; deliveries already queued
    /// keep their URL.
    ///
    /// [`StorageError::NotFound`] when the app has no such postback in this organization.
    pub async fn update_postback(
        &self,
        app_id: &AppId,
        postback_id: &str,
        patch: PostbackPatch,
    ) -> Result<Postback> {
        let key = self.key().await?;
        let mut patch = patch;
        patch.url_template = patch
            .url_template
            .map(|url| crate::vault::seal(&key, crate::vault::POSTBACK_URL, &url));
        let updated = self.backend.update_postback(self.org(), app_id, postback_id, patch).await?;
        crate::sealing::open_postback(&key, updated)
    }

    /// Deletes the postback and its deliveries (pending ones are not sent).
    ///
    /// [`StorageError::NotFound`] when the app has no such postback in this organization.
    pub async fn delete_postback(&self, app_id: &AppId, postback_id: &str) -> Result<()> {
        self.backend.delete_postback(self.org(), app_id, postback_id).await
    }

    /// Sets a failed delivery pending again, due now: it gets one more attempt.
    ///
    /// [`StorageError::NotFound`] when the app has no such delivery in this organization;
    /// [`StorageError::Refused`] when it is not failed.
    pub async fn retry_delivery(&self, app_id: &AppId, delivery_id: &str) -> Result<Delivery> {
        let key = self.key().await?;
        let delivery = self.backend.retry_delivery(self.org(), app_id, delivery_id).await?;
        crate::sealing::open_delivery(&key, delivery)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The capability table grants each action to exactly the levels whose role the
    /// permission table allows it.
    #[test]
    fn capabilities_match_the_permission_table() {
        let levels = [AsViewer::ROLE, AsMember::ROLE, AsAdmin::ROLE, AsOwner::ROLE];
        for (action, granted) in CAPABILITIES {
            for role in levels {
                assert_eq!(
                    granted.contains(&role),
                    role.allows(*action),
                    "{action:?} for {role:?}"
                );
            }
        }
        assert_eq!(CAPABILITIES.len(), 7);
    }
}
