//! Types shared by every part of UnMoGrowP: identifiers, roles and the permission policy,
//! validated values. Nothing in this crate does I/O, so it can be tested and benchmarked alone.
#![warn(missing_docs)]

pub mod app;
pub mod attribution;
pub mod day;
pub mod erasure;
pub mod event;
pub mod hash;
pub mod ids;
pub mod json;
pub mod money;
pub mod net;
pub mod password;
pub mod policy;
pub mod postback;
pub mod skan;
pub mod tenant_label;
pub mod time;
pub mod trace;
pub mod validate;

pub use day::Day;
pub use ids::{
    AnnotationId, ApiTokenId, AppId, AuditId, ErasureId, InvitationId, KeyId, LinkId, OrgId,
    SessionId, UserId,
};
pub use policy::{Action, Role};

/// A position in the event log, shared by the log (where records are appended), the event
/// store (which records how far it has applied the log) and the pipeline between them: 1 is
/// the first record ever appended; 0 means "none".
pub type Offset = u64;
