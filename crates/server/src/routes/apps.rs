//! Apps, their attribution settings, and their server-to-server keys.

use crate::audit::Audit;
use crate::auth::{Auth, ClientInfo, TenantApp};
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::routes::views::AppView;
use crate::secrets::{base64url, hmac_sha256, random_token};
use crate::shared::Invalidation;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use unmogrowp_domain::app::{
    AttributionSettings, Platform, validate_app_name, validate_bundle_id, validate_currency,
    validate_store_url,
};
use unmogrowp_domain::time::rfc3339;
use unmogrowp_domain::validate::FieldErrors;
use unmogrowp_domain::{AppId, KeyId};
use unmogrowp_storage::tenant::{AsAdmin, AsViewer};
use unmogrowp_storage::{AppKey, AppPatch, NewApp};

pub(crate) fn parse_app_id(raw: &str) -> Result<AppId, ApiError> {
    AppId::parse(raw).ok_or_else(|| ApiError::not_found("app"))
}

fn validate_time_zone(field: &str, name: &str, errors: &mut FieldErrors) {
    if jiff::tz::TimeZone::get(name).is_err() {
        errors.push(field, "must be an IANA time zone such as UTC or Europe/Berlin");
    }
}

/// The secret of an S2S key: derived from the server's master key, the key id and its
/// nonce, so it is never stored.
pub(crate) fn s2s_secret(master: &[u8; 32], key: &AppKey) -> String {
    let material = format!("{}:{}", key.id, key.nonce);
    format!("sk_{}", base64url(&hmac_sha256(master, material.as_bytes())))
}

/// An app to register.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAppRequest {
    /// The app's display name: 1 to 100 characters (surrounding spaces are trimmed).
    pub name: String,
    /// `android` or `ios`.
    pub platform: String,
    /// The package name (Android) or bundle id (iOS).
    pub bundle_id: String,
    /// Where tracking links send users (the app's store page).
    pub store_url: String,
    /// Report days follow this IANA time zone (default `UTC`).
    pub time_zone: Option<String>,
    /// Revenue is reported in this ISO 4217 currency (default `USD`).
    pub currency: Option<String>,
    /// Attribution settings (defaults apply to fields left out).
    pub attribution: Option<AttributionPatch>,
}

/// Attribution settings to change; fields left out keep their value.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttributionPatch {
    /// How many hours before an install a click can win it by click id or device id: 1 to 720
    /// (default 168, that is 7 days).
    pub click_window_hours: Option<u32>,
    /// How many hours before an install an impression can win it (view-through): 0 to 168 (default
    /// 24).
    pub view_window_hours: Option<u32>,
    /// How many hours before an install a click can win it by IP address and user agent
    /// (probabilistic match): 0 to 168 (default 24).
    pub probabilistic_window_hours: Option<u32>,
    /// Re-attribution window in days, 0 to 365 (default 90): a device that installs again within
    /// this many days of its previous install is a re-install and keeps its original source; a
    /// later install is attributed afresh.
    pub reattribution_window_days: Option<u32>,
    /// Re-engagement window in days, 0 to 365 (default 30): after an app open through a retargeting
    /// link, the device's opens, sessions and in-app events for this many days are credited to that
    /// link instead of the install's source.
    pub reengagement_window_days: Option<u32>,
    /// Minimum click-to-install time in seconds, 0 to 3600 (default 10): an install that comes
    /// sooner than this after its winning click is rejected as `click_injection`.
    pub min_ctit_seconds: Option<u32>,
    /// Clicks per hour from one device or IP address above which that source's further clicks are
    /// flagged as `click_flood` (and never credited): 1 to 1000000 (default 100).
    pub click_flood_threshold_per_hour: Option<u32>,
}

impl AttributionPatch {
    fn apply(&self, mut settings: AttributionSettings) -> AttributionSettings {
        let fields = [
            (self.click_window_hours, &mut settings.click_window_hours),
            (self.view_window_hours, &mut settings.view_window_hours),
            (self.probabilistic_window_hours, &mut settings.probabilistic_window_hours),
            (self.reattribution_window_days, &mut settings.reattribution_window_days),
            (self.reengagement_window_days, &mut settings.reengagement_window_days),
            (self.min_ctit_seconds, &mut settings.min_ctit_seconds),
            (self.click_flood_threshold_per_hour, &mut settings.click_flood_threshold_per_hour),
        ];
        for (given, slot) in fields {
            if let Some(value) = given {
                *slot = value;
            }
        }
        settings
    }
}

