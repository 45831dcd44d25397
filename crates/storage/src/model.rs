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
