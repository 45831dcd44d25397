//! The public face of the store: opening it, and the narrow handles callers work through.

use crate::backend::StoreBackend;
use crate::model::*;
use crate::{Result, StorageError, migrate, postgres, sqlite};
use std::path::PathBuf;
use std::sync::Arc;
use unmogrowp_domain::time::UnixMillis;
use unmogrowp_domain::{AppId, InvitationId, KeyId, LinkId, OrgId, SessionId, UserId};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// How to reach the store. With no `database_url`, SQLite in `data_dir` is used.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    /// A read replica for queries that tolerate a little lag (PostgreSQL only).
    pub replica_url: Option<String>,
    pub max_connections: u32,
    pub statement_timeout_ms: u64,
    /// The PostgreSQL role the application switches to after connecting. It owns no table,
    /// so row-level security applies to it even when the login role is a superuser.
    /// `None` keeps the login role (then RLS only binds if that role is not an owner).
    pub app_role: Option<String>,
}

impl StoreOptions {
    pub fn embedded(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            database_url: None,
            replica_url: None,
            max_connections: 8,
            statement_timeout_ms: 10_000,
            app_role: Some("unmogrowp_app".to_owned()),
        }
    }

    pub fn backend(&self) -> Result<Backend> {
        match self.database_url.as_deref() {
            None | Some("") => Ok(Backend::Sqlite),
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Ok(Backend::Postgres)
            }
            Some(url) if url.starts_with("sqlite:") => Ok(Backend::Sqlite),
            Some(_) => Err(StorageError::Unavailable(
                "database_url must start with postgres:// (or be unset for SQLite in the data dir)"
                    .to_owned(),
            )),
        }
    }
}

/// The OLTP store. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<dyn StoreBackend>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("backend", &self.inner.kind()).finish()
    }
}

impl Store {
    /// Applies pending migrations, then opens the connection pools.
    pub async fn open(options: &StoreOptions) -> Result<Self> {
        migrate::run(options).await?;
        Self::open_without_migrating(options).await
    }

    pub async fn open_without_migrating(options: &StoreOptions) -> Result<Self> {
        let inner: Arc<dyn StoreBackend> = match options.backend()? {
            Backend::Sqlite => Arc::new(sqlite::SqliteStore::open(options).await?),
            Backend::Postgres => Arc::new(postgres::PgStore::open(options).await?),
        };
        Ok(Self { inner })
    }

    /// Applies pending migrations without opening the store (`unmogrowp migrate`).
    pub async fn migrate(options: &StoreOptions) -> Result<migrate::MigrationReport> {
        migrate::run(options).await
    }

    pub fn backend(&self) -> Backend {
        self.inner.kind()
    }

    /// Answers when the database (and the replica, if any) answers a trivial query.
    pub async fn ping(&self) -> Result<()> {
        self.inner.ping().await
    }

    pub async fn close(&self) {
        self.inner.close().await;
    }

    pub fn accounts(&self) -> Accounts<'_> {
        Accounts { backend: self.inner.as_ref() }
    }

    /// Lookups by app token or key id, for collection endpoints and workers.
    pub fn credentials(&self) -> Credentials<'_> {
        Credentials { backend: self.inner.as_ref() }
    }

    /// The handle for one organization's rows at role level `L` ([`crate::tenant::AsViewer`],
    /// `AsMember`, `AsAdmin`, `AsOwner`), or `None` when the membership's role is below it. It takes
    /// a [`Membership`], which only the store makes, so code can only act in an organization
    /// it has proved the user belongs to, and only as far as the role goes: the handle's type
    /// has only the methods its level may call.
    pub fn tenant<L: crate::tenant::Level>(
        &self,
        membership: &Membership,
    ) -> Option<crate::tenant::Tenant<'_, L>> {
        crate::tenant::Tenant::new(self.inner.as_ref(), membership)
    }

    /// The handle every member has: reads, leaving, and audit entries.
    pub fn reader(
        &self,
        membership: &Membership,
    ) -> crate::tenant::Tenant<'_, crate::tenant::AsViewer> {
        crate::tenant::Tenant::new(self.inner.as_ref(), membership)
            .unwrap_or_else(|| unreachable!("every role is at least a viewer"))
    }
}

/// Users and their memberships, sessions and tokens: rows that belong to a person, not to
/// one organization.
#[derive(Clone, Copy)]
pub struct Accounts<'a> {
    backend: &'a dyn StoreBackend,
}

