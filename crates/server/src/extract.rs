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
    unmogrowp_domain::json::parse(bytes).map_err(ApiError::from)
}

impl From<unmogrowp_domain::json::JsonError> for ApiError {
    fn from(error: unmogrowp_domain::json::JsonError) -> Self {
        use unmogrowp_domain::json::JsonError;
        match error {
            JsonError::Malformed { line, column } => ApiError::bad_request(
                "malformed_json",
                format!("the body is not valid JSON (line {line}, column {column})"),
            ),
            JsonError::Field { field, message } => {
                ApiError::validation(vec![FieldError::new(field, message)])
            }
        }
    }
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

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        // An empty parameter (`?from=`) is the same as leaving it out, as forms send them.
        let kept: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(
                url::form_urlencoded::parse(parts.uri.query().unwrap_or_default().as_bytes())
                    .filter(|(_, value)| !value.is_empty()),
            )
            .finish();
        let uri: axum::http::Uri = format!("/?{kept}")
            .parse()
            .map_err(|_| ApiError::bad_request("invalid_query", "the query string is not valid"))?;
        match Query::<T>::try_from_uri(&uri) {
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

/// Decodes a request body sent with `Content-Encoding` (`gzip`, `x-gzip`, `deflate` — zlib or
/// raw — or `identity`; at most one coding besides `identity`). `limit` applies to the
/// decoded size: decoding stops one byte past it and answers 413, so a small body that
/// inflates enormously is never held whole. An unknown coding, or several stacked, answers
/// 415 naming them; a body that is not the coding it claims, 400 `invalid_body`.
pub(crate) fn decode_content(
    encoding: Option<&header::HeaderValue>,
    body: Bytes,
    limit: usize,
) -> Result<Bytes, ApiError> {
    let Some(encoding) = encoding else { return Ok(body) };
    let text = encoding.to_str().map_err(|_| {
        ApiError::new(
            axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_content_encoding",
        )
        .with_detail("Content-Encoding: must be gzip, deflate or identity")
    })?;
    let codings: Vec<String> = text
        .split(',')
        .map(|c| c.trim().to_ascii_lowercase())
        .filter(|c| !c.is_empty() && c != "identity")
        .collect();
    if codings.len() > 1 {
        // Each layer may inflate to the limit: stacked codings would multiply the work.
        return Err(ApiError::new(
            axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_content_encoding",
        )
        .with_detail(format!(
            "Content-Encoding: {} applies several codings; send one of gzip or deflate",
            codings.join(", ")
        )));
    }
    for coding in &codings {
        if !matches!(coding.as_str(), "gzip" | "x-gzip" | "deflate") {
            return Err(ApiError::new(
                axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_content_encoding",
            )
            .with_detail(format!(
                "Content-Encoding: {coding} is not supported; send gzip, deflate or identity"
            )));
        }
    }
    let mut body = body;
    for coding in codings.iter().rev() {
        body = inflate(coding, &body, limit)?;
    }
    Ok(body)
}

fn inflate(coding: &str, body: &[u8], limit: usize) -> Result<Bytes, ApiError> {
    use std::io::Read;
    let reader: Box<dyn Read + '_> = match coding {
        "deflate" => {
            // RFC 9110's deflate is the zlib format; some clients send raw deflate.
            let zlib = body.len() >= 2
                && body[0] & 0x0f == 8
                && (u16::from(body[0]) << 8 | u16::from(body[1])) % 31 == 0;
            if zlib {
                Box::new(flate2::read::ZlibDecoder::new(body))
            } else {
                Box::new(flate2::read::DeflateDecoder::new(body))
            }
        }
        _ => Box::new(flate2::read::MultiGzDecoder::new(body)),
    };
    let mut out = Vec::with_capacity(body.len().saturating_mul(4).min(limit + 1));
    reader.take(limit as u64 + 1).read_to_end(&mut out).map_err(|error| {
        ApiError::bad_request(
            "invalid_body",
            format!("the body is not valid {coding} data ({error})"),
        )
    })?;
    if out.len() > limit {
        return Err(ApiError::payload_too_large(format!(
            "the decoded request body is larger than this endpoint accepts ({limit} bytes)"
        ))
        .with_extra("max_bytes", serde_json::json!(limit)));
    }
    Ok(Bytes::from(out))
}

#[cfg(test)]
mod decode_tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        let _ = encoder.write_all(data);
        encoder.finish().unwrap_or_default()
    }

    fn value(text: &'static str) -> header::HeaderValue {
        header::HeaderValue::from_static(text)
    }

    #[test]
    fn each_coding_is_undone() {
        let data = br#"{"events": []}"#;
        let plain = decode_content(None, Bytes::from_static(data), 100);
        assert_eq!(plain.ok().as_deref(), Some(&data[..]));
        let gz = decode_content(Some(&value("gzip")), Bytes::from(gzip(data)), 100);
        assert_eq!(gz.ok().as_deref(), Some(&data[..]));
        let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        let _ = zlib.write_all(data);
        let zlib = zlib.finish().unwrap_or_default();
        let decoded = decode_content(Some(&value("deflate")), Bytes::from(zlib), 100);
        assert_eq!(decoded.ok().as_deref(), Some(&data[..]));
        let mut raw = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        let _ = raw.write_all(data);
        let raw = raw.finish().unwrap_or_default();
        let decoded = decode_content(Some(&value("Deflate")), Bytes::from(raw), 100);
        assert_eq!(decoded.ok().as_deref(), Some(&data[..]));
        let with_identity =
            decode_content(Some(&value("identity, gzip")), Bytes::from(gzip(data)), 100);
        assert_eq!(with_identity.ok().as_deref(), Some(&data[..]));
        // Stacked codings would multiply the inflating work: refused.
        let twice = decode_content(
            Some(&value("gzip, identity, gzip")),
            Bytes::from(gzip(&gzip(data))),
            100,
        );
        assert_eq!(
            twice.err().map(|e| e.status()),
            Some(axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE)
        );
    }

    #[test]
    fn the_limit_is_on_the_decoded_size() {
        let bomb = gzip(&vec![b' '; 10 * 1024 * 1024]);
        assert!(bomb.len() < 20 * 1024, "{}", bomb.len());
        let error = decode_content(Some(&value("gzip")), Bytes::from(bomb), 1024 * 1024)
            .err()
            .map(|e| e.status());
        assert_eq!(error, Some(axum::http::StatusCode::PAYLOAD_TOO_LARGE));
        let exact = gzip(&[b'x'; 1000]);
        assert!(decode_content(Some(&value("gzip")), Bytes::from(exact), 1000).is_ok());
    }

    #[test]
    fn unknown_or_broken_codings_are_named() {
        let error = decode_content(Some(&value("br")), Bytes::from_static(b"x"), 100)
            .err()
            .map(|e| (e.status(), e.detail_text()));
        assert_eq!(
            error,
            Some((
                axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Content-Encoding: br is not supported; send gzip, deflate or identity".to_owned()
            ))
        );
        let broken = decode_content(Some(&value("gzip")), Bytes::from_static(b"not gzip"), 100)
            .err()
            .map(|e| e.status());
        assert_eq!(broken, Some(axum::http::StatusCode::BAD_REQUEST));
    }
}
