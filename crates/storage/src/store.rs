//! The public face of the store: opening it, and the narrow handles callers work through.

use crate::backend::StoreBackend;
use crate::model::*;
use crate::{Result, StorageError, migrate, postgres, sqlite};
use std::path::PathBuf;
use std::sync::Arc;
use unmogrowp_domain::time::UnixMillis;
use unmogrowp_domain::{AppId, InvitationId, KeyId, LinkId, OrgId, SessionId, UserId};

/// Which database the store runs on; chosen by [`StoreOptions::backend`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// SQLite, in the file `unmogrowp.db` in the data dir.
    Sqlite,
    /// PostgreSQL, reached by a `postgres://` or `postgresql://` URL.
    Postgres,
}

impl Backend {
    /// The backend's name: `"sqlite"` or `"postgres"`.
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
    /// The directory of the SQLite database (`unmogrowp.db`); it is created if missing. Not used
    /// with PostgreSQL.
    pub data_dir: PathBuf,
    /// A `postgres://` or `postgresql://` URL selects PostgreSQL. `None` or an empty string selects
    /// SQLite in `data_dir` (so does a `sqlite:` URL, whose path is ignored); any other scheme is
    /// refused by [`StoreOptions::backend`].
    pub database_url: Option<String>,
    /// A read replica for queries that tolerate a little lag (PostgreSQL only).
    pub replica_url: Option<String>,
    /// Size of each connection pool (at least 1): PostgreSQL's primary and replica pools, or
    /// SQLite's reader pool (SQLite always writes through a single connection).
    pub max_connections: u32,
    /// PostgreSQL `statement_timeout` for the application's connections, in milliseconds; 0 sets
    /// none. Not used by SQLite, nor while migrating.
    pub statement_timeout_ms: u64,
    /// Statements slower than this many milliseconds are logged by sqlx as warnings (target
    /// `sqlx::query`, with the statement, `elapsed_secs` and rows).
    pub slow_statement_ms: u64,
    /// The PostgreSQL role the application switches to after connecting. It owns no table,
    /// so row-level security applies to it even when the login role is a superuser.
    /// `None` keeps the login role (then RLS only binds if that role is not an owner).
    pub app_role: Option<String>,
    /// The master key ring that wraps the data keys (see [`crate::vault`]). `None` reads the
    /// key file `master.keys` in `data_dir`, made with a fresh key on first start (every node
    /// of a cluster must then share that file or configure the same ring).
    pub master_keys: Option<Arc<crate::vault::MasterKeys>>,
}

