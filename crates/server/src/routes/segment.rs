//! The Segment HTTP tracking API (also RudderStack's): `/v1/batch`, `/v1/track`, `/v1/identify`,
//! `/v1/page`, `/v1/screen`, `/v1/alias`, `/v1/group`, with the app token as the write key
//! (HTTP Basic auth user, or `writeKey` in the body). Messages are read into the product's
//! events (`unmogrowp_ingest::segment`, which documents the mapping) and take the one
//! collection path.

use crate::auth::ClientInfo;
use crate::error::{ApiError, ApiResult};
use crate::ingest::IngestResponse;
use crate::routes::collect::decoded_body;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Request, State};
use axum::http::header;
use base64::Engine;
use unmogrowp_domain::event::Source;
use unmogrowp_ingest::segment::{Endpoint, translate};

/// The write key from `Authorization: Basic base64(key:)`, if the header is there.
fn basic_user(request: &Request) -> Option<String> {
    let value = request.headers().get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let user = decoded.split_once(':').map_or(decoded.as_str(), |(user, _)| user);
    Some(user.trim().to_owned()).filter(|user| !user.is_empty())
}

async fn collect(
    state: AppState,
    client: ClientInfo,
    request: Request,
    endpoint: Endpoint,
) -> ApiResult<Json<IngestResponse>> {
    let from_header = basic_user(&request);
    // RudderStack's Node library sends its (gzip) JSON labelled as a form: the label is not
    // checked, the body is.
    let (_, body) = decoded_body(request, &state, false).await?;
    let received = jiff::Timestamp::now().as_millisecond();
    let translated =
        translate(&body, endpoint, received).map_err(unmogrowp_ingest::IngestError::from)?;
    let token = from_header.or(translated.write_key).ok_or_else(|| {
        ApiError::unauthorized(
            "send the app's token as the write key (HTTP Basic auth user, or writeKey in the body)",
        )
    })?;
    let app = crate::routes::collect::app_for_token(&state, &token, "write key").await?;
    let response =
        state.ingest.ingest(&app, &translated.body, Source::Sdk, &client.for_ingest()).await?;
    Ok(Json(response))
}

/// A Segment message (`track`, `identify`, `page`, `screen`, `alias` or `group`), as the
/// Segment HTTP tracking API defines it; see the README's mapping table.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct SegmentMessage {
    /// The message's type (on `/v1/batch`; the single endpoints imply it).
    #[schema(value_type = Option<String>)]
    r#type: Option<String>,
    /// Unique per message: the event id (a re-sent message counts once).
    #[schema(value_type = String, rename = "messageId")]
    message_id: String,
    /// The `track` event's name (`Application Installed`, `Application Opened`, or any).
    event: Option<String>,
    /// When it happened (RFC 3339).
    timestamp: Option<String>,
    /// Free-form properties (`revenue` and `currency` are read as revenue).
    #[schema(value_type = Option<Object>)]
    properties: Option<serde_json::Value>,
    /// Device and app context (`device.advertisingId`, `device.id`, `os`, `locale`, …).
    #[schema(value_type = Option<Object>)]
    context: Option<serde_json::Value>,
}

/// The body of `/v1/batch`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct SegmentBatch {
    /// Up to 1000 messages.
    batch: Vec<SegmentMessage>,
    /// When the batch was sent (RFC 3339): with `originalTimestamp`, corrects the sender's clock.
    #[schema(value_type = Option<String>, rename = "sentAt")]
    sent_at: Option<String>,
    /// The app token, when it is not sent by HTTP Basic auth.
    #[schema(rename = "writeKey")]
    write_key: Option<String>,
}

macro_rules! segment_endpoint {
    ($name:ident, $path:literal, $endpoint:expr, $body:ty, $what:literal) => {
        #[doc = $what]
        #[utoipa::path(post, path = $path, tag = "collection", operation_id = concat!("segment_", stringify!($name)),
            params(("Authorization" = Option<String>, Header, description = "Basic base64(app token + \":\"); or writeKey in the body")),
            request_body(content = $body, description = "Segment's HTTP tracking API format"),
            responses(
                (status = 200, description = "Every accepted event is durable; bad ones are listed", body = IngestResponse),
                (status = 400, description = "Not a JSON object of the expected shape", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
                (status = 401, description = "Missing or unknown write key", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
                (status = 413, description = "Too large or too many messages", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
                (status = 415, description = "An unknown Content-Encoding", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
                (status = 429, description = "Over the organization's quota; see Retry-After", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
                (status = 503, description = "Overloaded; see Retry-After", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
            ))]
        pub async fn $name(
            State(state): State<AppState>,
            client: ClientInfo,
            request: Request,
        ) -> ApiResult<Json<IngestResponse>> {
            collect(state, client, request, $endpoint).await
        }
    };
}

segment_endpoint!(
    batch,
    "/v1/batch",
    Endpoint::Batch,
    SegmentBatch,
    "Segment-compatible: a batch of messages (`{\"batch\": [...]}`)."
);
segment_endpoint!(
    track,
    "/v1/track",
    Endpoint::Single("track"),
    SegmentMessage,
    "Segment-compatible: one `track` message."
);
segment_endpoint!(
    identify,
    "/v1/identify",
    Endpoint::Single("identify"),
    SegmentMessage,
    "Segment-compatible: one `identify` message (kept as an event named `identify`)."
);
segment_endpoint!(
    page,
    "/v1/page",
    Endpoint::Single("page"),
    SegmentMessage,
    "Segment-compatible: one `page` message (an event named `page`)."
);
segment_endpoint!(
    screen,
    "/v1/screen",
    Endpoint::Single("screen"),
    SegmentMessage,
    "Segment-compatible: one `screen` message (an event named `screen`)."
);
segment_endpoint!(
    alias,
    "/v1/alias",
    Endpoint::Single("alias"),
    SegmentMessage,
    "Segment-compatible: one `alias` message (an event named `alias`)."
);
segment_endpoint!(
    group,
    "/v1/group",
    Endpoint::Single("group"),
    SegmentMessage,
    "Segment-compatible: one `group` message (an event named `group`)."
);
