//! Roles and the one permission table the whole product consults.
//!
//! `owner` > `admin` > `member` > `viewer`. Every protected operation names an [`Action`];
//! [`Role::allows`] looks the pair up in [`POLICY`]. A test walks every cell.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A member's role in an organization, which decides what they may do there (see
/// [`POLICY`]).
///
/// Roles are ordered by power, `Viewer < Member < Admin < Owner`, and a role may do everything
/// a lesser role may. Text form (serde, [`Role::as_str`], `FromStr`): `viewer`, `member`,
/// `admin`, `owner`. The variant order defines the ordering: keep it.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads everything in the organization (apps, links, postbacks, reports, members)
    /// and changes nothing.
    Viewer,
    /// A viewer who may also manage tracking links and postbacks and run exports.
    Member,
    /// A member who may also manage apps, S2S keys, members and the organization's blocked
    /// IP ranges, and read the audit log; may not manage owners.
    Admin,
    /// May do everything, including managing the organization itself and other owners.
    Owner,
}

impl Role {
    /// Every role, most powerful first.
    pub const ALL: [Role; 4] = [Role::Owner, Role::Admin, Role::Member, Role::Viewer];

    /// The role's text form: `owner`, `admin`, `member` or `viewer` (as serialized, stored
    /// and accepted by `FromStr`).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Member => "member",
            Role::Viewer => "viewer",
        }
    }

    /// Whether this role may perform `action` (looked up in [`POLICY`]).
    pub fn allows(self, action: Action) -> bool {
        POLICY
            .iter()
            .find(|(candidate, _)| *candidate == action)
            .map(|(_, minimum)| self >= *minimum)
            .unwrap_or(false)
    }

    /// Whether a member with this role may give `target` to someone, or change or remove
    /// someone who holds `target`: admins manage members but not owners; owners manage all.
    pub fn can_manage_role(self, target: Role) -> bool {
        match self {
            Role::Owner => true,
            Role::Admin => target != Role::Owner,
            Role::Member | Role::Viewer => false,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing a [`Role`] from text that is not `owner`, `admin`, `member` or
/// `viewer` (exact, lower case); holds the text that was given.
#[derive(Debug, thiserror::Error)]
#[error("unknown role `{0}`: expected owner, admin, member or viewer")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        match raw {
            "owner" => Ok(Role::Owner),
            "admin" => Ok(Role::Admin),
            "member" => Ok(Role::Member),
            "viewer" => Ok(Role::Viewer),
            other => Err(UnknownRole(other.to_owned())),
        }
    }
}

/// Everything a role can be allowed to do inside an organization.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Read apps, links, postbacks, reports, exports, members.
    Read,
    /// Create and change tracking links (members and above).
    ManageLinks,
    /// Create and change postbacks to ad networks (members and above).
    ManagePostbacks,
    /// Download CSV exports of installs and events (members and above).
    RunExports,
    /// Pin annotations to an app's charts and delete them (members and above; a member
    /// deletes only their own, admins any).
    Annotate,
    /// Create, change and delete apps and their attribution settings, and set the
    /// organization's blocked IP ranges (admins and above).
    ManageApps,
    /// Create, list and revoke apps' server-to-server (S2S) signing keys (admins and above).
    ManageKeys,
    /// Invite members, change their roles and remove them (admins and above; see also
    /// [`Role::can_manage_role`]).
    ManageMembers,
    /// Read the organization's audit log (admins and above).
    ReadAuditLog,
    /// Change the organization itself (owners only).
    ManageOrganization,
}

impl Action {
    /// Every action, in declaration order (the order of [`POLICY`]'s rows).
    pub const ALL: [Action; 10] = [
        Action::Read,
        Action::ManageLinks,
        Action::ManagePostbacks,
        Action::RunExports,
        Action::Annotate,
        Action::ManageApps,
        Action::ManageKeys,
        Action::ManageMembers,
        Action::ReadAuditLog,
        Action::ManageOrganization,
    ];
}

/// The least role that may perform each action.
pub const POLICY: [(Action, Role); 10] = [
    (Action::Read, Role::Viewer),
    (Action::ManageLinks, Role::Member),
    (Action::ManagePostbacks, Role::Member),
    (Action::RunExports, Role::Member),
    (Action::Annotate, Role::Member),
    (Action::ManageApps, Role::Admin),
    (Action::ManageKeys, Role::Admin),
    (Action::ManageMembers, Role::Admin),
    (Action::ReadAuditLog, Role::Admin),
    (Action::ManageOrganization, Role::Owner),
];

#[cfg(test)]
mod tests {
    use super::*;

    /// The expected table, written out cell by cell so a change to `POLICY` must be made twice.
    fn expected(role: Role, action: Action) -> bool {
        use Action::*;
        match role {
            Role::Owner => true,
            Role::Admin => !matches!(action, ManageOrganization),
            Role::Member => {
                matches!(action, Read | ManageLinks | ManagePostbacks | RunExports | Annotate)
            }
            Role::Viewer => matches!(action, Read),
        }
    }

    #[test]
    fn every_cell_of_the_policy_table() {
        for role in Role::ALL {
            for action in Action::ALL {
                assert_eq!(role.allows(action), expected(role, action), "{role} × {action:?}");
            }
        }
    }

    #[test]
    fn every_action_has_a_policy_row() {
        for action in Action::ALL {
            assert_eq!(POLICY.iter().filter(|(a, _)| *a == action).count(), 1, "{action:?}");
        }
    }

    #[test]
    fn role_management() {
        assert!(!Role::Admin.can_manage_role(Role::Owner));
        assert!(Role::Admin.can_manage_role(Role::Admin));
        assert!(Role::Owner.can_manage_role(Role::Owner));
        assert!(!Role::Member.can_manage_role(Role::Viewer));
    }

    #[test]
    fn roles_round_trip_as_text() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().ok(), Some(role));
        }
        assert!("superuser".parse::<Role>().is_err());
    }
}
