//! `/`: until the web dashboard ships, a small page that says what this server is and where
//! to go (the API docs, the health and metrics endpoints).

use axum::response::Html;

/// The landing page: what this server is, with links to the API docs, the OpenAPI document, health,
/// readiness and metrics. Served at `/` when no dashboard build is found.
pub async fn index() -> Html<&'static str> {
    Html(concat!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
        "<title>UnMoGrowP</title>",
        "<style>body{font-family:system-ui,sans-serif;max-width:44rem;margin:3rem auto;padding:0 1rem;color:#111827}",
        "code{background:#f3f4f6;padding:.1rem .3rem;border-radius:.25rem}a{color:#4f46e5}</style></head><body>",
        "<h1>UnMoGrowP</h1>",
        "<p>Self-hostable mobile attribution and analytics. This server is running.</p>",
        "<ul>",
        "<li><a href=\"/api/docs\">Interactive API documentation</a> (sign in with <code>POST /api/v1/auth/login</code>, ",
        "then authorize with the access token)</li>",
        "<li><a href=\"/api/openapi.json\">OpenAPI document</a></li>",
        "<li><a href=\"/healthz\">Health</a> · <a href=\"/readyz\">Readiness</a> · <a href=\"/metrics\">Metrics</a></li>",
        "</ul>",
        "<p>The web dashboard is not part of this build yet; every report it will show is available ",
        "through the API: <code>/api/v1/apps/{app_id}/reports/summary</code>, <code>…/reports/cohorts</code>, ",
        "<code>…/reports/fraud</code>, <code>…/export/installs.csv</code> and the live feed at ",
        "<code>/api/v1/live</code>.</p>",
        "</body></html>\n"
    ))
}
