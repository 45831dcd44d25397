//! Operations endpoints: liveness, readiness, metrics, the OpenAPI document.

use crate::error::ApiError;
use crate::health::CheckOutcome;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// The liveness answer.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    /// Always `ok` while the process runs.
    status: &'static str,
    /// The server's version.
    version: &'static str,
    /// The role this node runs: `all`, `api`, `ingest` or `worker`.
    role: &'static str,
}

/// Liveness: 200 while the process runs.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "The process is running", body = Health)))]
pub async fn healthz(State(state): State<AppState>) -> Json<Health> {
    Json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
        role: state.config.role.as_str(),
    })
}

/// The readiness answer: the state of each backend this node depends on.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Ready {
    /// `ready`, or `degraded` when an optional backend (Redis) does not answer: the node
    /// serves, with per-node rate limits and caches.
    status: &'static str,
    /// One result per backend check.
    checks: Vec<CheckOutcome>,
}

/// Readiness: 200 when every required backend answers, else 503 naming the failing ones. Redis
/// is optional: when it fails the answer stays 200 with `status: "degraded"`.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Every required backend answers", body = Ready),
        (status = 503, description = "A backend does not answer; `detail` and `checks` name it",
            body = crate::error::ProblemDocument, content_type = "application/problem+json"),
    ))]
pub async fn readyz(State(state): State<AppState>) -> Response {
    let checks = state.readiness.run().await;
    let failing: Vec<String> = checks
        .iter()
        .filter(|check| !check.ok && check.required)
        .map(|check| format!("{}: {}", check.name, check.error.as_deref().unwrap_or("failed")))
        .collect();
    if failing.is_empty() {
        let status = if checks.iter().all(|check| check.ok) { "ready" } else { "degraded" };
        return Json(Ready { status, checks }).into_response();
    }
    tracing::warn!(failing = ?failing, "not ready");
    let checks = serde_json::to_value(&checks).unwrap_or_default();
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready")
        .with_detail(format!("not ready: {}", failing.join("; ")))
        .with_retry_after(5)
        .with_extra("checks", checks)
        .into_response()
}

/// Prometheus metrics in the text exposition format. With `http.metrics_token` set, only for
/// `Authorization: Bearer <token>`.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses(
        (status = 200, description = "Prometheus text format", body = String, content_type = "text/plain"),
        (status = 401, description = "A metrics token is configured and was not given", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
    ))]
pub async fn metrics(State(state): State<AppState>, headers: axum::http::HeaderMap) -> Response {
    if let Some(expected) = &state.config.http.metrics_token {
        use secrecy::ExposeSecret as _;
        use subtle::ConstantTimeEq as _;
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .unwrap_or_default();
        let matches: bool = given.as_bytes().ct_eq(expected.expose_secret().as_bytes()).into();
        if !matches {
            return crate::error::ApiError::unauthorized("a metrics token is required")
                .into_response();
        }
    }
    let mut text = state.prometheus.render();
    text.push_str(&crate::telemetry::process_metrics());
    let mut response = text.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

/// This document.
#[utoipa::path(get, path = "/api/openapi.json", tag = "operations",
    responses((status = 200, description = "The OpenAPI 3 document", content_type = "application/json")))]
pub async fn openapi(State(state): State<AppState>) -> Response {
    let mut response = state.openapi_json.as_ref().clone().into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
