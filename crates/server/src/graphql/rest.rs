//! How resolvers read data: by calling the REST route in-process, with the GraphQL
//! request's own credentials. Authentication, the organization (token or `X-Org-Id`), the
//! role checks, tenant scoping (another organization's id answers 404), validation, the
//! report cache and the event-store error handling are therefore the REST API's, not a second
//! copy of them; a REST problem document becomes a GraphQL error with the same code.

use async_graphql::{Context, ErrorExtensions, Result};
use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Method, Request, header};
use serde::de::DeserializeOwned;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use tower::ServiceExt as _;

/// The API router resolvers call, set once the router is built (it contains the GraphQL
/// route itself, so it cannot exist before the schema).
#[derive(Clone, Default)]
pub struct Rest(Arc<OnceLock<Router>>);

impl Rest {
    /// Sets the router (once; later calls are ignored).
    pub fn install(&self, router: Router) {
        let _ = self.0.set(router);
    }
}

/// The GraphQL request's caller, as the REST routes need to see it.
pub(crate) struct Caller {
    pub(crate) rest: Rest,
    pub(crate) headers: HeaderMap,
    pub(crate) peer: Option<ConnectInfo<SocketAddr>>,
    /// REST reads made for this request so far (see [`MAX_READS`]).
    pub(crate) reads: std::sync::atomic::AtomicUsize,
}

/// The most REST reads one GraphQL request may make. The complexity limit counts a field once
/// however long the list above it is (`apps { summary }` reads once per app), so this bounds
/// what a query over many apps can start.
pub const MAX_READS: usize = 60;

/// The largest REST answer a resolver reads (a report of many groups).
const MAX_ANSWER_BYTES: usize = 32 * 1024 * 1024;

/// `value` as one path segment (`/` and everything else outside unreserved characters
/// escaped), so an id cannot reach another route.
pub(crate) fn segment(value: &str) -> String {
    // `.` and `..` are left alone by the encoding but mean "this" and "up" in a path; an empty
    // segment would name the collection: neither is an id, so neither may look like a path.
    if value.bytes().all(|b| b == b'.') {
        return format!("%20{}", value.replace('.', "%2E"));
    }
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect::<String>().replace('+', "%20")
}

impl Caller {
    /// The caller of the request being resolved.
    pub(crate) fn of<'a>(ctx: &'a Context<'_>) -> Result<&'a Caller> {
        let caller = ctx.data::<Caller>()?;
        if !caller.headers.contains_key(header::AUTHORIZATION) {
            return Err(async_graphql::Error::new(
                "sign in: send `Authorization: Bearer <access token or API token>`",
            )
            .extend_with(|_, e| e.set("code", "UNAUTHENTICATED")));
        }
        Ok(caller)
    }

    /// `GET path` (already escaped) as the caller.
    pub(crate) async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        if self.reads.fetch_add(1, std::sync::atomic::Ordering::Relaxed) >= MAX_READS {
            return Err(async_graphql::Error::new(format!(
                "this query reads more than {MAX_READS} resources (reports, lists): split it"
            ))
            .extend_with(|_, e| e.set("code", "TOO_MANY_READS")));
        }
        let router = self.rest.0.get().cloned().ok_or_else(|| {
            async_graphql::Error::new("the API is starting")
                .extend_with(|_, e| e.set("code", "UNAVAILABLE"))
        })?;
        let mut request = Request::builder().method(Method::GET).uri(path);
        for name in [header::AUTHORIZATION, header::USER_AGENT] {
            if let Some(value) = self.headers.get(&name) {
                request = request.header(name, value);
            }
        }
        for name in ["x-org-id", "x-forwarded-for", "x-request-id"] {
            for value in self.headers.get_all(name) {
                request = request.header(name, value);
            }
        }
        let mut request = request
            .body(Body::empty())
            .map_err(|error| async_graphql::Error::new(format!("internal request: {error}")))?;
        if let Some(peer) = self.peer {
            request.extensions_mut().insert(peer);
        }
        let response =
            router.oneshot(request).await.map_err(|never: std::convert::Infallible| {
                async_graphql::Error::new(never.to_string())
            })?;
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), MAX_ANSWER_BYTES)
            .await
            .map_err(|error| async_graphql::Error::new(format!("reading the answer: {error}")))?;
        if status.is_success() {
            return serde_json::from_slice(&body).map_err(|error| {
                async_graphql::Error::new(format!("reading the answer of {path}: {error}"))
            });
        }
        Err(problem_error(status.as_u16(), &body))
    }

    /// `GET path?query` as the caller; `None` values are left out.
    pub(crate) async fn get_with<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, Option<String>)],
    ) -> Result<T> {
        let query = {
            let mut serializer = url::form_urlencoded::Serializer::new(String::new());
            for (name, value) in query {
                if let Some(value) = value {
                    serializer.append_pair(name, value);
                }
            }
            serializer.finish()
        };
        if query.is_empty() {
            self.get(path).await
        } else {
            self.get(&format!("{path}?{query}")).await
        }
    }
}

/// A REST problem document as a GraphQL error: the message is its detail (or title), the
/// extensions carry `code` (GraphQL style: `NOT_FOUND`, `FORBIDDEN`, `BAD_USER_INPUT`, …),
/// `status` and, for invalid parameters, the `errors` naming each field.
fn problem_error(status: u16, body: &[u8]) -> async_graphql::Error {
    let problem: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let message = problem["detail"]
        .as_str()
        .or_else(|| problem["title"].as_str())
        .unwrap_or("the request failed")
        .to_owned();
    let code = match status {
        400 | 422 => "BAD_USER_INPUT",
        401 => "UNAUTHENTICATED",
        403 => "FORBIDDEN",
        404 => "NOT_FOUND",
        429 => "RATE_LIMITED",
        503 => "UNAVAILABLE",
        _ => "INTERNAL",
    };
    let problem_code = problem["code"].as_str().map(str::to_owned);
    let fields = problem.get("errors").cloned();
    async_graphql::Error::new(message).extend_with(|_, extensions| {
        extensions.set("code", code);
        extensions.set("status", i32::from(status));
        if let Some(problem_code) = &problem_code {
            extensions.set("problem", problem_code.as_str());
        }
        if let Some(fields) =
            fields.as_ref().filter(|f| f.as_array().is_some_and(|a| !a.is_empty()))
            && let Ok(value) = async_graphql::Value::from_json(fields.clone())
        {
            extensions.set("errors", value);
        }
    })
}