impl StoreOptions {
    /// Options for SQLite in `data_dir`: up to 8 reader connections, slow statements from 100 ms,
    /// a 10 s statement timeout and
    /// the application role `unmogrowp_app` (the last two matter only if a PostgreSQL
    /// `database_url` is set afterwards).
    pub fn embedded(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            database_url: None,
            replica_url: None,
            max_connections: 8,
            statement_timeout_ms: 10_000,
            slow_statement_ms: 100,
            app_role: Some("unmogrowp_app".to_owned()),
            master_keys: None,
        }
    }

    /// The backend these options select (see [`database_url`](Self::database_url)).
    ///
    /// Fails with [`StorageError::Unavailable`] when `database_url` is neither a PostgreSQL URL nor
    /// empty or `sqlite:`.
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
    vault: Arc<crate::vault::Vault>,
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

    /// Opens the connection pools without looking at the schema, for when migrations are run
    /// separately (see [`Store::migrate`]).
    ///
    /// Fails with [`StorageError::Unavailable`] when the options select no backend or the database
    /// cannot be reached (PostgreSQL's primary, and replica if any, are pinged before this
    /// returns).
    pub async fn open_without_migrating(options: &StoreOptions) -> Result<Self> {
        let inner: Arc<dyn StoreBackend> = match options.backend()? {
            Backend::Sqlite => Arc::new(sqlite::SqliteStore::open(options).await?),
            Backend::Postgres => Arc::new(postgres::PgStore::open(options).await?),
        };
        let master = match &options.master_keys {
            Some(master) => master.clone(),
            None => Arc::new(
                crate::vault::MasterKeys::load(
                    None,
                    &options.data_dir.join(unmogrowp_vault::KEY_FILE),
                )
                .map_err(|error| StorageError::Unexpected(anyhow::Error::new(error)))?,
            ),
        };
        let vault = Arc::new(crate::vault::Vault::new(inner.clone(), master));
        // A ring that does not open this database's keys (a node configured apart from the
        // others) fails here, at start, rather than on every request.
        vault.platform_key().await.map_err(|error| {
            StorageError::Unexpected(anyhow::anyhow!(
                "{error:#}: every node sharing this database needs the same master key ring (encryption.master_keys)"
            ))
        })?;
        vault.seal_legacy_rows().await?;
        Ok(Self { inner, vault })
    }

    /// Applies pending migrations without opening the store (`unmogrowp migrate`).
    pub async fn migrate(options: &StoreOptions) -> Result<migrate::MigrationReport> {
        migrate::run(options).await
    }

    /// The data keys: what sealing code outside the OLTP store (the event store) uses.
    pub fn vault(&self) -> Arc<crate::vault::Vault> {
        self.vault.clone()
    }

    /// Deletes the organization with everything it has in the OLTP store, and destroys its
    /// data key: what was sealed under it, anywhere (the event store's device identifiers
    /// and IPs included), can no longer be read (crypto-shredding).
    ///
    /// [`StorageError::NotFound`] when there is no such organization.
    pub async fn delete_organization(&self, org_id: &OrgId) -> Result<()> {
        self.inner.delete_organization(org_id).await?;
        self.vault.forget(org_id);
        Ok(())
    }

    /// Which database this store runs on.
    pub fn backend(&self) -> Backend {
        self.inner.kind()
    }

    /// Answers when the database (and the replica, if any) answers a trivial query.
    pub async fn ping(&self) -> Result<()> {
        self.inner.ping().await
    }

    /// Closes the connection pools, waiting for connections in use to come back. The store must not
    /// be used afterwards.
    pub async fn close(&self) {
        self.inner.close().await;
    }

    /// The handle for users, sessions, tokens and invitation acceptance: rows that belong to a
    /// person rather than to one organization.
    pub fn accounts(&self) -> Accounts<'_> {
        Accounts { backend: self.inner.as_ref(), vault: &self.vault }
    }

    /// Lookups by app token or key id, for collection endpoints and workers.
    pub fn credentials(&self) -> Credentials<'_> {
        Credentials { backend: self.inner.as_ref(), vault: &self.vault }
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
        crate::tenant::Tenant::new(self.inner.as_ref(), &self.vault, membership)
    }

    /// The handle every member has: reads, leaving, and audit entries.
    pub fn reader(
        &self,
        membership: &Membership,
    ) -> crate::tenant::Tenant<'_, crate::tenant::AsViewer> {
        crate::tenant::Tenant::new(self.inner.as_ref(), &self.vault, membership)
            .unwrap_or_else(|| unreachable!("every role is at least a viewer"))
    }
}

/// Users and their memberships, sessions and tokens: rows that belong to a person, not to
/// one organization.
#[derive(Clone, Copy)]
pub struct Accounts<'a> {
    backend: &'a dyn StoreBackend,
    vault: &'a crate::vault::Vault,
}

