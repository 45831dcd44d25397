//! Extractors: the authenticated, organization-scoped caller ([`Auth`]) and the client's
//! address and user agent ([`ClientInfo`]).

use crate::error::ApiError;
use crate::net::client_ip;
use crate::state::AppState;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;
use std::net::{IpAddr, SocketAddr};
use unmogrowp_domain::{OrgId, Role, SessionId, UserId};
use unmogrowp_storage::tenant::Level;
use unmogrowp_storage::{Membership, Store, Tenant};

/// The caller of a management endpoint: a live session, and a verified membership of the
/// organization the request acts in (the token's, or the one `X-Org-Id` names) — or an
/// organization's API token (`unm_…`), acting as its creator within the token's role.
#[derive(Clone, Debug)]
pub struct Auth {
    /// The signed-in user (the token's subject), or the API token's creator.
    pub user_id: UserId,
    /// The user's email as the access token carries it (as of when it was issued); for an API
    /// token, `api-token:<prefix>` (what the audit log names as the actor).
    pub email: String,
    /// The session the access token belongs to, checked to be live on every request; `None`
    /// for an API token.
    pub session_id: Option<SessionId>,
    /// The API token the request was made with, if it was.
    pub api_token: Option<unmogrowp_domain::ApiTokenId>,
    /// The caller's membership of the organization the request acts in (organization and role),
    /// read through the membership cache, not taken from the token.
    pub membership: Membership,
}

impl Auth {
    /// The session of a signed-in user; 403 for an API token (account settings, sign-out, the
    /// live feed and API tokens themselves are for people signed in, not for scripts).
    pub fn require_session(&self) -> Result<&SessionId, ApiError> {
        self.session_id
            .as_ref()
            .ok_or_else(|| ApiError::forbidden("an API token cannot do this; sign in as a user"))
    }

    /// The caller's role in the organization, from the membership (the token's `role` claim is not
    /// trusted).
    pub fn role(&self) -> Role {
        self.membership.role()
    }

    /// The organization the request acts in: the one `X-Org-Id` names, else the token's.
    pub fn org_id(&self) -> &OrgId {
        self.membership.org_id()
    }

    /// The organization's rows at role level `L` (`AsViewer`, `AsMember`, `AsAdmin`,
    /// `AsOwner` from [`unmogrowp_storage::tenant`]), 403 when the caller's role is below it.
    /// The handle's type offers only what that level may do (see [`unmogrowp_storage::tenant`]).
    pub fn tenant<'s, L: Level>(&self, store: &'s Store) -> Result<Tenant<'s, L>, ApiError> {
        store.tenant::<L>(&self.membership).ok_or_else(|| {
            ApiError::forbidden(format!("your role ({}) does not allow this", self.role().as_str()))
        })
    }
}

/// An app of the caller's organization, named by the path's `app_id`, reached at role level
/// `L` (see [`Auth::tenant`]): 403 when the caller's role is below `L`, 404 for a malformed id,
/// an unknown one or another organization's app — so a handler starts with the app in hand.
pub struct TenantApp<L: Level> {
    /// The authenticated caller.
    pub auth: Auth,
    /// The app the path's `app_id` names, found among the caller's organization's apps.
    pub app: unmogrowp_storage::App,
    store: Store,
    level: std::marker::PhantomData<L>,
}

impl<L: Level> TenantApp<L> {
    /// The organization's rows at level `L` (checked when the extractor ran).
    pub fn tenant(&self) -> Tenant<'_, L> {
        self.store
            .tenant::<L>(&self.auth.membership)
            .unwrap_or_else(|| unreachable!("the level was checked when the request was read"))
    }
}

impl<L: Level> FromRequestParts<AppState> for TenantApp<L> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let auth = Auth::from_request_parts(parts, state).await?;
        let tenant = auth.tenant::<L>(&state.store)?;
        let axum::extract::Path(params) = axum::extract::Path::<
            std::collections::HashMap<String, String>,
        >::from_request_parts(parts, state)
        .await
        .map_err(|_| ApiError::not_found("app"))?;
        let app_id = params
            .get("app_id")
            .and_then(|raw| unmogrowp_domain::AppId::parse(raw))
            .ok_or_else(|| ApiError::not_found("app"))?;
        let app = tenant.app(&app_id).await?.ok_or_else(|| ApiError::not_found("app"))?;
        Ok(Self { auth, app, store: state.store.clone(), level: std::marker::PhantomData })
    }
}

