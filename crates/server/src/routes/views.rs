//! Response bodies shared by several routes.

use serde::Serialize;
use unmogrowp_domain::time::rfc3339;
use unmogrowp_storage::{App, Organization, User};

#[derive(Serialize, utoipa::ToSchema)]
pub struct UserView {
    pub id: String,
    pub email: String,
    pub name: String,
}

impl From<&User> for UserView {
    fn from(user: &User) -> Self {
        Self { id: user.id.to_string(), email: user.email.clone(), name: user.name.clone() }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct OrganizationView {
    pub id: String,
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
    pub user: UserView,
    pub organization: OrganizationView,
    /// `owner`, `admin`, `member` or `viewer`.
    pub role: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct AppView {
    pub id: String,
    pub name: String,
    pub platform: unmogrowp_domain::app::Platform,
    pub bundle_id: String,
    pub store_url: String,
    /// The token SDKs send as `X-App-Token`.
    pub app_token: String,
    pub attribution: unmogrowp_domain::app::AttributionSettings,
    /// IANA time zone that report days follow.
    pub time_zone: String,
    /// ISO 4217 currency that revenue is reported in.
    pub currency: String,
    pub created_at: String,
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
