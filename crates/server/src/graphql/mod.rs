//! GraphQL at `/api/graphql`: the organization, its apps with their links, postbacks and
//! reports (summary, cohorts, fraud, SKAdNetwork) and installs by id, read-only.
//!
//! - **One authorization layer.** Requests authenticate as on REST (a bearer access token or
//!   `unm_` API token, `X-Org-Id`); each resolver reads through the REST route in-process
//!   ([`rest`]), so roles, tenant scoping and validation are the REST API's own.
//! - **Limits.** Depth at most [`MAX_DEPTH`], complexity at most [`MAX_COMPLEXITY`] (a report
//!   field costs 50, a list of links or postbacks 10, any other field 1), query text at most
//!   [`MAX_QUERY_BYTES`]; one operation per request (no batches); over a limit the query is
//!   refused before anything runs, with an error saying which. A request also makes at most
//!   [`rest::MAX_READS`] reads (a field under a list runs once per element).
//! - **Persisted queries.** Apollo's automatic persisted queries (`extensions.persistedQuery`
//!   with the query's SHA-256), kept per node in a bounded cache; only POST with a JSON body
//!   is served, so a query cannot be triggered by a cross-site link or form.
//! - **Introspection** is on; the schema is also at `/api/graphql/schema.graphql`, and its copy
//!   in the repository (`web/schema.graphql`) is checked against it by the tests.
//! - **GraphiQL** at `GET /api/graphql`, every asset served by this binary (no internet needed).

mod rest;
pub mod types;

pub use rest::Rest;

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use async_graphql::extensions::apollo_persisted_queries::{
    ApolloPersistedQueries, LruCacheStorage,
};
use async_graphql::{
    Context, EmptyMutation, EmptySubscription, ErrorExtensions, Object, Result, Schema,
};
use axum::Json;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use std::net::SocketAddr;

/// The deepest selection served.
pub const MAX_DEPTH: usize = 15;
/// The most complex query served (see the module documentation for the weights).
pub const MAX_COMPLEXITY: usize = 400;
/// The longest query text served.
pub const MAX_QUERY_BYTES: usize = 32 * 1024;
/// Persisted queries kept per node.
const PERSISTED_QUERIES: usize = 512;

/// The schema with its limits.
pub type GraphqlSchema = Schema<Query, EmptyMutation, EmptySubscription>;

/// The root of every query.
pub struct Query;

#[Object]
impl Query {
    /// The organization the request acts in (the token's, or `X-Org-Id`), with the caller's
    /// role.
    async fn organization(&self, ctx: &Context<'_>) -> Result<types::Organization> {
        rest::Caller::of(ctx)?;
        let auth = ctx.data::<Auth>()?;
        let state = ctx.data::<AppState>()?;
        let tenant = auth
            .tenant::<unmogrowp_storage::tenant::AsViewer>(&state.store)
            .map_err(|_| async_graphql::Error::new("your role does not allow this"))?;
        let organization = tenant.organization().await.map_err(|error| {
            tracing::error!(%error, "GraphQL: reading the organization failed");
            async_graphql::Error::new("the organization could not be read")
                .extend_with(|_, e| e.set("code", "INTERNAL"))
        })?;
        Ok(types::Organization {
            id: organization.id.to_string().into(),
            name: organization.name,
            role: auth.role().as_str().to_owned(),
        })
    }

    /// The organization's apps (`GET /api/v1/apps`).
    #[graphql(complexity = "5 + child_complexity")]
    async fn apps(&self, ctx: &Context<'_>) -> Result<Vec<types::App>> {
        rest::Caller::of(ctx)?.get("/api/v1/apps").await
    }

    /// One app (`GET /api/v1/apps/{id}`): an error with code `NOT_FOUND` for an id that is not
    /// one of the organization's apps.
    async fn app(&self, ctx: &Context<'_>, id: async_graphql::ID) -> Result<types::App> {
        rest::Caller::of(ctx)?.get(&format!("/api/v1/apps/{}", rest::segment(&id))).await
    }
}

/// Builds the schema; `rest` is the router resolvers read through.
pub fn schema(rest: Rest) -> GraphqlSchema {
    Schema::build(Query, EmptyMutation, EmptySubscription)
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY)
        .limit_recursive_depth(32)
        .extension(ApolloPersistedQueries::new(LruCacheStorage::new(PERSISTED_QUERIES)))
        .data(rest)
        .finish()
}

/// The schema in GraphQL's schema language, as served and as kept in the repository.
pub fn sdl() -> String {
    Schema::build(Query, EmptyMutation, EmptySubscription).finish().sdl()
}

/// A GraphQL request as its JSON body says it.
#[derive(serde::Deserialize, utoipa::ToSchema)]
pub struct GraphqlRequestBody {
    /// The query text (may be left out with a persisted query's hash).
    #[serde(default)]
    pub query: String,
    /// The operation to run, when the text has several.
    #[serde(default, rename = "operationName")]
    pub operation_name: Option<String>,
    /// The variables.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub variables: Option<serde_json::Value>,
    /// Extensions, e.g. `{"persistedQuery": {"version": 1, "sha256Hash": "…"}}`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub extensions: Option<serde_json::Value>,
}

