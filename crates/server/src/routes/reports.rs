//! Reports read from the event store's rollups, and the quarantine of rejected events.

use crate::auth::TenantApp;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiQuery;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use unmogrowp_domain::Day;
use unmogrowp_domain::attribution::FraudKind;
use unmogrowp_domain::time::rfc3339;
use unmogrowp_eventstore::{Counts, Dimension, SummaryQuery, SummaryRow};
use unmogrowp_storage::tenant::AsViewer;

/// The day range, grouping and filters of the summary report.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SummaryParams {
    /// First report day (`YYYY-MM-DD`, in the app's time zone); default 6 days before `to`.
    pub from: Option<String>,
    /// Last report day, inclusive; default today.
    pub to: Option<String>,
    /// Comma-separated: `network`, `campaign`, `adgroup`, `creative`, `country`, `day`.
    pub group_by: Option<String>,
    /// Only this network.
    pub network: Option<String>,
    /// Only this campaign.
    pub campaign: Option<String>,
    /// Only this country (ISO 3166 alpha-2).
    pub country: Option<String>,
    /// Attribution model for install credit: `last_touch` (default), `linear`, `time_decay`
    /// (7-day half-life) or `position_based` (40/20/40); installs become fractional.
    pub model: Option<String>,
}

/// The summary report: counts and revenue per group over a range of report days.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SummaryResponse {
    /// One row per group: the grouped dimensions, then the counts.
    pub rows: Vec<SummaryRowView>,
    /// The counts over every row (no dimensions).
    pub totals: SummaryRowView,
    /// The currency `revenue` is in (the app's).
    pub currency: String,
    /// The first report day covered (`YYYY-MM-DD`, in the app's time zone).
    pub from: String,
    /// The last report day covered, inclusive (`YYYY-MM-DD`, in the app's time zone).
    pub to: String,
}

fn parse_day(field: &str, raw: &str) -> Result<Day, ApiError> {
    raw.parse().map_err(|_| ApiError::invalid_field(field, "must be a day as YYYY-MM-DD"))
}

/// The report's day range in the app's time zone: `to` defaults to today, `from` to
/// `default_days - 1` days before `to`; `from` may not be after `to`.
pub(crate) fn day_range(
    time_zone: &str,
    from: Option<&str>,
    to: Option<&str>,
    default_days: i64,
) -> Result<(Day, Day), ApiError> {
    let zone = jiff::tz::TimeZone::get(time_zone).unwrap_or(jiff::tz::TimeZone::UTC);
    let to = match to {
        Some(raw) => parse_day("to", raw)?,
        None => Day::of_millis_in(jiff::Timestamp::now().as_millisecond(), &zone),
    };
    let from = match from {
        Some(raw) => parse_day("from", raw)?,
        None => to.shifted(1 - default_days).unwrap_or(to),
    };
    if from > to {
        return Err(ApiError::invalid_field("from", "must not be after `to`"));
    }
    Ok((from, to))
}

/// One row of the summary report: the dimensions it was grouped by (each present only when
/// grouped by it; an empty string for rows without a value), then the counts.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SummaryRowView {
    /// The ad network; `organic` for installs without a touchpoint and what is credited to them.
    /// Present only when grouped by network.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// The campaign. Present only when grouped by campaign.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub campaign: Option<String>,
    /// The ad group. Present only when grouped by ad group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adgroup: Option<String>,
    /// The creative. Present only when grouped by creative.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creative: Option<String>,
    /// ISO 3166 alpha-2.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// The report day (`YYYY-MM-DD`, in the app's time zone).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub day: Option<String>,
    /// Clicks on the app's tracking links (flagged ones included).
    pub clicks: u64,
    /// Impressions recorded through the app's tracking links.
    pub impressions: u64,
    /// Attributed and organic installs (not re-installs or rejected ones). Fractional under a
    /// multi-touch `model` (its credit, to 4 decimals); a whole number otherwise.
    #[schema(value_type = f64)]
    pub installs: serde_json::Number,
    /// Organic installs: those without a qualifying touchpoint (also counted in `installs`).
    pub organic_installs: u64,
    /// Installs rejected by a fraud rule (not counted in `installs`).
    pub rejected_installs: u64,
    /// Installs by devices that had installed before, outside the re-attribution window, and were
    /// attributed afresh (not counted in `installs`).
    pub reattributions: u64,
    /// Re-engagements: app opens through a retargeting link by devices that had already installed
    /// (also counted in `sessions`).
    pub reengagements: u64,
    /// Re-installs inside the re-attribution window; they keep their original source (not counted
    /// in `installs`).
    pub reinstalls: u64,
    /// App opens and sessions.
    pub sessions: u64,
    /// In-app events.
    pub events: u64,
    /// In the app's currency, to 2 decimals.
    pub revenue: f64,
}