impl Accounts<'_> {
    /// Creates a user, a new organization and the user's owner membership, atomically.
    pub async fn register_owner(
        &self,
        new_user: NewUser,
        organization_name: &str,
    ) -> Result<(User, Organization, Membership)> {
        let key = self.vault.platform_key().await?;
        let (user, organization, membership) = self
            .backend
            .register_owner(crate::sealing::seal_new_user(&key, new_user), organization_name)
            .await?;
        Ok((crate::sealing::open_user(&key, user)?, organization, membership))
    }

    /// The account with this email and its password hash, for logging in; `None` when there is
    /// none. The email is matched exactly, so pass it normalised (trimmed, lower case). Always
    /// reads the primary, never a replica.
    pub async fn credentials_by_email(&self, email: &str) -> Result<Option<UserCredentials>> {
        let key = self.vault.platform_key().await?;
        let sealed = crate::vault::seal(&key, crate::vault::USER_EMAIL, email);
        self.backend
            .user_credentials_by_email(&sealed)
            .await?
            .map(|credentials| crate::sealing::open_credentials(&key, credentials))
            .transpose()
    }

    /// The account and its password hash by user id (e.g. to check the current password before a
    /// change); `None` when there is no such user.
    pub async fn credentials_by_id(&self, user_id: &UserId) -> Result<Option<UserCredentials>> {
        let key = self.vault.platform_key().await?;
        self.backend
            .user_credentials_by_id(user_id)
            .await?
            .map(|credentials| crate::sealing::open_credentials(&key, credentials))
            .transpose()
    }

    /// The user's account; `None` when there is no such user. May be answered by a read replica.
    pub async fn user(&self, user_id: &UserId) -> Result<Option<User>> {
        let key = self.vault.platform_key().await?;
        self.backend
            .user_by_id(user_id)
            .await?
            .map(|user| crate::sealing::open_user(&key, user))
            .transpose()
    }

    /// Every organization the user belongs to, oldest membership first.
    pub async fn memberships(&self, user_id: &UserId) -> Result<Vec<OrganizationMembership>> {
        self.backend.memberships_of(user_id).await
    }

    /// The user's membership in one organization, if any.
    pub async fn membership(&self, user_id: &UserId, org_id: &OrgId) -> Result<Option<Membership>> {
        self.backend.membership(user_id, org_id).await
    }

    /// Stores a new password hash and sets `password_changed_at` to now. Sessions are left as they
    /// are (see [`Accounts::revoke_user_sessions`]).
    ///
    /// [`StorageError::NotFound`] when the user does not exist.
    pub async fn set_password(&self, user_id: &UserId, password_hash: &str) -> Result<()> {
        self.backend.set_password(user_id, password_hash).await
    }

    /// Creates an organization (name validated by the caller) with the user as its owner.
    pub async fn create_organization(
        &self,
        user_id: &UserId,
        name: &str,
    ) -> Result<(Organization, Membership)> {
        self.backend.create_organization(user_id, name).await
    }

    /// Changes the user's display name (validated by the caller).
    ///
    /// [`StorageError::NotFound`] when the user does not exist.
    pub async fn set_name(&self, user_id: &UserId, name: &str) -> Result<()> {
        let key = self.vault.platform_key().await?;
        self.backend
            .set_name(user_id, &crate::vault::seal(&key, crate::vault::USER_NAME, name))
            .await
    }

    /// Starts a session with a fresh id and `created_at` set to now, and returns it.
    pub async fn create_session(&self, session: NewSession) -> Result<Session> {
        let key = self.vault.platform_key().await?;
        let created =
            self.backend.create_session(crate::sealing::seal_session(&key, session)).await?;
        crate::sealing::open_session(&key, created)
    }

    /// The session with this id, whether active or not (see [`Session::is_active`]); `None` when
    /// there is none.
    pub async fn session(&self, session_id: &SessionId) -> Result<Option<Session>> {
        let key = self.vault.platform_key().await?;
        let session = self.backend.session(session_id).await?;
        session.map(|session| crate::sealing::open_session(&key, session)).transpose()
    }

    /// Revokes the session now, recording `reason` (e.g. `logout`). Does nothing when it is already
    /// revoked or does not exist.
    pub async fn revoke_session(&self, session_id: &SessionId, reason: &str) -> Result<()> {
        self.backend.revoke_session(session_id, reason).await
    }

    /// Ends every session of the user but `keep` (the one asking); returns the ids that were
    /// active.
    pub async fn revoke_other_sessions(
        &self,
        user_id: &UserId,
        keep: &SessionId,
        reason: &str,
    ) -> Result<Vec<SessionId>> {
        self.backend.revoke_other_sessions(user_id, keep, reason).await
    }

    /// Ends every session of the user; returns the ids that were active.
    pub async fn revoke_user_sessions(
        &self,
        user_id: &UserId,
        reason: &str,
    ) -> Result<Vec<SessionId>> {
        self.backend.revoke_user_sessions(user_id, reason).await
    }

    /// Records a refresh token, by its hash, as issued for `session_id` and for access to `org_id`.
    /// The hash must be new: a duplicate fails with [`StorageError::Conflict`].
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

    /// Records a single-use token, by its hash, for `purpose` (e.g. `password_reset`), usable by
    /// the user until `expires_at` (milliseconds since the Unix epoch, exclusive). The hash must be
    /// new.
    pub async fn add_one_time_token(
        &self,
        token_hash: &str,
        purpose: &str,
        user_id: &UserId,
        expires_at: UnixMillis,
    ) -> Result<()> {
        self.backend.add_one_time_token(token_hash, purpose, user_id, expires_at).await
    }

    /// How many tokens of `purpose` were issued to the user at or after `since` (milliseconds since
    /// the Unix epoch), for rate limiting.
    pub async fn count_one_time_tokens(
        &self,
        user_id: &UserId,
        purpose: &str,
        since: UnixMillis,
    ) -> Result<u64> {
        self.backend.count_one_time_tokens(user_id, purpose, since).await
    }

    /// The user of an unexpired, unused token, leaving it unused (a cheap check before costly
    /// work); `None` when it is unknown, used or expired.
    pub async fn one_time_token_user(
        &self,
        token_hash: &str,
        purpose: &str,
    ) -> Result<Option<UserId>> {
        self.backend.one_time_token_user(token_hash, purpose).await
    }

    /// Uses up an unexpired, unused token and returns its user, atomically (two concurrent
    /// uses cannot both succeed); `None` when it is unknown, used or expired.
    pub async fn use_one_time_token(
        &self,
        token_hash: &str,
        purpose: &str,
    ) -> Result<Option<UserId>> {
        self.backend.use_one_time_token(token_hash, purpose).await
    }

    /// The invitation whose token has this hash, whether open, accepted or expired (the caller
    /// checks); `None` when there is none.
    pub async fn invitation_by_token(&self, token_hash: &str) -> Result<Option<Invitation>> {
        let Some(invitation) = self.backend.invitation_by_token(token_hash).await? else {
            return Ok(None);
        };
        let Some(key) = self.vault.org_key(&invitation.org_id).await? else { return Ok(None) };
        crate::sealing::open_invitation(&key, invitation).map(Some)
    }

    /// Marks the invitation accepted and adds the membership (creating the user when new),
    /// atomically. Refused when the invitation was used or expired meanwhile.
    pub async fn accept_invitation(
        &self,
        invitation_id: &InvitationId,
        acceptor: Acceptor,
    ) -> Result<(User, Membership)> {
        let key = self.vault.platform_key().await?;
        let acceptor = match acceptor {
            Acceptor::New(new_user) => Acceptor::New(crate::sealing::seal_new_user(&key, new_user)),
            existing => existing,
        };
        let (user, membership) = self.backend.accept_invitation(invitation_id, acceptor).await?;
        Ok((crate::sealing::open_user(&key, user)?, membership))
    }

    /// Records a security event tied to no organization (or to one, by id, for events that
    /// happen before anyone has a membership: a failed login of a known user).
    pub async fn audit(&self, org_id: Option<&OrgId>, entry: NewAuditEntry) -> Result<()> {
        let key = match org_id {
            Some(org_id) => self.vault.org_key_required(org_id).await?,
            None => self.vault.platform_key().await?,
        };
        self.backend.audit(org_id, crate::sealing::seal_audit(&key, entry)).await
    }
}

