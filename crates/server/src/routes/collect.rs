//! What ad networks and SDKs call: tracking links (`/c/…`, `/i/…`) and event collection
//! (`/v1/events` with an app token, `/v1/s2s/events` signed with an S2S key).

use crate::auth::ClientInfo;
use crate::error::{ApiError, ApiResult};
use crate::extract::{is_json_content_type, read_body};
use crate::ingest::{IngestResponse, link_ref};
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use unmogrowp_domain::app::Platform;
use unmogrowp_domain::event::{Device, EventType, LoggedEvent, Source};
use unmogrowp_domain::{KeyId, LinkId};

fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok()).map(str::trim).filter(|v| !v.is_empty())
}

/// The app whose token a collection request sent (`what` names the token for the client:
/// `app token`, `write key`, `API key`), recorded as the request's tenant; 401
/// `invalid_app_token` when no app has it.
pub(crate) async fn app_for_token(
    state: &AppState,
    token: &str,
    what: &str,
) -> ApiResult<std::sync::Arc<unmogrowp_storage::App>> {
    let app = state.ingest.app_by_token(token).await?.ok_or_else(|| {
        ApiError::new(StatusCode::UNAUTHORIZED, "invalid_app_token")
            .with_detail(format!("unknown {what}"))
    })?;
    crate::middleware::record_tenant(&app.org_id);
    Ok(app)
}

/// The JSON body as sent and decoded (`Content-Encoding: gzip` or `deflate` undone, the
/// size limit applied to the decoded body).
pub(crate) async fn json_body(
    request: Request,
    state: &AppState,
) -> ApiResult<(bytes::Bytes, bytes::Bytes)> {
    decoded_body(request, state, true).await
}

/// [`json_body`], optionally whatever the `Content-Type` says (some analytics libraries label
/// their JSON `application/x-www-form-urlencoded` or `text/plain`; the body must still parse).
pub(crate) async fn decoded_body(
    request: Request,
    state: &AppState,
    require_json_type: bool,
) -> ApiResult<(bytes::Bytes, bytes::Bytes)> {
    if require_json_type && !is_json_content_type(request.headers().get(header::CONTENT_TYPE)) {
        return Err(ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            .with_detail("send the body as application/json"));
    }
    let limit = state.config.http.max_body_bytes;
    let encoding = request.headers().get(header::CONTENT_ENCODING).cloned();
    let raw = read_body(request, state).await?;
    let Some(encoding) = encoding else { return Ok((raw.clone(), raw)) };
    // Inflating up to the limit takes milliseconds of CPU: not on the async runtime's threads.
    let compressed = raw.clone();
    let decoded = tokio::task::spawn_blocking(move || {
        crate::extract::decode_content(Some(&encoding), compressed, limit)
    })
    .await
    .map_err(|error| {
        ApiError::internal(anyhow::anyhow!("decoding the body panicked: {error}"))
    })??;
    Ok((raw, decoded))
}

