//! An organization's long-lived API tokens, for BI tools and scripts: `Authorization: Bearer
//! unm_…` on the management and reporting API, acting as the member who made the token within
//! the token's role (never above that member's role when it was made). Shown once, kept as a
//! SHA-256 hash, named, optionally expiring, revocable (a revoked token fails at once on every
//! node). Only admins and owners manage them, signed in as themselves.

use crate::audit::Audit;
use crate::auth::{Auth, ClientInfo};
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::shared::Invalidation;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use unmogrowp_domain::time::rfc3339;
use unmogrowp_domain::validate::FieldErrors;
use unmogrowp_domain::{ApiTokenId, Role};
use unmogrowp_storage::tenant::AsAdmin;
use unmogrowp_storage::{ApiToken, NewApiToken};

/// The furthest expiry a token may be given: 5 years from now.
const MAX_LIFETIME_MS: i64 = 5 * 366 * 86_400_000;

/// A new API token.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiTokenRequest {
    /// What the token is for, e.g. `Looker`: 1 to 100 characters without control characters
    /// (surrounding spaces are trimmed).
    #[schema(
        example = "Looker",
        pattern = r"^[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]([^\x00-\x1f\x7f-\x9f]{0,98}[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000])?[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub name: String,
    /// The role requests with the token act with: `viewer`, `member`, `admin` or `owner`, at
    /// most the caller's own role.
    pub role: Role,
    /// When the token stops working (RFC 3339, in the future, at most 5 years ahead); left out
    /// or null for never (an empty string is not a time).
    #[schema(example = "2027-06-30T00:00:00Z", format = DateTime)]
    pub expires_at: Option<String>,
}

/// An API token as lists show it (never the token itself).
#[derive(Serialize, utoipa::ToSchema)]
pub struct ApiTokenView {
    /// The token's id (for revoking it).
    pub id: String,
    /// What it is for.
    pub name: String,
    /// The role its requests act with.
    pub role: Role,
    /// Its first 12 characters (`unm_` and 8 more), to recognise it.
    pub prefix: String,
    /// The user id of the member who made it (requests with it act as this member).
    pub created_by: String,
    /// When it was made (RFC 3339, UTC).
    pub created_at: String,
    /// When it stops working (RFC 3339, UTC); null for never.
    pub expires_at: Option<String>,
    /// When a request last used it (RFC 3339, UTC, recorded at most about once a minute);
    /// null when never used.
    pub last_used_at: Option<String>,
    /// When it was revoked (RFC 3339, UTC); null while it works.
    pub revoked_at: Option<String>,
}

impl From<&ApiToken> for ApiTokenView {
    fn from(token: &ApiToken) -> Self {
        Self {
            id: token.id.to_string(),
            name: token.name.clone(),
            role: token.role,
            prefix: token.prefix.clone(),
            created_by: token.created_by.to_string(),
            created_at: rfc3339(token.created_at),
            expires_at: token.expires_at.map(rfc3339),
            last_used_at: token.last_used_at.map(rfc3339),
            revoked_at: token.revoked_at.map(rfc3339),
        }
    }
}

/// A new API token with the token itself, shown this once.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CreatedApiTokenView {
    /// The token: send it as `Authorization: Bearer unm_…`. Only its hash is kept: it cannot
    /// be shown again.
    pub token: String,
    /// The token as lists show it.
    #[serde(flatten)]
    pub details: ApiTokenView,
}

/// The organization's API tokens.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ApiTokenList {
    /// Oldest first, revoked and expired ones included.
    pub tokens: Vec<ApiTokenView>,
}

/// Creates an API token of the organization. The token is in this answer only.
#[utoipa::path(post, path = "/api/v1/org/api-tokens", tag = "organizations", security(("bearer" = [])),
    request_body = CreateApiTokenRequest,
    responses(
        (status = 201, description = "Created; the token is shown once", body = CreatedApiTokenView),
        (status = 400, description = "A field is invalid (named in `errors`)", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
        (status = 403, description = "Admins and owners only, signed in (not with an API token); a role above the caller's", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
    ))]
