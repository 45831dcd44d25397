//! Erasure of a device's data (GDPR article 17, the right to erasure), and of a deleted app's
//! events. A request is recorded, then travels through the event log like an event: the worker
//! that owns the app carries it out in log order (everything before the request in the log goes,
//! from the event store and the attribution index), and the event store records that it did.

use crate::audit::Audit;
use crate::auth::{ClientInfo, TenantApp};
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::{Deserialize, Serialize};
use unmogrowp_domain::erasure::{Erasure, ErasureScope, device_identifiers};
use unmogrowp_domain::event::LogRecord;
use unmogrowp_domain::time::rfc3339;
use unmogrowp_domain::{AppId, ErasureId, OrgId};
use unmogrowp_storage::tenant::AsAdmin;

/// A device whose data is to be erased.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateErasureRequest {
    /// The device: `gaid:…`, `idfa:…`, `idfv:…` or `install_id:…` for one identifier, or a
    /// bare value (an advertising or vendor id as the device reports it), looked for under
    /// every kind. Compared without case. Rows that carry an identifier seen together with
    /// it (the same device's vendor id beside its advertising id, say) are erased too.
    #[schema(example = "gaid:38400000-8cf0-11bd-b23e-10b96e40000d")]
    pub device_id: String,
}

/// An erasure request and how far it got.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErasureView {
    /// The request's id.
    pub id: String,
    /// The app whose data is erased.
    pub app_id: String,
    /// `pending` until the event store has carried it out, then `completed`.
    #[schema(example = "completed")]
    pub status: &'static str,
    /// When it was asked (RFC 3339, UTC). Everything the device sent before the request
    /// reached the event log is erased.
    pub requested_at: String,
    /// When it was carried out (RFC 3339, UTC); null while pending.
    pub completed_at: Option<String>,
    /// Raw rows removed (events, clicks, impressions); null while pending.
    pub rows_erased: Option<u64>,
}

/// Appends an erasure to the event log, on the app's partition. Fails with 503 when the log
/// does not take it.
pub(crate) async fn append_erasure(state: &AppState, erasure: Erasure) -> ApiResult<()> {
    let key = format!("{}:erasure:{}", erasure.app_id, erasure.id);
    let payload = LogRecord::Erasure(erasure)
        .encode()
        .map_err(|error| ApiError::internal(anyhow::anyhow!("encoding an erasure: {error}")))?;
    state.log.append(vec![unmogrowp_bus::Entry { key, payload }]).await.map_err(|error| {
        tracing::error!(%error, "the event log refused an erasure");
        ApiError::unavailable(1, "the event log is unavailable; retry shortly")
    })?;
    Ok(())
}

/// The erasure of everything a deleted app stored. The app's row is already gone, so a
/// refusing log is retried for a few seconds before giving up (logged and counted).
pub(crate) async fn erase_deleted_app(state: &AppState, org_id: &OrgId, app_id: &AppId) {
    let erasure = Erasure {
        id: ErasureId::generate(),
        org_id: org_id.clone(),
        app_id: app_id.clone(),
        scope: ErasureScope::App,
        requested_ms: unmogrowp_domain::time::now_millis(),
    };
    let mut pause = std::time::Duration::from_millis(100);
    for attempt in 1..=6 {
        match append_erasure(state, erasure.clone()).await {
            Ok(()) => return,
            Err(_) if attempt < 6 => {
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
            Err(_) => {}
        }
    }
    metrics::counter!(crate::metric_names::ERASURES_NOT_LOGGED_TOTAL).increment(1);
    tracing::error!(app_id = %app_id, "a deleted app's events could not be scheduled for erasure");
}

fn view(
    request: &unmogrowp_storage::ErasureRequest,
    done: Option<unmogrowp_eventstore::ErasureReport>,
) -> ErasureView {
    ErasureView {
        id: request.id.to_string(),
        app_id: request.app_id.to_string(),
        status: if done.is_some() { "completed" } else { "pending" },
        requested_at: rfc3339(request.requested_at),
        completed_at: done.map(|done| rfc3339(done.completed_ms)),
        rows_erased: done.map(|done| done.rows),
    }
}

/// Erases a device's data from the app: its events, clicks and impressions, its installs'
/// decisions and the touchpoints they were credited to, its counts in reports and its
/// activity in cohorts, and what the attribution index knows of it. Answers at once; poll the
/// `Location` for the outcome. Admins and owners only.
#[utoipa::path(post, path = "/api/v1/apps/{app_id}/erasures", tag = "privacy", security(("bearer" = [])),
    params(("app_id" = String, Path, description = "The app's id")),
    request_body = CreateErasureRequest,
    responses((status = 202, description = "Accepted; carried out in log order", body = ErasureView,
                headers(("Location" = String, description = "Where to read the request's status"))),
              (status = 400, description = "device_id is empty, a placeholder, too long or of an unknown kind", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
              (status = 404, description = "No such app in this organization", body = crate::error::ProblemDocument, content_type = "application/problem+json")))]
