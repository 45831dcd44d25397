//! Accounts: registration, login, tokens, password reset.

use crate::error::ApiResult;
use crate::extract::ApiJson;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use unmogrowp_domain::validate::Email;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckEmailRequest {
    pub email: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CheckEmailResponse {
    /// Whether an account could be registered with this address.
    pub available: bool,
}

/// Whether an email address is free to register.
#[utoipa::path(post, path = "/api/v1/auth/check-email", tag = "accounts",
    request_body = CheckEmailRequest,
    responses(
        (status = 200, description = "Availability", body = CheckEmailResponse),
        (status = 400, description = "Not an email address", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
    ))]
pub async fn check_email(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<CheckEmailRequest>,
) -> ApiResult<Json<CheckEmailResponse>> {
    let email = Email::parse(&request.email)
        .map_err(|message| crate::error::ApiError::invalid_field("email", message))?;
    let existing = state.store.accounts().credentials_by_email(email.as_str()).await?;
    Ok(Json(CheckEmailResponse { available: existing.is_none() }))
}
