//! Postbacks: URL templates per network, and their delivery log.

use crate::audit::Audit;
use crate::auth::{Auth, ClientInfo, TenantApp};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery};
use crate::routes::apps::parse_app_id;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use unmogrowp_domain::time::rfc3339;
use unmogrowp_domain::validate::FieldErrors;
use unmogrowp_storage::tenant::{AsMember, AsViewer};
use unmogrowp_storage::{NewPostback, Postback};

/// A postback to create: a URL to call when the network's installs or chosen events are attributed.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePostbackRequest {
    /// The network whose attributed installs and events trigger it: 1 to 100 characters.
    #[schema(
        pattern = r"^[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]([^\x00-\x1f\x7f-\x9f]{0,98}[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000])?[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub network: String,
    /// An http(s) URL; macros `{click_id} {network_click_id} {event_name} {revenue} {currency}
    /// {device_id} {install_time} {campaign}` are replaced by URL-encoded values.
    pub url_template: String,
    /// `install` and/or in-app event names.
    pub events: Vec<String>,
}

/// A postback: the URL called for a network's attributed installs and events.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PostbackView {
    /// The postback's id.
    pub id: String,
    /// The app whose installs and events trigger it.
    pub app_id: String,
    /// The network whose attributed installs and events trigger it.
    pub network: String,
    /// The URL template; its macros in braces are filled in for each call.
    pub url_template: String,
    /// What triggers it: `install` and/or in-app event names, sorted and without duplicates.
    pub events: Vec<String>,
    /// When the postback was created (RFC 3339, UTC).
    pub created_at: String,
}

fn view(postback: &Postback) -> PostbackView {
    PostbackView {
        id: postback.id.clone(),
        app_id: postback.app_id.to_string(),
        network: postback.network.clone(),
        url_template: postback.url_template.clone(),
        events: postback.events.clone(),
        created_at: rfc3339(postback.created_at),
    }
}

/// Checks a URL template: its shape, and that the outbound guard lets its host be called.
fn check_template(state: &AppState, template: &str, errors: &mut FieldErrors) {
    if let Err(message) = unmogrowp_domain::postback::validate_template(template) {
        errors.push("url_template", message);
    } else if let Err(refusal) = state.config.security.outbound_policy().check_template(template) {
        errors.push("url_template", format!("cannot be called: {refusal}"));
    }
}

/// The trigger list, trimmed, sorted and without duplicates; at least one, each at most 128
/// characters.
fn check_events(raw: &[String], errors: &mut FieldErrors) -> Vec<String> {
    let mut events: Vec<String> =
        raw.iter().map(|e| e.trim().to_owned()).filter(|e| !e.is_empty()).collect();
    events.sort();
    events.dedup();
    if events.is_empty() {
        errors.push("events", "name at least one: install and/or event names");
    } else if events.iter().any(|e| e.chars().count() > 128) {
        errors.push("events", "event names are at most 128 characters");
    }
    events
}

/// Sets up a postback to a network.
#[utoipa::path(post, path = "/api/v1/apps/{app_id}/postbacks", tag = "postbacks", security(("bearer" = [])),
    params(("app_id" = String, Path, description = "The app's id")), request_body = CreatePostbackRequest,
    responses(
        (status = 201, description = "Created", body = PostbackView),
        (status = 400, description = "Invalid fields", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
        (status = 403, description = "Viewers cannot manage postbacks", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
        (status = 404, description = "No such app", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
    ))]
pub async fn create_postback(
    State(state): State<AppState>,
    auth: Auth,
    client: ClientInfo,
    Path(app_id): Path<String>,
    ApiJson(request): ApiJson<CreatePostbackRequest>,
) -> ApiResult<(StatusCode, Json<PostbackView>)> {
    let tenant = auth.tenant::<AsMember>(&state.store)?;
    let app_id = parse_app_id(&app_id)?;
    let mut errors = FieldErrors::new();
    let network = unmogrowp_domain::validate::name("network", &request.network, 100, &mut errors);
    check_template(&state, request.url_template.trim(), &mut errors);
    let events = check_events(&request.events, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::validation(errors.into_vec()));
    }
    let postback = tenant
        .create_postback(
            &app_id,
            NewPostback { network, url_template: request.url_template.trim().to_owned(), events },
        )
        .await
        .map_err(|error| match error {
            unmogrowp_storage::StorageError::NotFound => ApiError::not_found("app"),
            other => other.into(),
        })?;
    state.invalidate(crate::shared::Invalidation::AppSettings).await;
    Audit::new("postback.created", &client)
        .by(&auth)
        .target(format!("postback:{}", postback.id))
        .details(&serde_json::json!({ "app_id": app_id.to_string(), "network": postback.network, "events": postback.events }))
        .record(&state.store, &auth)
        .await;
    Ok((StatusCode::CREATED, Json(view(&postback))))
}

