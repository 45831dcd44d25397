//! Which paths each `--role` answers: collection on `ingest`, everything else on `api`.

use axum::response::IntoResponse;

/// Whether `path` is a collection endpoint (SDK, S2S, Segment- and PostHog-compatible
/// capture, clicks and impressions): the `ingest` role's, and the high-volume routes.
pub fn is_collection_path(path: &str) -> bool {
    path.starts_with("/v1/")
        || path.starts_with("/c/")
        || path.starts_with("/i/")
        || crate::routes::posthog::is_capture_path(path)
}

/// Whether a role answers a path. `api`: the management API, reports, live feed, docs and
/// dashboard; `ingest`: collection (SDK, S2S, clicks, impressions, SDK attribution lookups);
/// `worker`: the log's consumers, with no public routes. Every role answers `/healthz`,
/// `/readyz` and `/metrics`.
pub fn role_serves(role: crate::config::ServerRole, path: &str) -> bool {
    use crate::config::ServerRole;
    const OPERATIONS: &[&str] = &["/healthz", "/readyz", "/metrics"];
    if OPERATIONS.contains(&path) {
        return true;
    }
    let collection = is_collection_path(path);
    match role {
        ServerRole::All => true,
        ServerRole::Api => !collection,
        ServerRole::Ingest => collection,
        ServerRole::Worker => false,
    }
}

pub(crate) async fn serve_role_paths(
    axum::extract::State(role): axum::extract::State<crate::config::ServerRole>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    if role_serves(role, request.uri().path()) {
        next.run(request).await
    } else {
        crate::error::ApiError::not_found("route on this node (its --role does not serve it)")
            .into_response()
    }
}
