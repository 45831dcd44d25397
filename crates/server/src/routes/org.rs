//! The signed-in user and their organization: `/me`, members, invitations.

use crate::audit::Audit;
use crate::auth::{Auth, ClientInfo};
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::mail::{send_in_background, templates};
use crate::routes::views::{OrganizationView, UserView};
use crate::secrets::{random_token, token_hash};
use crate::shared::Invalidation;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use unmogrowp_domain::time::rfc3339;
use unmogrowp_domain::validate::Email;
use unmogrowp_domain::{Role, UserId};
use unmogrowp_storage::tenant::{AsAdmin, AsViewer};
use unmogrowp_storage::{Member, NewInvitation};

/// An organization the user belongs to, and the user's role there.
#[derive(Serialize, utoipa::ToSchema)]
pub struct MembershipView {
    /// The organization's id; send it as `X-Org-Id` to act in that organization.
    pub id: String,
    /// The organization's name.
    pub name: String,
    /// The user's role there: `owner`, `admin`, `member` or `viewer`.
    pub role: String,
}

/// The signed-in user, the organization the request acts in, and every organization the user
/// belongs to.
#[derive(Serialize, utoipa::ToSchema)]
pub struct MeResponse {
    /// The signed-in user.
    pub user: UserView,
    /// The organization this request acts in.
    pub organization: OrganizationView,
    /// The user's role in the organization the request acts in: `owner`, `admin`, `member` or
    /// `viewer`.
    pub role: String,
    /// Every organization the user belongs to (select one with `X-Org-Id`).
    pub organizations: Vec<MembershipView>,
}

/// The signed-in user, the organization the request acts in, and every organization the
/// user belongs to.
#[utoipa::path(get, path = "/api/v1/me", tag = "organizations", security(("bearer" = [])),
    responses((status = 200, description = "The caller", body = MeResponse),
              (status = 401, description = "Not signed in", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
              (status = 403, description = "Sent with an API token (it has no user of its own)", body = crate::error::ProblemDocument, content_type = "application/problem+json")))]
pub async fn me(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<MeResponse>> {
    // The user's profile and every organization they belong to: not a token's to read.
    auth.require_session()?;
    let user = state
        .store
        .accounts()
        .user(&auth.user_id)
        .await?
        .ok_or_else(|| ApiError::unauthorized("unknown user"))?;
    let organization = auth.tenant::<AsViewer>(&state.store)?.organization().await?;
    let organizations = state
        .store
        .accounts()
        .memberships(&auth.user_id)
        .await?
        .into_iter()
        .map(|m| MembershipView {
            id: m.organization.id.to_string(),
            name: m.organization.name,
            role: m.membership.role().as_str().to_owned(),
        })
        .collect();
    Ok(Json(MeResponse {
        user: UserView::from(&user),
        organization: OrganizationView::from(&organization),
        role: auth.role().as_str().to_owned(),
        organizations,
    }))
}

/// A member of the organization.
#[derive(Serialize, utoipa::ToSchema)]
pub struct MemberView {
    /// The member's user id.
    pub user_id: String,
    /// The member's email address (in lower case).
    pub email: String,
    /// The member's display name.
    pub name: String,
    /// The member's role: `owner`, `admin`, `member` or `viewer`.
    pub role: String,
    /// When the member joined the organization (RFC 3339, UTC).
    pub joined_at: String,
}

impl From<&Member> for MemberView {
    fn from(member: &Member) -> Self {
        Self {
            user_id: member.user.id.to_string(),
            email: member.user.email.clone(),
            name: member.user.name.clone(),
            role: member.role.as_str().to_owned(),
            joined_at: rfc3339(member.joined_at),
        }
    }
}

/// The organization's members.
#[utoipa::path(get, path = "/api/v1/org/members", tag = "organizations", security(("bearer" = [])),
    responses((status = 200, description = "Members", body = [MemberView])))]