impl SummaryRowView {
    /// The counts, with `installs` replaced by the multi-touch credit when there is one.
    fn counts(counts: &Counts, credited: Option<f64>) -> Self {
        let installs = match credited {
            Some(credit) => serde_json::Number::from_f64((credit * 10_000.0).round() / 10_000.0)
                .unwrap_or_else(|| serde_json::Number::from(0)),
            None => serde_json::Number::from(counts.installs),
        };
        Self {
            network: None,
            campaign: None,
            adgroup: None,
            creative: None,
            country: None,
            day: None,
            clicks: counts.clicks,
            impressions: counts.impressions,
            installs,
            organic_installs: counts.organic_installs,
            rejected_installs: counts.rejected_installs,
            reattributions: counts.reattributions,
            reengagements: counts.reengagements,
            reinstalls: counts.reinstalls,
            sessions: counts.sessions,
            events: counts.events,
            revenue: (counts.revenue * 100.0).round() / 100.0,
        }
    }

    /// A stored row, with the dimensions it was grouped by.
    fn of(row: &SummaryRow, group_by: &[Dimension]) -> Self {
        let mut view = Self::counts(&row.counts, row.credited_installs);
        for dimension in group_by {
            let (slot, value) = match dimension {
                Dimension::Network => (&mut view.network, &row.network),
                Dimension::Campaign => (&mut view.campaign, &row.campaign),
                Dimension::Adgroup => (&mut view.adgroup, &row.adgroup),
                Dimension::Creative => (&mut view.creative, &row.creative),
                Dimension::Country => (&mut view.country, &row.country),
                Dimension::Day => (&mut view.day, &row.day),
            };
            *slot = Some(value.clone().unwrap_or_default());
        }
        view
    }
}

/// Clicks, impressions, installs, sessions, events and revenue for a day range, grouped as
/// asked. Reads the daily rollups, not raw rows.
#[utoipa::path(get, path = "/api/v1/apps/{app_id}/reports/summary", tag = "reports", security(("bearer" = [])),
    params(("app_id" = String, Path, description = "The app's id"), SummaryParams),
    responses(
        (status = 200, description = "The report", body = SummaryResponse),
        (status = 400, description = "Invalid parameters", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
        (status = 404, description = "No such app", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
    ))]
pub async fn summary(
    State(state): State<AppState>,
    TenantApp { auth, app, .. }: TenantApp<AsViewer>,
    ApiQuery(params): ApiQuery<SummaryParams>,
) -> ApiResult<Response> {
    let (from, to) = day_range(&app.time_zone, params.from.as_deref(), params.to.as_deref(), 7)?;
    if from.days_until(to) > 731 {
        return Err(ApiError::invalid_field("from", "a report covers at most two years"));
    }
    let mut group_by = Vec::new();
    for part in params
        .group_by
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        let dimension = Dimension::parse(part).ok_or_else(|| {
            ApiError::invalid_field("group_by", format!("unknown dimension `{part}`: use network, campaign, adgroup, creative, country or day"))
        })?;
        if !group_by.contains(&dimension) {
            group_by.push(dimension);
        }
    }
    let model = match params.model.as_deref() {
        None | Some("") => None,
        Some(raw) => Some(raw.parse::<unmogrowp_attribution::Model>().map_err(|_| {
            ApiError::invalid_field(
                "model",
                format!(
                    "unknown model `{raw}`: use last_touch, linear, time_decay or position_based"
                ),
            )
        })?),
    };
    let query = SummaryQuery {
        attribution_model: model,
        app_id: app.id.clone(),
        from_day: from,
        to_day: to,
        group_by: group_by.clone(),
        network: params.network.clone().filter(|v| !v.is_empty()),
        campaign: params.campaign.clone().filter(|v| !v.is_empty()),
        country: params.country.clone().filter(|v| !v.is_empty()).map(|c| c.to_ascii_uppercase()),
    };
    let key = format!("summary|{query:?}|{}", app.currency);
    cached_report(&state, auth.org_id(), key, async {
        let rows = state.events.summary(&query).await.map_err(|e| store_unavailable(&e))?;
        let mut totals = Counts::default();
        let mut credited_total: Option<f64> = None;
        for row in &rows {
            totals.add(&row.counts);
            if let Some(credited) = row.credited_installs {
                *credited_total.get_or_insert(0.0) += credited;
            }
        }
        Ok(SummaryResponse {
            rows: rows.iter().map(|row| SummaryRowView::of(row, &group_by)).collect(),
            totals: SummaryRowView::counts(&totals, credited_total),
            currency: app.currency,
            from: from.to_string(),
            to: to.to_string(),
        })
    })
    .await
}

