//! Accounts: registration, login, tokens, logout, password reset, invitations' acceptance.

use crate::audit::Audit;
use crate::auth::passwords::HashClass;
use crate::auth::throttle::ThrottleKind;
use crate::auth::{Auth, ClientInfo};
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;

use crate::routes::views::{AuthResponse, OrganizationView, UserView};
use crate::secrets::token_hash;
use crate::shared::Invalidation;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use unmogrowp_domain::password::Password;
use unmogrowp_domain::validate::{Email, FieldErrors};
use unmogrowp_storage::{
    Acceptor, Membership, NewSession, NewUser, Organization, Outcome, RefreshOutcome, StorageError,
    User,
};

const BAD_CREDENTIALS: &str = "invalid email or password";

/// Hashes a new password (registration, reset, invitation) in the bulk share of the pool,
/// which a flood of such requests cannot grow past, so sign-ins keep theirs.
pub(crate) async fn hash_new_password(state: &AppState, password: &Password) -> ApiResult<String> {
    state.auth.passwords.hash_in(HashClass::Bulk, password.expose()).await.map_err(hash_error)
}

pub(crate) fn hash_error(error: crate::auth::passwords::HashError) -> ApiError {
    match error {
        crate::auth::passwords::HashError::Busy => {
            ApiError::unavailable(1, "the server is busy checking passwords; try again")
        }
        other => ApiError::internal(anyhow::Error::new(other)),
    }
}

fn required_text(errors: &mut FieldErrors, field: &str, value: &str, max_chars: usize) -> String {
    unmogrowp_domain::validate::name(field, value, max_chars, errors)
}

fn parse_email(errors: &mut FieldErrors, raw: &str) -> Option<Email> {
    Email::parse(raw).map_err(|message| errors.push("email", message)).ok()
}

/// The password if it meets the policy for an account described by `related` (email, name,
/// organization as typed); else its reason is pushed under `password`.
fn parse_password(errors: &mut FieldErrors, raw: &str, related: &[&str]) -> Option<Password> {
    Password::parse_for(raw, related).map_err(|message| errors.push("password", message)).ok()
}

/// Opens a session for the user in the organization and answers with a fresh token pair.
async fn open_session(
    state: &AppState,
    client: &ClientInfo,
    user: &User,
    organization: &Organization,
    membership: &Membership,
    remember_me: bool,
) -> ApiResult<AuthResponse> {
    let ttl = state.auth.session_ttl(remember_me);
    let expires_at = unmogrowp_domain::time::now_millis()
        + i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX / 2);
    let session = state
        .store
        .accounts()
        .create_session(NewSession {
            user_id: user.id.clone(),
            expires_at,
            remember_me,
            ip: client.ip.to_string(),
            user_agent: client.user_agent.clone(),
        })
        .await?;
    let tokens = state.auth.issue(&state.store, user, &session, membership).await?;
    Ok(AuthResponse {
        access_token: tokens.access_token,
        refresh_token: tokens.refresh_token,
        token_type: "Bearer",
        expires_in: tokens.expires_in,
        user: UserView::from(user),
        organization: OrganizationView::from(organization),
        role: membership.role().as_str().to_owned(),
    })
}

/// A new account and the organization it will own.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// The account's email address, at most 254 characters; stored trimmed and in lower case.
    #[schema(
        pattern = r"^[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[!-?A-~]{1,64}@[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$",
        max_length = 254
    )]
    pub email: String,
    /// 8 to 128 characters (at least 8 other than spaces), not one of the most common
    /// passwords, not containing the email or name, and not easily guessed (zxcvbn score 3).
    #[schema(min_length = 8, max_length = 128)]
    pub password: String,
    /// The user's display name: 1 to 100 characters (surrounding spaces are trimmed).
    #[schema(
        pattern = r"^[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]([^\x00-\x1f\x7f-\x9f]{0,98}[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000])?[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub name: String,
    /// The name of the organization to create: 1 to 100 characters.
    #[schema(
        pattern = r"^[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]([^\x00-\x1f\x7f-\x9f]{0,98}[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000])?[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub organization: String,
}

