//! Typed identifiers. Every id is a UUID (version 7, so ids sort by creation time) carried as
//! text, which both SQLite and PostgreSQL store and index the same way.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! typed_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// A fresh, time-ordered id.
            pub fn generate() -> Self {
                Self(uuid::Uuid::now_v7().to_string())
            }

            /// Parses an id given by a client; anything that is not a UUID is refused so that
            /// malformed ids never reach a query.
            pub fn parse(raw: &str) -> Option<Self> {
                uuid::Uuid::try_parse(raw).ok().map(|id| Self(id.hyphenated().to_string()))
            }

            /// Wraps a value read back from storage, which was written by `generate`.
            pub fn from_stored(raw: String) -> Self {
                Self(raw)
            }

            /// The id as text: a hyphenated lower-case UUID for ids made by `generate` or
            /// `parse`.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The id as an owned string (the same text as `as_str`).
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }
    };
}

typed_id!(
    /// An organization's long-lived API token.
    ApiTokenId
);
typed_id!(
    /// An organization (tenant).
    OrgId
);
typed_id!(
    /// A user account; a user may belong to several organizations.
    UserId
);
typed_id!(
    /// A login session; access and refresh tokens name it.
    SessionId
);
typed_id!(
    /// An app registered by an organization.
    AppId
);
typed_id!(
    /// A server-to-server signing key of an app.
    KeyId
);
typed_id!(
    /// An invitation to join an organization.
    InvitationId
);
typed_id!(
    /// An entry of the audit log.
    AuditId
);
typed_id!(
    /// A tracking link.
    LinkId
);
typed_id!(
    /// A request to erase a device's data (GDPR article 17) or an app's events.
    ErasureId
);
typed_id!(
    /// A note pinned to a date of an app's charts ("campaign paused", "new build").
    AnnotationId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_accepts_uuids_and_normalises_them() {
        let id = OrgId::parse("0190A5B4-3C2D-7E8F-9A0B-1C2D3E4F5A6B").map(OrgId::into_string);
        assert_eq!(id.as_deref(), Some("0190a5b4-3c2d-7e8f-9a0b-1c2d3e4f5a6b"));
    }

    #[test]
    fn parse_refuses_anything_else() {
        assert!(AppId::parse("").is_none());
        assert!(AppId::parse("1 OR 1=1").is_none());
        assert!(AppId::parse("../etc/passwd").is_none());
    }

    #[test]
    fn generated_ids_sort_by_creation() {
        let first = UserId::generate();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let second = UserId::generate();
        assert!(first < second);
    }
}
