//! Every error leaves the server as an RFC 9457 problem document
//! (`application/problem+json`). Internal details of 5xx errors are logged with the request
//! id and never shown to the client.

use crate::request_id::current_request_id;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::borrow::Cow;
use unmogrowp_domain::validate::FieldError;
use unmogrowp_storage::StorageError;

/// The media type of every error body (RFC 9457).
pub const PROBLEM_JSON: &str = "application/problem+json";

/// The body of every error response.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProblemDocument {
    /// A URI naming the kind of problem.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// The HTTP reason phrase.
    pub title: String,
    /// The HTTP status code of the response, repeated in the body.
    pub status: u16,
    /// What went wrong, for a person.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// What went wrong, for a program (`snake_case`).
    pub code: String,
    /// One entry per bad field.
    pub errors: Vec<FieldError>,
    /// The id of this request, also sent in the X-Request-Id response header: the X-Request-Id the
    /// client sent when it is 1 to 128 visible ASCII characters, else one the server made. Quote it
    /// when reporting a problem.
    pub request_id: String,
    /// On server errors (5xx) of a traced request: the trace id (32 lowercase hex digits) to
    /// look the request up in the trace back end (`otel.endpoint`), or the caller's trace id
    /// from its `traceparent` when this server does not trace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// Extra members some problems carry (e.g. readiness checks).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub extra: Option<serde_json::Map<String, serde_json::Value>>,
}

/// An error on its way to becoming a problem document. Boxed: handlers return it often and
/// it should not make every `Result` large.
#[derive(Debug)]
pub struct ApiError(Box<ApiErrorInner>);

#[derive(Debug)]
struct ApiErrorInner {
    status: StatusCode,
    code: Cow<'static, str>,
    detail: Option<String>,
    errors: Vec<FieldError>,
    retry_after_seconds: Option<u64>,
    extra: Option<serde_json::Map<String, serde_json::Value>>,
    headers: Vec<(header::HeaderName, HeaderValue)>,
    internal: Option<anyhow::Error>,
}

impl ApiError {
    /// An error with `status` and a machine-readable `code` (the document's `code`, and its `type`
    /// as `urn:unmogrowp:problem:<code>`), without detail yet.
    pub fn new(status: StatusCode, code: impl Into<Cow<'static, str>>) -> Self {
        Self(Box::new(ApiErrorInner {
            status,
            code: code.into(),
            detail: None,
            errors: Vec::new(),
            retry_after_seconds: None,
            extra: None,
            headers: Vec::new(),
            internal: None,
        }))
    }