/// Registers an app; the answer carries its `app_token` for SDKs.
#[utoipa::path(post, path = "/api/v1/apps", tag = "apps", security(("bearer" = [])), request_body = CreateAppRequest,
    responses(
        (status = 201, description = "Created", body = AppView),
        (status = 400, description = "Invalid fields", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
        (status = 403, description = "Admins and owners only", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
    ))]
pub async fn create_app(
    State(state): State<AppState>,
    auth: Auth,
    client: ClientInfo,
    ApiJson(request): ApiJson<CreateAppRequest>,
) -> ApiResult<(StatusCode, Json<AppView>)> {
    let tenant = auth.tenant::<AsAdmin>(&state.store)?;
    let mut errors = FieldErrors::new();
    validate_app_name(&request.name, &mut errors);
    let platform = Platform::parse(&request.platform);
    match platform {
        Some(platform) => validate_bundle_id(platform, request.bundle_id.trim(), &mut errors),
        None => errors.push("platform", "must be android or ios"),
    }
    validate_store_url(
        request.store_url.trim(),
        &state.config.security.store_url_hosts,
        &mut errors,
    );
    let time_zone = request.time_zone.clone().unwrap_or_else(|| "UTC".to_owned());
    validate_time_zone("time_zone", &time_zone, &mut errors);
    let currency = request.currency.clone().unwrap_or_else(|| "USD".to_owned());
    validate_currency("currency", &currency, &mut errors);
    let attribution =
        request.attribution.as_ref().map_or_else(AttributionSettings::default, |patch| {
            patch.apply(AttributionSettings::default())
        });
    attribution.validate(&mut errors);
    let Some(platform) = platform.filter(|_| errors.is_empty()) else {
        return Err(ApiError::validation(errors.into_vec()));
    };
    let app = tenant
        .create_app(NewApp {
            name: request.name.trim().to_owned(),
            platform,
            bundle_id: request.bundle_id.trim().to_owned(),
            store_url: request.store_url.trim().to_owned(),
            app_token: crate::secrets::app_token(),
            attribution,
            time_zone,
            currency,
        })
        .await?;
    Audit::new("app.created", &client)
        .by(&auth)
        .target(format!("app:{}", app.id))
        .details(&serde_json::json!({ "name": app.name, "platform": app.platform.as_str(), "bundle_id": app.bundle_id }))
        .record(&state.store, &auth)
        .await;
    Ok((StatusCode::CREATED, Json(AppView::from(&app))))
}

/// The organization's apps.
#[utoipa::path(get, path = "/api/v1/apps", tag = "apps", security(("bearer" = [])),
    responses((status = 200, description = "Apps", body = [AppView])))]
pub async fn list_apps(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<Vec<AppView>>> {
    let apps = auth.tenant::<AsViewer>(&state.store)?.apps().await?;
    Ok(Json(apps.iter().map(AppView::from).collect()))
}

/// One app.
#[utoipa::path(get, path = "/api/v1/apps/{app_id}", tag = "apps", security(("bearer" = [])),
    params(("app_id" = String, Path, description = "The app's id")),
    responses((status = 200, description = "The app", body = AppView),
              (status = 404, description = "No such app in this organization", body = crate::error::ProblemDocument, content_type = "application/problem+json")))]
pub async fn get_app(TenantApp { app, .. }: TenantApp<AsViewer>) -> ApiResult<Json<AppView>> {
    Ok(Json(AppView::from(&app)))
}

/// Changes to an app. Fields left out keep their value.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateAppRequest {
    /// The new display name: 1 to 100 characters (surrounding spaces are trimmed).
    pub name: Option<String>,
    /// The new store URL tracking links send users to: an absolute http or https URL.
    pub store_url: Option<String>,
    /// Attribution settings to change; settings left out keep their current value, and each is
    /// checked against its range.
    pub attribution: Option<AttributionPatch>,
    /// The new IANA time zone that report days follow, such as `UTC` or `Europe/Berlin`.
    pub time_zone: Option<String>,
    /// The new ISO 4217 currency that revenue is reported in: three upper-case letters such as
    /// `EUR`.
    pub currency: Option<String>,
}

/// Changes an app's name, store URL, time zone, currency or attribution settings (fields
/// left out keep their value; each setting is checked against its range).
#[utoipa::path(patch, path = "/api/v1/apps/{app_id}", tag = "apps", security(("bearer" = [])),
    params(("app_id" = String, Path, description = "The app's id")), request_body = UpdateAppRequest,
    responses(
        (status = 200, description = "Updated", body = AppView),
        (status = 400, description = "Invalid fields", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
        (status = 404, description = "No such app in this organization", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
    ))]
