//! Tracking links.

use crate::audit::Audit;
use crate::auth::{Auth, ClientInfo, TenantApp};
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::routes::apps::parse_app_id;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use unmogrowp_domain::time::rfc3339;
use unmogrowp_domain::validate::FieldErrors;
use unmogrowp_storage::tenant::{AsMember, AsViewer};
use unmogrowp_storage::{Link, LinkPatch, NewLink};

/// A tracking link to create.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateLinkRequest {
    /// The ad network, e.g. `meta` or `unity`: 1 to 100 characters without control
    /// characters (surrounding spaces are trimmed).
    #[schema(
        pattern = r"^[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]([^\x00-\x1f\x7f-\x9f]{0,98}[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000])?[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub network: String,
    /// The campaign name: 1 to 100 characters without control characters (surrounding spaces are
    /// trimmed).
    #[schema(
        pattern = r"^[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]([^\x00-\x1f\x7f-\x9f]{0,98}[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000])?[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub campaign: String,
    /// The ad group: up to 100 characters without control characters. Left out or empty for none.
    #[serde(default)]
    #[schema(
        pattern = r"^[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*([^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]([^\x00-\x1f\x7f-\x9f]{0,98}[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000])?)?[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub adgroup: Option<String>,
    /// The creative: up to 100 characters without control characters. Left out or empty for none.
    #[serde(default)]
    #[schema(
        pattern = r"^[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*([^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]([^\x00-\x1f\x7f-\x9f]{0,98}[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000])?)?[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub creative: Option<String>,
    /// Opens through this link within the re-engagement window count as re-engagements.
    #[serde(default)]
    pub retargeting: bool,
    /// A deferred deep link: where the app takes a user who installs after clicking this link
    /// (`GET /v1/attribution` answers it), e.g. `myapp://product/42` or an https universal
    /// link. A URI with a scheme (at most 32 characters), visible ASCII, at most 2000
    /// characters after the scheme; not `javascript:`, `data:`, `vbscript:` or `file:`
    /// (surrounding spaces are trimmed). Left out or empty for none.
    #[serde(default)]
    #[schema(
        example = "myapp://product/42",
        pattern = r"^[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*([A-Za-z][A-Za-z0-9+.-]{0,31}:[!-~]{1,2000})?[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub deep_link: Option<String>,
}

/// A tracking link of an app, with the URLs to give the ad network.
#[derive(Serialize, utoipa::ToSchema)]
pub struct LinkView {
    /// The link's id; it appears in the click and impression URLs.
    pub id: String,
    /// The app the link leads to.
    pub app_id: String,
    /// The ad network.
    pub network: String,
    /// The campaign name.
    pub campaign: String,
    /// The ad group; empty when none.
    pub adgroup: String,
    /// The creative; empty when none.
    pub creative: String,
    /// Whether it is a retargeting link: an app open through it by a device that already installed
    /// is a re-engagement, and the device's activity in the re-engagement window is credited to it.
    pub retargeting: bool,
    /// The deferred deep link of installs from its clicks; null for none.
    pub deep_link: Option<String>,
    /// Give this to the network for clicks (it answers 302 to the store).
    pub click_url: String,
    /// Give this to the network for impressions (it answers 204).
    pub impression_url: String,
    /// When the link was created (RFC 3339, UTC).
    pub created_at: String,
}

fn view(link: &Link, public_url: &str) -> LinkView {
    LinkView {
        id: link.id.to_string(),
        app_id: link.app_id.to_string(),
        network: link.network.clone(),
        campaign: link.campaign.clone(),
        adgroup: link.adgroup.clone(),
        creative: link.creative.clone(),
        retargeting: link.retargeting,
        deep_link: link.deep_link.clone(),
        click_url: format!("{public_url}/c/{}", link.id),
        impression_url: format!("{public_url}/i/{}", link.id),
        created_at: rfc3339(link.created_at),
    }
}

fn label(errors: &mut FieldErrors, field: &str, value: Option<&str>, required: bool) -> String {
    let value = value.map(str::trim).unwrap_or_default();
    if value.is_empty() {
        if required {
            errors.push(field, "is required");
        }
    } else if value.chars().count() > 100 {
        errors.push(field, "must be at most 100 characters");
    } else if value.chars().any(char::is_control) {
        errors.push(field, "must not contain control characters");
    }
    value.to_owned()
}

