//! PostHog's capture API: `/batch`, `/capture`, `/e` and `/i/v0/e` (with or without a trailing
//! slash), with the app token as the project API key (`api_key`, or `token` as posthog-js
//! sends it). Bodies may be JSON, gzip (`Content-Encoding: gzip` or `?compression=gzip-js`),
//! base64 (`?compression=base64`), lz-string (`compression=lz64`, in the query or the form, as
//! older posthog-js sends it) or a form with `data=` (JSON or base64), as PostHog's
//! libraries send them. Events are read into the product's own
//! (`unmogrowp_ingest::posthog`, which documents the mapping) and take the one collection
//! path.

use crate::auth::ClientInfo;
use crate::error::{ApiError, ApiResult};
use crate::extract::{decode_content, read_body};
use crate::ingest::IngestResponse;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use base64::Engine;
use unmogrowp_domain::event::Source;

/// The paths PostHog's libraries post events to (their trailing-slash forms are served too).
pub const PATHS: [&str; 4] = ["/batch", "/capture", "/e", "/i/v0/e"];

/// Whether `path` is one of [`PATHS`], with or without its trailing slash.
pub fn is_capture_path(path: &str) -> bool {
    let path = path.strip_suffix('/').unwrap_or(path);
    PATHS.contains(&path)
}

/// How the body is compressed (`?compression=`), as PostHog's libraries say it.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub enum Compression {
    /// gzip (posthog-js sends it as `text/plain`).
    #[serde(rename = "gzip-js")]
    GzipJs,
    /// gzip.
    #[serde(rename = "gzip")]
    Gzip,
    /// base64 of the JSON.
    #[serde(rename = "base64")]
    Base64,
    /// lz-string's `compressToBase64` (older posthog-js).
    #[serde(rename = "lz64")]
    Lz64,
}

/// The query PostHog's libraries add.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct CaptureQuery {
    /// How the body is compressed: gzip-js, gzip, base64 or lz64 (a form body may say it in
    /// its own `compression` field instead).
    #[param(inline)]
    compression: Option<Compression>,
}

fn unsupported(detail: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type").with_detail(detail)
}

fn base64_decode(text: &[u8]) -> ApiResult<bytes::Bytes> {
    let text: Vec<u8> = text.iter().copied().filter(|b| !b.is_ascii_whitespace()).collect();
    let engines =
        [base64::engine::general_purpose::STANDARD, base64::engine::general_purpose::URL_SAFE];
    engines
        .iter()
        .find_map(|engine| engine.decode(&text).ok())
        .map(bytes::Bytes::from)
        .ok_or_else(|| ApiError::invalid_field("data", "is not base64 of a JSON body"))
}