/// The app's postbacks.
#[utoipa::path(get, path = "/api/v1/apps/{app_id}/postbacks", tag = "postbacks", security(("bearer" = [])),
    params(("app_id" = String, Path, description = "The app's id")),
    responses((status = 200, description = "Postbacks", body = [PostbackView])))]
pub async fn list_postbacks(found: TenantApp<AsViewer>) -> ApiResult<Json<Vec<PostbackView>>> {
    Ok(Json(found.tenant().postbacks(&found.app.id).await?.iter().map(view).collect()))
}

/// Paging of the delivery log.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeliveriesParams {
    /// Entries, 1 to 500 (default 100), newest first.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

/// One delivery: a call of a postback's URL for one install or event, and its state.
#[derive(Serialize, utoipa::ToSchema)]
pub struct DeliveryView {
    /// The delivery's id.
    pub id: String,
    /// The id of the postback it was made from.
    pub postback_id: String,
    /// The filled URL.
    pub url: String,
    /// `pending`, `delivered` or `failed`. The URL of a delivery whose device was erased reads
    /// `(erased)`; one still pending then failed with `last_error` saying so.
    pub status: String,
    /// How many attempts were made so far.
    pub attempts: i64,
    /// The error of the latest failed attempt; null if none failed.
    pub last_error: Option<String>,
    /// When it was last updated.
    pub at: String,
    /// When the delivery was queued (RFC 3339, UTC).
    pub created_at: String,
    /// When the next attempt is due (pending only).
    pub next_attempt_at: Option<String>,
}

/// The delivery log of the app's postbacks.
#[utoipa::path(get, path = "/api/v1/apps/{app_id}/postbacks/deliveries", tag = "postbacks", security(("bearer" = [])),
    params(("app_id" = String, Path, description = "The app's id"), DeliveriesParams),
    responses((status = 200, description = "Deliveries", body = [DeliveryView])))]
pub async fn deliveries(
    found: TenantApp<AsViewer>,
    ApiQuery(params): ApiQuery<DeliveriesParams>,
) -> ApiResult<Json<Vec<DeliveryView>>> {
    let (tenant, app_id) = (found.tenant(), found.app.id.clone());
    let limit = params.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::invalid_field("limit", "must be between 1 and 500"));
    }
    let deliveries = tenant.deliveries(&app_id, limit).await?;
    Ok(Json(deliveries.into_iter().map(delivery_view).collect()))
}

fn delivery_view(d: unmogrowp_storage::Delivery) -> DeliveryView {
    DeliveryView {
        next_attempt_at: (d.status == "pending").then(|| rfc3339(d.next_attempt_at)),
        id: d.id,
        postback_id: d.postback_id,
        url: d.url,
        status: d.status,
        attempts: d.attempts,
        last_error: d.last_error,
        at: rfc3339(d.updated_at),
        created_at: rfc3339(d.created_at),
    }
}

/// Fields of a postback to change; fields left out keep their value.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdatePostbackRequest {
    /// The network whose attributed installs and events trigger it: 1 to 100 characters.
    #[schema(
        pattern = r"^[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]([^\x00-\x1f\x7f-\x9f]{0,98}[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000])?[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub network: Option<String>,
    /// An http(s) URL with macros, as for a new postback.
    pub url_template: Option<String>,
    /// `install` and/or in-app event names.
    pub events: Option<Vec<String>>,
}

/// The path of one postback.
#[derive(Deserialize)]
pub struct PostbackPath {
    /// The postback's id.
    pub postback_id: String,
}

fn not_found_as(what: &'static str) -> impl Fn(unmogrowp_storage::StorageError) -> ApiError {
    move |error| match error {
        unmogrowp_storage::StorageError::NotFound => ApiError::not_found(what),
        other => other.into(),
    }
}

/// Changes a postback; deliveries already queued keep their URL.
#[utoipa::path(patch, path = "/api/v1/apps/{app_id}/postbacks/{postback_id}", tag = "postbacks", security(("bearer" = [])),
    params(("app_id" = String, Path, description = "The app's id"), ("postback_id" = String, Path, description = "The postback's id")),
    request_body = UpdatePostbackRequest,
    responses((status = 200, description = "The changed postback", body = PostbackView),
              (status = 404, description = "No such app or postback", body = crate::error::ProblemDocument, content_type = "application/problem+json")))]