/// Creates a tracking link for a network and campaign.
#[utoipa::path(post, path = "/api/v1/apps/{app_id}/links", tag = "links", security(("bearer" = [])),
    params(("app_id" = String, Path, description = "The app's id")), request_body = CreateLinkRequest,
    responses(
        (status = 201, description = "Created", body = LinkView),
        (status = 400, description = "Invalid fields", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
        (status = 403, description = "Viewers cannot create links", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
        (status = 404, description = "No such app", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
    ))]
pub async fn create_link(
    State(state): State<AppState>,
    auth: Auth,
    client: ClientInfo,
    Path(app_id): Path<String>,
    ApiJson(request): ApiJson<CreateLinkRequest>,
) -> ApiResult<(StatusCode, Json<LinkView>)> {
    let tenant = auth.tenant::<AsMember>(&state.store)?;
    let app_id = parse_app_id(&app_id)?;
    let mut errors = FieldErrors::new();
    let network = label(&mut errors, "network", Some(&request.network), true);
    if network.eq_ignore_ascii_case(unmogrowp_eventstore::ORGANIC) {
        errors.push("network", "`organic` is reserved for installs without a touchpoint");
    }
    let campaign = label(&mut errors, "campaign", Some(&request.campaign), true);
    let adgroup = label(&mut errors, "adgroup", request.adgroup.as_deref(), false);
    let creative = label(&mut errors, "creative", request.creative.as_deref(), false);
    let deep_link = request
        .deep_link
        .as_deref()
        .and_then(|raw| unmogrowp_domain::validate::deep_link("deep_link", raw, &mut errors));
    if !errors.is_empty() {
        return Err(ApiError::validation(errors.into_vec()));
    }
    let link = tenant
        .create_link(
            &app_id,
            NewLink {
                network,
                campaign,
                adgroup,
                creative,
                retargeting: request.retargeting,
                deep_link,
            },
        )
        .await
        .map_err(|error| match error {
            unmogrowp_storage::StorageError::NotFound => ApiError::not_found("app"),
            other => other.into(),
        })?;
    Audit::new("link.created", &client)
        .by(&auth)
        .target(format!("link:{}", link.id))
        .details(&serde_json::json!({ "app_id": app_id.to_string(), "network": link.network, "campaign": link.campaign }))
        .record(&state.store, &auth)
        .await;
    Ok((StatusCode::CREATED, Json(view(&link, &state.config.public_url()))))
}

/// The app's tracking links.
#[utoipa::path(get, path = "/api/v1/apps/{app_id}/links", tag = "links", security(("bearer" = [])),
    params(("app_id" = String, Path, description = "The app's id")),
    responses((status = 200, description = "Links", body = [LinkView]),
              (status = 404, description = "No such app", body = crate::error::ProblemDocument, content_type = "application/problem+json")))]
pub async fn list_links(
    State(state): State<AppState>,
    found: TenantApp<AsViewer>,
) -> ApiResult<Json<Vec<LinkView>>> {
    let (tenant, app_id) = (found.tenant(), &found.app.id);
    let public_url = state.config.public_url();
    Ok(Json(tenant.links(app_id).await?.iter().map(|link| view(link, &public_url)).collect()))
}

/// Fields of a tracking link to change; fields left out keep their value.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateLinkRequest {
    /// The ad network: 1 to 100 characters without control characters.
    #[schema(
        pattern = r"^[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]([^\x00-\x1f\x7f-\x9f]{0,98}[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000])?[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub network: Option<String>,
    /// The campaign name: 1 to 100 characters without control characters.
    #[schema(
        pattern = r"^[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]([^\x00-\x1f\x7f-\x9f]{0,98}[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000])?[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub campaign: Option<String>,
    /// The ad group: up to 100 characters; empty for none.
    #[schema(
        pattern = r"^[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*([^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]([^\x00-\x1f\x7f-\x9f]{0,98}[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000])?)?[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub adgroup: Option<String>,
    /// The creative: up to 100 characters; empty for none.
    #[schema(
        pattern = r"^[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*([^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]([^\x00-\x1f\x7f-\x9f]{0,98}[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000])?)?[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub creative: Option<String>,
    /// Whether opens through it count as re-engagements.
    pub retargeting: Option<bool>,
    /// The deferred deep link (see the create request); empty to remove it.
    #[schema(
        example = "myapp://product/42",
        pattern = r"^[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*([A-Za-z][A-Za-z0-9+.-]{0,31}:[!-~]{1,2000})?[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub deep_link: Option<String>,
}

