//! SKAdNetwork: the postback receiver (`POST /v1/skadnetwork/postbacks`, where an ad network
//! or the device forwards Apple-signed install-validation postbacks), and each app's
//! conversion-value schema (set by admins, read by the dashboard and by the SDK that sets
//! the values). Reports and the CSV export are in [`super::skadnetwork_reports`].

use crate::audit::Audit;
use crate::auth::{ClientInfo, TenantApp};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery, read_body};
use crate::state::AppState;
use axum::Json;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use unmogrowp_domain::Day;
use unmogrowp_domain::app::Platform;
use unmogrowp_domain::skan::ConversionSchema;
use unmogrowp_domain::time::rfc3339;
use unmogrowp_ingest::skadnetwork::SkanError;
use unmogrowp_storage::StoredSchema;
use unmogrowp_storage::tenant::{AsAdmin, AsViewer};

/// Where the app token may come from on the SKAdNetwork endpoints.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AppTokenQuery {
    /// The app's token, for senders that cannot set `X-App-Token` (an ad network's postback
    /// forwarding URL).
    pub app_token: Option<String>,
}

/// What became of a postback.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PostbackReceipt {
    /// `recorded`, or `duplicate` when this network's postback of this transaction (and
    /// sequence index) was received before: it is counted once.
    #[schema(example = "recorded")]
    pub status: &'static str,
    /// Whether it counts as an install of its network and campaign (the winning ad's first
    /// postback).
    pub install: bool,
}

async fn app_of(
    state: &AppState,
    headers: &axum::http::HeaderMap,
    query: &AppTokenQuery,
) -> ApiResult<std::sync::Arc<unmogrowp_storage::App>> {
    let token = headers
        .get("x-app-token")
        .and_then(|value| value.to_str().ok())
        .or(query.app_token.as_deref())
        .map(str::trim)
        .filter(|token| !token.is_empty())
        .ok_or_else(|| {
            ApiError::unauthorized("send the app's token in X-App-Token or `?app_token=`")
        })?;
    crate::routes::collect::app_for_token(state, token, "app token").await
}

fn count(outcome: &'static str) {
    metrics::counter!(crate::metric_names::SKAN_POSTBACKS_TOTAL, "outcome" => outcome).increment(1);
}

/// Receives one SKAdNetwork install-validation postback (versions 2.1, 2.2, 3.0 and 4.0),
/// verifies Apple's signature (ECDSA P-256 with Apple's published key, over the
/// version's signed fields) and counts it once per network, transaction and postback sequence
/// index.
/// The app is the one whose token is sent; the postback's `app-id` must be the App Store id
/// in the app's store URL (`…/id<number>`).
#[utoipa::path(post, path = "/v1/skadnetwork/postbacks", tag = "collection",
    params(("X-App-Token" = Option<String>, Header, description = "The app's token (or `?app_token=`)"), AppTokenQuery),
    request_body(content = Object, description = "The postback exactly as Apple sent it (JSON)", content_type = "application/json"),
    responses(
        (status = 200, description = "Recorded, or a duplicate counted once", body = PostbackReceipt),
        (status = 400, description = "Not a postback: a field is missing or malformed, or the `version` cannot be verified (1.0 and 2.0); named in `errors`", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
        (status = 401, description = "Missing or unknown app token", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
        (status = 403, description = "`invalid_signature` (not signed by Apple, or altered) or `wrong_app` (`app-id` is another app's, or the app is not an iOS app with an App Store id)", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
    ))]
pub async fn receive_postback(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<AppTokenQuery>,
    request: Request,
) -> ApiResult<Json<PostbackReceipt>> {
    let app = app_of(&state, request.headers(), &query).await?;
    if app.platform != Platform::Ios {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "wrong_app")
            .with_detail("SKAdNetwork postbacks are for iOS apps; this app is an Android app"));
    }
    let body = read_body(request, &state).await?;
    let postback = unmogrowp_ingest::skadnetwork::verify(&body).map_err(|error| match error {
        SkanError::Malformed { field, message } => {
            count("malformed");
            ApiError::invalid_field(&field, message)
        }
        SkanError::UnsupportedVersion(_) => {
            count("unsupported_version");
            ApiError::invalid_field("version", error.to_string())
        }
        SkanError::BadSignature => {
            count("invalid_signature");
            ApiError::new(StatusCode::FORBIDDEN, "invalid_signature").with_detail(error.to_string())
        }
    })?;
    let Some(expected) = unmogrowp_domain::skan::app_store_id(&app.store_url) else {
        count("wrong_app");
        return Err(ApiError::new(StatusCode::FORBIDDEN, "wrong_app").with_detail(
            "this app's store URL names no App Store id: set it to the app's App Store page \
             (https://apps.apple.com/…/id<number>) so postbacks can be checked against it",
        ));
    };
    if expected != postback.app_store_id {
        count("wrong_app");
        return Err(ApiError::new(StatusCode::FORBIDDEN, "wrong_app").with_detail(format!(
            "`app-id` {} is not this app's App Store id ({expected}, from its store URL)",
            postback.app_store_id
        )));
    }
    let now = unmogrowp_domain::time::now_millis();
    let zone = jiff::tz::TimeZone::get(&app.time_zone).unwrap_or(jiff::tz::TimeZone::UTC);
    let day = Day::of_millis_in(now, &zone);
    let recorded = state
        .store
        .credentials()
        .record_skan_postback(&app.org_id, &app.id, &postback, day, now)
        .await?;
    count(if recorded { "recorded" } else { "duplicate" });
    Ok(Json(PostbackReceipt {
        status: if recorded { "recorded" } else { "duplicate" },
        install: postback.counts_as_install(),
    }))
}