/// Creates an account and its organization, with the new user as owner.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "accounts", request_body = RegisterRequest,
    responses(
        (status = 201, description = "Registered and signed in", body = AuthResponse),
        (status = 400, description = "Invalid fields", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
        (status = 409, description = "The email is taken", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
        (status = 429, description = "Too many requests from this address; see Retry-After and RateLimit", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
    ))]
pub async fn register(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiJson(request): ApiJson<RegisterRequest>,
) -> ApiResult<(StatusCode, Json<AuthResponse>)> {
    crate::limits::admit(&state.limits.auth, &client).await?;
    let mut errors = FieldErrors::new();
    let email = parse_email(&mut errors, &request.email);
    let password = parse_password(
        &mut errors,
        &request.password,
        &[&request.email, &request.name, &request.organization],
    );
    let name = required_text(&mut errors, "name", &request.name, 100);
    let organization_name = required_text(&mut errors, "organization", &request.organization, 100);
    let (Some(email), Some(password)) = (email, password) else {
        return Err(ApiError::validation(errors.into_vec()));
    };
    if !errors.is_empty() {
        return Err(ApiError::validation(errors.into_vec()));
    }
    // A taken email is answered before any hashing (the answer says it is taken anyway, as
    // `check-email` does): a flood of registrations for existing accounts costs a lookup each.
    if state.store.accounts().credentials_by_email(email.as_str()).await?.is_some() {
        return Err(email_taken());
    }
    let password_hash = hash_new_password(&state, &password).await?;
    let registered = state
        .store
        .accounts()
        .register_owner(
            NewUser { email: email.into_string(), name, password_hash },
            &organization_name,
        )
        .await;
    let (user, organization, membership) = match registered {
        Ok(created) => created,
        // Registered meanwhile by another request.
        Err(StorageError::Conflict(_)) => return Err(email_taken()),
        Err(other) => return Err(other.into()),
    };
    let response = open_session(&state, &client, &user, &organization, &membership, false).await?;
    Audit::new("account.registered", &client)
        .actor(Some(&user.id), &user.email)
        .target(format!("organization:{}", organization.id))
        .record_for(&state.store, Some(&organization.id))
        .await;
    Ok((StatusCode::CREATED, Json(response)))
}

fn email_taken() -> ApiError {
    ApiError::conflict("email_taken", "an account with this email already exists").with_errors(
        vec![unmogrowp_domain::validate::FieldError::new("email", "is already registered")],
    )
}

/// Credentials to sign in with.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// The account's email address (case does not matter).
    #[schema(
        pattern = r"^[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[!-?A-~]{1,64}@[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$",
        max_length = 254
    )]
    pub email: String,
    /// The account's password.
    #[schema(min_length = 1)]
    pub password: String,
    /// Keep the session for 30 days instead of 24 hours.
    #[serde(default)]
    pub remember_me: bool,
}

/// How long this account may not be tried from this address (`pair_key`: `email|address`),
/// or this address may not try any (`ip_key`), if at all.
async fn blocked_for(
    state: &AppState,
    pair_key: &str,
    ip_key: &str,
) -> Option<std::time::Duration> {
    let throttle = &state.auth.throttle;
    match (
        throttle.retry_after(ThrottleKind::AccountIp, pair_key).await,
        throttle.retry_after(ThrottleKind::Ip, ip_key).await,
    ) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// Counts a wrong password for `email` from an address; the address's own count is of
/// distinct accounts (one per pair's first failure).
async fn record_failure(
    state: &AppState,
    client: &ClientInfo,
    email: &str,
    pair_key: &str,
    ip_key: &str,
) {
    let throttle = &state.auth.throttle;
    let account = throttle.record_failure(ThrottleKind::Account, email).await;
    if account == state.config.auth.lockout_account_threshold {
        crate::security_events::account_attacked(state, client, email, account).await;
    }
    if throttle.record_failure(ThrottleKind::AccountIp, pair_key).await == 1 {
        let accounts = throttle.record_failure(ThrottleKind::Ip, ip_key).await;
        if accounts == state.config.auth.lockout_ip_threshold {
            crate::security_events::credential_stuffing(state, client, ip_key, accounts).await;
        }
    }
}

/// The longest an attempt on an account under a distributed attack is held back.
const ACCOUNT_SLOWDOWN: std::time::Duration = std::time::Duration::from_secs(2);

fn too_many_attempts(wait: std::time::Duration) -> ApiError {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    ApiError::too_many_requests(
        seconds,
        "too many failed sign-in attempts; wait before trying again",
    )
}

/// Signs in. Bad credentials answer 401 with the same message whether or not the account
/// exists; repeated failures answer 429 with `Retry-After`.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "accounts", request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = AuthResponse),
        (status = 401, description = "Invalid email or password", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
        (status = 429, description = "Too many failures, or too many sign-ins from this address; see Retry-After", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
    ))]
