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
    validate_http_url,
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

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAppRequest {
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
    pub click_window_hours: Option<u32>,
    pub view_window_hours: Option<u32>,
    pub probabilistic_window_hours: Option<u32>,
    pub reattribution_window_days: Option<u32>,
    pub reengagement_window_days: Option<u32>,
    pub min_ctit_seconds: Option<u32>,
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
    validate_http_url("store_url", request.store_url.trim(), &mut errors);
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
            app_token: random_token(24),
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

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateAppRequest {
    pub name: Option<String>,
    pub store_url: Option<String>,
    pub attribution: Option<AttributionPatch>,
    pub time_zone: Option<String>,
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
        validate_http_url("store_url", url.trim(), &mut errors);
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

/// Deletes an app; its token and keys stop working at once.
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
    Audit::new("app.deleted", &client)
        .by(&auth)
        .target(format!("app:{app_id}"))
        .record(&state.store, &auth)
        .await;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CreatedKeyView {
    /// Send it as `X-Key-Id`.
    pub id: String,
    pub app_id: String,
    /// The HMAC-SHA256 signing secret. Shown this once: it is not stored.
    pub secret: String,
    pub created_at: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct KeyView {
    pub id: String,
    pub app_id: String,
    pub created_at: String,
    pub created_by: Option<String>,
    pub revoked_at: Option<String>,
}

/// Creates a server-to-server signing key. Its secret is in this answer only.
#[utoipa::path(post, path = "/api/v1/apps/{app_id}/keys", tag = "apps", security(("bearer" = [])),
    params(("app_id" = String, Path, description = "The app's id")),
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
) -> ApiResult<(StatusCode, Json<CreatedKeyView>)> {
    let tenant = auth.tenant::<AsAdmin>(&state.store)?;
    let app_id = parse_app_id(&app_id)?;
    let key = tenant.create_key(&app_id, &random_token(16)).await?;
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