/// An app's conversion-value schema.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SchemaView {
    /// Fine values 0–63 and what each means.
    pub fine: Vec<unmogrowp_domain::skan::FineRule>,
    /// Coarse values (`low`, `medium`, `high`) and what each means.
    pub coarse: Vec<unmogrowp_domain::skan::CoarseRule>,
    /// The currency revenue ranges are in (the app's).
    pub currency: String,
    /// When the schema was last set (RFC 3339); null when it never was (empty lists).
    pub updated_at: Option<String>,
}

fn schema_view(app: &unmogrowp_storage::App, stored: Option<StoredSchema>) -> SchemaView {
    let (schema, updated_at) = match stored {
        Some(stored) => (stored.schema, Some(rfc3339(stored.updated_at))),
        None => (ConversionSchema::default(), None),
    };
    SchemaView {
        fine: schema.fine,
        coarse: schema.coarse,
        currency: app.currency.clone(),
        updated_at,
    }
}

/// The app's conversion-value schema, for its SDK (authenticated by the app's token): which
/// fine and coarse value to set for which revenue or in-app event.
#[utoipa::path(get, path = "/v1/skadnetwork/schema", tag = "collection",
    params(("X-App-Token" = Option<String>, Header, description = "The app's token (or `?app_token=`)"), AppTokenQuery),
    responses(
        (status = 200, description = "The schema (empty lists when none was set)", body = SchemaView),
        (status = 401, description = "Missing or unknown app token", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
    ))]
pub async fn sdk_schema(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<AppTokenQuery>,
    headers: axum::http::HeaderMap,
) -> ApiResult<Json<SchemaView>> {
    let app = app_of(&state, &headers, &query).await?;
    let stored = state.store.credentials().skan_schema(&app.org_id, &app.id).await?;
    Ok(Json(schema_view(&app, stored)))
}

/// The app's conversion-value schema.
#[utoipa::path(get, path = "/api/v1/apps/{app_id}/skadnetwork/schema", tag = "apps", security(("bearer" = [])),
    params(("app_id" = String, Path, description = "The app's id")),
    responses((status = 200, description = "The schema (empty lists when none was set)", body = SchemaView),
              (status = 404, description = "No such app", body = crate::error::ProblemDocument, content_type = "application/problem+json")))]
pub async fn get_schema(found: TenantApp<AsViewer>) -> ApiResult<Json<SchemaView>> {
    let stored = found.tenant().skan_schema(&found.app.id).await?;
    Ok(Json(schema_view(&found.app, stored)))
}

/// Replaces the app's conversion-value schema: each fine value (0–63, at most once) and
/// coarse value (at most once) names an in-app event, a revenue range in the app's currency
/// (`revenue_min` inclusive, `revenue_max` exclusive, absent for open-ended), or both.
/// Reports estimate SKAdNetwork revenue from the ranges. Admins and owners.
#[utoipa::path(put, path = "/api/v1/apps/{app_id}/skadnetwork/schema", tag = "apps", security(("bearer" = [])),
    params(("app_id" = String, Path, description = "The app's id")),
    request_body = ConversionSchema,
    responses((status = 200, description = "Stored", body = SchemaView),
              (status = 400, description = "A rule is invalid (named in `errors`, e.g. `fine[2].value`)", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
              (status = 403, description = "Only admins and owners change the schema", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
              (status = 404, description = "No such app", body = crate::error::ProblemDocument, content_type = "application/problem+json")))]
pub async fn put_schema(
    State(state): State<AppState>,
    found: TenantApp<AsAdmin>,
    client: ClientInfo,
    ApiJson(mut schema): ApiJson<ConversionSchema>,
) -> ApiResult<Json<SchemaView>> {
    schema.validate().map_err(ApiError::validation)?;
    for rule in &mut schema.fine {
        rule.event = rule.event.take().map(|event| event.trim().to_owned());
    }
    for rule in &mut schema.coarse {
        rule.event = rule.event.take().map(|event| event.trim().to_owned());
    }
    schema.fine.sort_by_key(|rule| rule.value);
    schema.coarse.sort_by_key(|rule| rule.value);
    let now = unmogrowp_domain::time::now_millis();
    found.tenant().set_skan_schema(&found.app.id, &schema, now).await?;
    Audit::new("skadnetwork_schema.updated", &client)
        .by(&found.auth)
        .target(format!("app:{}", found.app.id))
        .details(&serde_json::json!({ "fine": schema.fine.len(), "coarse": schema.coarse.len() }))
        .record(&state.store, &found.auth)
        .await;
    Ok(Json(schema_view(&found.app, Some(StoredSchema { schema, updated_at: now }))))
}
