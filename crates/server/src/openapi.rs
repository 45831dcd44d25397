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