    /// Sets the human-readable detail. A 500 replaces it in the response with a generic message;
    /// other statuses show it.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.0.detail = Some(detail.into());
        self
    }

    /// Sets the per-field errors (the document's `errors`).
    pub fn with_errors(mut self, errors: Vec<FieldError>) -> Self {
        self.0.errors = errors;
        self
    }

    /// Sends `Retry-After` with this many seconds (at least 1).
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.0.retry_after_seconds = Some(seconds.max(1));
        self
    }

    /// Adds a response header, set after the content type and `Retry-After`, so it replaces a
    /// header of the same name.
    pub fn with_header(mut self, name: header::HeaderName, value: HeaderValue) -> Self {
        self.0.headers.push((name, value));
        self
    }

    /// Adds a top-level member to the document, e.g. `checks` on a failed readiness probe or
    /// `max_events`. The key must not be a standard member's name.
    pub fn with_extra(mut self, key: &str, value: serde_json::Value) -> Self {
        self.0.extra.get_or_insert_with(Default::default).insert(key.to_owned(), value);
        self
    }

    /// The status the response will have.
    pub fn status(&self) -> StatusCode {
        self.0.status
    }

    /// The machine-readable code, e.g. `not_found`.
    pub fn code(&self) -> &str {
        &self.0.code
    }

    /// The human-readable detail, if any.
    pub fn detail_text(&self) -> String {
        self.0.detail.clone().unwrap_or_default()
    }

    /// 400 for a request whose fields are wrong; names every bad field.
    pub fn validation(errors: Vec<FieldError>) -> Self {
        let detail = match errors.as_slice() {
            [only] => format!("{}: {}", only.field, only.message),
            _ => format!("{} fields are invalid", errors.len()),
        };
        Self::new(StatusCode::BAD_REQUEST, "invalid_request")
            .with_detail(detail)
            .with_errors(errors)
    }

    /// 400 `invalid_request` for one bad field, with its message.
    pub fn invalid_field(field: &str, message: impl Into<String>) -> Self {
        Self::validation(vec![FieldError::new(field, message)])
    }

    /// 400 with a specific `code` and detail.
    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code).with_detail(detail)
    }

    /// 401 `unauthorized` with `WWW-Authenticate: Bearer`: no valid credentials.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized")
            .with_detail(detail)
            .with_header(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))
    }

    /// 403 `forbidden`: the caller is authenticated but may not do this.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden").with_detail(detail)
    }

    /// 404, also for objects that belong to another organization.
    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found").with_detail(format!("{what} not found"))
    }

    /// 409 with a specific `code`: the request clashes with the current state.
    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code).with_detail(detail)
    }

    /// 413 `payload_too_large`.
    pub fn payload_too_large(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").with_detail(detail)
    }

    /// 422 with a specific `code`: well-formed, but cannot be acted on.
    pub fn unprocessable(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code).with_detail(detail)
    }

    /// 429 `too_many_requests` with `Retry-After` (seconds, at least 1).
    pub fn too_many_requests(retry_after_seconds: u64, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::TOO_MANY_REQUESTS, "too_many_requests")
            .with_detail(detail)
            .with_retry_after(retry_after_seconds)
    }

    /// 503 `unavailable` with `Retry-After` (seconds, at least 1): temporary, worth retrying.
    /// Unlike a 500, its detail is shown.
    pub fn unavailable(retry_after_seconds: u64, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable")
            .with_detail(detail)
            .with_retry_after(retry_after_seconds)
    }

    /// A failure that is our fault: logged in full, shown as a bare 500.
    pub fn internal(error: anyhow::Error) -> Self {
        let mut this = Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error");
        this.0.internal = Some(error);
        this
    }

    fn into_document(
        self,
    ) -> (StatusCode, Option<u64>, Vec<(header::HeaderName, HeaderValue)>, ProblemDocument) {
        let this = *self.0;
        let request_id = current_request_id();
        let trace_id = if this.status.is_server_error() {
            crate::request_id::current_trace_id().map(|id| id.to_string())
        } else {
            None
        };
        let detail = if this.status.is_server_error() {
            if let Some(internal) = &this.internal {
                tracing::error!(request_id = %request_id, status = this.status.as_u16(), error = format!("{internal:#}"), "request failed");
            }
            match this.status {
                StatusCode::INTERNAL_SERVER_ERROR => Some(
                    "an unexpected error occurred; quote the request id when reporting it"
                        .to_owned(),
                ),
                _ => this.detail,
            }
        } else {
            this.detail
        };
        let document = ProblemDocument {
            problem_type: format!("urn:unmogrowp:problem:{}", this.code),
            title: this.status.canonical_reason().unwrap_or("Error").to_owned(),
            status: this.status.as_u16(),
            detail,
            code: this.code.into_owned(),
            errors: this.errors,
            request_id,
            trace_id,
            extra: this.extra,
        };
        (this.status, this.retry_after_seconds, this.headers, document)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, retry_after, headers, document) = self.into_document();
        let mut response = problem_response(status, retry_after, &document);
        for (name, value) in headers {
            response.headers_mut().insert(name, value);
        }
        response
    }
}