/// The JSON text of a capture request, whatever way the library sent it.
async fn capture_body(request: Request, state: &AppState) -> ApiResult<bytes::Bytes> {
    let limit = state.config.http.max_body_bytes;
    let mut compression = request.uri().query().and_then(|query| {
        url::form_urlencoded::parse(query.as_bytes())
            .find(|(key, _)| key == "compression")
            .map(|(_, value)| value.to_ascii_lowercase())
    });
    let form = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            value.to_ascii_lowercase().starts_with("application/x-www-form-urlencoded")
        });
    let mut encoding = request.headers().get(header::CONTENT_ENCODING).cloned();
    let mut raw = read_body(request, state).await?;
    if form {
        let mut data = None;
        for (key, value) in url::form_urlencoded::parse(&raw) {
            match &*key {
                "data" => data = Some(value.into_owned()),
                // posthog-js puts lz64 in the form rather than the query.
                "compression" if compression.is_none() => {
                    compression = Some(value.to_ascii_lowercase());
                }
                _ => {}
            }
        }
        let data =
            data.ok_or_else(|| ApiError::invalid_field("data", "is required in a form body"))?;
        raw = bytes::Bytes::from(data.into_bytes());
    }
    match compression.as_deref() {
        None | Some("") => {}
        Some("gzip" | "gzip-js") => encoding = Some(HeaderValue::from_static("gzip")),
        Some("base64") => raw = base64_decode(&raw)?,
        Some("lz64") => {
            // The decoder bounds its output by the body limit (LZW can expand quadratically).
            let text = tokio::task::spawn_blocking(move || {
                unmogrowp_ingest::posthog::lz_string::decompress_base64(&raw, limit)
            })
            .await
            .map_err(|error| {
                ApiError::internal(anyhow::anyhow!("decompressing the body panicked: {error}"))
            })?
            .map_err(|error| match error {
                unmogrowp_ingest::posthog::lz_string::LzError::TooLarge(_) => {
                    ApiError::payload_too_large(format!("the lz64 body {error}"))
                }
                other => ApiError::invalid_field("data", other.to_string()),
            })?;
            return Ok(bytes::Bytes::from(text.into_bytes()));
        }
        Some(other) => {
            return Err(unsupported(format!(
                "compression={other} is not supported; send gzip-js, base64, lz64 or none"
            )));
        }
    }
    if form && compression.is_none() && !raw.starts_with(b"{") && !raw.starts_with(b"[") {
        raw = base64_decode(&raw)?;
    }
    // posthog-js (1.2xx and later) sends gzip as `text/plain` with no query and no
    // Content-Encoding: gzip's magic number says it.
    if encoding.is_none() && raw.starts_with(&[0x1f, 0x8b]) {
        encoding = Some(HeaderValue::from_static("gzip"));
    }
    tokio::task::spawn_blocking(move || decode_content(encoding.as_ref(), raw, limit))
        .await
        .map_err(|error| {
            ApiError::internal(anyhow::anyhow!("decoding the body panicked: {error}"))
        })?
}

async fn collect(
    state: AppState,
    client: ClientInfo,
    request: Request,
) -> ApiResult<Json<IngestResponse>> {
    let body = capture_body(request, &state).await?;
    let received = jiff::Timestamp::now().as_millisecond();
    let translated = unmogrowp_ingest::posthog::translate(&body, received)
        .map_err(unmogrowp_ingest::IngestError::from)?;
    let key = translated.api_key.ok_or_else(|| {
        ApiError::unauthorized("send the app's token as the project API key (api_key or token)")
    })?;
    let app = crate::routes::collect::app_for_token(&state, &key, "API key").await?;
    let response =
        state.ingest.ingest(&app, &translated.body, Source::Sdk, &client.for_ingest()).await?;
    Ok(Json(response))
}

macro_rules! capture_endpoint {
    ($name:ident, $path:literal) => {
        /// PostHog-compatible event capture: one event, a list, or `{"batch": [...]}`, with the
        /// app token as the project API key (`api_key`, or `token`). Also served with a
        /// trailing slash.
        #[utoipa::path(post, path = $path, tag = "collection", operation_id = concat!("posthog_", stringify!($name)),
            request_body(content = Object, description = "PostHog capture format: {api_key, batch: [{event, distinct_id, uuid, timestamp, properties}]}, a single event, or a list"),
            params(CaptureQuery),
            responses(
                (status = 200, description = "Every accepted event is durable; bad ones are listed", body = IngestResponse),
                (status = 400, description = "Not a body of the capture format", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
                (status = 401, description = "Missing or unknown API key", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
                (status = 413, description = "Too large or too many events", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
                (status = 415, description = "An unsupported compression or Content-Encoding", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
                (status = 429, description = "Over the organization's quota; see Retry-After", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
                (status = 503, description = "Overloaded; see Retry-After", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
            ))]
        pub async fn $name(
            State(state): State<AppState>,
            client: ClientInfo,
            request: Request,
        ) -> ApiResult<Json<IngestResponse>> {
            collect(state, client, request).await
        }
    };
}

capture_endpoint!(batch, "/batch");
capture_endpoint!(capture, "/capture");
capture_endpoint!(e, "/e");
capture_endpoint!(i_v0_e, "/i/v0/e");

/// The trailing-slash forms PostHog's libraries use (`/batch/`, …), beside the documented
/// paths.
pub fn slash_routes() -> axum::Router<AppState> {
    use axum::routing::post;
    axum::Router::new()
        .route("/batch/", post(batch))
        .route("/capture/", post(capture))
        .route("/e/", post(e))
        .route("/i/v0/e/", post(i_v0_e))
}
