//! The web dashboard: the static SvelteKit build in `web/build`, embedded in release binaries
//! (read from the source tree's `web/build` in debug builds), served at `/`. Client-side routes (`/apps`, `/login`…)
//! get the single-page shell; any other page path gets it with 404 (the shell shows its
//! not-found view); unknown API-looking paths keep answering problem+json 404s.
//! When the dashboard was not built (`npm run build` in `web/`), `/` serves a short page that
//! points at the API documentation instead.

use crate::error::{ApiError, problem_for_status};
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

/// Release builds carry the dashboard inside the binary. The folder is relative to this
/// crate's manifest; when it is missing at compile time the set is empty and `/` serves the
/// landing page instead.
#[cfg(not(debug_assertions))]
#[derive(rust_embed::Embed)]
#[folder = "../../web/build/"]
#[allow_missing = true]
struct Assets;

/// A dashboard file: its bytes and content type.
struct Asset {
    data: std::borrow::Cow<'static, [u8]>,
    mime: String,
}

#[cfg(not(debug_assertions))]
fn load(file: &str) -> Option<Asset> {
    let asset = <Assets as rust_embed::RustEmbed>::get(file)?;
    Some(Asset { mime: asset.metadata.mimetype().to_owned(), data: asset.data })
}

/// Debug builds read `web/build` from the source tree at run time (resolved when the file is
/// requested, so a dashboard built after the binary is picked up), never outside that folder.
#[cfg(debug_assertions)]
fn load(file: &str) -> Option<Asset> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web/build");
    let root = root.canonicalize().ok()?;
    let path = root.join(file).canonicalize().ok()?;
    if !path.starts_with(&root) || !path.is_file() {
        return None;
    }
    let data = std::fs::read(&path).ok()?;
    let mime = mime_guess::from_path(&path).first_or_octet_stream().to_string();
    Some(Asset { data: data.into(), mime })
}

/// The single-page shell every client-side route loads.
const SHELL: &str = "index.html";

/// The dashboard's client-side routes (`/`, `/apps`, `/login`…; `*` matches one segment),
/// listed from `web/src/routes` when the server is built.
pub const CLIENT_ROUTES: &[&str] = include!(concat!(env!("OUT_DIR"), "/client_routes.rs"));

/// Whether `path` is one of the dashboard's pages (a trailing slash is the same page).
pub fn is_client_route(path: &str) -> bool {
    let path = if path.len() > 1 { path.trim_end_matches('/') } else { path };
    CLIENT_ROUTES.iter().any(|route| {
        let (mut want, mut got) = (route.split('/'), path.split('/'));
        loop {
            match (want.next(), got.next()) {
                (None, None) => return true,
                (Some("*"), Some(segment)) if !segment.is_empty() => {}
                (Some(a), Some(b)) if a == b => {}
                _ => return false,
            }
        }
    })
}

/// Paths that belong to the API and collection endpoints: never answered with the dashboard.
const RESERVED_PREFIXES: &[&str] = &["/api/", "/v1/", "/c/", "/i/"];

/// Whether this binary carries (or, in a debug build, can read) a built dashboard.
pub fn is_built() -> bool {
    load(SHELL).is_some()
}

/// `GET /`.
pub async fn index() -> Response {
    match asset_response(SHELL) {
        Some(response) => response,
        None => {
            let page = crate::landing::index().await;
            let policy = content_security_policy(page.0.as_bytes());
            let mut response = page.into_response();
            if let Ok(value) = HeaderValue::from_str(&policy) {
                response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, value);
            }
            response
        }
    }
}

/// The Content Security Policy of an HTML page this server sends: everything from this
/// origin only, no plugins, no framing, no `<base>` or form posts elsewhere, and scripts
/// limited to the bundle's files plus the page's own inline scripts by their SHA-256 hashes
/// (SvelteKit's shell starts the app with one). Styles may be inline (components set style
/// attributes); images may be `data:` URLs.
pub fn content_security_policy(html: &[u8]) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    let text = String::from_utf8_lossy(html);
    let mut scripts = String::new();
    let mut rest = text.as_ref();
    while let Some(start) = rest.find("<script") {
        let after = &rest[start..];
        let Some(open_end) = after.find('>') else { break };
        let opening = &after[..open_end];
        let body = &after[open_end + 1..];
        let Some(close) = body.find("</script>") else { break };
        if !opening.contains(" src=") {
            let digest = sha2::Sha256::digest(&body.as_bytes()[..close]);
            let hash = base64::engine::general_purpose::STANDARD.encode(digest);
            scripts.push_str(&format!(" 'sha256-{hash}'"));
        }
        rest = &body[close + "</script>".len()..];
    }
    format!(
        "default-src 'self'; script-src 'self'{scripts}; style-src 'self' 'unsafe-inline'; \
         img-src 'self' data:; font-src 'self' data:; connect-src 'self'; object-src 'none'; \
         base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// Everything no route matched: dashboard assets and client-side routes for `GET`/`HEAD`,
/// a problem+json 404 otherwise.
pub async fn fallback(method: Method, uri: Uri) -> Response {
    let path = uri.path();
    let is_read = method == Method::GET || method == Method::HEAD;
    if !is_read || RESERVED_PREFIXES.iter().any(|prefix| path.starts_with(prefix)) || path == "/api"
    {
        return problem_for_status(StatusCode::NOT_FOUND).into_response();
    }
    let file = path.trim_start_matches('/');
    if file.split('/').any(|segment| segment == "..") {
        return problem_for_status(StatusCode::NOT_FOUND).into_response();
    }
    if let Some(response) = asset_response(file) {
        return response;
    }
    // A missing file with an extension is a real 404 (a stale asset link).
    let last = file.rsplit('/').next().unwrap_or_default();
    if last.contains('.') {
        return ApiError::not_found("dashboard asset").into_response();
    }
    // A page of the dashboard gets the shell; any other path gets the shell too (it shows
    // its not-found view) but with 404, so that monitors and crawlers see the truth.
    match asset_response(SHELL) {
        Some(response) if is_client_route(path) => response,
        Some(mut response) => {
            *response.status_mut() = StatusCode::NOT_FOUND;
            response
        }
        None => problem_for_status(StatusCode::NOT_FOUND).into_response(),
    }
}

fn asset_response(file: &str) -> Option<Response> {
    let asset = load(file)?;
    let policy = asset
        .mime
        .starts_with("text/html")
        .then(|| HeaderValue::from_str(&content_security_policy(&asset.data)).ok())
        .flatten();
    let mut response = asset.data.into_owned().into_response();
    let headers = response.headers_mut();
    if let Ok(content_type) = HeaderValue::from_str(&asset.mime) {
        headers.insert(header::CONTENT_TYPE, content_type);
    }
    if let Some(policy) = policy {
        headers.insert(header::CONTENT_SECURITY_POLICY, policy);
    }
    // Hashed build outputs never change; everything else is revalidated so a new release is
    // picked up on the next load.
    let cache = if file.starts_with("_app/immutable/") {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    Some(response)
}

#[cfg(test)]
mod tests {
    use super::{CLIENT_ROUTES, is_client_route};

    #[test]
    fn the_dashboard_pages_are_known_and_nothing_else() {
        for page in ["/", "/apps", "/apps/", "/login", "/team", "/reset-password", "/postbacks"] {
            assert!(is_client_route(page), "{page} in {CLIENT_ROUTES:?}");
        }
        for other in ["/definitely-not-a-page", "/apps/extra", "/log", "/loginx", "//apps"] {
            assert!(!is_client_route(other), "{other}");
        }
    }
}
