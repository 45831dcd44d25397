//! Types shared by every part of UnMoGrowP: identifiers, roles and the permission policy,
//! validated values. Nothing in this crate does I/O, so it can be tested and benchmarked alone.

pub mod app;
pub mod event;
pub mod hash;
pub mod ids;
pub mod money;
pub mod net;
pub mod password;
pub mod policy;
pub mod postback;
pub mod time;
pub mod validate;

pub use ids::{AppId, AuditId, InvitationId, KeyId, LinkId, OrgId, SessionId, UserId};
pub use policy::{Action, Role};