pub async fn login(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiJson(request): ApiJson<LoginRequest>,
) -> ApiResult<Json<AuthResponse>> {
    crate::limits::admit(&state.limits.login, &client).await?;
    let mut errors = FieldErrors::new();
    let email = parse_email(&mut errors, &request.email);
    if request.password.is_empty() {
        errors.push("password", "is required");
    }
    let Some(email) = email.filter(|_| errors.is_empty()) else {
        return Err(ApiError::validation(errors.into_vec()));
    };
    let ip_key = crate::limits::address_key(client.ip);
    let pair_key = format!("{}|{ip_key}", email.as_str());
    let throttle = &state.auth.throttle;
    // Guessing this account from this address, or many accounts from it, is blocked…
    let wait = blocked_for(&state, &pair_key, &ip_key).await;
    let credentials = state.store.accounts().credentials_by_email(email.as_str()).await?;
    if let Some(wait) = wait {
        let audit = Audit::new("auth.login", &client)
            .actor(credentials.as_ref().map(|c| &c.user.id), email.as_str())
            .outcome(Outcome::Denied)
            .details(&serde_json::json!({ "reason": "throttled" }));
        match &credentials {
            Some(found) => audit.record_for_user(&state.store, &found.user.id).await,
            None => audit.record_for(&state.store, None).await,
        }
        return Err(too_many_attempts(wait));
    }
    // …while failures from everywhere only slow the account down: its owner, signing in from
    // an address that has not failed, still gets in.
    if let Some(wait) = throttle.retry_after(ThrottleKind::Account, email.as_str()).await {
        tokio::time::sleep(wait.min(ACCOUNT_SLOWDOWN)).await;
    }
    let verified = match &credentials {
        Some(found) => state
            .auth
            .passwords
            .verify(&request.password, &found.password_hash)
            .await
            .map_err(hash_error)?,
        None => {
            state.auth.passwords.verify_nothing(&request.password).await.map_err(hash_error)?;
            false
        }
    };
    let credentials = match credentials {
        Some(found) if verified => found,
        other => {
            record_failure(&state, &client, email.as_str(), &pair_key, &ip_key).await;
            metrics::counter!(unmogrowp_auth::metric_names::LOGINS_TOTAL, "outcome" => "failure")
                .increment(1);
            let audit = Audit::new("auth.login", &client)
                .actor(other.as_ref().map(|c| &c.user.id), email.as_str())
                .outcome(Outcome::Failure)
                .details(&serde_json::json!({ "reason": "bad_credentials" }));
            match other {
                Some(found) => audit.record_for_user(&state.store, &found.user.id).await,
                None => audit.record_for(&state.store, None).await,
            }
            return Err(ApiError::unauthorized(BAD_CREDENTIALS));
        }
    };
    throttle.clear(ThrottleKind::Account, email.as_str()).await;
    throttle.clear(ThrottleKind::AccountIp, &pair_key).await;
    let user = credentials.user;
    let memberships = state.store.accounts().memberships(&user.id).await?;
    let Some(first) = memberships.into_iter().next() else {
        return Err(ApiError::forbidden("this account belongs to no organization any more"));
    };
    let response = open_session(
        &state,
        &client,
        &user,
        &first.organization,
        &first.membership,
        request.remember_me,
    )
    .await?;
    metrics::counter!(unmogrowp_auth::metric_names::LOGINS_TOTAL, "outcome" => "success")
        .increment(1);
    Audit::new("auth.login", &client)
        .actor(Some(&user.id), &user.email)
        .record_for(&state.store, Some(&first.organization.id))
        .await;
    Ok(Json(response))
}

/// A refresh token to exchange for a new token pair.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token of the latest pair. It works once: a used one is refused and ends the
    /// session.
    pub refresh_token: String,
}