pub(crate) fn problem_response(
    status: StatusCode,
    retry_after: Option<u64>,
    document: &ProblemDocument,
) -> Response {
    let body = serde_json::to_vec(document).unwrap_or_else(|_| b"{}".to_vec());
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    if let Some(seconds) = retry_after {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

/// The problem a bare status from a lower layer (router, body limit, timeout) turns into.
pub(crate) fn problem_for_status(status: StatusCode) -> ApiError {
    match status {
        StatusCode::NOT_FOUND => ApiError::new(status, "not_found").with_detail("no such resource"),
        StatusCode::METHOD_NOT_ALLOWED => ApiError::new(status, "method_not_allowed")
            .with_detail("this resource does not accept that method; see the Allow header"),
        StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::payload_too_large("the request body is too large")
        }
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::new(status, "unsupported_media_type")
            .with_detail("send the body as application/json"),
        StatusCode::REQUEST_TIMEOUT | StatusCode::SERVICE_UNAVAILABLE => {
            ApiError::unavailable(1, "the request took too long; try again")
        }
        other if other.is_server_error() => ApiError::new(other, "internal_error"),
        other => ApiError::new(
            other,
            other.canonical_reason().unwrap_or("error").to_lowercase().replace(' ', "_"),
        ),
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(error: anyhow::Error) -> Self {
        Self::internal(error)
    }
}

impl From<crate::ingest::IngestError> for ApiError {
    fn from(error: crate::ingest::IngestError) -> Self {
        use crate::ingest::IngestError;
        let message = error.to_string();
        match error {
            IngestError::Body(problem) => Self::from(problem),
            IngestError::TooManyEvents { max, .. } => {
                Self::payload_too_large(message).with_extra("max_events", serde_json::json!(max))
            }
            IngestError::OverQuota { retry_after_s } => {
                Self::too_many_requests(retry_after_s, message)
            }
            IngestError::Backlog { .. } => Self::unavailable(2, message),
            IngestError::Overloaded => Self::unavailable(1, message),
            IngestError::LogUnavailable(ref cause) => {
                tracing::error!(request_id = %current_request_id(), error = %cause,
                    "appending to the event log failed");
                Self::unavailable(2, message)
            }
            IngestError::LinkLookup(ref cause) => {
                tracing::warn!(request_id = %current_request_id(), error = ?cause,
                    "looking up a tracking link failed");
                Self::unavailable(2, message)
            }
            IngestError::Storage(cause) => Self::from(cause),
            IngestError::Encoding(_) => Self::internal(anyhow::anyhow!(message)),
        }
    }
}

impl From<StorageError> for ApiError {
    fn from(error: StorageError) -> Self {
        match error {
            StorageError::NotFound => Self::not_found("resource"),
            StorageError::Conflict(what) => {
                Self::conflict("conflict", format!("{what} already exists"))
            }
            StorageError::Refused(reason) => Self::conflict("refused", reason),
            StorageError::Unavailable(reason) => {
                tracing::warn!(request_id = %current_request_id(), reason, "database unavailable");
                Self::unavailable(2, "the database is unavailable; try again shortly")
            }
            other => Self::internal(anyhow::Error::new(other)),
        }
    }
}

/// What handlers return: a value, or an error answered as a problem document.
pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(error: ApiError) -> serde_json::Value {
        let response = error.into_response();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap_or_default();
        serde_json::from_slice(&bytes).unwrap_or_default()
    }

    /// A server error names the request's trace; a client error does not need to.
    #[tokio::test]
    async fn server_errors_carry_the_trace_id() {
        let trace: Option<std::sync::Arc<str>> = Some("4bf92f3577b34da6a3ce929d0e0e4736".into());
        let (server, client) = crate::request_id::scope("req-1".into(), trace, async {
            (
                body(ApiError::internal(anyhow::anyhow!("boom"))).await,
                body(ApiError::not_found("app")).await,
            )
        })
        .await;
        assert_eq!(server["request_id"], "req-1");
        assert_eq!(server["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(client["request_id"], "req-1");
        assert!(client.get("trace_id").is_none(), "{client}");
        // Untraced: no member at all.
        let untraced = crate::request_id::scope("req-2".into(), None, async {
            body(ApiError::unavailable(1, "busy")).await
        })
        .await;
        assert!(untraced.get("trace_id").is_none(), "{untraced}");
    }
}
