//! The outermost middleware: request id, tracing span, access log, metrics, security headers,
//! and the rule that every error response is a problem document — even the bare ones that
//! the router (404, 405), the body limit (413) or the timeout produce.

use crate::error::{PROBLEM_JSON, problem_for_status};
use crate::request_id;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use std::time::Instant;
use tracing::Instrument;
use unmogrowp_domain::trace::TraceContext;

#[derive(Clone)]
pub(crate) struct ObserveSettings {
    pub behind_tls: bool,
}

struct InFlight;

impl InFlight {
    fn enter() -> Self {
        metrics::gauge!(crate::metric_names::HTTP_REQUESTS_IN_FLIGHT).increment(1.0);
        InFlight
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        metrics::gauge!(crate::metric_names::HTTP_REQUESTS_IN_FLIGHT).decrement(1.0);
    }
}

pub(crate) async fn observe(
    State(settings): State<Arc<ObserveSettings>>,
    matched: Option<MatchedPath>,
    mut request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let _in_flight = InFlight::enter();
    let id = request_id::choose(
        request.headers().get(request_id::HEADER).and_then(|value| value.to_str().ok()),
    );
    let method = request.method().clone();
    let route: Arc<str> = match &matched {
        Some(path) => Arc::from(path.as_str()),
        None => Arc::from("unmatched"),
    };
    request.extensions_mut().insert(RequestIdExt(id.clone()));
    let tenant = TenantSlot::default();
    request.extensions_mut().insert(tenant.clone());
    // The request's span, continuing the caller's trace when it sent a W3C `traceparent`.
    let incoming = request
        .headers()
        .get(unmogrowp_domain::trace::TRACEPARENT)
        .and_then(|value| value.to_str().ok())
        .and_then(TraceContext::parse);
    let span = tracing::info_span!("request",
        otel.name = %format_args!("{method} {route}"),
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        request_id = %id,
        http.request.method = %method,
        http.route = %route,
        http.response.status_code = tracing::field::Empty,
        tenant.id = tracing::field::Empty,
    );
    if let Some(parent) = incoming {
        parent.adopt(&span);
    }
    let trace_id: Option<Arc<str>> =
        TraceContext::of_span(&span).or(incoming).map(|context| Arc::from(context.trace_id_hex()));
    let response =
        request_id::scope(id.clone(), trace_id.clone(), next.run(request).instrument(span.clone()))
            .await;

    let mut response = if needs_problem_body(&response) {
        let status = response.status();
        let headers = response.headers().clone();
        let mut converted = request_id::sync_scope(id.clone(), trace_id.clone(), || {
            problem_for_status(status).into_response()
        });
        for name in [header::ALLOW, header::RETRY_AFTER] {
            if let Some(value) = headers.get(&name) {
                converted.headers_mut().insert(name, value.clone());
            }
        }
        converted
    } else {
        response
    };

    let status = response.status();
    span.record("http.response.status_code", status.as_u16());
    if status.is_server_error() {
        span.record("otel.status_code", "ERROR");
    }
    if let Some(org_id) = tenant.0.get() {
        span.record("tenant.id", org_id.as_str());
    }
    add_standard_headers(&mut response, &id, settings.behind_tls);
    // Management API answers carry tokens, secrets and tenant data: no cache may keep them
    // (a route that knows better, e.g. an export, sets its own).
    if route.starts_with("/api/v1/") {
        response
            .headers_mut()
            .entry(header::CACHE_CONTROL)
            .or_insert(HeaderValue::from_static("no-store"));
    }

    let elapsed = started.elapsed();
    let labels = [
        ("method", method.as_str().to_owned()),
        ("route", route.to_string()),
        ("status", status.as_u16().to_string()),
    ];
    metrics::counter!(crate::metric_names::HTTP_REQUESTS_TOTAL, &labels).increment(1);
    metrics::histogram!(crate::metric_names::HTTP_REQUEST_DURATION_SECONDS, &labels)
        .record(elapsed.as_secs_f64());
    if let Some(org_id) = tenant.0.get() {
        // Per organization, under a bounded label (the busiest by id, the rest `other`).
        let org = unmogrowp_domain::tenant_label::label(org_id, 1).to_string();
        let class = format!("{}xx", status.as_u16() / 100);
        metrics::counter!(crate::metric_names::TENANT_API_REQUESTS_TOTAL,
            "org_id" => org.clone(), "status" => class)
        .increment(1);
        metrics::histogram!(crate::metric_names::TENANT_API_REQUEST_DURATION_SECONDS, "org_id" => org)
            .record(elapsed.as_secs_f64());
    }
    // The access log line, in the request's scope (JSON lines then carry its trace id).
    request_id::sync_scope(id.clone(), trace_id, || {
        if status.is_server_error() {
            tracing::warn!(request_id = %id, method = %method, route = %route, status = status.as_u16(),
                elapsed_ms = elapsed.as_secs_f64() * 1e3, "request served");
        } else if is_high_volume(&route) {
            // Collection endpoints see tens of thousands of requests a second: their access log
            // is at debug level (errors above stay at warn), like an access log turned off.
            tracing::debug!(request_id = %id, method = %method, route = %route, status = status.as_u16(),
                elapsed_ms = elapsed.as_secs_f64() * 1e3, "request served");
        } else if !matches!(&*route, "/healthz" | "/readyz" | "/metrics") {
            tracing::info!(request_id = %id, method = %method, route = %route, status = status.as_u16(),
                elapsed_ms = elapsed.as_secs_f64() * 1e3, "request served");
        }
    });
    response
}

/// Names the organization a collection request acts for on the request's span (`tenant.id`);
/// the management API's is recorded from its [`TenantSlot`] when the request ends.
pub(crate) fn record_tenant(org_id: &unmogrowp_domain::OrgId) {
    tracing::Span::current().record("tenant.id", org_id.as_str());
}

fn is_high_volume(route: &str) -> bool {
    crate::roles::is_collection_path(route)
}

/// Where the request's authentication leaves the organization it acts in, for the
/// per-organization request metrics.
#[derive(Clone, Debug, Default)]
pub struct TenantSlot(pub Arc<std::sync::OnceLock<String>>);

/// The request id, for handlers that want it without the task-local.
#[derive(Clone, Debug)]
pub struct RequestIdExt(pub Arc<str>);

fn needs_problem_body(response: &Response) -> bool {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return false;
    }
    // Problem documents, and the dashboard's shell for an unknown page (an HTML 404 that
    // shows its own not-found view), are deliberate bodies.
    let content_type = response.headers().get(header::CONTENT_TYPE);
    !content_type.is_some_and(|value| {
        let value = value.as_bytes();
        value.starts_with(PROBLEM_JSON.as_bytes()) || value.starts_with(b"text/html")
    })
}

static HSTS: HeaderValue = HeaderValue::from_static("max-age=63072000; includeSubDomains");

fn add_standard_headers(response: &mut Response, id: &str, behind_tls: bool) {
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(id) {
        headers.insert(HeaderName::from_static(request_id::HEADER), value);
    }
    headers.entry(header::X_CONTENT_TYPE_OPTIONS).or_insert(HeaderValue::from_static("nosniff"));
    headers.entry(header::X_FRAME_OPTIONS).or_insert(HeaderValue::from_static("DENY"));
    headers
        .entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static("frame-ancestors 'none'"));
    headers.entry(header::REFERRER_POLICY).or_insert(HeaderValue::from_static("no-referrer"));
    if behind_tls {
        headers.insert(header::STRICT_TRANSPORT_SECURITY, HSTS.clone());
    }
}