/// Lookups across organizations by unguessable credentials (an app token, a key id) for the
/// collection endpoints, and the app list for workers that serve every tenant. Nothing here
/// answers a management request.
#[derive(Clone, Copy)]
pub struct Credentials<'a> {
    pub(crate) backend: &'a dyn StoreBackend,
    vault: &'a crate::vault::Vault,
}

impl Credentials<'_> {
    /// The app whose SDK token this is, in any organization; `None` when there is none.
    pub async fn app_by_token(&self, app_token: &str) -> Result<Option<App>> {
        self.backend.app_by_token(app_token).await
    }

    /// The app with this id, in any organization; `None` when there is none. For collection
    /// endpoints and workers: management requests go through a [`Tenant`](crate::Tenant).
    pub async fn app(&self, app_id: &AppId) -> Result<Option<App>> {
        self.backend.app_by_id_unscoped(app_id).await
    }

    /// The API token whose SHA-256 hash (lowercase hex) is `token_hash`, in any organization,
    /// with the membership requests sending it act under (its organization, its creator, its
    /// role); `None` when there is none. Revoked and expired tokens are returned too: check
    /// [`crate::ApiToken::usable_at`].
    pub async fn api_token(
        &self,
        token_hash: &str,
    ) -> Result<Option<(crate::ApiToken, crate::Membership)>> {
        Ok(self.backend.api_token_by_hash(token_hash).await?.map(|token| {
            let membership = crate::Membership {
                org_id: token.org_id.clone(),
                user_id: token.created_by.clone(),
                role: token.role,
            };
            (token, membership)
        }))
    }

    /// Records that the token was used at `at` (ms); an earlier time never overwrites a later.
    pub async fn touch_api_token(
        &self,
        id: &unmogrowp_domain::ApiTokenId,
        at: unmogrowp_domain::time::UnixMillis,
    ) -> Result<()> {
        self.backend.touch_api_token(id, at).await
    }

    /// The S2S key with this id, in any organization, revoked or not (check `revoked_at`); `None`
    /// when there is none.
    pub async fn key(&self, key_id: &KeyId) -> Result<Option<AppKey>> {
        let Some(app_key) = self.backend.key_by_id(key_id).await? else { return Ok(None) };
        let Some(key) = self.vault.org_key(&app_key.org_id).await? else { return Ok(None) };
        crate::sealing::open_key(&key, app_key).map(Some)
    }

    /// The tracking link with this id, in any organization, for the click and impression endpoints;
    /// `None` when there is none.
    pub async fn link(&self, link_id: &LinkId) -> Result<Option<Link>> {
        self.backend.link_by_id(link_id).await
    }

    /// Every app of every organization, oldest first, for workers that serve all tenants.
    pub async fn all_apps(&self) -> Result<Vec<App>> {
        self.backend.all_apps().await
    }

    /// An app's postbacks, for the worker that enqueues deliveries.
    pub async fn postbacks(&self, app_id: &AppId) -> Result<Vec<Postback>> {
        let postbacks = self.backend.postbacks_unscoped(app_id).await?;
        let Some(first) = postbacks.first() else { return Ok(postbacks) };
        let Some(key) = self.vault.org_key(&first.org_id).await? else { return Ok(Vec::new()) };
        postbacks
            .into_iter()
            .map(|postback| crate::sealing::open_postback(&key, postback))
            .collect()
    }

    /// Scrubs the app's postback deliveries whose URL names one of the device identifier
    /// `values` (an erasure): their URL becomes [`crate::ERASED_URL`], and pending ones fail
    /// instead of being sent (a retry by hand is refused). Returns how many were scrubbed.
    pub async fn scrub_deliveries(
        &self,
        org_id: &unmogrowp_domain::OrgId,
        app_id: &AppId,
        values: &[String],
    ) -> Result<u64> {
        let Some(key) = self.vault.org_key(org_id).await? else { return Ok(0) };
        crate::sealing::scrub_deliveries(self.backend, &key, org_id, app_id, values).await
    }

    /// Adds deliveries; one already enqueued under the same key is left alone.
    pub async fn enqueue_deliveries(&self, deliveries: &[NewDelivery]) -> Result<u64> {
        let mut sealed = Vec::with_capacity(deliveries.len());
        for delivery in deliveries {
            let Some(key) = self.vault.org_key(&delivery.org_id).await? else { continue };
            let mut delivery = delivery.clone();
            delivery.url = crate::vault::seal(&key, crate::vault::DELIVERY_URL, &delivery.url);
            sealed.push(delivery);
        }
        self.backend.enqueue_deliveries(&sealed).await
    }

    /// Takes up to `limit` due deliveries, leasing them until `lease_until`.
    pub async fn claim_deliveries(
        &self,
        now: UnixMillis,
        lease_until: UnixMillis,
        limit: u32,
    ) -> Result<Vec<Delivery>> {
        let claimed = self.backend.claim_deliveries(now, lease_until, limit).await?;
        let mut opened = Vec::with_capacity(claimed.len());
        for delivery in claimed {
            // An organization deleted meanwhile: its deliveries went with it.
            let Some(key) = self.vault.org_key(&delivery.org_id).await? else { continue };
            opened.push(crate::sealing::open_delivery(&key, delivery)?);
        }
        Ok(opened)
    }

    /// Records how an attempt at delivery `id` ended: its status, attempt count, last error and
    /// next attempt time (see [`AttemptOutcome`]). Does nothing for an unknown id.
    pub async fn finish_delivery(&self, id: &str, outcome: &AttemptOutcome) -> Result<()> {
        self.backend.finish_delivery(id, outcome).await
    }

    /// An organization's blocked IP ranges, for the attribution worker.
    pub async fn blocked_ranges(&self, org_id: &OrgId) -> Result<Vec<String>> {
        self.backend.blocked_ranges_unscoped(org_id).await
    }
}
