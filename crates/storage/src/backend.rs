//! The crate-private interface every backend implements. Methods that touch tenant rows take
//! the organization explicitly; only the scoped handles in `store.rs` call them, with the
//! organization from a [`crate::Membership`].

use crate::Result;
use crate::model::*;
use crate::store::Backend;
use unmogrowp_domain::{OrgId, UserId};

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
    Read,
    Write,
}

#[async_trait::async_trait]
pub(crate) trait StoreBackend: Send + Sync + 'static {
    fn kind(&self) -> Backend;
    async fn ping(&self) -> Result<()>;
    async fn close(&self);

    // accounts: rows that belong to a user, not to one organization
    async fn register_owner(
        &self,
        new_user: NewUser,
        organization_name: &str,
    ) -> Result<(User, Organization, Membership)>;
    async fn user_credentials_by_email(&self, email: &str) -> Result<Option<UserCredentials>>;
    async fn user_by_id(&self, user_id: &UserId) -> Result<Option<User>>;
    async fn memberships_of(&self, user_id: &UserId) -> Result<Vec<OrganizationMembership>>;
    async fn membership(&self, user_id: &UserId, org_id: &OrgId) -> Result<Option<Membership>>;

    // tenant rows
    async fn organization(&self, org_id: &OrgId) -> Result<Option<Organization>>;
    async fn members(&self, org_id: &OrgId) -> Result<Vec<Member>>;
}