/// Exchanges a refresh token for a new pair. Each refresh token works once; presenting a used
/// one ends the whole session (it was stolen or replayed).
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "accounts", request_body = RefreshRequest,
    responses(
        (status = 200, description = "A new pair", body = AuthResponse),
        (status = 401, description = "Unknown, used or expired refresh token", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
    ))]
pub async fn refresh(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiJson(request): ApiJson<RefreshRequest>,
) -> ApiResult<Json<AuthResponse>> {
    let outcome =
        state.store.accounts().use_refresh_token(&token_hash(request.refresh_token.trim())).await?;
    let (session_id, org_id) = match outcome {
        RefreshOutcome::Rotated { session_id, org_id } => (session_id, org_id),
        RefreshOutcome::Reused { session_id } => {
            state.invalidate(Invalidation::Session { id: session_id.to_string() }).await;
            if let Ok(Some(session)) = state.store.accounts().session(&session_id).await {
                let email = match state.store.accounts().user(&session.user_id).await {
                    Ok(Some(user)) => user.email,
                    _ => String::new(),
                };
                Audit::new("auth.refresh_token_reused", &client)
                    .actor(Some(&session.user_id), &email)
                    .target(format!("session:{session_id}"))
                    .outcome(Outcome::Denied)
                    .record_for_user(&state.store, &session.user_id)
                    .await;
            }
            return Err(ApiError::unauthorized(
                "this refresh token was already used; the session has been ended, sign in again",
            ));
        }
        RefreshOutcome::Unknown => return Err(ApiError::unauthorized("unknown refresh token")),
    };
    let now = unmogrowp_domain::time::now_millis();
    let session = state.store.accounts().session(&session_id).await?.filter(|s| s.is_active(now));
    let Some(session) = session else {
        return Err(ApiError::unauthorized("the session has ended; sign in again"));
    };
    let user = state
        .store
        .accounts()
        .user(&session.user_id)
        .await?
        .ok_or_else(|| ApiError::unauthorized("unknown user"))?;
    let memberships = state.store.accounts().memberships(&user.id).await?;
    let chosen = memberships
        .iter()
        .find(|m| m.organization.id == org_id)
        .or_else(|| memberships.first())
        .ok_or_else(|| ApiError::forbidden("this account belongs to no organization any more"))?;
    let tokens = state.auth.issue(&state.store, &user, &session, &chosen.membership).await?;
    Ok(Json(AuthResponse {
        access_token: tokens.access_token,
        refresh_token: tokens.refresh_token,
        token_type: "Bearer",
        expires_in: tokens.expires_in,
        user: UserView::from(&user),
        organization: OrganizationView::from(&chosen.organization),
        role: chosen.membership.role().as_str().to_owned(),
    }))
}

/// Ends the session: its access and refresh tokens stop working at once.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "accounts", security(("bearer" = [])),
    responses((status = 204, description = "Signed out")))]
pub async fn logout(
    State(state): State<AppState>,
    auth: Auth,
    client: ClientInfo,
) -> ApiResult<StatusCode> {
    let session_id = auth.require_session()?;
    state.store.accounts().revoke_session(session_id, "logout").await?;
    state.invalidate(Invalidation::Session { id: session_id.to_string() }).await;
    Audit::new("auth.logout", &client).by(&auth).record(&state.store, &auth).await;
    Ok(StatusCode::NO_CONTENT)
}

/// An email address to check.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckEmailRequest {
    /// The address to check (case does not matter).
    #[schema(
        pattern = r"^[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[!-?A-~]{1,64}@[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$",
        max_length = 254
    )]
    pub email: String,
}

/// Whether an email address is free to register.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CheckEmailResponse {
    /// Whether an account could be registered with this address.
    pub available: bool,
}

/// Whether an email address is free to register.
#[utoipa::path(post, path = "/api/v1/auth/check-email", tag = "accounts", request_body = CheckEmailRequest,
    responses(
        (status = 200, description = "Availability", body = CheckEmailResponse),
        (status = 400, description = "Not an email address", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
        (status = 429, description = "Too many requests from this address; see Retry-After and RateLimit", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
    ))]
