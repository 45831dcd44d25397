//! Attribution lookups: the decision for one install (dashboard, API), and for a device (the
//! SDK's `GET /v1/attribution`, for deferred deep links and in-app attribution displays).

use crate::auth::TenantApp;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiQuery;
use crate::routes::reports::store_unavailable;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use unmogrowp_domain::time::rfc3339;
use unmogrowp_storage::tenant::AsViewer;

/// The touchpoint (a click or an impression) an install was matched to.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TouchView {
    /// `click` or `impression`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The click's or impression's id (for a click, its click id).
    pub id: String,
    /// The id of the tracking link the touchpoint came through; null if not known.
    pub link_id: Option<String>,
    /// The ad network of the touchpoint's tracking link.
    pub network: String,
    /// The campaign of the touchpoint's tracking link.
    pub campaign: String,
    /// The ad group of the touchpoint's tracking link; empty when it has none.
    pub adgroup: String,
    /// The creative of the touchpoint's tracking link; empty when it has none.
    pub creative: String,
    /// When the click or impression happened (RFC 3339, UTC).
    pub at: Option<String>,
}

/// The attribution decision for one install.
#[derive(Serialize, utoipa::ToSchema)]
pub struct InstallView {
    /// `pending`, `attributed`, `organic` or `rejected`.
    pub status: String,
    /// `click_id`, `device_id`, `probabilistic`, `view_through` or null.
    pub match_type: Option<String>,
    /// The click or impression the install was matched to: for a re-install, the original
    /// install's; for a `click_injection` rejection, the offending click. Null for organic
    /// installs, `blocked_ip` rejections and while pending.
    pub touch: Option<TouchView>,
    /// Why a fraud rule rejected the install: `click_injection` or `blocked_ip`; null unless the
    /// status is `rejected`.
    pub rejection_reason: Option<String>,
    /// When the install was decided (RFC 3339, UTC): the time the server received the install
    /// event. Null while pending.
    pub attributed_at: Option<String>,
    /// A device that installed before, past the re-attribution window, attributed afresh.
    pub reattribution: bool,
    /// A re-install inside the re-attribution window (keeps its original source).
    pub reinstall: bool,
    /// The deferred deep link: for a new install attributed to a click on a tracking link
    /// that has one, that link's `deep_link` (as it is now), for the app to open on first
    /// launch; the click's parameters are in `touch`. Null otherwise (organic, rejected,
    /// re-installs, impressions, links without one).
    pub deep_link: Option<String>,
}

fn install_view(row: &unmogrowp_eventstore::AttributionRow) -> InstallView {
    let touch = row.touch_id.clone().map(|id| TouchView {
        kind: row.touch_kind.map(|kind| kind.as_str().to_owned()).unwrap_or_default(),
        id,
        link_id: row.link_id.clone(),
        network: row.dims.network.clone(),
        campaign: row.dims.campaign.clone(),
        adgroup: row.dims.adgroup.clone(),
        creative: row.dims.creative.clone(),
        at: row.touch_at_ms.map(rfc3339),
    });
    InstallView {
        status: row.status.as_str().to_owned(),
        match_type: row.match_type.map(|m| m.as_str().to_owned()),
        touch,
        rejection_reason: row.rejection_reason.map(|r| r.as_str().to_owned()),
        attributed_at: Some(rfc3339(row.decided_at_ms)),
        reattribution: row.reattribution,
        reinstall: row.reinstall,
        deep_link: None,
    }
}

/// The install's view with its deferred deep link filled in (see [`InstallView::deep_link`]).
async fn with_deep_link(
    state: &AppState,
    row: &unmogrowp_eventstore::AttributionRow,
) -> ApiResult<InstallView> {
    let mut view = install_view(row);
    let from_click = row.status == unmogrowp_domain::attribution::InstallStatus::Attributed
        && !row.reinstall
        && row.touch_kind == Some(unmogrowp_domain::attribution::TouchKind::Click);
    let link_id = row.link_id.as_deref().and_then(unmogrowp_domain::LinkId::parse);
    if let (true, Some(link_id)) = (from_click, link_id) {
        let link = state.ingest.link(&link_id).await?;
        view.deep_link =
            link.filter(|link| link.app_id == row.app_id).and_then(|link| link.deep_link);
    }
    Ok(view)
}

/// The attribution of an install event: `pending` while the workers have not reached it.
#[utoipa::path(get, path = "/api/v1/apps/{app_id}/installs/{event_id}", tag = "reports", security(("bearer" = [])),
    params(("app_id" = String, Path, description = "The app's id"), ("event_id" = String, Path, description = "The install event's id")),
    responses((status = 200, description = "The decision", body = InstallView),
              (status = 404, description = "No such install", body = crate::error::ProblemDocument, content_type = "application/problem+json")))]
pub async fn install(
    State(state): State<AppState>,
    TenantApp { app, .. }: TenantApp<AsViewer>,
    Path((_app_id, event_id)): Path<(String, String)>,
) -> ApiResult<Json<InstallView>> {
    match state.events.attribution(&app.id, &event_id).await.map_err(|e| store_unavailable(&e))? {
        Some(row) => Ok(Json(with_deep_link(&state, &row).await?)),
        None if state.pipeline.lag() > 0 => Ok(Json(InstallView {
            status: "pending".to_owned(),
            match_type: None,
            touch: None,
            rejection_reason: None,
            attributed_at: None,
            reattribution: false,
            reinstall: false,
            deep_link: None,
        })),
        None => Err(ApiError::not_found("install")),
    }
}

/// The device to look up.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeviceParams {
    /// The device's gaid, idfa, idfv or (for devices without one) the SDK's install id.
    #[param(min_length = 1)]
    pub device_id: String,
}

/// For SDKs: the attribution of this device's install (`X-App-Token`).
#[utoipa::path(get, path = "/v1/attribution", tag = "collection",
    params(DeviceParams, ("X-App-Token" = String, Header, description = "The app's token")),
    responses((status = 200, description = "The decision", body = InstallView),
              (status = 400, description = "`device_id` missing", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
              (status = 401, description = "Unknown app token", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
              (status = 404, description = "No install decided for this device", body = crate::error::ProblemDocument, content_type = "application/problem+json")))]
pub async fn sdk_attribution(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    ApiQuery(params): ApiQuery<DeviceParams>,
) -> ApiResult<Json<InstallView>> {
    let token = headers
        .get("x-app-token")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| ApiError::unauthorized("send the app's token in X-App-Token"))?;
    let app = crate::routes::collect::app_for_token(&state, token, "app token").await?;
    let value = params.device_id.trim().to_ascii_lowercase();
    if unmogrowp_domain::event::is_placeholder_id(&value) {
        return Err(ApiError::invalid_field(
            "device_id",
            "must be a real gaid, idfa, idfv or install_id",
        ));
    }
    let candidates: Vec<String> = ["gaid", "idfa", "idfv", "install_id"]
        .iter()
        .map(|kind| format!("{kind}:{value}"))
        .collect();
    let row = state
        .events
        .device_attribution(&app.id, &candidates)
        .await
        .map_err(|e| store_unavailable(&e))?;
    match row {
        Some(row) => Ok(Json(with_deep_link(&state, &row).await?)),
        None => Err(ApiError::not_found("install for this device")),
    }
}
