//! Chart annotations: notes members pin to a date of an app's charts ("campaign paused",
//! "new build 4.2"). Stored, audited, and announced at once to the organization's live
//! connections (`{"type": "annotation", "action": "created" | "deleted", "annotation": {…}}`,
//! see [`crate::collab`]).

use crate::audit::Audit;
use crate::auth::{ClientInfo, TenantApp};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery};
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use unmogrowp_domain::time::rfc3339;
use unmogrowp_domain::{AnnotationId, Day, Role};
use unmogrowp_storage::tenant::{AsMember, AsViewer};
use unmogrowp_storage::{Annotation, StorageError};

/// The longest annotation, in characters.
pub const MAX_TEXT_CHARS: usize = 280;
/// The most annotations one list answers.
pub const LIST_LIMIT: u32 = 1000;

/// A note to pin to a chart date.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAnnotationRequest {
    /// The chart date (`YYYY-MM-DD`, a day of the app's reports).
    #[schema(example = "2026-11-20", pattern = r"^\d{4}-\d{2}-\d{2}$")]
    pub date: String,
    /// What happened: 1 to 280 characters without control characters (surrounding spaces are
    /// dropped).
    #[schema(
        example = "Campaign paused",
        pattern = r"^[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]([^\x00-\x1f\x7f-\x9f]{0,278}[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000])?[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub text: String,
}

/// Who wrote an annotation.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AnnotationAuthor {
    /// The member's user id.
    pub user_id: String,
    /// The member's display name as it is now.
    pub name: String,
}

/// A note pinned to a chart date.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AnnotationView {
    /// The annotation's id.
    pub id: String,
    /// The app whose charts show it.
    pub app_id: String,
    /// The chart date (`YYYY-MM-DD`).
    pub date: String,
    /// What it says.
    pub text: String,
    /// Who wrote it; null once that user's account is gone.
    pub author: Option<AnnotationAuthor>,
    /// When it was written (RFC 3339, UTC).
    pub created_at: String,
}

fn view(annotation: &Annotation) -> AnnotationView {
    AnnotationView {
        id: annotation.id.to_string(),
        app_id: annotation.app_id.to_string(),
        date: annotation.day.to_string(),
        text: annotation.text.clone(),
        author: annotation.created_by.as_ref().map(|user_id| AnnotationAuthor {
            user_id: user_id.to_string(),
            name: annotation.author_name.clone().unwrap_or_default(),
        }),
        created_at: rfc3339(annotation.created_at),
    }
}

fn day(field: &str, raw: &str) -> ApiResult<Day> {
    raw.trim()
        .parse()
        .map_err(|_| ApiError::invalid_field(field, "must be a calendar date, YYYY-MM-DD"))
}

/// Tells the organization's live connections.
fn announce(
    state: &AppState,
    org_id: &unmogrowp_domain::OrgId,
    action: &str,
    annotation: &AnnotationView,
) {
    let message =
        serde_json::json!({ "type": "annotation", "action": action, "annotation": annotation });
    state.collab.publish(org_id.as_str(), message);
}

/// Range of the annotations to list.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AnnotationQuery {
    /// The first date (`YYYY-MM-DD`), inclusive; default (or empty): no lower bound.
    #[param(pattern = r"^(\d{4}-\d{2}-\d{2})?$")]
    pub from: Option<String>,
    /// The last date (`YYYY-MM-DD`), inclusive; default (or empty): no upper bound.
    #[param(pattern = r"^(\d{4}-\d{2}-\d{2})?$")]
    pub to: Option<String>,
}

/// The app's chart annotations, by date then creation time (at most 1000).
#[utoipa::path(get, path = "/api/v1/apps/{app_id}/annotations", tag = "reports", security(("bearer" = [])),
    params(("app_id" = String, Path, description = "The app's id"), AnnotationQuery),
    responses((status = 200, description = "Annotations", body = [AnnotationView]),
              (status = 400, description = "`from` or `to` is not a calendar date, or `from` is after `to`", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
              (status = 404, description = "No such app", body = crate::error::ProblemDocument, content_type = "application/problem+json")))]
