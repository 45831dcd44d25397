//! Interactive API docs (Swagger UI), every asset served by this binary so the page works
//! with no internet access.

use crate::error::ApiError;
use axum::extract::Path;
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use std::sync::{Arc, LazyLock};

/// Where the OpenAPI document is served; the Swagger UI loads it from here.
pub const OPENAPI_PATH: &str = "/api/openapi.json";

static SWAGGER_CONFIG: LazyLock<Arc<utoipa_swagger_ui::Config<'static>>> =
    LazyLock::new(|| Arc::new(utoipa_swagger_ui::Config::from(OPENAPI_PATH)));

/// `/api/docs`: the page itself, with absolute asset paths so it works with or without a
/// trailing slash.
pub async fn index() -> Html<&'static str> {
    Html(concat!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n",
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n",
        "<title>UnMoGrowP API</title>\n",
        "<link rel=\"stylesheet\" href=\"/api/docs/swagger-ui.css\">\n",
        "<link rel=\"stylesheet\" href=\"/api/docs/index.css\">\n",
        "</head>\n<body>\n<div id=\"swagger-ui\"></div>\n",
        "<script src=\"/api/docs/swagger-ui-bundle.js\"></script>\n",
        "<script src=\"/api/docs/swagger-ui-standalone-preset.js\"></script>\n",
        "<script src=\"/api/docs/swagger-initializer.js\"></script>\n",
        "</body>\n</html>\n"
    ))
}

/// `/api/docs/{file}`: Swagger UI's own files, embedded at build time.
pub async fn asset(Path(file): Path<String>) -> Result<Response, ApiError> {
    if file.is_empty() || file == "index.html" {
        return Ok(index().await.into_response());
    }
    let served = utoipa_swagger_ui::serve(&file, SWAGGER_CONFIG.clone())
        .map_err(|error| ApiError::internal(anyhow::anyhow!("swagger ui asset {file}: {error}")))?;
    let Some(asset) = served else { return Err(ApiError::not_found("documentation asset")) };
    let mut response = asset.bytes.into_owned().into_response();
    let headers = response.headers_mut();
    if let Ok(content_type) = HeaderValue::from_str(&asset.content_type) {
        headers.insert(header::CONTENT_TYPE, content_type);
    }
    if asset.gzpipped {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    Ok(response)
}