impl Accounts<'_> {
    /// Creates a user, a new organization and the user's owner membership, atomically.
    pub async fn register_owner(
        &self,
        new_user: NewUser,
        organization_name: &str,
    ) -> Result<(User, Organization, Membership)> {
        self.backend.register_owner(new_user, organization_name).await
    }

    pub async fn credentials_by_email(&self, email: &str) -> Result<Option<UserCredentials>> {
        self.backend.user_credentials_by_email(email).await
    }

    pub async fn credentials_by_id(&self, user_id: &UserId) -> Result<Option<UserCredentials>> {
        self.backend.user_credentials_by_id(user_id).await
    }

    pub async fn user(&self, user_id: &UserId) -> Result<Option<User>> {
        self.backend.user_by_id(user_id).await
    }

    /// Every organization the user belongs to, oldest membership first.
    pub async fn memberships(&self, user_id: &UserId) -> Result<Vec<OrganizationMembership>> {
        self.backend.memberships_of(user_id).await
    }

    /// The user's membership in one organization, if any.
    pub async fn membership(&self, user_id: &UserId, org_id: &OrgId) -> Result<Option<Membership>> {
        self.backend.membership(user_id, org_id).await
    }

    pub async fn set_password(&self, user_id: &UserId, password_hash: &str) -> Result<()> {
        self.backend.set_password(user_id, password_hash).await
    }

    pub async fn create_session(&self, session: NewSession) -> Result<Session> {
        self.backend.create_session(session).await
    }

    pub async fn session(&self, session_id: &SessionId) -> Result<Option<Session>> {
        self.backend.session(session_id).await
    }

    pub async fn revoke_session(&self, session_id: &SessionId, reason: &str) -> Result<()> {
        self.backend.revoke_session(session_id, reason).await
    }

    /// Ends every session of the user; returns the ids that were active.
    pub async fn revoke_user_sessions(
        &self,
        user_id: &UserId,
        reason: &str,
    ) -> Result<Vec<SessionId>> {
        self.backend.revoke_user_sessions(user_id, reason).await
    }

    pub async fn add_refresh_token(
        &self,
        token_hash: &str,
        session_id: &SessionId,
        org_id: &OrgId,
    ) -> Result<()> {
        self.backend.add_refresh_token(token_hash, session_id, org_id).await
    }

    /// Uses up a refresh token. Presenting an already used token revokes its session.
    pub async fn use_refresh_token(&self, token_hash: &str) -> Result<RefreshOutcome> {
        self.backend.use_refresh_token(token_hash).await
    }

    pub async fn add_one_time_token(
        &self,
        token_hash: &str,
        purpose: &str,
        user_id: &UserId,
        expires_at: UnixMillis,
    ) -> Result<()> {
        self.backend.add_one_time_token(token_hash, purpose, user_id, expires_at).await
    }

    pub async fn count_one_time_tokens(
        &self,
        user_id: &UserId,
        purpose: &str,
        since: UnixMillis,
    ) -> Result<u64> {
        self.backend.count_one_time_tokens(user_id, purpose, since).await
    }

    /// Uses up an unexpired, unused token; `None` when there is no such token.
    pub async fn use_one_time_token(
        &self,
        token_hash: &str,
        purpose: &str,
    ) -> Result<Option<UserId>> {
        self.backend.use_one_time_token(token_hash, purpose).await
    }

    pub async fn invitation_by_token(&self, token_hash: &str) -> Result<Option<Invitation>> {
        self.backend.invitation_by_token(token_hash).await
    }

    /// Marks the invitation accepted and adds the membership (creating the user when new),
    /// atomically. Refused when the invitation was used or expired meanwhile.
    pub async fn accept_invitation(
        &self,
        invitation_id: &InvitationId,
        acceptor: Acceptor,
    ) -> Result<(User, Membership)> {
        self.backend.accept_invitation(invitation_id, acceptor).await
    }

    /// Records a security event tied to no organization (or to one, by id, for events that
    /// happen before anyone has a membership: a failed login of a known user).
    pub async fn audit(&self, org_id: Option<&OrgId>, entry: NewAuditEntry) -> Result<()> {
        self.backend.audit(org_id, entry).await
    }
}

/// Lookups across organizations by unguessable credentials (an app token, a key id) for the
/// collection endpoints, and the app list for workers that serve every tenant. Nothing here
/// answers a management request.
#[derive(Clone, Copy)]
pub struct Credentials<'a> {
    backend: &'a dyn StoreBackend,
}

impl Credentials<'_> {
    pub async fn app_by_token(&self, app_token: &str) -> Result<Option<App>> {
        self.backend.app_by_token(app_token).await
    }

    pub async fn app(&self, app_id: &AppId) -> Result<Option<App>> {
        self.backend.app_by_id_unscoped(app_id).await
    }

    pub async fn key(&self, key_id: &KeyId) -> Result<Option<AppKey>> {
        self.backend.key_by_id(key_id).await
    }

    pub async fn link(&self, link_id: &LinkId) -> Result<Option<Link>> {
        self.backend.link_by_id(link_id).await
    }

    pub async fn all_apps(&self) -> Result<Vec<App>> {
        self.backend.all_apps().await
    }

    /// An app's postbacks, for the worker that enqueues deliveries.
    pub async fn postbacks(&self, app_id: &AppId) -> Result<Vec<Postback>> {
        self.backend.postbacks_unscoped(app_id).await
    }

    /// Adds deliveries; one already enqueued under the same key is left alone.
    pub async fn enqueue_deliveries(&self, deliveries: &[NewDelivery]) -> Result<u64> {
        self.backend.enqueue_deliveries(deliveries).await
    }

    /// Takes up to `limit` due deliveries, leasing them until `lease_until`.
    pub async fn claim_deliveries(
        &self,
        now: UnixMillis,
        lease_until: UnixMillis,
        limit: u32,
    ) -> Result<Vec<Delivery>> {
        self.backend.claim_deliveries(now, lease_until, limit).await
    }

    pub async fn finish_delivery(&self, id: &str, outcome: &AttemptOutcome) -> Result<()> {
        self.backend.finish_delivery(id, outcome).await
    }

    /// An organization's blocked IP ranges, for the attribution worker.
    pub async fn blocked_ranges(&self, org_id: &OrgId) -> Result<Vec<String>> {
        self.backend.blocked_ranges_unscoped(org_id).await
    }
}
