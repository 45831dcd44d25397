//! The public face of the store: opening it, and the narrow handles callers work through.

use crate::backend::StoreBackend;
use crate::model::*;
use crate::{Result, StorageError, migrate, postgres, sqlite};
use std::path::PathBuf;
use std::sync::Arc;
use unmogrowp_domain::UserId;

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

    /// The handle for one organization's rows. It takes a [`Membership`], which only the
    /// store makes, so code can only act in an organization it has proved the user belongs to.
    pub fn tenant<'a>(&'a self, membership: &Membership) -> Tenant<'a> {
        Tenant { backend: self.inner.as_ref(), membership: membership.clone() }
    }
}

/// Users and their memberships: rows that belong to a person, not to one organization.
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

    pub async fn user(&self, user_id: &UserId) -> Result<Option<User>> {
        self.backend.user_by_id(user_id).await
    }

    /// Every organization the user belongs to, oldest membership first.
    pub async fn memberships(&self, user_id: &UserId) -> Result<Vec<OrganizationMembership>> {
        self.backend.memberships_of(user_id).await
    }

    /// The user's membership in one organization, if any.
    pub async fn membership(
        &self,
        user_id: &UserId,
        org_id: &unmogrowp_domain::OrgId,
    ) -> Result<Option<Membership>> {
        self.backend.membership(user_id, org_id).await
    }
}

/// One organization's rows, reached through a proven [`Membership`].
#[derive(Clone)]
pub struct Tenant<'a> {
    backend: &'a dyn StoreBackend,
    membership: Membership,
}

impl Tenant<'_> {
    pub fn membership(&self) -> &Membership {
        &self.membership
    }

    pub async fn organization(&self) -> Result<Organization> {
        self.backend.organization(&self.membership.org_id).await?.ok_or(StorageError::NotFound)
    }

    pub async fn members(&self) -> Result<Vec<Member>> {
        self.backend.members(&self.membership.org_id).await
    }
}