pub async fn update_app(
    State(state): State<AppState>,
    auth: Auth,
    client: ClientInfo,
    Path(app_id): Path<String>,
    ApiJson(request): ApiJson<UpdateAppRequest>,
) -> ApiResult<Json<AppView>> {
    let tenant = auth.tenant::<AsAdmin>(&state.store)?;
    let app_id = parse_app_id(&app_id)?;
    let current = tenant.app(&app_id).await?.ok_or_else(|| ApiError::not_found("app"))?;
    let mut errors = FieldErrors::new();
    if let Some(name) = &request.name {
        validate_app_name(name, &mut errors);
    }
    if let Some(url) = &request.store_url {
        validate_store_url(url.trim(), &state.config.security.store_url_hosts, &mut errors);
    }
    if let Some(zone) = &request.time_zone {
        validate_time_zone("time_zone", zone, &mut errors);
    }
    if let Some(currency) = &request.currency {
        validate_currency("currency", currency, &mut errors);
    }
    let attribution = request.attribution.as_ref().map(|patch| patch.apply(current.attribution));
    if let Some(settings) = &attribution {
        settings.validate(&mut errors);
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors.into_vec()));
    }
    let updated = tenant
        .update_app(
            &app_id,
            AppPatch {
                name: request.name.as_deref().map(str::trim).map(str::to_owned),
                store_url: request.store_url.as_deref().map(str::trim).map(str::to_owned),
                attribution,
                time_zone: request.time_zone.clone(),
                currency: request.currency.clone(),
            },
        )
        .await?;
    state
        .invalidate(Invalidation::App {
            id: updated.id.to_string(),
            token: updated.app_token.clone(),
        })
        .await;
    Audit::new("app.settings_changed", &client)
        .by(&auth)
        .target(format!("app:{app_id}"))
        .details(&serde_json::json!({
            "before": { "name": current.name, "store_url": current.store_url, "time_zone": current.time_zone,
                        "currency": current.currency, "attribution": current.attribution },
            "after": { "name": updated.name, "store_url": updated.store_url, "time_zone": updated.time_zone,
                       "currency": updated.currency, "attribution": updated.attribution },
        }))
        .record(&state.store, &auth)
        .await;
    Ok(Json(AppView::from(&updated)))
}

/// Deletes an app; its token and keys stop working at once, and everything it stored (events,
/// decisions, reports, quarantined events) is erased from the event store in log order.
#[utoipa::path(delete, path = "/api/v1/apps/{app_id}", tag = "apps", security(("bearer" = [])),
    params(("app_id" = String, Path, description = "The app's id")),
    responses((status = 204, description = "Deleted"),
              (status = 404, description = "No such app in this organization", body = crate::error::ProblemDocument, content_type = "application/problem+json")))]
pub async fn delete_app(
    State(state): State<AppState>,
    auth: Auth,
    client: ClientInfo,
    Path(app_id): Path<String>,
) -> ApiResult<StatusCode> {
    let tenant = auth.tenant::<AsAdmin>(&state.store)?;
    let app_id = parse_app_id(&app_id)?;
    let app = tenant.app(&app_id).await?.ok_or_else(|| ApiError::not_found("app"))?;
    tenant.delete_app(&app_id).await?;
    state
        .invalidate(Invalidation::App { id: app.id.to_string(), token: app.app_token.clone() })
        .await;
    crate::routes::erasures::erase_deleted_app(&state, &app.org_id, &app.id).await;
    Audit::new("app.deleted", &client)
        .by(&auth)
        .target(format!("app:{app_id}"))
        .record(&state.store, &auth)
        .await;
    Ok(StatusCode::NO_CONTENT)
}

/// What to call a new key (the body may be left out: an unnamed key).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKeyRequest {
    /// What the key is for, e.g. `billing server`: up to 100 characters without control
    /// characters (surrounding spaces are trimmed); empty or left out for none.
    #[schema(
        pattern = r"^[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*([^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]([^\x00-\x1f\x7f-\x9f]{0,98}[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000])?)?[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub name: Option<String>,
}

/// A new server-to-server signing key, with its secret.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CreatedKeyView {
    /// Send it as `X-Key-Id`.
    pub id: String,
    /// What the key is for (empty when unnamed).
    pub name: String,
    /// The app whose events the key signs.
    pub app_id: String,
    /// The HMAC-SHA256 signing secret. Shown this once: it is not stored.
    pub secret: String,
    /// When the key was created (RFC 3339, UTC).
    pub created_at: String,
}

