//! Extractors whose rejections are problem documents naming the field that was wrong.

use crate::error::ApiError;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::header;
use axum::http::request::Parts;
use bytes::Bytes;
use serde::de::DeserializeOwned;
use unmogrowp_domain::validate::FieldError;

/// A JSON body. Refuses a missing or non-JSON content type (415), an oversized body (413),
/// malformed JSON (400 `malformed_json`) and a body of the wrong shape (400
/// `invalid_request`, naming the field).
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

pub(crate) fn is_json_content_type(value: Option<&header::HeaderValue>) -> bool {
    let Some(value) = value.and_then(|value| value.to_str().ok()) else { return false };
    let essence = value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

pub(crate) async fn read_body<S: Send + Sync>(
    request: Request,
    state: &S,
) -> Result<Bytes, ApiError> {
    Bytes::from_request(request, state).await.map_err(|rejection| match rejection {
        BytesRejection::FailedToBufferBody(failure)
            if failure.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE =>
        {
            ApiError::payload_too_large("the request body is larger than this endpoint accepts")
        }
        other => ApiError::bad_request("unreadable_body", other.body_text()),
    })
}

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json_content_type(request.headers().get(header::CONTENT_TYPE)) {
            return Err(ApiError::new(
                axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
            )
            .with_detail("send the body as application/json (Content-Type: application/json)"));
        }
        let bytes = read_body(request, state).await?;
        // Every endpoint takes an object; serde would otherwise read an array as a struct's
        // fields by position, and name them `[0]`.
        let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
        if first.is_some_and(|b| {
            *b == b'[' || b.is_ascii_digit() || *b == b'"' || *b == b't' || *b == b'f' || *b == b'n'
        }) {
            return Err(ApiError::invalid_field("body", "must be a JSON object"));
        }
        parse_json(&bytes).map(ApiJson)
    }
}

/// Parses JSON, turning serde's error into a problem that names the field.
pub fn parse_json<'de, T: serde::Deserialize<'de>>(bytes: &'de [u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize::<_, T>(&mut deserializer)
        .map_err(|error| json_error(&error.path().to_string(), error.inner()))?;
    deserializer.end().map_err(|error| json_error(".", &error))?;
    Ok(value)
}

fn json_error(path: &str, inner: &serde_json::Error) -> ApiError {
    match inner.classify() {
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
            ApiError::bad_request(
                "malformed_json",
                format!(
                    "the body is not valid JSON (line {}, column {})",
                    inner.line(),
                    inner.column()
                ),
            )
        }
        serde_json::error::Category::Io | serde_json::error::Category::Data => {
            let (field, message) = field_and_message(path, &inner.to_string());
            ApiError::validation(vec![FieldError::new(field, message)])
        }
    }
}

/// serde reports a missing field at its parent's path with the name in the message; put
/// the name into the path. Strips serde's " at line X column Y" suffix.
fn field_and_message(path: &str, message: &str) -> (String, String) {
    let message = match message.rfind(" at line ") {
        Some(index) => &message[..index],
        None => message,
    };
    let parent = if path == "." { "" } else { path };
    if let Some(rest) = message.strip_prefix("missing field `")
        && let Some(name) = rest.strip_suffix('`')
    {
        let field = if parent.is_empty() { name.to_owned() } else { format!("{parent}.{name}") };
        return (field, "is required".to_owned());
    }
    // For an unknown field the path already ends with its name.
    if let Some(rest) = message.strip_prefix("unknown field `")
        && let Some((name, _)) = rest.split_once('`')
    {
        let field = if parent.is_empty() { name.to_owned() } else { parent.to_owned() };
        return (field, message.to_owned());
    }
    let field = if parent.is_empty() { "body".to_owned() } else { parent.to_owned() };
    (field, message.to_owned())
}

/// Query-string parameters with field-naming errors.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(ApiQuery(value)),
            Err(QueryRejection::FailedToDeserializeQueryString(failure)) => {
                let text = failure.body_text();
                let message = text
                    .strip_prefix("Failed to deserialize query string: ")
                    .unwrap_or(&text)
                    .to_owned();
                let field = message
                    .strip_prefix("missing field `")
                    .and_then(|rest| rest.split('`').next())
                    .unwrap_or("query")
                    .to_owned();
                Err(ApiError::invalid_field(&field, message))
            }
            Err(other) => Err(ApiError::bad_request("invalid_query", other.body_text())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Body {
        email: String,
        nested: Option<Nested>,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Nested {
        count: u32,
    }

    fn field_of(raw: &str) -> (String, String) {
        let error = parse_json::<Body>(raw.as_bytes()).expect_err("must fail");
        let (status, code) = (error.status(), error.code().to_owned());
        assert_eq!(status, axum::http::StatusCode::BAD_REQUEST);
        (code, format!("{error:?}"))
    }

    #[test]
    fn names_a_missing_field() {
        let (code, debug) = field_of("{}");
        assert_eq!(code, "invalid_request");
        assert!(debug.contains("field: \"email\""), "{debug}");
    }

    #[test]
    fn names_a_nested_field_of_the_wrong_type() {
        let (_, debug) = field_of(r#"{"email":"a@b.c","nested":{"count":"x"}}"#);
        assert!(debug.contains("field: \"nested.count\""), "{debug}");
    }

    #[test]
    fn malformed_json_is_its_own_code() {
        let (code, _) = field_of("{\"email\": ");
        assert_eq!(code, "malformed_json");
        let (code, _) = field_of("{\"email\": \"a\"} trailing");
        assert_eq!(code, "malformed_json");
    }

    #[test]
    fn json_content_types() {
        let ok = |v: &'static str| is_json_content_type(Some(&header::HeaderValue::from_static(v)));
        assert!(ok("application/json"));
        assert!(ok("application/json; charset=utf-8"));
        assert!(ok("application/merge-patch+json"));
        assert!(!ok("text/plain"));
        assert!(!is_json_content_type(None));
    }
}