pub async fn update_postback(
    State(state): State<AppState>,
    found: TenantApp<AsMember>,
    client: ClientInfo,
    Path(path): Path<PostbackPath>,
    ApiJson(request): ApiJson<UpdatePostbackRequest>,
) -> ApiResult<Json<PostbackView>> {
    let mut errors = FieldErrors::new();
    let network = request
        .network
        .as_deref()
        .map(|raw| unmogrowp_domain::validate::name("network", raw, 100, &mut errors));
    let url_template = request.url_template.as_deref().map(|raw| {
        check_template(&state, raw.trim(), &mut errors);
        raw.trim().to_owned()
    });
    let events = request.events.as_deref().map(|raw| check_events(raw, &mut errors));
    if !errors.is_empty() {
        return Err(ApiError::validation(errors.into_vec()));
    }
    let patch = unmogrowp_storage::PostbackPatch { network, url_template, events };
    let postback = found
        .tenant()
        .update_postback(&found.app.id, &path.postback_id, patch)
        .await
        .map_err(not_found_as("postback"))?;
    state.invalidate(crate::shared::Invalidation::AppSettings).await;
    Audit::new("postback.changed", &client)
        .by(&found.auth)
        .target(format!("postback:{}", postback.id))
        .details(&serde_json::json!({ "network": postback.network, "events": postback.events }))
        .record(&state.store, &found.auth)
        .await;
    Ok(Json(view(&postback)))
}

/// Deletes a postback and its delivery log; pending deliveries are not sent.
#[utoipa::path(delete, path = "/api/v1/apps/{app_id}/postbacks/{postback_id}", tag = "postbacks", security(("bearer" = [])),
    params(("app_id" = String, Path, description = "The app's id"), ("postback_id" = String, Path, description = "The postback's id")),
    responses((status = 204, description = "Deleted"),
              (status = 404, description = "No such app or postback", body = crate::error::ProblemDocument, content_type = "application/problem+json")))]
pub async fn delete_postback(
    State(state): State<AppState>,
    found: TenantApp<AsMember>,
    client: ClientInfo,
    Path(path): Path<PostbackPath>,
) -> ApiResult<StatusCode> {
    found
        .tenant()
        .delete_postback(&found.app.id, &path.postback_id)
        .await
        .map_err(not_found_as("postback"))?;
    state.invalidate(crate::shared::Invalidation::AppSettings).await;
    Audit::new("postback.deleted", &client)
        .by(&found.auth)
        .target(format!("postback:{}", path.postback_id))
        .record(&state.store, &found.auth)
        .await;
    Ok(StatusCode::NO_CONTENT)
}

/// The path of one delivery.
#[derive(Deserialize)]
pub struct DeliveryPath {
    /// The delivery's id.
    pub delivery_id: String,
}

/// Sends a failed delivery once more, now (it keeps its URL and its attempts so far).
#[utoipa::path(post, path = "/api/v1/apps/{app_id}/postbacks/deliveries/{delivery_id}/retry", tag = "postbacks", security(("bearer" = [])),
    params(("app_id" = String, Path, description = "The app's id"), ("delivery_id" = String, Path, description = "The delivery's id")),
    responses((status = 202, description = "Pending again; the sender takes it at once", body = DeliveryView),
              (status = 404, description = "No such app or delivery", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
              (status = 409, description = "The delivery has not failed (it is pending or delivered)", body = crate::error::ProblemDocument, content_type = "application/problem+json")))]
pub async fn retry_delivery(
    State(state): State<AppState>,
    found: TenantApp<AsMember>,
    client: ClientInfo,
    Path(path): Path<DeliveryPath>,
) -> ApiResult<(StatusCode, Json<DeliveryView>)> {
    let delivery =
        found.tenant().retry_delivery(&found.app.id, &path.delivery_id).await.map_err(|error| {
            match error {
                unmogrowp_storage::StorageError::NotFound => ApiError::not_found("delivery"),
                unmogrowp_storage::StorageError::Refused(reason) => {
                    ApiError::new(StatusCode::CONFLICT, "not_failed").with_detail(reason.to_owned())
                }
                other => other.into(),
            }
        })?;
    Audit::new("postback.delivery_retried", &client)
        .by(&found.auth)
        .target(format!("delivery:{}", delivery.id))
        .record(&state.store, &found.auth)
        .await;
    Ok((StatusCode::ACCEPTED, Json(delivery_view(delivery))))
}
