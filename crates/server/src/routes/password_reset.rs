//! Forgotten passwords: the emailed single-use link, and setting a new password with it.

use super::auth::hash_new_password;
use crate::audit::Audit;
use crate::auth::ClientInfo;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::mail::{send_in_background, templates};
use crate::secrets::{random_token, token_hash};
use crate::shared::Invalidation;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use unmogrowp_domain::password::Password;
use unmogrowp_domain::validate::Email;

const RESET_PURPOSE: &str = "password_reset";
const RESETS_PER_HOUR: u64 = 5;

/// The account to send a password-reset link to.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForgotPasswordRequest {
    /// The account's email address. The answer is the same whether or not an account has it.
    #[schema(
        pattern = r"^[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[!-?A-~]{1,64}@[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$",
        max_length = 254
    )]
    pub email: String,
}

/// Sends a password-reset link if the account exists. Answers 202 either way, at once (the
/// work happens in the background, so neither the answer nor its timing tells whether the
/// account exists).
#[utoipa::path(post, path = "/api/v1/auth/forgot-password", tag = "accounts", request_body = ForgotPasswordRequest,
    responses(
        (status = 202, description = "If the account exists, an email is on its way"),
        (status = 429, description = "Too many requests from this address; see Retry-After and RateLimit", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
    ))]
pub async fn forgot_password(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiJson(request): ApiJson<ForgotPasswordRequest>,
) -> ApiResult<StatusCode> {
    crate::limits::admit(&state.limits.auth, &client).await?;
    let email = Email::parse(&request.email)
        .map_err(|message| ApiError::invalid_field("email", message))?;
    tokio::spawn(async move {
        if let Err(error) = send_reset(&state, &client, email.as_str()).await {
            tracing::error!(error = %error, "password reset request failed");
        }
    });
    Ok(StatusCode::ACCEPTED)
}

async fn send_reset(state: &AppState, client: &ClientInfo, email: &str) -> anyhow::Result<()> {
    let Some(credentials) = state.store.accounts().credentials_by_email(email).await? else {
        tracing::info!("password reset asked for an unknown address");
        return Ok(());
    };
    let user = credentials.user;
    let hour_ago = unmogrowp_domain::time::now_millis() - 3_600_000;
    if state.store.accounts().count_one_time_tokens(&user.id, RESET_PURPOSE, hour_ago).await?
        >= RESETS_PER_HOUR
    {
        tracing::warn!(user_id = %user.id, "password reset emails are rate limited for this account");
        return Ok(());
    }
    let token = random_token(32);
    let ttl_minutes = state.auth.config.password_reset_ttl_minutes;
    let expires_at = unmogrowp_domain::time::now_millis()
        + i64::try_from(ttl_minutes * 60_000).unwrap_or(900_000);
    state
        .store
        .accounts()
        .add_one_time_token(&token_hash(&token), RESET_PURPOSE, &user.id, expires_at)
        .await?;
    let link = format!("{}/reset-password?token={token}", state.config.public_url());
    send_in_background(
        state.mailer.clone(),
        templates::password_reset(&user.email, &user.name, &link, ttl_minutes),
    );
    Audit::new("auth.password_reset_requested", client)
        .actor(Some(&user.id), &user.email)
        .record_for_user(&state.store, &user.id)
        .await;
    Ok(())
}

/// A new password, with the token from a password-reset email.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetPasswordRequest {
    /// The token from the emailed link.
    pub token: String,
    /// The new password: 8 to 128 characters, not one of the most common passwords.
    pub password: String,
}

/// Sets a new password with a token from a reset email. The token works once and for 15
/// minutes; every session of the user ends, and the user is told by email.
#[utoipa::path(post, path = "/api/v1/auth/reset-password", tag = "accounts", request_body = ResetPasswordRequest,
    responses(
        (status = 204, description = "Password changed"),
        (status = 400, description = "Invalid password, or an unknown, used or expired token", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
        (status = 429, description = "Too many requests from this address; see Retry-After and RateLimit", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
    ))]
pub async fn reset_password(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiJson(request): ApiJson<ResetPasswordRequest>,
) -> ApiResult<StatusCode> {
    crate::limits::admit(&state.limits.auth, &client).await?;
    let invalid_token = || {
        ApiError::bad_request(
            "invalid_token",
            "this reset link is invalid, was already used or has expired",
        )
        .with_errors(vec![unmogrowp_domain::validate::FieldError::new(
            "token",
            "is invalid, used or expired",
        )])
    };
    // The token is checked before hashing, so bogus resets cost a lookup, not a hash; it is
    // used up only after the hash, so a busy hash pool does not burn a good link.
    let hashed_token = token_hash(request.token.trim());
    let Some(holder) =
        state.store.accounts().one_time_token_user(&hashed_token, RESET_PURPOSE).await?
    else {
        return Err(invalid_token());
    };
    // The password is judged against the account it is for, and before the token is used,
    // so a weak choice does not burn the link.
    let related = match state.store.accounts().user(&holder).await? {
        Some(user) => vec![user.email, user.name],
        None => Vec::new(),
    };
    let related: Vec<&str> = related.iter().map(String::as_str).collect();
    let password = Password::parse_for(&request.password, &related)
        .map_err(|message| ApiError::invalid_field("password", message))?;
    let password_hash = hash_new_password(&state, &password).await?;
    let user_id = state.store.accounts().use_one_time_token(&hashed_token, RESET_PURPOSE).await?;
    let Some(user_id) = user_id else { return Err(invalid_token()) };
    state.store.accounts().set_password(&user_id, &password_hash).await?;
    let ended = state.store.accounts().revoke_user_sessions(&user_id, "password_reset").await?;
    for session_id in &ended {
        state.invalidate(Invalidation::Session { id: session_id.to_string() }).await;
    }
    if let Some(user) = state.store.accounts().user(&user_id).await? {
        send_in_background(
            state.mailer.clone(),
            templates::password_changed(&user.email, &user.name),
        );
        Audit::new("auth.password_reset", &client)
            .actor(Some(&user.id), &user.email)
            .details(&serde_json::json!({ "sessions_ended": ended.len() }))
            .record_for_user(&state.store, &user.id)
            .await;
    }
    Ok(StatusCode::NO_CONTENT)
}