/// The path of one tracking link.
#[derive(Deserialize)]
pub struct LinkPath {
    /// The link's id.
    pub link_id: String,
}

fn link_id(path: &LinkPath) -> ApiResult<unmogrowp_domain::LinkId> {
    unmogrowp_domain::LinkId::parse(&path.link_id).ok_or_else(|| ApiError::not_found("link"))
}

/// Changes a tracking link. Touchpoints recorded before keep the network and campaign they
/// were recorded with; later ones are credited to the new values.
#[utoipa::path(patch, path = "/api/v1/apps/{app_id}/links/{link_id}", tag = "links", security(("bearer" = [])),
    params(("app_id" = String, Path, description = "The app's id"), ("link_id" = String, Path, description = "The link's id")),
    request_body = UpdateLinkRequest,
    responses((status = 200, description = "The changed link", body = LinkView),
              (status = 404, description = "No such app or link", body = crate::error::ProblemDocument, content_type = "application/problem+json")))]
pub async fn update_link(
    State(state): State<AppState>,
    found: TenantApp<AsMember>,
    client: ClientInfo,
    Path(path): Path<LinkPath>,
    ApiJson(request): ApiJson<UpdateLinkRequest>,
) -> ApiResult<Json<LinkView>> {
    let id = link_id(&path)?;
    let mut errors = FieldErrors::new();
    let mut text = |field: &str, value: Option<&str>, required: bool| {
        value.map(|value| label(&mut errors, field, Some(value), required))
    };
    let network = text("network", request.network.as_deref(), true);
    let campaign = text("campaign", request.campaign.as_deref(), true);
    let adgroup = text("adgroup", request.adgroup.as_deref(), false);
    let creative = text("creative", request.creative.as_deref(), false);
    // Given: checked, or `""` to remove it.
    let deep_link = request.deep_link.as_deref().map(|raw| {
        unmogrowp_domain::validate::deep_link("deep_link", raw, &mut errors).unwrap_or_default()
    });
    if network.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(unmogrowp_eventstore::ORGANIC)) {
        errors.push("network", "`organic` is reserved for installs without a touchpoint");
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors.into_vec()));
    }
    let patch = LinkPatch {
        network,
        campaign,
        adgroup,
        creative,
        retargeting: request.retargeting,
        deep_link,
    };
    let link =
        found.tenant().update_link(&found.app.id, &id, patch).await.map_err(
            |error| match error {
                unmogrowp_storage::StorageError::NotFound => ApiError::not_found("link"),
                other => other.into(),
            },
        )?;
    state.invalidate(crate::shared::Invalidation::Link { id: id.to_string() }).await;
    Audit::new("link.changed", &client)
        .by(&found.auth)
        .target(format!("link:{id}"))
        .details(&serde_json::json!({ "network": link.network, "campaign": link.campaign, "adgroup": link.adgroup, "creative": link.creative, "retargeting": link.retargeting }))
        .record(&state.store, &found.auth)
        .await;
    Ok(Json(view(&link, &state.config.public_url())))
}

/// Deletes a tracking link: its click and impression URLs answer 404 from now on (what they
/// recorded stays in reports).
#[utoipa::path(delete, path = "/api/v1/apps/{app_id}/links/{link_id}", tag = "links", security(("bearer" = [])),
    params(("app_id" = String, Path, description = "The app's id"), ("link_id" = String, Path, description = "The link's id")),
    responses((status = 204, description = "Deleted"),
              (status = 404, description = "No such app or link", body = crate::error::ProblemDocument, content_type = "application/problem+json")))]
pub async fn delete_link(
    State(state): State<AppState>,
    found: TenantApp<AsMember>,
    client: ClientInfo,
    Path(path): Path<LinkPath>,
) -> ApiResult<StatusCode> {
    let id = link_id(&path)?;
    found.tenant().delete_link(&found.app.id, &id).await.map_err(|error| match error {
        unmogrowp_storage::StorageError::NotFound => ApiError::not_found("link"),
        other => other.into(),
    })?;
    state.invalidate(crate::shared::Invalidation::Link { id: id.to_string() }).await;
    Audit::new("link.deleted", &client)
        .by(&found.auth)
        .target(format!("link:{id}"))
        .record(&state.store, &found.auth)
        .await;
    Ok(StatusCode::NO_CONTENT)
}
