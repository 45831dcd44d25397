//! Chart annotations as the OLTP store keeps them.

use unmogrowp_domain::time::UnixMillis;
use unmogrowp_domain::{OrgId, UserId};

/// A note pinned to a date of an app's charts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Annotation {
    /// The annotation's id.
    pub id: unmogrowp_domain::AnnotationId,
    /// The organization that owns the app.
    pub org_id: OrgId,
    /// The app whose charts show it.
    pub app_id: unmogrowp_domain::AppId,
    /// The chart date it is pinned to.
    pub day: unmogrowp_domain::Day,
    /// What it says (1 to 280 characters, checked by the caller).
    pub text: String,
    /// Who wrote it (`None` once the user is gone).
    pub created_by: Option<UserId>,
    /// The author's display name as it is now (`None` once the user is gone).
    pub author_name: Option<String>,
    /// When it was written, in milliseconds since the Unix epoch.
    pub created_at: UnixMillis,
}