/// A server-to-server signing key. Its secret is never shown again after creation.
#[derive(Serialize, utoipa::ToSchema)]
pub struct KeyView {
    /// The key's id, sent as `X-Key-Id` with signed requests.
    pub id: String,
    /// What the key is for (empty when unnamed).
    pub name: String,
    /// The app whose events the key signs.
    pub app_id: String,
    /// When the key was created (RFC 3339, UTC).
    pub created_at: String,
    /// The user id of the member who created the key; null when not recorded.
    pub created_by: Option<String>,
    /// When the key was revoked (RFC 3339, UTC); null while it is valid. Requests signed with a
    /// revoked key are refused.
    pub revoked_at: Option<String>,
}

/// Creates a server-to-server signing key. Its secret is in this answer only.
#[utoipa::path(post, path = "/api/v1/apps/{app_id}/keys", tag = "apps", security(("bearer" = [])),
    params(("app_id" = String, Path, description = "The app's id")),
    request_body(content = Option<CreateKeyRequest>, description = "Optional: the key's name"),
    responses(
        (status = 201, description = "Created; the secret is shown once", body = CreatedKeyView),
        (status = 403, description = "Admins and owners only", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
        (status = 404, description = "No such app in this organization", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
    ))]
pub async fn create_key(
    State(state): State<AppState>,
    auth: Auth,
    client: ClientInfo,
    Path(app_id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<(StatusCode, Json<CreatedKeyView>)> {
    let tenant = auth.tenant::<AsAdmin>(&state.store)?;
    let app_id = parse_app_id(&app_id)?;
    let request: CreateKeyRequest = if body.iter().all(u8::is_ascii_whitespace) {
        CreateKeyRequest { name: None }
    } else {
        unmogrowp_domain::json::parse(&body)?
    };
    let mut errors = FieldErrors::new();
    let name = request.name.as_deref().unwrap_or_default().trim().to_owned();
    if name.chars().count() > 100 {
        errors.push("name", "must be at most 100 characters");
    } else if name.chars().any(char::is_control) {
        errors.push("name", "must not contain control characters");
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors.into_vec()));
    }
    let key = tenant.create_key(&app_id, &random_token(16), &name).await?;
    Audit::new("key.created", &client)
        .by(&auth)
        .target(format!("key:{}", key.id))
        .details(&serde_json::json!({ "app_id": app_id.to_string() }))
        .record(&state.store, &auth)
        .await;
    Ok((
        StatusCode::CREATED,
        Json(CreatedKeyView {
            id: key.id.to_string(),
            name: key.name.clone(),
            app_id: key.app_id.to_string(),
            secret: s2s_secret(&state.auth.keys.s2s, &key),
            created_at: rfc3339(key.created_at),
        }),
    ))
}

/// The app's keys (without secrets).
#[utoipa::path(get, path = "/api/v1/apps/{app_id}/keys", tag = "apps", security(("bearer" = [])),
    params(("app_id" = String, Path, description = "The app's id")),
    responses((status = 200, description = "Keys", body = [KeyView])))]
pub async fn list_keys(found: TenantApp<AsAdmin>) -> ApiResult<Json<Vec<KeyView>>> {
    let keys = found.tenant().keys(&found.app.id).await?;
    Ok(Json(
        keys.iter()
            .map(|key| KeyView {
                id: key.id.to_string(),
                name: key.name.clone(),
                app_id: key.app_id.to_string(),
                created_at: rfc3339(key.created_at),
                created_by: key.created_by.as_ref().map(ToString::to_string),
                revoked_at: key.revoked_at.map(rfc3339),
            })
            .collect(),
    ))
}

/// Revokes a key; requests signed with it are refused from now on.
#[utoipa::path(delete, path = "/api/v1/apps/{app_id}/keys/{key_id}", tag = "apps", security(("bearer" = [])),
    params(("app_id" = String, Path, description = "The app's id"), ("key_id" = String, Path, description = "The key's id")),
    responses((status = 204, description = "Revoked"),
              (status = 404, description = "No such key", body = crate::error::ProblemDocument, content_type = "application/problem+json")))]
pub async fn revoke_key(
    State(state): State<AppState>,
    auth: Auth,
    client: ClientInfo,
    Path((app_id, key_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let tenant = auth.tenant::<AsAdmin>(&state.store)?;
    let app_id = parse_app_id(&app_id)?;
    let key_id = KeyId::parse(&key_id).ok_or_else(|| ApiError::not_found("key"))?;
    tenant.revoke_key(&app_id, &key_id).await?;
    state.invalidate(Invalidation::Key { id: key_id.to_string() }).await;
    Audit::new("key.revoked", &client)
        .by(&auth)
        .target(format!("key:{key_id}"))
        .details(&serde_json::json!({ "app_id": app_id.to_string() }))
        .record(&state.store, &auth)
        .await;
    Ok(StatusCode::NO_CONTENT)
}