/// Paging of the rejected events.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RejectedParams {
    /// Entries per page, 1 to 500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// Only entries received before this time (RFC 3339): the `received_at` of the last entry
    /// of the previous page.
    pub before: Option<String>,
    /// With `before`: also the entries received at that very time whose `index` is below this
    /// one — pass the last entry's `index` too, so a page that ends inside one request's
    /// rejected events goes on with the rest of them.
    pub before_index: Option<u32>,
}

/// An event that was refused when collected, kept with the reason.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RejectedView {
    /// When the request that carried the event was received (RFC 3339, UTC).
    pub received_at: String,
    /// Position in the request's `events`.
    pub index: u32,
    /// The event's `id` as sent; null when it had none that could be read.
    pub event_id: Option<String>,
    /// Why it was refused, as a snake_case code such as `timestamp_out_of_range`.
    pub code: String,
    /// Why it was refused, in words.
    pub message: String,
    /// The event as sent.
    pub raw: String,
}

/// Events that failed their checks, newest first, with the reason (the quarantine).
#[utoipa::path(get, path = "/api/v1/apps/{app_id}/rejected-events", tag = "reports", security(("bearer" = [])),
    params(("app_id" = String, Path, description = "The app's id"), RejectedParams),
    responses((status = 200, description = "Rejected events", body = [RejectedView]),
              (status = 404, description = "No such app", body = crate::error::ProblemDocument, content_type = "application/problem+json")))]
pub async fn rejected_events(
    State(state): State<AppState>,
    TenantApp { app, .. }: TenantApp<AsViewer>,
    ApiQuery(params): ApiQuery<RejectedParams>,
) -> ApiResult<Json<Vec<RejectedView>>> {
    let limit = params.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::invalid_field("limit", "must be between 1 and 500"));
    }
    let before = match params.before.as_deref() {
        None if params.before_index.is_some() => {
            return Err(ApiError::invalid_field("before_index", "needs `before`"));
        }
        None => None,
        Some(raw) => Some(unmogrowp_eventstore::QuarantineCursor {
            received_ms: raw
                .parse::<jiff::Timestamp>()
                .map_err(|_| ApiError::invalid_field("before", "must be an RFC 3339 time"))?
                .as_millisecond(),
            index: params.before_index,
        }),
    };
    let rows = state
        .events
        .quarantined(&app.id, limit, before)
        .await
        .map_err(|e| store_unavailable(&e))?;
    Ok(Json(
        rows.into_iter()
            .map(|row| RejectedView {
                received_at: rfc3339(row.received_ms),
                index: row.index,
                event_id: row.event_id,
                code: row.code,
                message: row.message,
                raw: row.raw,
            })
            .collect(),
    ))
}

/// An event-store failure as the client sees it: an outage is 503 with `Retry-After`, a
/// failed query 500. The store's own text (which may quote the backend's answer) is logged
/// with the request id, never sent.
pub(crate) fn store_unavailable(error: &unmogrowp_eventstore::StoreError) -> ApiError {
    match error {
        unmogrowp_eventstore::StoreError::Unavailable(_) => {
            tracing::warn!(
                request_id = %crate::request_id::current_request_id(),
                error = %error,
                "the event store is unavailable"
            );
            ApiError::unavailable(2, "the event store is unavailable; try again shortly")
        }
        unmogrowp_eventstore::StoreError::Query(_) => {
            ApiError::internal(anyhow::anyhow!("event store query failed: {error}"))
        }
    }
}

/// The day range of the fraud report.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct FraudParams {
    /// First report day (`YYYY-MM-DD`); default 29 days before `to`.
    pub from: Option<String>,
    /// Last report day, inclusive; default today.
    pub to: Option<String>,
}

/// Rejected installs or flagged clicks for one reason and network.
#[derive(Serialize, utoipa::ToSchema)]
pub struct FraudRowView {
    /// `install` (rejected) or `click` (flagged).
    pub kind: String,
    /// For installs `click_injection` or `blocked_ip`; for clicks `click_flood` or
    /// `install_before_click`.
    pub reason: String,
    /// The ad network of the flagged click, or of the click the rejected install was matched to;
    /// `organic` when there was none (as for `blocked_ip`).
    pub network: String,
    /// How many installs or clicks.
    pub count: u64,
}

