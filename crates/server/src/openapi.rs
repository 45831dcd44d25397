//! The OpenAPI document's frame; paths are collected from the handlers' annotations.

use utoipa::OpenApi;

/// The OpenAPI document's frame: title, description, license, tags, the problem document schema and
/// the `bearer` (JWT) security scheme. The paths are added as the routes are registered (in `app`).
#[derive(OpenApi)]
#[openapi(
    info(
        title = "UnMoGrowP API",
        description = "Self-hostable mobile attribution and analytics: accounts, apps, tracking \
            links, event collection, attribution, postbacks and reports. Errors are RFC 9457 \
            problem documents (`application/problem+json`).",
        license(name = "AGPL-3.0-only"),
    ),
    tags(
        (name = "operations", description = "Health, readiness, metrics, this document"),
        (name = "accounts", description = "Registration, login, tokens, password reset, invitations"),
        (name = "organizations", description = "The signed-in user, members, roles, audit log"),
        (name = "apps", description = "Apps, attribution settings, server-to-server keys"),
        (name = "links", description = "Tracking links for ad networks"),
        (name = "postbacks", description = "Notifying ad networks of attributed installs and events"),
        (name = "collection", description = "What SDKs, servers and ad networks call: events, clicks, impressions"),
        (name = "reports", description = "Reports from the event store"),
        (name = "privacy", description = "Erasing a device's data (GDPR article 17)"),
        (name = "graphql", description = "GraphQL over the same data and roles (`/api/graphql`), its schema and GraphiQL"),
    ),
    components(schemas(crate::error::ProblemDocument)),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

/// Declares the `bearer` security scheme that management endpoints name.
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build(),
            ),
        );
    }
}

/// Adds to every operation the statuses the layers around the handlers can answer, so the
/// document lists every status a route gives (each a problem document):
///
/// - with a request body: 400 (a field is wrong), 413 (`http.max_body_bytes`), 415 (not JSON);
/// - with a path parameter: 404 (no such object in the caller's organization);
/// - signed-in routes: 401 (no or bad token), 429 (`limits.api_*`), and 403 for writes (the
///   role does not allow it);
/// - everything under `/api/` and `/v1/`: 503 (`http.request_timeout_ms`, or a dependency is
///   down), with `Retry-After`.
///
/// A status a handler documents itself keeps its own description.
pub fn complete_responses(openapi: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    let problem = |description: &str| {
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/problem+json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ProblemDocument")))
                    .build(),
            )
            .build()
    };
    for (path, item) in openapi.paths.paths.iter_mut() {
        let served = path.starts_with("/api/")
            || path.starts_with("/v1/")
            || crate::routes::posthog::is_capture_path(path);
        let has_parameter = path.contains('{');
        let operations = [
            (false, item.get.as_mut()),
            (true, item.post.as_mut()),
            (true, item.put.as_mut()),
            (true, item.patch.as_mut()),
            (true, item.delete.as_mut()),
        ];
        for (writes, operation) in operations {
            let Some(operation) = operation else { continue };
            let signed_in = operation.security.as_ref().is_some_and(|s| !s.is_empty());
            let mut add = |status: &str, description: &str| {
                operation
                    .responses
                    .responses
                    .entry(status.to_owned())
                    .or_insert_with(|| problem(description).into());
            };
            let has_query = operation.parameters.as_ref().is_some_and(|parameters| {
                parameters
                    .iter()
                    .any(|p| matches!(p, utoipa::openapi::RefOr::T(p) if matches!(p.parameter_in, utoipa::openapi::path::ParameterIn::Query)))
            });
            if has_query {
                add(
                    "400",
                    "A query parameter is unknown, missing or wrong (`errors` names it); an empty one counts as left out",
                );
            }
            if operation.request_body.is_some() {
                add("400", "A field of the request is missing or wrong (`errors` names it)");
                add("413", "The request body is larger than the server accepts");
                add("415", "The request body is not `application/json`");
            }
            if has_parameter && path != "/api/v1/live" {
                add("404", "No such object in the caller's organization");
            }
            if signed_in {
                add("401", "No access token, or an expired or revoked one");
                add("429", "Too many requests from this user; see Retry-After and RateLimit");
                if writes {
                    add("403", "The caller's role does not allow this");
                }
            }
            if served {
                add("503", "Temporarily unavailable (a timeout or a dependency); see Retry-After");
            }
        }
    }
}