pub async fn members(
    State(state): State<AppState>,
    auth: Auth,
) -> ApiResult<Json<Vec<MemberView>>> {
    let members = auth.tenant::<AsViewer>(&state.store)?.members().await?;
    Ok(Json(members.iter().map(MemberView::from).collect()))
}

fn parse_role(raw: &str) -> Result<Role, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::invalid_field("role", "must be owner, admin, member or viewer"))
}

fn parse_user_id(raw: &str) -> Result<UserId, ApiError> {
    UserId::parse(raw).ok_or_else(|| ApiError::not_found("member"))
}

/// A member's new role.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMemberRequest {
    /// `owner`, `admin`, `member` or `viewer`.
    #[schema(pattern = r"^(owner|admin|member|viewer)$")]
    pub role: String,
}

/// Changes a member's role. Admins manage admins, members and viewers; only owners manage
/// owners; an organization always keeps one owner.
#[utoipa::path(patch, path = "/api/v1/org/members/{user_id}", tag = "organizations", security(("bearer" = [])),
    params(("user_id" = String, Path, description = "The member's user id")), request_body = UpdateMemberRequest,
    responses(
        (status = 200, description = "Updated", body = MemberView),
        (status = 403, description = "Your role may not do this", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
        (status = 404, description = "No such member", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
        (status = 409, description = "Would leave the organization without an owner", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
    ))]
pub async fn update_member(
    State(state): State<AppState>,
    auth: Auth,
    client: ClientInfo,
    Path(user_id): Path<String>,
    ApiJson(request): ApiJson<UpdateMemberRequest>,
) -> ApiResult<Json<MemberView>> {
    let tenant = auth.tenant::<AsAdmin>(&state.store)?;
    let role = parse_role(&request.role)?;
    let user_id = parse_user_id(&user_id)?;
    let target = tenant.member(&user_id).await?.ok_or_else(|| ApiError::not_found("member"))?;
    if !auth.role().can_manage_role(target.role) || !auth.role().can_manage_role(role) {
        return Err(ApiError::forbidden("only owners can change owners or make someone an owner"));
    }
    tenant.set_member_role(&user_id, role).await?;
    state
        .invalidate(Invalidation::Membership {
            user_id: user_id.to_string(),
            org_id: auth.org_id().to_string(),
        })
        .await;
    Audit::new("member.role_changed", &client)
        .by(&auth)
        .target(format!("user:{user_id}"))
        .details(&serde_json::json!({ "email": target.user.email, "from": target.role.as_str(), "to": role.as_str() }))
        .record(&state.store, &auth)
        .await;
    let updated = tenant.member(&user_id).await?.ok_or_else(|| ApiError::not_found("member"))?;
    Ok(Json(MemberView::from(&updated)))
}

/// Removes a member (or, with your own id, leaves the organization). Admins cannot remove
/// owners; the last owner cannot be removed.
#[utoipa::path(delete, path = "/api/v1/org/members/{user_id}", tag = "organizations", security(("bearer" = [])),
    params(("user_id" = String, Path, description = "The member's user id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "Your role may not do this", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
        (status = 404, description = "No such member", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
        (status = 409, description = "The last owner", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
    ))]
pub async fn remove_member(
    State(state): State<AppState>,
    auth: Auth,
    client: ClientInfo,
    Path(user_id): Path<String>,
) -> ApiResult<StatusCode> {
    let user_id = parse_user_id(&user_id)?;
    let leaving = user_id == auth.user_id;
    if leaving {
        // Leaving is the member's own act; a token made by the member cannot do it for them.
        auth.require_session()?;
    }
    let target = if leaving {
        let tenant = auth.tenant::<AsViewer>(&state.store)?;
        let target = tenant.member(&user_id).await?.ok_or_else(|| ApiError::not_found("member"))?;
        tenant.leave().await?;
        target
    } else {
        let tenant = auth.tenant::<AsAdmin>(&state.store)?;
        let target = tenant.member(&user_id).await?.ok_or_else(|| ApiError::not_found("member"))?;
        if !auth.role().can_manage_role(target.role) {
            return Err(ApiError::forbidden("only owners can remove owners"));
        }
        tenant.remove_member(&user_id).await?;
        target
    };
    state
        .invalidate(Invalidation::Membership {
            user_id: user_id.to_string(),
            org_id: auth.org_id().to_string(),
        })
        .await;
    Audit::new("member.removed", &client)
        .by(&auth)
        .target(format!("user:{user_id}"))
        .details(&serde_json::json!({ "email": target.user.email, "role": target.role.as_str(), "left": leaving }))
        .record(&state.store, &auth)
        .await;
    Ok(StatusCode::NO_CONTENT)
}

/// Someone to invite into the organization.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InviteRequest {
    /// The email address to send the invitation to.
    #[schema(
        pattern = r"^[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[!-?A-~]{1,64}@[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$",
        max_length = 254
    )]
    pub email: String,
    /// `owner` (owners only), `admin`, `member` or `viewer`.
    #[schema(pattern = r"^(owner|admin|member|viewer)$")]
    pub role: String,
}

