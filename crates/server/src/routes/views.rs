//! Response bodies shared by several routes.

use serde::Serialize;
use unmogrowp_domain::time::rfc3339;
use unmogrowp_storage::{App, Organization, User};

/// A user account.
#[derive(Serialize, utoipa::ToSchema)]
pub struct UserView {
    /// The user's id.
    pub id: String,
    /// The user's email address (in lower case).
    pub email: String,
    /// The user's display name.
    pub name: String,
}

impl From<&User> for UserView {
    fn from(user: &User) -> Self {
        Self { id: user.id.to_string(), email: user.email.clone(), name: user.name.clone() }
    }
}

/// An organization.
#[derive(Serialize, utoipa::ToSchema)]
pub struct OrganizationView {
    /// The organization's id.
    pub id: String,
    /// The organization's name.
    pub name: String,
}

impl From<&Organization> for OrganizationView {
    fn from(organization: &Organization) -> Self {
        Self { id: organization.id.to_string(), name: organization.name.clone() }
    }
}

/// What register, login, refresh and accept-invitation answer.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AuthResponse {
    /// A short-lived JWT for `Authorization: Bearer`.
    pub access_token: String,
    /// Exchange it at `/api/v1/auth/refresh` for a new pair; it works once.
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// The signed-in user.
    pub user: UserView,
    /// The organization the tokens act in. On sign-in, the one the user joined first; send
    /// `X-Org-Id` to act in another.
    pub organization: OrganizationView,
    /// `owner`, `admin`, `member` or `viewer`.
    pub role: String,
}

/// A registered app.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AppView {
    /// The app's id.
    pub id: String,
    /// The app's display name.
    pub name: String,
    /// The platform: `android` or `ios`.
    pub platform: unmogrowp_domain::app::Platform,
    /// The Android package name or iOS bundle id.
    pub bundle_id: String,
    /// The app's store page, where tracking links send users.
    pub store_url: String,
    /// The token SDKs send as `X-App-Token`.
    pub app_token: String,
    /// The app's attribution settings (windows in hours or days, fraud thresholds).
    pub attribution: unmogrowp_domain::app::AttributionSettings,
    /// IANA time zone that report days follow.
    pub time_zone: String,
    /// ISO 4217 currency that revenue is reported in.
    pub currency: String,
    /// When the app was registered (RFC 3339, UTC).
    pub created_at: String,
    /// When the app was last changed (RFC 3339, UTC).
    pub updated_at: String,
}

impl From<&App> for AppView {
    fn from(app: &App) -> Self {
        Self {
            id: app.id.to_string(),
            name: app.name.clone(),
            platform: app.platform,
            bundle_id: app.bundle_id.clone(),
            store_url: app.store_url.clone(),
            app_token: app.app_token.clone(),
            attribution: app.attribution,
            time_zone: app.time_zone.clone(),
            currency: app.currency.clone(),
            created_at: rfc3339(app.created_at),
            updated_at: rfc3339(app.updated_at),
        }
    }
}
