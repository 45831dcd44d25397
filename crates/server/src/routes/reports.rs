//! Reports read from the event store's rollups, and the quarantine of rejected events.

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiQuery;
use crate::routes::apps::parse_app_id;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use unmogrowp_domain::Action;
use unmogrowp_domain::time::rfc3339;
use unmogrowp_eventstore::{Counts, Dimension, SummaryQuery, SummaryRow};

#[derive(Deserialize, utoipa::IntoParams)]
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
    /// Attribution model for install credit: `last_touch` (default).
    pub model: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SummaryResponse {
    /// One object per group: the grouped dimensions, then the counts.
    #[schema(value_type = Vec<Object>)]
    pub rows: Vec<serde_json::Map<String, serde_json::Value>>,
    #[schema(value_type = Object)]
    pub totals: serde_json::Map<String, serde_json::Value>,
    /// The currency `revenue` is in (the app's).
    pub currency: String,
    pub from: String,
    pub to: String,
}

fn parse_day(field: &str, raw: &str) -> Result<jiff::civil::Date, ApiError> {
    raw.parse().map_err(|_| ApiError::invalid_field(field, "must be a day as YYYY-MM-DD"))
}

fn counts_json(counts: &Counts) -> serde_json::Map<String, serde_json::Value> {
    let mut map = serde_json::Map::new();
    for (key, value) in [
        ("clicks", counts.clicks),
        ("impressions", counts.impressions),
        ("installs", counts.installs),
        ("organic_installs", counts.organic_installs),
        ("rejected_installs", counts.rejected_installs),
        ("reattributions", counts.reattributions),
        ("reengagements", counts.reengagements),
        ("sessions", counts.sessions),
        ("events", counts.events),
    ] {
        map.insert(key.to_owned(), serde_json::json!(value));
    }
    map.insert("revenue".to_owned(), serde_json::json!((counts.revenue * 100.0).round() / 100.0));
    map
}

fn row_json(
    row: &SummaryRow,
    group_by: &[Dimension],
) -> serde_json::Map<String, serde_json::Value> {
    let mut map = serde_json::Map::new();
    for dimension in group_by {
        let value = match dimension {
            Dimension::Network => &row.network,
            Dimension::Campaign => &row.campaign,
            Dimension::Adgroup => &row.adgroup,
            Dimension::Creative => &row.creative,
            Dimension::Country => &row.country,
            Dimension::Day => &row.day,
        };
        map.insert(
            dimension.column().to_owned(),
            serde_json::json!(value.clone().unwrap_or_default()),
        );
    }
    map.extend(counts_json(&row.counts));
    map
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
    auth: Auth,
    Path(app_id): Path<String>,
    ApiQuery(params): ApiQuery<SummaryParams>,
) -> ApiResult<Json<SummaryResponse>> {
    let tenant = auth.tenant(&state.store, Action::Read)?;
    let app =
        tenant.app(&parse_app_id(&app_id)?).await?.ok_or_else(|| ApiError::not_found("app"))?;
    let zone = jiff::tz::TimeZone::get(&app.time_zone).unwrap_or(jiff::tz::TimeZone::UTC);
    let today = jiff::Timestamp::now().to_zoned(zone).date();
    let to = match &params.to {
        Some(raw) => parse_day("to", raw)?,
        None => today,
    };
    let from = match &params.from {
        Some(raw) => parse_day("from", raw)?,
        None => to.checked_sub(jiff::Span::new().days(6)).unwrap_or(to),
    };
    if from > to {
        return Err(ApiError::invalid_field("from", "must not be after `to`"));
    }
    if to.since(from).map(|span| span.get_days()).unwrap_or(0) > 731 {
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
    match params.model.as_deref() {
        None | Some("last_touch") => {}
        Some(other) => {
            return Err(ApiError::invalid_field(
                "model",
                format!("unknown model `{other}`: use last_touch"),
            ));
        }
    }
    let query = SummaryQuery {
        app_id: app.id.to_string(),
        from_day: from.to_string(),
        to_day: to.to_string(),
        group_by: group_by.clone(),
        network: params.network.clone().filter(|v| !v.is_empty()),
        campaign: params.campaign.clone().filter(|v| !v.is_empty()),
        country: params.country.clone().filter(|v| !v.is_empty()).map(|c| c.to_ascii_uppercase()),
    };
    let rows = state.events.summary(&query).await.map_err(|error| {
        ApiError::unavailable(2, "the event store is unavailable; try again shortly")
            .with_extra("reason", serde_json::json!(error.to_string()))
    })?;
    let mut totals = Counts::default();
    for row in &rows {
        totals.add(&row.counts);
    }
    Ok(Json(SummaryResponse {
        rows: rows.iter().map(|row| row_json(row, &group_by)).collect(),
        totals: counts_json(&totals),
        currency: app.currency,
        from: from.to_string(),
        to: to.to_string(),
    }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RejectedParams {
    /// Entries per page, 1 to 500 (default 100).
    pub limit: Option<u32>,
    /// Only entries received before this time (RFC 3339): the `received_at` of the last entry
    /// of the previous page.
    pub before: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct RejectedView {
    pub received_at: String,
    /// Position in the request's `events`.
    pub index: u32,
    pub event_id: Option<String>,
    pub code: String,
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
    auth: Auth,
    Path(app_id): Path<String>,
    ApiQuery(params): ApiQuery<RejectedParams>,
) -> ApiResult<Json<Vec<RejectedView>>> {
    let tenant = auth.tenant(&state.store, Action::Read)?;
    let app =
        tenant.app(&parse_app_id(&app_id)?).await?.ok_or_else(|| ApiError::not_found("app"))?;
    let limit = params.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::invalid_field("limit", "must be between 1 and 500"));
    }
    let before = match params.before.as_deref() {
        None => None,
        Some(raw) => Some(
            raw.parse::<jiff::Timestamp>()
                .map_err(|_| ApiError::invalid_field("before", "must be an RFC 3339 time"))?
                .as_millisecond(),
        ),
    };
    let rows = state.events.rejected(app.id.as_str(), limit, before).await.map_err(|error| {
        ApiError::unavailable(2, "the event store is unavailable")
            .with_extra("reason", serde_json::json!(error.to_string()))
    })?;
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