pub async fn create_api_token(
    State(state): State<AppState>,
    auth: Auth,
    client: ClientInfo,
    ApiJson(request): ApiJson<CreateApiTokenRequest>,
) -> ApiResult<(StatusCode, Json<CreatedApiTokenView>)> {
    auth.require_session()?;
    let tenant = auth.tenant::<AsAdmin>(&state.store)?;
    let mut errors = FieldErrors::new();
    let name = unmogrowp_domain::validate::name("name", &request.name, 100, &mut errors);
    let now = unmogrowp_domain::time::now_millis();
    let expires_at = match request.expires_at.as_deref() {
        None => None,
        Some(text) => match text.parse::<jiff::Timestamp>() {
            Ok(at) if at.as_millisecond() <= now => {
                errors.push("expires_at", "must be in the future");
                None
            }
            Ok(at) if at.as_millisecond() > now + MAX_LIFETIME_MS => {
                errors.push("expires_at", "must be at most 5 years ahead");
                None
            }
            Ok(at) => Some(at.as_millisecond()),
            Err(_) => {
                errors.push("expires_at", "must be an RFC 3339 time such as 2027-06-30T00:00:00Z");
                None
            }
        },
    };
    if !errors.is_empty() {
        return Err(ApiError::validation(errors.into_vec()));
    }
    if request.role > auth.role() {
        return Err(ApiError::forbidden(format!(
            "a token cannot have a role above yours ({})",
            auth.role().as_str()
        )));
    }
    let issued = unmogrowp_auth::new_api_token();
    let token = tenant
        .create_api_token(&NewApiToken {
            name,
            role: request.role,
            prefix: issued.prefix.clone(),
            token_hash: issued.token_hash.clone(),
            expires_at,
        })
        .await?;
    Audit::new("api_token.created", &client)
        .by(&auth)
        .target(format!("api_token:{}", token.id))
        .details(&serde_json::json!({ "name": token.name, "role": token.role.as_str(),
            "prefix": token.prefix }))
        .record(&state.store, &auth)
        .await;
    Ok((
        StatusCode::CREATED,
        Json(CreatedApiTokenView { token: issued.token, details: ApiTokenView::from(&token) }),
    ))
}

/// The organization's API tokens (never the tokens themselves).
#[utoipa::path(get, path = "/api/v1/org/api-tokens", tag = "organizations", security(("bearer" = [])),
    responses(
        (status = 200, description = "The tokens", body = ApiTokenList),
        (status = 403, description = "Admins and owners only, signed in", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
    ))]
pub async fn list_api_tokens(
    State(state): State<AppState>,
    auth: Auth,
) -> ApiResult<Json<ApiTokenList>> {
    auth.require_session()?;
    let tokens = auth.tenant::<AsAdmin>(&state.store)?.api_tokens().await?;
    Ok(Json(ApiTokenList { tokens: tokens.iter().map(ApiTokenView::from).collect() }))
}

/// Revokes an API token: requests with it fail at once, on every node.
#[utoipa::path(delete, path = "/api/v1/org/api-tokens/{token_id}", tag = "organizations", security(("bearer" = [])),
    params(("token_id" = String, Path, description = "The token's id")),
    responses(
        (status = 204, description = "Revoked (revoking again changes nothing)"),
        (status = 403, description = "Admins and owners only, signed in", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
        (status = 404, description = "No such token in this organization", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
    ))]
pub async fn revoke_api_token(
    State(state): State<AppState>,
    auth: Auth,
    client: ClientInfo,
    Path(token_id): Path<String>,
) -> ApiResult<StatusCode> {
    auth.require_session()?;
    let tenant = auth.tenant::<AsAdmin>(&state.store)?;
    let id = ApiTokenId::parse(&token_id).ok_or_else(|| ApiError::not_found("API token"))?;
    let token = tenant.revoke_api_token(&id).await.map_err(|error| match error {
        unmogrowp_storage::StorageError::NotFound => ApiError::not_found("API token"),
        other => other.into(),
    })?;
    state.invalidate(Invalidation::ApiToken { token_hash: token.token_hash.clone() }).await;
    Audit::new("api_token.revoked", &client)
        .by(&auth)
        .target(format!("api_token:{}", token.id))
        .details(&serde_json::json!({ "name": token.name, "prefix": token.prefix }))
        .record(&state.store, &auth)
        .await;
    Ok(StatusCode::NO_CONTENT)
}