/// An invitation to join the organization.
#[derive(Serialize, utoipa::ToSchema)]
pub struct InvitationView {
    /// The invitation's id.
    pub id: String,
    /// The invited email address (in lower case).
    pub email: String,
    /// The role the invitee gets on accepting: `owner`, `admin`, `member` or `viewer`.
    pub role: String,
    /// When the invitation was sent (RFC 3339, UTC).
    pub created_at: String,
    /// When the invitation link stops working (RFC 3339, UTC); by default 7 days after it was sent.
    pub expires_at: String,
    /// When the invitation was accepted (RFC 3339, UTC); null until then.
    pub accepted_at: Option<String>,
}

impl From<&unmogrowp_storage::Invitation> for InvitationView {
    fn from(invitation: &unmogrowp_storage::Invitation) -> Self {
        Self {
            id: invitation.id.to_string(),
            email: invitation.email.clone(),
            role: invitation.role.as_str().to_owned(),
            created_at: rfc3339(invitation.created_at),
            expires_at: rfc3339(invitation.expires_at),
            accepted_at: invitation.accepted_at.map(rfc3339),
        }
    }
}

/// Invites someone by email; the email carries a single-use link to accept.
#[utoipa::path(post, path = "/api/v1/org/invitations", tag = "organizations", security(("bearer" = [])),
    request_body = InviteRequest,
    responses(
        (status = 201, description = "Invitation sent", body = InvitationView),
        (status = 403, description = "Your role may not invite with this role", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
        (status = 409, description = "Already a member", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
    ))]
pub async fn invite(
    State(state): State<AppState>,
    auth: Auth,
    client: ClientInfo,
    ApiJson(request): ApiJson<InviteRequest>,
) -> ApiResult<(StatusCode, Json<InvitationView>)> {
    let tenant = auth.tenant::<AsAdmin>(&state.store)?;
    let email = Email::parse(&request.email)
        .map_err(|message| ApiError::invalid_field("email", message))?;
    let role = parse_role(&request.role)?;
    if !auth.role().can_manage_role(role) {
        return Err(ApiError::forbidden("only owners can invite owners"));
    }
    if tenant.members().await?.iter().any(|member| member.user.email == email.as_str()) {
        return Err(ApiError::conflict("already_member", "this person is already a member"));
    }
    let token = random_token(32);
    let ttl_days = state.auth.config.invitation_ttl_days;
    let expires_at = unmogrowp_domain::time::now_millis()
        + i64::try_from(ttl_days * 86_400_000).unwrap_or(i64::MAX / 2);
    let invitation = tenant
        .create_invitation(NewInvitation {
            email: email.into_string(),
            role,
            token_hash: token_hash(&token),
            invited_by: auth.user_id.clone(),
            expires_at,
        })
        .await?;
    let organization = tenant.organization().await?;
    let link = format!("{}/accept-invitation?token={token}", state.config.public_url());
    // The email names the member who invited (an API token's creator), never a token.
    let inviter = match &auth.api_token {
        None => auth.email.clone(),
        Some(_) => state
            .store
            .accounts()
            .user(&auth.user_id)
            .await?
            .map(|user| user.email)
            .unwrap_or_default(),
    };
    send_in_background(
        state.mailer.clone(),
        templates::invitation(
            &invitation.email,
            &inviter,
            &organization.name,
            role.as_str(),
            &link,
            ttl_days,
        ),
    );
    Audit::new("member.invited", &client)
        .by(&auth)
        .target(format!("invitation:{}", invitation.id))
        .details(&serde_json::json!({ "email": invitation.email, "role": role.as_str() }))
        .record(&state.store, &auth)
        .await;
    Ok((StatusCode::CREATED, Json(InvitationView::from(&invitation))))
}