pub async fn check_email(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiJson(request): ApiJson<CheckEmailRequest>,
) -> ApiResult<Json<CheckEmailResponse>> {
    crate::limits::admit(&state.limits.check_email, &client).await?;
    let email = Email::parse(&request.email)
        .map_err(|message| ApiError::invalid_field("email", message))?;
    let existing = state.store.accounts().credentials_by_email(email.as_str()).await?;
    Ok(Json(CheckEmailResponse { available: existing.is_none() }))
}

/// The acceptance of an invitation to join an organization.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptInvitationRequest {
    /// The token from the emailed link.
    pub token: String,
    /// Your name (for a new account; ignored when the email already has one).
    pub name: String,
    /// A new password, or the existing account's password.
    pub password: String,
}

/// Joins the organization of an invitation, creating the account if the email has none,
/// and signs in there.
#[utoipa::path(post, path = "/api/v1/auth/accept-invitation", tag = "accounts", request_body = AcceptInvitationRequest,
    responses(
        (status = 200, description = "Joined and signed in", body = AuthResponse),
        (status = 400, description = "Invalid fields or an unknown, used or expired token", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
        (status = 401, description = "Wrong password for the existing account", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
        (status = 429, description = "Too many requests from this address; see Retry-After and RateLimit", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
    ))]
pub async fn accept_invitation(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiJson(request): ApiJson<AcceptInvitationRequest>,
) -> ApiResult<Json<AuthResponse>> {
    crate::limits::admit(&state.limits.auth, &client).await?;
    let invalid = || {
        ApiError::bad_request(
            "invalid_token",
            "this invitation is invalid, was already used or has expired",
        )
        .with_errors(vec![unmogrowp_domain::validate::FieldError::new(
            "token",
            "is invalid, used or expired",
        )])
    };
    let now = unmogrowp_domain::time::now_millis();
    let invitation =
        state.store.accounts().invitation_by_token(&token_hash(request.token.trim())).await?;
    let Some(invitation) = invitation.filter(|i| i.accepted_at.is_none() && i.expires_at > now)
    else {
        return Err(invalid());
    };
    let acceptor = match state.store.accounts().credentials_by_email(&invitation.email).await? {
        Some(existing) => {
            // A password check like a sign-in's, under the same throttles: the invitation's
            // holder must not get unlimited guesses at the account's password.
            let ip_key = crate::limits::address_key(client.ip);
            let pair_key = format!("{}|{ip_key}", invitation.email);
            if let Some(wait) = blocked_for(&state, &pair_key, &ip_key).await {
                return Err(too_many_attempts(wait));
            }
            let matches = state
                .auth
                .passwords
                .verify(&request.password, &existing.password_hash)
                .await
                .map_err(hash_error)?;
            if !matches {
                record_failure(&state, &client, &invitation.email, &pair_key, &ip_key).await;
                return Err(ApiError::unauthorized(
                    "an account with this email exists; give its password to join",
                ));
            }
            Acceptor::Existing(existing.user.id)
        }
        None => {
            let mut errors = FieldErrors::new();
            let name = required_text(&mut errors, "name", &request.name, 100);
            let password =
                parse_password(&mut errors, &request.password, &[&invitation.email, &request.name]);
            let Some(password) = password.filter(|_| errors.is_empty()) else {
                return Err(ApiError::validation(errors.into_vec()));
            };
            let password_hash = hash_new_password(&state, &password).await?;
            Acceptor::New(NewUser { email: invitation.email.clone(), name, password_hash })
        }
    };
    let (user, membership) =
        match state.store.accounts().accept_invitation(&invitation.id, acceptor).await {
            Ok(accepted) => accepted,
            Err(StorageError::Refused(_)) => return Err(invalid()),
            Err(other) => return Err(other.into()),
        };
    state
        .invalidate(Invalidation::Membership {
            user_id: user.id.to_string(),
            org_id: membership.org_id().to_string(),
        })
        .await;
    let organization = state.store.reader(&membership).organization().await?;
    let response = open_session(&state, &client, &user, &organization, &membership, false).await?;
    Audit::new("member.joined", &client)
        .actor(Some(&user.id), &user.email)
        .target(format!("user:{}", user.id))
        .details(&serde_json::json!({ "role": membership.role().as_str(), "invitation": invitation.id.to_string() }))
        .record_for(&state.store, Some(membership.org_id()))
        .await;
    Ok(Json(response))
}
