//! The audit log, for admins and owners.

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiQuery;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use unmogrowp_domain::AuditId;
use unmogrowp_domain::time::rfc3339;
use unmogrowp_storage::tenant::AsAdmin;
use unmogrowp_storage::{AuditEntry, AuditFilter, Outcome};

/// Filters and paging of the audit log. Filters left out or empty match everything.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Only this action (e.g. `auth.login`).
    pub action: Option<String>,
    /// Only this actor (email or user id).
    pub actor: Option<String>,
    /// `success`, `failure` or `denied`.
    #[param(pattern = r"^(success|failure|denied)?$")]
    pub outcome: Option<String>,
    /// From this time (RFC 3339) or day (`YYYY-MM-DD`), inclusive.
    pub from: Option<String>,
    /// Up to this time or day, exclusive (a day includes the whole day).
    pub to: Option<String>,
    /// The `X-Next-Cursor` of the previous page.
    pub cursor: Option<String>,
    /// Entries per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

/// One entry of the audit log: who did what, to what, from where, and how it ended.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AuditView {
    /// The entry's id. Ids sort by time; the last id of a page is the cursor of the next.
    pub id: String,
    /// When it happened (RFC 3339, UTC).
    pub at: String,
    /// The actor's email (or empty for the system).
    pub actor: Option<String>,
    /// The acting user's id; null when the actor is not a known user (for example a failed sign-in
    /// with an unknown email).
    pub actor_id: Option<String>,
    /// What was done, a dotted name such as `auth.login`, `app.created`, `member.invited` or
    /// `key.revoked`.
    pub action: String,
    /// What it was done to, as `kind:id` (such as `app:<id>` or `user:<id>`); null when there is no
    /// target.
    pub target: Option<String>,
    /// The client's IP address; null if not known.
    pub ip: Option<String>,
    /// The client's `User-Agent` header; null if not known.
    pub user_agent: Option<String>,
    /// `success`, `failure` or `denied`.
    pub outcome: String,
    /// Details that depend on the action, as a JSON object (for example the settings before and
    /// after a change); null when there are none.
    #[schema(value_type = Option<Object>)]
    pub details: Option<serde_json::Value>,
}

impl From<AuditEntry> for AuditView {
    fn from(entry: AuditEntry) -> Self {
        Self {
            id: entry.id.to_string(),
            at: rfc3339(entry.at),
            actor: entry.actor,
            actor_id: entry.actor_id.map(|id| id.to_string()),
            action: entry.action,
            target: entry.target,
            ip: entry.ip,
            user_agent: entry.user_agent,
            outcome: entry.outcome.as_str().to_owned(),
            details: entry.details.and_then(|text| serde_json::from_str(&text).ok()),
        }
    }
}

/// Parses an RFC 3339 time or a `YYYY-MM-DD` day (UTC) into milliseconds; with `end_of_day`,
/// a day means the start of the next one.
fn parse_time(field: &str, raw: &str, end_of_day: bool) -> Result<i64, ApiError> {
    if let Ok(timestamp) = raw.parse::<jiff::Timestamp>() {
        return Ok(timestamp.as_millisecond());
    }
    let date: jiff::civil::Date = raw.parse().map_err(|_| {
        ApiError::invalid_field(field, "must be an RFC 3339 time or a YYYY-MM-DD day")
    })?;
    let date = if end_of_day { date.tomorrow().unwrap_or(date) } else { date };
    date.to_zoned(jiff::tz::TimeZone::UTC)
        .map(|zoned| zoned.timestamp().as_millisecond())
        .map_err(|_| ApiError::invalid_field(field, "is out of range"))
}

/// Security-relevant events of the organization, newest first, a page at a time (the next
/// page's cursor is in `X-Next-Cursor` and a `Link: rel="next"` header).
#[utoipa::path(get, path = "/api/v1/audit-log", tag = "organizations", security(("bearer" = [])),
    params(AuditQuery),
    responses(
        (status = 200, description = "Entries", body = [AuditView]),
        (status = 400, description = "A time that is neither RFC 3339 nor `YYYY-MM-DD`, an unknown outcome, a cursor not from this API, or a limit out of range", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
        (status = 403, description = "Admins and owners only", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
    ))]
pub async fn audit_log(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> ApiResult<Response> {
    let tenant = auth.tenant::<AsAdmin>(&state.store)?;
    let limit = query.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::invalid_field("limit", "must be between 1 and 200"));
    }
    let outcome = match query.outcome.as_deref() {
        None | Some("") => None,
        Some(raw) => Some(Outcome::parse(raw).ok_or_else(|| {
            ApiError::invalid_field("outcome", "must be success, failure or denied")
        })?),
    };
    let before =
        match query.cursor.as_deref() {
            None | Some("") => None,
            Some(raw) => Some(AuditId::parse(raw).ok_or_else(|| {
                ApiError::invalid_field("cursor", "is not a cursor from this API")
            })?),
        };
    let filter = AuditFilter {
        action: query.action.clone().filter(|a| !a.is_empty()),
        actor: query.actor.clone().filter(|a| !a.is_empty()),
        outcome,
        from: query
            .from
            .as_deref()
            .filter(|raw| !raw.is_empty())
            .map(|raw| parse_time("from", raw, false))
            .transpose()?,
        to: query
            .to
            .as_deref()
            .filter(|raw| !raw.is_empty())
            .map(|raw| parse_time("to", raw, true))
            .transpose()?,
        before,
        limit: limit + 1,
    };
    let mut entries = tenant.audit_log(&filter).await?;
    let next = if entries.len() > limit as usize {
        entries.truncate(limit as usize);
        entries.last().map(|entry| entry.id.to_string())
    } else {
        None
    };
    let views: Vec<AuditView> = entries.into_iter().map(AuditView::from).collect();
    let mut response = Json(views).into_response();
    if let Some(cursor) = next {
        let mut link = url::form_urlencoded::Serializer::new(String::new());
        for (key, value) in [
            ("action", &query.action),
            ("actor", &query.actor),
            ("outcome", &query.outcome),
            ("from", &query.from),
            ("to", &query.to),
        ] {
            if let Some(value) = value {
                link.append_pair(key, value);
            }
        }
        link.append_pair("cursor", &cursor);
        link.append_pair("limit", &limit.to_string());
        let headers = response.headers_mut();
        if let Ok(value) = HeaderValue::from_str(&cursor) {
            headers.insert("x-next-cursor", value);
        }
        if let Ok(value) =
            HeaderValue::from_str(&format!("</api/v1/audit-log?{}>; rel=\"next\"", link.finish()))
        {
            headers.insert(header::LINK, value);
        }
    }
    Ok(response)
}