/// The organization's invitations, newest first.
#[utoipa::path(get, path = "/api/v1/org/invitations", tag = "organizations", security(("bearer" = [])),
    responses((status = 200, description = "Invitations", body = [InvitationView])))]
pub async fn invitations(
    State(state): State<AppState>,
    auth: Auth,
) -> ApiResult<Json<Vec<InvitationView>>> {
    let invitations = auth.tenant::<AsAdmin>(&state.store)?.invitations().await?;
    Ok(Json(invitations.iter().map(InvitationView::from).collect()))
}

/// The organization's blocked IP ranges: at most 10000 in a request; answers list them trimmed,
/// sorted and without duplicates.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BlockedIps {
    /// IP ranges in CIDR notation (a bare address is one host); installs from them are
    /// rejected as `blocked_ip`.
    pub ranges: Vec<String>,
}

/// The organization's blocked IP ranges.
#[utoipa::path(get, path = "/api/v1/org/blocked-ips", tag = "organizations", security(("bearer" = [])),
    responses((status = 200, description = "Blocked ranges", body = BlockedIps)))]
pub async fn blocked_ips(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<BlockedIps>> {
    let ranges = auth.tenant::<AsViewer>(&state.store)?.blocked_ranges().await?;
    Ok(Json(BlockedIps { ranges }))
}

/// Replaces the organization's blocked IP ranges (admins and owners). Applies to installs
/// processed from about a minute later.
#[utoipa::path(put, path = "/api/v1/org/blocked-ips", tag = "organizations", security(("bearer" = [])),
    request_body = BlockedIps,
    responses((status = 200, description = "Saved", body = BlockedIps),
              (status = 400, description = "A range is not CIDR", body = crate::error::ProblemDocument, content_type = "application/problem+json")))]
pub async fn set_blocked_ips(
    State(state): State<AppState>,
    auth: Auth,
    client: ClientInfo,
    ApiJson(request): ApiJson<BlockedIps>,
) -> ApiResult<Json<BlockedIps>> {
    let tenant = auth.tenant::<AsAdmin>(&state.store)?;
    if request.ranges.len() > 10_000 {
        return Err(ApiError::invalid_field("ranges", "at most 10 000 ranges"));
    }
    let mut errors = unmogrowp_domain::validate::FieldErrors::new();
    let mut ranges = Vec::new();
    for (index, raw) in request.ranges.iter().enumerate() {
        match crate::net::IpNet::parse(raw) {
            Ok(_) => ranges.push(raw.trim().to_owned()),
            Err(message) => errors.push(format!("ranges[{index}]"), message),
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors.into_vec()));
    }
    ranges.sort();
    ranges.dedup();
    tenant.set_blocked_ranges(&ranges).await?;
    state.invalidate(Invalidation::AppSettings).await;
    Audit::new("org.blocked_ips_changed", &client)
        .by(&auth)
        .details(&serde_json::json!({ "ranges": ranges }))
        .record(&state.store, &auth)
        .await;
    Ok(Json(BlockedIps { ranges }))
}
