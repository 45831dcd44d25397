//! The cohort report: installs by install day (and source), users active N days later and
//! revenue up to day N.

use super::reports::{cached_report, day_range, store_unavailable};
use crate::auth::TenantApp;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiQuery;
use crate::state::AppState;
use axum::extract::State;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use unmogrowp_eventstore::Dimension;
use unmogrowp_storage::tenant::AsViewer;

/// The install days, grouping and days since install of the cohort report.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CohortParams {
    /// First install day (`YYYY-MM-DD`, app time zone); default 29 days before `to`.
    pub from: Option<String>,
    /// Last install day, inclusive; default today.
    pub to: Option<String>,
    /// `network`, `campaign` or `country`; default no grouping.
    pub group_by: Option<String>,
    /// Comma-separated days since install, e.g. `0,1,7,30` (the default), each 0 to 365.
    pub days: Option<String>,
}

/// One install cohort: the installs of one day (and group value, when grouped) and what they did in
/// the days after.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CohortView {
    /// The cohort's install day (`YYYY-MM-DD`, in the app's time zone).
    pub install_day: String,
    /// The group's value (network, campaign or country) when grouped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Installs in the cohort.
    pub installs: u64,
    /// Per requested day N (as a string key): users active on day N.
    #[schema(value_type = Object)]
    pub retained: serde_json::Map<String, serde_json::Value>,
    /// Per day N: retained / installs.
    #[schema(value_type = Object)]
    pub retention: serde_json::Map<String, serde_json::Value>,
    /// Per day N: the cohort's revenue from install day through day N (app currency).
    #[schema(value_type = Object)]
    pub revenue: serde_json::Map<String, serde_json::Value>,
    /// Per day N: revenue through day N per install.
    #[schema(value_type = Object)]
    pub revenue_per_install: serde_json::Map<String, serde_json::Value>,
}

/// The cohort report.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CohortResponse {
    /// One entry per install day, or per install day and group value when grouped.
    pub cohorts: Vec<CohortView>,
    /// The days since install that the per-day values are keyed by, in the order asked, without
    /// duplicates.
    pub days: Vec<u32>,
    /// The ISO 4217 currency that revenue is in (the app's).
    pub currency: String,
    /// The first install day covered (`YYYY-MM-DD`, in the app's time zone).
    pub from: String,
    /// The last install day covered, inclusive (`YYYY-MM-DD`, in the app's time zone).
    pub to: String,
}

/// Install cohorts: by install day (and source), users active N days after installing, and
/// revenue (total and per install) up to day N.
#[utoipa::path(get, path = "/api/v1/apps/{app_id}/reports/cohorts", tag = "reports", security(("bearer" = [])),
    params(("app_id" = String, Path, description = "The app's id"), CohortParams),
    responses((status = 200, description = "The cohorts", body = CohortResponse),
              (status = 400, description = "Invalid parameters", body = crate::error::ProblemDocument, content_type = "application/problem+json")))]
pub async fn cohorts(
    State(state): State<AppState>,
    TenantApp { auth, app, .. }: TenantApp<AsViewer>,
    ApiQuery(params): ApiQuery<CohortParams>,
) -> ApiResult<Response> {
    let (from, to) = day_range(&app.time_zone, params.from.as_deref(), params.to.as_deref(), 30)?;
    let group_by = match params.group_by.as_deref().map(str::trim).filter(|g| !g.is_empty()) {
        None => None,
        Some(raw) => match Dimension::parse(raw) {
            Some(dimension @ (Dimension::Network | Dimension::Campaign | Dimension::Country)) => {
                Some(dimension)
            }
            _ => {
                return Err(ApiError::invalid_field(
                    "group_by",
                    "must be network, campaign or country",
                ));
            }
        },
    };
    let mut days = Vec::new();
    for part in params
        .days
        .as_deref()
        .unwrap_or("0,1,7,30")
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        let day: u32 = part.parse().ok().filter(|d| *d <= 365).ok_or_else(|| {
            ApiError::invalid_field(
                "days",
                format!("`{part}` is not a number of days from 0 to 365"),
            )
        })?;
        if !days.contains(&day) {
            days.push(day);
        }
    }
    if days.is_empty() || days.len() > 30 {
        return Err(ApiError::invalid_field("days", "name 1 to 30 days"));
    }
    let query = unmogrowp_eventstore::CohortQuery {
        app_id: app.id.clone(),
        from_day: from,
        to_day: to,
        group_by,
        days: days.clone(),
    };
    let key = format!("cohorts|{query:?}|{}", app.currency);
    cached_report(&state, auth.org_id(), key, async {
        let rows = state.events.cohorts(&query).await.map_err(|e| store_unavailable(&e))?;
        let round = |value: f64, digits: i32| {
            let factor = 10f64.powi(digits);
            (value * factor).round() / factor
        };
        let cohorts = rows
            .into_iter()
            .map(|row| {
                let mut retained = serde_json::Map::new();
                let mut retention = serde_json::Map::new();
                let mut revenue = serde_json::Map::new();
                let mut per_install = serde_json::Map::new();
                for (index, day) in days.iter().enumerate() {
                    let key = day.to_string();
                    let users = row.retained.get(index).copied().unwrap_or(0);
                    let money = row.revenue.get(index).copied().unwrap_or(0.0);
                    let installs = row.installs.max(1) as f64;
                    retained.insert(key.clone(), serde_json::json!(users));
                    retention
                        .insert(key.clone(), serde_json::json!(round(users as f64 / installs, 4)));
                    revenue.insert(key.clone(), serde_json::json!(round(money, 2)));
                    per_install.insert(key, serde_json::json!(round(money / installs, 4)));
                }
                CohortView {
                    install_day: row.install_day.to_string(),
                    group: group_by.map(|_| row.group.unwrap_or_default()),
                    installs: row.installs,
                    retained,
                    retention,
                    revenue,
                    revenue_per_install: per_install,
                }
            })
            .collect();
        Ok(CohortResponse {
            cohorts,
            days,
            currency: app.currency,
            from: from.to_string(),
            to: to.to_string(),
        })
    })
    .await
}