pub async fn list_annotations(
    found: TenantApp<AsViewer>,
    ApiQuery(query): ApiQuery<AnnotationQuery>,
) -> ApiResult<Json<Vec<AnnotationView>>> {
    let from = query.from.as_deref().map(|raw| day("from", raw)).transpose()?;
    let to = query.to.as_deref().map(|raw| day("to", raw)).transpose()?;
    if let (Some(from), Some(to)) = (from, to)
        && from > to
    {
        return Err(ApiError::invalid_field("from", "must not be after `to`"));
    }
    let annotations = found.tenant().annotations(&found.app.id, from, to, LIST_LIMIT).await?;
    Ok(Json(annotations.iter().map(view).collect()))
}

/// Pins a note to a date of the app's charts; every member looking at the organization's
/// live connection sees it at once. Members and above.
#[utoipa::path(post, path = "/api/v1/apps/{app_id}/annotations", tag = "reports", security(("bearer" = [])),
    params(("app_id" = String, Path, description = "The app's id")),
    request_body = CreateAnnotationRequest,
    responses((status = 201, description = "Created", body = AnnotationView),
              (status = 400, description = "Invalid `date` or `text`", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
              (status = 403, description = "Viewers cannot annotate", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
              (status = 404, description = "No such app", body = crate::error::ProblemDocument, content_type = "application/problem+json")))]
pub async fn create_annotation(
    State(state): State<AppState>,
    found: TenantApp<AsMember>,
    client: ClientInfo,
    ApiJson(request): ApiJson<CreateAnnotationRequest>,
) -> ApiResult<(StatusCode, Json<AnnotationView>)> {
    let date = day("date", &request.date)?;
    let text = request.text.trim();
    if text.is_empty() {
        return Err(ApiError::invalid_field("text", "is required"));
    }
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(ApiError::invalid_field(
            "text",
            format!("must be at most {MAX_TEXT_CHARS} characters"),
        ));
    }
    if text.chars().any(char::is_control) {
        return Err(ApiError::invalid_field("text", "must not contain control characters"));
    }
    let now = unmogrowp_domain::time::now_millis();
    let annotation =
        found.tenant().create_annotation(&found.app.id, date, text.to_owned(), now).await?;
    let shown = view(&annotation);
    Audit::new("annotation.created", &client)
        .by(&found.auth)
        .target(format!("annotation:{}", annotation.id))
        .details(&serde_json::json!({ "app_id": found.app.id.to_string(), "date": shown.date }))
        .record(&state.store, &found.auth)
        .await;
    announce(&state, &found.app.org_id, "created", &shown);
    Ok((StatusCode::CREATED, Json(shown)))
}

/// The path of one annotation.
#[derive(Deserialize)]
pub struct AnnotationPath {
    /// The annotation's id.
    pub annotation_id: String,
}

/// Deletes an annotation: members delete their own, admins and owners anyone's.
#[utoipa::path(delete, path = "/api/v1/apps/{app_id}/annotations/{annotation_id}", tag = "reports", security(("bearer" = [])),
    params(("app_id" = String, Path, description = "The app's id"),
           ("annotation_id" = String, Path, description = "The annotation's id")),
    responses((status = 204, description = "Deleted"),
              (status = 403, description = "Viewers cannot delete annotations; members only their own", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
              (status = 404, description = "No such app or annotation", body = crate::error::ProblemDocument, content_type = "application/problem+json")))]
pub async fn delete_annotation(
    State(state): State<AppState>,
    found: TenantApp<AsMember>,
    client: ClientInfo,
    Path(path): Path<AnnotationPath>,
) -> ApiResult<StatusCode> {
    let not_found = || ApiError::not_found("annotation");
    let id = AnnotationId::parse(&path.annotation_id).ok_or_else(not_found)?;
    let tenant = found.tenant();
    let annotation = tenant.annotation(&found.app.id, &id).await?.ok_or_else(not_found)?;
    let own = annotation.created_by.as_ref() == Some(&found.auth.user_id);
    if !own && found.auth.role() < Role::Admin {
        return Err(ApiError::forbidden("members delete only their own annotations"));
    }
    tenant.delete_annotation(&found.app.id, &id).await.map_err(|error| match error {
        StorageError::NotFound => not_found(),
        other => other.into(),
    })?;
    Audit::new("annotation.deleted", &client)
        .by(&found.auth)
        .target(format!("annotation:{id}"))
        .details(&serde_json::json!({ "app_id": found.app.id.to_string(), "date": annotation.day.to_string() }))
        .record(&state.store, &found.auth)
        .await;
    announce(&state, &found.app.org_id, "deleted", &view(&annotation));
    Ok(StatusCode::NO_CONTENT)
}
