//! The signed-in user's own account: display name and password.

use crate::audit::Audit;
use crate::auth::{Auth, ClientInfo};
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::routes::auth::hash_new_password;
use crate::routes::views::UserView;
use crate::shared::Invalidation;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use unmogrowp_domain::password::Password;
use unmogrowp_domain::validate::FieldErrors;
use unmogrowp_jobs::mail::{send_in_background, templates};

/// The account's fields to change.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMeRequest {
    /// The display name: 1 to 100 characters (surrounding spaces are trimmed).
    #[schema(
        pattern = r"^[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]([^\x00-\x1f\x7f-\x9f]{0,98}[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000])?[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub name: String,
}

/// Changes the signed-in user's display name.
#[utoipa::path(patch, path = "/api/v1/me", tag = "organizations", security(("bearer" = [])),
    request_body = UpdateMeRequest,
    responses((status = 200, description = "The account", body = UserView)))]
pub async fn update_me(
    State(state): State<AppState>,
    auth: Auth,
    client: ClientInfo,
    ApiJson(request): ApiJson<UpdateMeRequest>,
) -> ApiResult<Json<UserView>> {
    auth.require_session()?;
    let mut errors = FieldErrors::new();
    let name = unmogrowp_domain::validate::name("name", &request.name, 100, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::validation(errors.into_vec()));
    }
    let accounts = state.store.accounts();
    accounts.set_name(&auth.user_id, &name).await?;
    let user = accounts
        .user(&auth.user_id)
        .await?
        .ok_or_else(|| ApiError::unauthorized("unknown user"))?;
    Audit::new("account.renamed", &client)
        .by(&auth)
        .record_for_user(&state.store, &auth.user_id)
        .await;
    Ok(Json(UserView::from(&user)))
}

/// A new password, with the current one.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    /// The account's current password.
    #[schema(min_length = 1)]
    pub current_password: String,
    /// The new password: 8 to 128 characters (at least 8 other than spaces), not one of the
    /// most common, not containing the email or name, and not easily guessed.
    #[schema(min_length = 8, max_length = 128)]
    pub password: String,
}

/// Changes the signed-in user's password. Every other session of the account ends (this one
/// stays), and the user is told by email.
#[utoipa::path(post, path = "/api/v1/me/password", tag = "organizations", security(("bearer" = [])),
    request_body = ChangePasswordRequest,
    responses((status = 204, description = "Changed; every other session ended"),
              (status = 400, description = "The current password is wrong, or the new one is too weak (`errors` says which)", body = crate::error::ProblemDocument, content_type = "application/problem+json")))]
pub async fn change_password(
    State(state): State<AppState>,
    auth: Auth,
    client: ClientInfo,
    ApiJson(request): ApiJson<ChangePasswordRequest>,
) -> ApiResult<StatusCode> {
    let current_session = auth.require_session()?.clone();
    // Guessing the current password with a stolen session is held to the same budget as
    // other password work from this address.
    crate::limits::admit(&state.limits.auth, &client).await?;
    let accounts = state.store.accounts();
    let credentials = accounts
        .credentials_by_id(&auth.user_id)
        .await?
        .ok_or_else(|| ApiError::unauthorized("unknown user"))?;
    let related = [credentials.user.email.as_str(), credentials.user.name.as_str()];
    let password = Password::parse_for(&request.password, &related)
        .map_err(|message| ApiError::invalid_field("password", message))?;
    let current_ok = state
        .auth
        .passwords
        .verify(&request.current_password, &credentials.password_hash)
        .await
        .map_err(crate::routes::auth::hash_error)?;
    if !current_ok {
        Audit::new("auth.password_change", &client)
            .by(&auth)
            .outcome(unmogrowp_storage::Outcome::Failure)
            .record_for_user(&state.store, &auth.user_id)
            .await;
        return Err(ApiError::invalid_field("current_password", "is not this account's password"));
    }
    let password_hash = hash_new_password(&state, &password).await?;
    accounts.set_password(&auth.user_id, &password_hash).await?;
    let ended =
        accounts.revoke_other_sessions(&auth.user_id, &current_session, "password_changed").await?;
    for session_id in &ended {
        state.invalidate(Invalidation::Session { id: session_id.to_string() }).await;
    }
    send_in_background(
        state.mailer.clone(),
        templates::password_changed(&credentials.user.email, &credentials.user.name),
    );
    Audit::new("auth.password_changed", &client)
        .by(&auth)
        .details(&serde_json::json!({ "sessions_ended": ended.len() }))
        .record_for_user(&state.store, &auth.user_id)
        .await;
    Ok(StatusCode::NO_CONTENT)
}

/// An organization to create.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrganizationRequest {
    /// Its name: 1 to 100 characters (surrounding spaces are trimmed).
    #[schema(
        pattern = r"^[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]([^\x00-\x1f\x7f-\x9f]{0,98}[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000])?[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub name: String,
}

/// Creates another organization, owned by the signed-in user (send its id as `X-Org-Id` to
/// act in it; `GET /api/v1/me` lists it among the user's organizations).
#[utoipa::path(post, path = "/api/v1/organizations", tag = "organizations", security(("bearer" = [])),
    request_body = CreateOrganizationRequest,
    responses((status = 201, description = "Created, with the caller as owner", body = crate::routes::org::MembershipView)))]
pub async fn create_organization(
    State(state): State<AppState>,
    auth: Auth,
    client: ClientInfo,
    ApiJson(request): ApiJson<CreateOrganizationRequest>,
) -> ApiResult<(StatusCode, Json<crate::routes::org::MembershipView>)> {
    auth.require_session()?;
    let mut errors = FieldErrors::new();
    let name = unmogrowp_domain::validate::name("name", &request.name, 100, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::validation(errors.into_vec()));
    }
    let (organization, membership) =
        state.store.accounts().create_organization(&auth.user_id, &name).await?;
    Audit::new("organization.created", &client)
        .by(&auth)
        .target(format!("organization:{}", organization.id))
        .record_for(&state.store, Some(&organization.id))
        .await;
    Ok((
        StatusCode::CREATED,
        Json(crate::routes::org::MembershipView {
            id: organization.id.to_string(),
            name: organization.name,
            role: membership.role().as_str().to_owned(),
        }),
    ))
}