const ORG_HEADER: &str = "x-org-id";

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| {
                value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer "))
            })
            .map(str::trim)
            .ok_or_else(|| {
                ApiError::unauthorized("send an access token: Authorization: Bearer <token>")
            })?;
        let requested = parts
            .headers
            .get(ORG_HEADER)
            .map(|value| value.to_str().unwrap_or_default().to_owned());
        let auth = if token.starts_with(unmogrowp_auth::API_TOKEN_PREFIX) {
            match authenticate_api_token(state, token, requested.as_deref()).await {
                Ok(auth) => auth,
                Err(refused) => {
                    // Guessing tokens costs the guesser: failures count per client address.
                    let ip = client_info(parts, &state.trusted_proxies).ip;
                    let key = format!("api-token:{}", crate::limits::address_key(ip));
                    crate::limits::admit_key(&state.limits.auth, &key).await?;
                    return Err(refused);
                }
            }
        } else {
            authenticate(state, token, requested.as_deref()).await?
        };
        if let Some(slot) = parts.extensions.get::<crate::middleware::TenantSlot>() {
            let _ = slot.0.set(auth.org_id().to_string());
        }
        // Limited per user, and each API token on its own.
        let limit_key = match &auth.api_token {
            Some(id) => format!("token:{id}"),
            None => auth.user_id.to_string(),
        };
        crate::limits::admit_key(&state.limits.api, &limit_key).await?;
        Ok(auth)
    }
}

/// Checks an access token (and the organization it should act in) as every management
/// request does: signature, expiry, live session, membership.
pub async fn authenticate(
    state: &AppState,
    token: &str,
    requested_org: Option<&str>,
) -> Result<Auth, ApiError> {
    let now = jiff::Timestamp::now();
    let claims = super::tokens::decode(&state.auth.keys.token_signing, token, now.as_second())
        .map_err(|error| ApiError::unauthorized(error.to_string()))?;
    let (Some(user_id), Some(session_id), Some(token_org)) =
        (UserId::parse(&claims.sub), SessionId::parse(&claims.sid), OrgId::parse(&claims.org))
    else {
        return Err(ApiError::unauthorized("the access token is malformed"));
    };
    let session = state.auth.session(&state.store, &session_id).await?;
    let live = session.is_some_and(|s| s.user_id == user_id && s.is_active(now.as_millisecond()));
    if !live {
        return Err(ApiError::unauthorized("the session has ended; sign in again"));
    }
    let requested = match requested_org {
        None => None,
        Some(text) => Some(OrgId::parse(text).ok_or_else(|| ApiError::not_found("organization"))?),
    };
    let org_id = requested.clone().unwrap_or(token_org);
    let membership = state.auth.membership(&state.store, &user_id, &org_id).await?;
    let Some(membership) = membership else {
        return Err(match requested {
            Some(_) => ApiError::not_found("organization"),
            None => ApiError::forbidden("you are no longer a member of this organization"),
        });
    };
    Ok(Auth {
        user_id,
        email: claims.email,
        session_id: Some(session_id),
        api_token: None,
        membership,
    })
}

