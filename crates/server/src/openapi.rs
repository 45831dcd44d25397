//! The OpenAPI document's frame; paths are collected from the handlers' annotations.

use utoipa::OpenApi;

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
        (name = "accounts", description = "Registration, login, tokens, password reset"),
    ),
    components(schemas(crate::error::ProblemDocument))
)]
pub struct ApiDoc;