/// Events from an SDK, authenticated by the app's token.
#[utoipa::path(post, path = "/v1/events", tag = "collection",
    params(("X-App-Token" = String, Header, description = "The app's token")),
    request_body(content = inline(EventsBody), description = "Up to 1000 events, 1 MiB, 32 KiB each"),
    responses(
        (status = 200, description = "Every accepted event is durable; bad ones are listed", body = IngestResponse),
        (status = 401, description = "Missing or unknown app token", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
        (status = 413, description = "Too large or too many events", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
        (status = 429, description = "Over the organization's quota; see Retry-After", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
        (status = 503, description = "Overloaded; see Retry-After", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
    ))]
pub async fn sdk_events(
    State(state): State<AppState>,
    client: ClientInfo,
    request: Request,
) -> ApiResult<Json<IngestResponse>> {
    let token = header_text(request.headers(), "x-app-token")
        .ok_or_else(|| ApiError::unauthorized("send the app's token in X-App-Token"))?
        .to_owned();
    let app = app_for_token(&state, &token, "app token").await?;
    let (_, body) = json_body(request, &state).await?;
    let response = state.ingest.ingest(&app, &body, Source::Sdk, &client.for_ingest()).await?;
    Ok(Json(response))
}

/// The body of `/v1/opt-out`.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OptOutBody {
    /// The device that opts out: at least one real identifier (`gaid`, `idfa`, `idfv` or
    /// `install_id`); its other facts are ignored.
    pub device: unmogrowp_domain::event::Device,
}

/// A device opts out of tracking, authenticated by the app's token: from now on the app's
/// events from any of its identifiers are kept only as anonymous counts — no identifiers, IP,
/// user agent or custom properties are stored, nothing is attributed and no postback is sent.
/// An event can say the same with `"opt_out": true`. Opt-outs are kept for good.
#[utoipa::path(post, path = "/v1/opt-out", tag = "collection",
    params(("X-App-Token" = String, Header, description = "The app's token")),
    request_body = OptOutBody,
    responses(
        (status = 202, description = "Recorded; applies to every event processed after it"),
        (status = 400, description = "No usable device identifier", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
        (status = 401, description = "Missing or unknown app token", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
        (status = 503, description = "Overloaded; see Retry-After", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
    ))]
pub async fn opt_out(State(state): State<AppState>, request: Request) -> ApiResult<StatusCode> {
    let token = header_text(request.headers(), "x-app-token")
        .ok_or_else(|| ApiError::unauthorized("send the app's token in X-App-Token"))?
        .to_owned();
    let app = app_for_token(&state, &token, "app token").await?;
    let (_, body) = json_body(request, &state).await?;
    let OptOutBody { device } = unmogrowp_domain::json::parse(&body)?;
    if device.identifiers().is_empty() {
        return Err(ApiError::invalid_field(
            "device",
            "needs a real gaid, idfa, idfv or install_id (placeholders such as all zeros identify no device)",
        ));
    }
    state.ingest.opt_out(&app, device).await?;
    Ok(StatusCode::ACCEPTED)
}

/// The body of `/v1/events` and `/v1/s2s/events`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct EventsBody {
    events: Vec<unmogrowp_domain::event::IncomingEvent>,
}

/// Events from a server, signed with an S2S key: `X-Signature: sha256=<hex HMAC-SHA256 of the
/// raw body>`. May also report `click` and `impression` touchpoints (with a `link_id`).
#[utoipa::path(post, path = "/v1/s2s/events", tag = "collection",
    params(("X-Key-Id" = String, Header, description = "The S2S key's id"),
           ("X-Signature" = String, Header, description = "sha256=<hex HMAC-SHA256 of the raw body with the key's secret>")),
    request_body(content = inline(EventsBody)),
    responses(
        (status = 200, description = "Every accepted event is durable; bad ones are listed", body = IngestResponse),
        (status = 401, description = "Unknown or revoked key, or a bad signature", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
        (status = 413, description = "Too large or too many events", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
        (status = 503, description = "Overloaded; see Retry-After", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
    ))]
pub async fn s2s_events(
    State(state): State<AppState>,
    client: ClientInfo,
    request: Request,
) -> ApiResult<Json<IngestResponse>> {
    let refused = |code: &'static str, detail: &str| {
        metrics::counter!("ingest_s2s_refused_total", "reason" => code).increment(1);
        ApiError::new(StatusCode::UNAUTHORIZED, code).with_detail(detail.to_owned())
    };
    let key_id = header_text(request.headers(), "x-key-id")
        .ok_or_else(|| refused("missing_key", "send the S2S key's id in X-Key-Id"))?;
    let signature = header_text(request.headers(), "x-signature")
        .and_then(|value| value.strip_prefix("sha256="))
        .and_then(|hex_text| hex::decode(hex_text).ok())
        .ok_or_else(|| {
            refused("invalid_signature", "send X-Signature: sha256=<hex HMAC-SHA256 of the body>")
        })?;
    let key = match KeyId::parse(key_id) {
        Some(id) => state.ingest.key(&id).await?,
        None => None,
    };
    let Some(key) = key.filter(|k| k.revoked_at.is_none()) else {
        return Err(refused("invalid_key", "unknown or revoked S2S key"));
    };
    let (raw, body) = json_body(request, &state).await?;
    let secret = crate::routes::apps::s2s_secret(&state.auth.keys.s2s, &key);
    // The signature covers the body as sent; for a compressed body the decoded JSON is
    // accepted too (clients sign before or after compressing).
    let signed = crate::secrets::verify_hmac_sha256(secret.as_bytes(), &raw, &signature)
        || (raw != body
            && crate::secrets::verify_hmac_sha256(secret.as_bytes(), &body, &signature));
    if !signed {
        tracing::warn!(key_id = %key.id, ip = %client.ip, "S2S request with a bad signature refused");
        return Err(refused("invalid_signature", "the signature does not match the body"));
    }
    let app = state
        .ingest
        .app_by_id(&key.app_id)
        .await?
        .ok_or_else(|| refused("invalid_key", "the key's app no longer exists"))?;
    crate::middleware::record_tenant(&app.org_id);
    let response = state.ingest.ingest(&app, &body, Source::S2s, &client.for_ingest()).await?;
    Ok(Json(response))
}

fn bounded(value: Option<&String>) -> Option<String> {
    value.map(|v| v.chars().take(128).collect::<String>()).filter(|v| !v.trim().is_empty())
}

/// The touchpoint a request to a tracking link records, and the link's app; for the
/// touchpoint, how long to wait when the link and client address are over `limits.touch_*`
/// (counted in `rate_limited_total{policy="touch"}`). Unknown links are a 404 before any counting, so
/// made-up link ids cost a cached lookup, not a limiter entry.
async fn touch(
    state: &AppState,
    client: &ClientInfo,
    link_id: &str,
    query: &HashMap<String, String>,
    kind: EventType,
) -> ApiResult<(
    Result<LoggedEvent, std::time::Duration>,
    std::sync::Arc<unmogrowp_storage::App>,
    unmogrowp_storage::Link,
)> {
    let link = match LinkId::parse(link_id) {
        Some(id) => state.ingest.link(&id).await?,
        None => None,
    };
    let link = link.ok_or_else(|| ApiError::not_found("tracking link"))?;
    let app = state
        .ingest
        .app_by_id(&link.app_id)
        .await?
        .ok_or_else(|| ApiError::not_found("tracking link"))?;
    crate::middleware::record_tenant(&app.org_id);
    let key = format!("{}|{}", link.id, crate::limits::address_key(client.ip));
    if let Err(wait) = state.limits.touch.check(&key).await {
        metrics::counter!(crate::metric_names::RATE_LIMITED_TOTAL, "policy" => "touch")
            .increment(1);
        return Ok((Err(wait), app, link));
    }
    let now = jiff::Timestamp::now().as_millisecond();
    let id = uuid::Uuid::now_v7().simple().to_string();
    let event = LoggedEvent {
        id,
        org_id: app.org_id.clone(),
        app_id: app.id.clone(),
        kind,
        name: None,
        timestamp_ms: now,
        received_ms: now,
        source: Source::TrackingLink,
        device: Device {
            gaid: bounded(query.get("gaid")),
            idfa: bounded(query.get("idfa")),
            idfv: bounded(query.get("idfv")),
            ip: Some(client.ip.to_canonical().to_string()),
            user_agent: Some(client.user_agent.clone()).filter(|ua| !ua.is_empty()),
            ..Device::default()
        },
        click_id: None,
        link: Some(link_ref(&link)),
        network_click_id: bounded(query.get("network_click_id")),
        subs: (1..=5).map(|i| bounded(query.get(&format!("sub{i}")))).collect(),
        revenue: None,
        properties: None,
        trace: unmogrowp_domain::trace::TraceContext::current(),
    };
    Ok((Ok(event), app, link))
}

/// Where a click goes: the app's store page; Android store pages carry the click id in the
/// install referrer.
pub fn redirect_target(app: &unmogrowp_storage::App, click_id: &str) -> String {
    match app.platform {
        Platform::Android => {
            let separator = if app.store_url.contains('?') { '&' } else { '?' };
            format!("{}{separator}referrer=unmogrowp_click_id%3D{click_id}", app.store_url)
        }
        Platform::Ios => app.store_url.clone(),
    }
}

/// Schemes a tracking link never redirects to directly: web and other general-purpose
/// schemes (that would make `/c/` an open redirect for any member's link) and schemes that hand
/// the URL to an operating-system handler rather than an app.
const NOT_APP_SCHEMES: &[&str] = &[
    "http",
    "https",
    "ftp",
    "ws",
    "wss",
    "mailto",
    "tel",
    "sms",
    "intent",
    "about",
    "blob",
    "chrome",
    "chrome-extension",
    "edge",
    "res",
    "shell",
    "view-source",
    "jar",
    "javascript",
    "data",
    "vbscript",
    "file",
];

/// Where a click on a **retargeting** link with an app-scheme deep link goes (direct deep
/// linking: the people it targets have the app): the deep link itself, with the click's
/// parameters added (`unm_click_id`, `unm_link_id`, `unm_network`, `unm_campaign`), so the app
/// opens on it and reports its `open` with that `link_id` (a re-engagement). `None` for other
/// links, and for web (`https`) or system-handler deep links (see [`NOT_APP_SCHEMES`]; also
/// `ms-*` and `search-ms`): they go to the store, and a new install gets the deep link from
/// `GET /v1/attribution` (deferred deep linking).
pub fn direct_deep_link(link: &unmogrowp_storage::Link, click_id: &str) -> Option<String> {
    if !link.retargeting {
        return None;
    }
    let mut url = url::Url::parse(link.deep_link.as_deref()?).ok()?;
    let scheme = url.scheme();
    if NOT_APP_SCHEMES.contains(&scheme) || scheme.starts_with("ms-") || scheme == "search-ms" {
        return None;
    }
    url.query_pairs_mut()
        .append_pair("unm_click_id", click_id)
        .append_pair("unm_link_id", link.id.as_str())
        .append_pair("unm_network", &link.network)
        .append_pair("unm_campaign", &link.campaign);
    Some(url.to_string())
}

/// Records a click and sends the user on: to the app's store page, or for a retargeting link
/// with a deep link, into the app (see [`direct_deep_link`]).
#[utoipa::path(get, path = "/c/{link_id}", tag = "collection",
    params(("link_id" = String, Path, description = "The tracking link"),
           ("gaid" = Option<String>, Query, description = "Google advertising id"),
           ("idfa" = Option<String>, Query, description = "Apple advertising id"),
           ("idfv" = Option<String>, Query, description = "Apple vendor id"),
           ("network_click_id" = Option<String>, Query, description = "The network's own click id"),
           ("sub1" = Option<String>, Query, description = "Free sub-parameters sub1 to sub5")),
    responses(
        (status = 302, description = "To the store (Android gets `referrer=unmogrowp_click_id%3D<click_id>`); a retargeting link with a deep link goes to the deep link with `unm_click_id`, `unm_link_id`, `unm_network` and `unm_campaign` added"),
        (status = 404, description = "Unknown link (nothing recorded)", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
        (status = 503, description = "Overloaded; see Retry-After", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
    ))]
pub async fn click(
    State(state): State<AppState>,
    client: ClientInfo,
    Path(link_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let (event, app, link) = touch(&state, &client, &link_id, &query, EventType::Click).await?;
    // Over the limit, the person is still sent to the store (an install must not be lost to
    // a shared address); the click is just not recorded, so it can win nothing.
    let target = match event {
        Ok(event) => {
            let target = direct_deep_link(&link, &event.id)
                .unwrap_or_else(|| redirect_target(&app, &event.id));
            state.ingest.record_touch(event).await?;
            target
        }
        Err(_) => app.store_url.clone(),
    };
    let mut response = StatusCode::FOUND.into_response();
    let location = HeaderValue::from_str(&target)
        .map_err(|_| ApiError::internal(anyhow::anyhow!("store url is not a header value")))?;
    response.headers_mut().insert(header::LOCATION, location);
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Records an impression (a view-through touchpoint).
#[utoipa::path(get, path = "/i/{link_id}", tag = "collection",
    params(("link_id" = String, Path, description = "The tracking link")),
    responses(
        (status = 204, description = "Recorded"),
        (status = 429, description = "Too many impressions on this link from this address (`limits.touch_*`); see Retry-After", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
        (status = 404, description = "Unknown link (nothing recorded)", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
    ))]
pub async fn impression(
    State(state): State<AppState>,
    client: ClientInfo,
    Path(link_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult<StatusCode> {
    let (event, _, _) = touch(&state, &client, &link_id, &query, EventType::Impression).await?;
    let event = event.map_err(|wait| crate::limits::refusal(&state.limits.touch, wait))?;
    state.ingest.record_touch(event).await?;
    Ok(StatusCode::NO_CONTENT)
}