/// The fraud report: rejected installs and flagged clicks by reason and network over a range of
/// report days.
#[derive(Serialize, utoipa::ToSchema)]
pub struct FraudResponse {
    /// One row per kind (`install` rejected, `click` flagged), reason and network.
    pub rows: Vec<FraudRowView>,
    /// Rejected installs in the range, all reasons and networks together.
    pub rejected_installs: u64,
    /// Flagged clicks in the range, all reasons and networks together.
    pub flagged_clicks: u64,
    /// The first report day covered (`YYYY-MM-DD`, in the app's time zone).
    pub from: String,
    /// The last report day covered, inclusive (`YYYY-MM-DD`, in the app's time zone).
    pub to: String,
}

/// Rejected installs and flagged clicks by reason and network.
#[utoipa::path(get, path = "/api/v1/apps/{app_id}/reports/fraud", tag = "reports", security(("bearer" = [])),
    params(("app_id" = String, Path, description = "The app's id"), FraudParams),
    responses((status = 200, description = "The fraud report", body = FraudResponse)))]
pub async fn fraud(
    State(state): State<AppState>,
    TenantApp { app, .. }: TenantApp<AsViewer>,
    ApiQuery(params): ApiQuery<FraudParams>,
) -> ApiResult<Json<FraudResponse>> {
    let (from, to) = day_range(&app.time_zone, params.from.as_deref(), params.to.as_deref(), 30)?;
    let rows = state.events.fraud(&app.id, from, to).await.map_err(|e| store_unavailable(&e))?;
    let total =
        |kind: FraudKind| rows.iter().filter(|r| r.reason.kind() == kind).map(|r| r.count).sum();
    Ok(Json(FraudResponse {
        rejected_installs: total(FraudKind::Install),
        flagged_clicks: total(FraudKind::Click),
        rows: rows
            .into_iter()
            .map(|r| FraudRowView {
                kind: r.reason.kind().as_str().to_owned(),
                reason: r.reason.as_str().to_owned(),
                network: r.network,
                count: r.count,
            })
            .collect(),
        from: from.to_string(),
        to: to.to_string(),
    }))
}

/// How long a report stays in L2. Keys hold the event store's position and a 10-second time
/// bucket, so a cached report is never older than the data the node knows of, nor than about
/// ten seconds (should the position stall); the time to live only bounds memory.
const REPORT_TTL: std::time::Duration = std::time::Duration::from_secs(20);
const REPORT_BUCKET_SECONDS: i64 = 10;

/// Serves a report through this node's cache (L1), then Redis (L2, shared by the nodes that
/// serve the API), else computes it and stores it in both. Keys are prefixed by the
/// organization and include the query and the store's position: new data makes a new key.
pub(crate) async fn cached_report<T, F>(
    state: &AppState,
    org: &unmogrowp_domain::OrgId,
    query: String,
    compute: F,
) -> ApiResult<Response>
where
    T: Serialize,
    F: std::future::Future<Output = ApiResult<T>>,
{
    let position = state.pipeline.position();
    let bucket = jiff::Timestamp::now().as_second() / REPORT_BUCKET_SECONDS;
    let key =
        format!("report:{}", crate::secrets::token_hash(&format!("{query}|{position:?}|{bucket}")));
    let local_key = format!("{org}:{key}");
    if let Some(body) = state.report_cache.get(&local_key).await {
        metrics::counter!(crate::metric_names::REPORT_CACHE_HITS_TOTAL, "level" => "l1")
            .increment(1);
        return Ok(json_body(body));
    }
    if let Some(body) = state.shared.cache_get(org.as_str(), &key).await {
        metrics::counter!(crate::metric_names::REPORT_CACHE_HITS_TOTAL, "level" => "l2")
            .increment(1);
        state.report_cache.insert(local_key, body.clone()).await;
        return Ok(json_body(body));
    }
    metrics::counter!(crate::metric_names::REPORT_CACHE_MISSES_TOTAL).increment(1);
    let report = compute.await?;
    let body = bytes::Bytes::from(
        serde_json::to_vec(&report).map_err(|error| ApiError::internal(error.into()))?,
    );
    state.report_cache.insert(local_key, body.clone()).await;
    state.shared.cache_put(org.as_str(), &key, &body, REPORT_TTL).await;
    Ok(json_body(body))
}

fn json_body(body: bytes::Bytes) -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}