pub async fn create_erasure(
    State(state): State<AppState>,
    found: TenantApp<AsAdmin>,
    client: ClientInfo,
    ApiJson(request): ApiJson<CreateErasureRequest>,
) -> ApiResult<(StatusCode, HeaderMap, Json<ErasureView>)> {
    let identifiers = device_identifiers(&request.device_id)
        .map_err(|error| ApiError::invalid_field("device_id", error.to_string()))?;
    let app = &found.app;
    let erasure = Erasure {
        id: ErasureId::generate(),
        org_id: app.org_id.clone(),
        app_id: app.id.clone(),
        scope: ErasureScope::Device { identifiers },
        requested_ms: unmogrowp_domain::time::now_millis(),
    };
    let (id, requested_ms) = (erasure.id.clone(), erasure.requested_ms);
    // Logged first: a request the log took is carried out even if recording it fails (the
    // caller retries, and a second erasure of the same device changes nothing).
    append_erasure(&state, erasure).await?;
    let recorded = found.tenant().create_erasure(&app.id, &id, requested_ms).await?;
    Audit::new("erasure.requested", &client)
        .by(&found.auth)
        .target(format!("app:{}", app.id))
        .details(&serde_json::json!({ "erasure_id": id.to_string() }))
        .record(&state.store, &found.auth)
        .await;
    let mut headers = HeaderMap::new();
    if let Ok(location) = HeaderValue::from_str(&format!("/api/v1/apps/{}/erasures/{id}", app.id)) {
        headers.insert(header::LOCATION, location);
    }
    Ok((StatusCode::ACCEPTED, headers, Json(view(&recorded, None))))
}

/// The path of one erasure request.
#[derive(Deserialize)]
pub struct ErasurePath {
    /// The request's id.
    pub erasure_id: String,
}

/// An erasure request's status. Admins and owners only.
#[utoipa::path(get, path = "/api/v1/apps/{app_id}/erasures/{erasure_id}", tag = "privacy", security(("bearer" = [])),
    params(("app_id" = String, Path, description = "The app's id"),
           ("erasure_id" = String, Path, description = "The request's id")),
    responses((status = 200, description = "The request", body = ErasureView),
              (status = 404, description = "No such app or request in this organization", body = crate::error::ProblemDocument, content_type = "application/problem+json")))]
pub async fn get_erasure(
    State(state): State<AppState>,
    found: TenantApp<AsAdmin>,
    Path(path): Path<ErasurePath>,
) -> ApiResult<Json<ErasureView>> {
    let erasure_id = path.erasure_id;
    let id = ErasureId::parse(&erasure_id).ok_or_else(|| ApiError::not_found("erasure"))?;
    let request = found
        .tenant()
        .erasure(&found.app.id, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("erasure"))?;
    let done = state.events.erasure(&found.app.id, &id).await.map_err(|error| {
        tracing::warn!(%error, "cannot read an erasure's outcome");
        ApiError::unavailable(1, "the event store is unavailable; retry shortly")
    })?;
    Ok(Json(view(&request, done)))
}