/// A GraphQL response.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct GraphqlResponseBody {
    /// The data, when the query ran.
    #[schema(value_type = Option<Object>)]
    pub data: Option<serde_json::Value>,
    /// The errors, each with `message`, `path` and `extensions.code`.
    #[schema(value_type = Option<Vec<Object>>)]
    pub errors: Option<serde_json::Value>,
}

/// Runs one GraphQL query (read-only). Authenticates like the REST API; without
/// `Authorization` only introspection answers (data fields say `UNAUTHENTICATED`).
#[utoipa::path(post, path = "/api/graphql", tag = "graphql", security((), ("bearer" = [])),
    request_body = GraphqlRequestBody,
    responses(
        (status = 200, description = "The result; errors (over a limit, not found, forbidden…) are in `errors` with `extensions.code`", body = GraphqlResponseBody),
        (status = 400, description = "Not a GraphQL request body, or the query is too long", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
        (status = 401, description = "A token was sent and is not valid", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
        (status = 415, description = "The body is not JSON", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
    ))]
pub async fn execute(
    State(state): State<AppState>,
    auth: std::result::Result<Auth, ApiError>,
    request: Request,
) -> ApiResult<Response> {
    let (parts, body) = request.into_parts();
    let signed_in = parts.headers.contains_key(header::AUTHORIZATION);
    let auth = match auth {
        Ok(auth) => Some(auth),
        // A credential that does not hold is refused as on REST; none at all is anonymous.
        Err(error) if signed_in => return Err(error),
        Err(_) => None,
    };
    if let Some(auth) = &auth {
        crate::middleware::record_tenant(auth.org_id());
    }
    let request = Request::from_parts(parts.clone(), body);
    let crate::extract::ApiJson(body) = <crate::extract::ApiJson<GraphqlRequestBody> as axum::extract::FromRequest<AppState>>::from_request(request, &state).await?;
    if body.query.len() > MAX_QUERY_BYTES {
        return Err(ApiError::invalid_field(
            "query",
            format!("is longer than {MAX_QUERY_BYTES} bytes"),
        ));
    }
    for (field, value) in [("variables", &body.variables), ("extensions", &body.extensions)] {
        if value.as_ref().is_some_and(|value| !value.is_null() && !value.is_object()) {
            return Err(ApiError::invalid_field(field, "must be an object"));
        }
    }
    let mut graphql = async_graphql::Request::new(body.query);
    graphql.operation_name = body.operation_name;
    if let Some(variables) = body.variables.filter(|v| !v.is_null()) {
        graphql.variables = async_graphql::Variables::from_json(variables);
    }
    if let Some(serde_json::Value::Object(extensions)) = body.extensions {
        for (name, value) in extensions {
            if let Ok(value) = async_graphql::Value::from_json(value) {
                graphql.extensions.insert(name, value);
            }
        }
    }
    let caller = rest::Caller {
        rest: state.graphql_rest.clone(),
        headers: if auth.is_some() { parts.headers.clone() } else { Default::default() },
        peer: parts.extensions.get::<ConnectInfo<SocketAddr>>().copied(),
        reads: std::sync::atomic::AtomicUsize::new(0),
    };
    let mut graphql = graphql.data(caller).data(state.clone());
    if let Some(auth) = auth {
        graphql = graphql.data(auth);
    }
    let response = state.graphql.execute(graphql).await;
    Ok(Json(response).into_response())
}

/// GraphiQL, the in-browser GraphQL IDE: paste a token into its Headers tab
/// (`{"Authorization": "Bearer unm_…"}`). Its scripts are served by this binary.
#[utoipa::path(get, path = "/api/graphql", tag = "graphql",
    responses((status = 200, description = "The GraphiQL page", content_type = "text/html")))]
pub async fn graphiql() -> Response {
    let mut response = Html(GRAPHIQL_PAGE).into_response();
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
             img-src 'self' data:; font-src 'self' data:; connect-src 'self'; \
             frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
        ),
    );
    response
}

/// The schema in GraphQL's schema language.
#[utoipa::path(get, path = "/api/graphql/schema.graphql", tag = "graphql",
    responses((status = 200, description = "The schema (SDL)", content_type = "text/plain")))]
pub async fn schema_sdl() -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], sdl()).into_response()
}

const GRAPHIQL_PAGE: &str = concat!(
    "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n",
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n",
    "<title>UnMoGrowP GraphQL</title>\n<link rel=\"icon\" href=\"/favicon.svg\" type=\"image/svg+xml\">\n",
    "<link rel=\"stylesheet\" href=\"/vendor/graphiql/graphiql.min.css\">\n",
    "<style>html,body,#graphiql{height:100%;margin:0}</style>\n",
    "</head>\n<body>\n<div id=\"graphiql\">Loading GraphiQL…</div>\n",
    "<script src=\"/vendor/graphiql/react.production.min.js\"></script>\n",
    "<script src=\"/vendor/graphiql/react-dom.production.min.js\"></script>\n",
    "<script src=\"/vendor/graphiql/graphiql.min.js\"></script>\n",
    "<script src=\"/graphiql-init.js\"></script>\n",
    "</body>\n</html>\n"
);
