//! Authentication at the HTTP edge: the extractors that turn a bearer token into an
//! organization-scoped [`Auth`] context (and an app into [`TenantApp`]), and the request's
//! [`ClientInfo`]. Hashing, tokens, sessions and throttling live in the `auth` crate,
//! re-exported here.

pub mod context;

pub use context::{Auth, ClientInfo, TenantApp};
pub use unmogrowp_auth::*;