/// Checks an organization's API token: well formed, known, not revoked, not expired, its
/// creator still a member (the token acts with the lower of its role and the creator's role
/// now), and (when `X-Org-Id` is sent) of the organization named. Its use is recorded (at most
/// once a minute).
pub async fn authenticate_api_token(
    state: &AppState,
    token: &str,
    requested_org: Option<&str>,
) -> Result<Auth, ApiError> {
    let now = jiff::Timestamp::now().as_millisecond();
    if !unmogrowp_auth::is_api_token(token) {
        return Err(ApiError::unauthorized("unknown API token"));
    }
    let Some((record, token_membership)) = state.auth.api_token(&state.store, token).await? else {
        return Err(ApiError::unauthorized("unknown API token"));
    };
    if record.revoked_at.is_some() {
        return Err(ApiError::unauthorized("the API token was revoked"));
    }
    if !record.usable_at(now) {
        return Err(ApiError::unauthorized("the API token has expired"));
    }
    if let Some(requested) = requested_org
        && OrgId::parse(requested).as_ref() != Some(&record.org_id)
    {
        // Another organization's id, or a made-up one: the token knows only its own.
        return Err(ApiError::not_found("organization"));
    }
    // A member who left or was removed takes their tokens' power along; one demoted lowers it.
    let Some(creator) =
        state.auth.membership(&state.store, &record.created_by, &record.org_id).await?
    else {
        return Err(ApiError::unauthorized(
            "the API token's creator is no longer a member of the organization",
        ));
    };
    let membership =
        if creator.role() < token_membership.role() { creator } else { token_membership };
    state.auth.touch_api_token(&state.store, &record, now).await;
    Ok(Auth {
        user_id: record.created_by.clone(),
        email: format!("api-token:{}", record.prefix),
        session_id: None,
        api_token: Some(record.id),
        membership,
    })
}

/// Where a request came from: the client's IP (believing `X-Forwarded-For` only from trusted
/// proxies) and its user agent.
#[derive(Clone, Debug)]
pub struct ClientInfo {
    /// The client's address: the connecting peer's, unless the peer is a trusted proxy
    /// (`http.trusted_proxies`), then the right-most `X-Forwarded-For` address that is not one.
    /// `0.0.0.0` when the peer address is unknown.
    pub ip: IpAddr,
    /// At most [`unmogrowp_domain::event::MAX_DESCRIPTIVE_CHARS`] characters.
    pub user_agent: String,
    /// The header was longer and has been cut.
    pub user_agent_truncated: bool,
}

impl ClientInfo {
    /// The same facts as collection reads them.
    pub fn for_ingest(&self) -> unmogrowp_ingest::Client<'_> {
        unmogrowp_ingest::Client {
            ip: self.ip,
            user_agent: &self.user_agent,
            user_agent_truncated: self.user_agent_truncated,
        }
    }
}

impl FromRequestParts<AppState> for ClientInfo {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(client_info(parts, &state.trusted_proxies))
    }
}

/// Reads [`ClientInfo`] from a request: the peer address from axum's connect info (`0.0.0.0`
/// without it), resolved through the first `X-Forwarded-For` header when the peer is in `trusted`,
/// and the `User-Agent` (empty when missing or not visible ASCII), cut to the descriptive-text
/// limit.
pub fn client_info(parts: &Parts, trusted: &[crate::net::IpNet]) -> ClientInfo {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::from([0, 0, 0, 0]), |info| info.0.ip());
    // Every `X-Forwarded-For` line, in order: a proxy may add its own line after one the
    // client sent, and the right-most entries are the ones trusted proxies wrote.
    let lines: Vec<&str> = parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .collect();
    let joined = lines.join(",");
    let forwarded = (!lines.is_empty()).then_some(joined.as_str());
    if forwarded.is_some() && trusted.is_empty() {
        warn_untrusted_forwarding(peer);
    }
    let mut user_agent = parts
        .headers
        .get(header::USER_AGENT)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    // The one documented limit for descriptive text (tracking-link clicks keep it too).
    let user_agent_truncated = unmogrowp_domain::event::truncate_descriptive(&mut user_agent);
    ClientInfo { ip: client_ip(peer, forwarded, trusted), user_agent, user_agent_truncated }
}

/// Logs once per process that requests come through a proxy nobody declared: every client
/// then has the proxy's address, so per-address limits and lock-outs would hit all of them at
/// once.
fn warn_untrusted_forwarding(peer: IpAddr) {
    static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !WARNED.swap(true, std::sync::atomic::Ordering::Relaxed) {
        tracing::warn!(
            %peer,
            "requests carry X-Forwarded-For but http.trusted_proxies is empty: client addresses are \
             the proxy's, so per-address limits treat all clients as one; set http.trusted_proxies"
        );
    }
}
