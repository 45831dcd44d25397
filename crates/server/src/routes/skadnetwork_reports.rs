//! SKAdNetwork reports: postbacks counted by network (the ad network's SKAdNetwork id) and
//! campaign (source identifier, or campaign id before 4.0), with their conversion values and
//! the revenue the app's conversion-value schema puts on them; and the postbacks as CSV
//! (`GET /api/v1/apps/{app_id}/export/skadnetwork.csv`, see [`super::exports`]).

use crate::auth::{ClientInfo, TenantApp};
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiQuery;
use crate::state::AppState;
use axum::Json;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use unmogrowp_domain::skan::ConversionSchema;
use unmogrowp_domain::time::rfc3339;
use unmogrowp_storage::SkanCount;
use unmogrowp_storage::tenant::{AsMember, AsViewer};

/// The day range and grouping of the SKAdNetwork report.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SkanReportParams {
    /// First day postbacks were received (`YYYY-MM-DD`, app time zone); default 29 days before
    /// `to`.
    pub from: Option<String>,
    /// Last day, inclusive; default today.
    pub to: Option<String>,
    /// Comma-separated: `network`, `campaign`, `day`; default `network,campaign`. Empty: totals
    /// only.
    pub group_by: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Dimension {
    Network,
    Campaign,
    Day,
}

/// One row of the SKAdNetwork report: its dimensions (each present only when grouped by it),
/// then the counts.
#[derive(Clone, Default, Serialize, utoipa::ToSchema)]
pub struct SkanRowView {
    /// The ad network's SKAdNetwork id (`ad-network-id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// The campaign: the 4.0 source identifier, or the campaign id of earlier versions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub campaign: Option<String>,
    /// The day the postbacks were received (`YYYY-MM-DD`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub day: Option<String>,
    /// New installs: winning first postbacks that are not re-downloads.
    pub installs: u64,
    /// Re-downloads: winning first postbacks of users who had the app before.
    pub redownloads: u64,
    /// Every postback received (winning or not, every window).
    pub postbacks: u64,
    /// Postbacks of ads that did not win the attribution (3.0 and later).
    pub nonwinning: u64,
    /// Winning 4.0 postbacks of the second and third conversion windows.
    pub later_postbacks: u64,
    /// Winning first postbacks by fine conversion value (`"0"`…`"63"`).
    pub conversion_values: BTreeMap<String, u64>,
    /// Winning postbacks of every window by coarse value (`low`, `medium`, `high`).
    pub coarse_values: BTreeMap<String, u64>,
    /// Winning first postbacks without any conversion value (below Apple's privacy threshold).
    pub without_value: u64,
    /// Revenue the app's schema puts on the winning first postbacks' values, in the app's
    /// currency (see `PUT …/skadnetwork/schema`); 0 without revenue ranges.
    pub estimated_revenue: f64,
}

impl SkanRowView {
    fn add(&mut self, count: &SkanCount, schema: &ConversionSchema) {
        let n = count.postbacks;
        self.postbacks += n;
        if count.did_win == Some(false) {
            self.nonwinning += n;
            return;
        }
        if let Some(coarse) = count.coarse_value {
            *self.coarse_values.entry(coarse.as_str().to_owned()).or_default() += n;
        }
        if count.sequence_index > 0 {
            self.later_postbacks += n;
            return;
        }
        if count.redownload {
            self.redownloads += n;
        } else {
            self.installs += n;
        }
        match count.conversion_value {
            Some(value) => *self.conversion_values.entry(value.to_string()).or_default() += n,
            None if count.coarse_value.is_none() => self.without_value += n,
            None => {}
        }
        if let Some(revenue) = schema.estimated_revenue(count.conversion_value, count.coarse_value)
        {
            // Counts are far below 2^52: exact in f64.
            #[allow(clippy::cast_precision_loss)]
            let postbacks = n as f64;
            self.estimated_revenue += revenue * postbacks;
        }
    }
}

/// The SKAdNetwork report.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SkanReport {
    /// One row per group, in dimension order.
    pub rows: Vec<SkanRowView>,
    /// The counts over every row.
    pub totals: SkanRowView,
    /// The currency `estimated_revenue` is in (the app's).
    pub currency: String,
    /// The first day covered.
    pub from: String,
    /// The last day covered, inclusive.
    pub to: String,
}

fn dimensions(raw: Option<&str>) -> ApiResult<Vec<Dimension>> {
    let mut dimensions = Vec::new();
    for part in raw.unwrap_or("network,campaign").split(',').map(str::trim) {
        let dimension = match part {
            "" => continue,
            "network" => Dimension::Network,
            "campaign" => Dimension::Campaign,
            "day" => Dimension::Day,
            other => {
                return Err(ApiError::invalid_field(
                    "group_by",
                    format!("unknown dimension `{other}`: use network, campaign or day"),
                ));
            }
        };
        if !dimensions.contains(&dimension) {
            dimensions.push(dimension);
        }
    }
    Ok(dimensions)
}

/// Installs, re-downloads and conversion values from SKAdNetwork postbacks, by network and
/// campaign (and day), over the days they were received.
#[utoipa::path(get, path = "/api/v1/apps/{app_id}/reports/skadnetwork", tag = "reports", security(("bearer" = [])),
    params(("app_id" = String, Path, description = "The app's id"), SkanReportParams),
    responses((status = 200, description = "The report", body = SkanReport),
              (status = 400, description = "A bad day or dimension (named in `errors`)", body = crate::error::ProblemDocument, content_type = "application/problem+json"),
              (status = 404, description = "No such app", body = crate::error::ProblemDocument, content_type = "application/problem+json")))]
pub async fn report(
    found: TenantApp<AsViewer>,
    ApiQuery(params): ApiQuery<SkanReportParams>,
) -> ApiResult<Json<SkanReport>> {
    let group_by = dimensions(params.group_by.as_deref())?;
    let (from, to) = crate::routes::reports::day_range(
        &found.app.time_zone,
        params.from.as_deref(),
        params.to.as_deref(),
        30,
    )?;
    let tenant = found.tenant();
    let schema =
        tenant.skan_schema(&found.app.id).await?.map(|stored| stored.schema).unwrap_or_default();
    let counts = tenant.skan_counts(&found.app.id, from, to).await?;
    let mut rows: BTreeMap<(String, String, String), SkanRowView> = BTreeMap::new();
    let mut totals = SkanRowView::default();
    for count in &counts {
        let pick =
            |dimension: Dimension, value: String| group_by.contains(&dimension).then_some(value);
        let network = pick(Dimension::Network, count.ad_network_id.clone());
        let campaign = pick(Dimension::Campaign, count.campaign.clone());
        let day = pick(Dimension::Day, count.day.to_string());
        let key = (
            day.clone().unwrap_or_default(),
            network.clone().unwrap_or_default(),
            campaign.clone().unwrap_or_default(),
        );
        let row = rows.entry(key).or_insert_with(|| SkanRowView {
            network,
            campaign,
            day,
            ..SkanRowView::default()
        });
        row.add(count, &schema);
        totals.add(count, &schema);
    }
    let rows = if group_by.is_empty() { Vec::new() } else { rows.into_values().collect() };
    Ok(Json(SkanReport {
        rows,
        totals,
        currency: found.app.currency.clone(),
        from: from.to_string(),
        to: to.to_string(),
    }))
}

const CSV_HEADER: &str = "id,received_at,day,version,ad_network_id,campaign,app_store_id,\
transaction_id,postback_sequence_index,did_win,redownload,fidelity_type,conversion_value,\
coarse_conversion_value,source_app_id,source_domain,estimated_revenue\n";

fn csv_line(record: &unmogrowp_storage::SkanRecord, schema: &ConversionSchema, out: &mut String) {
    use crate::routes::exports::field;
    let p = &record.postback;
    let optional = |value: Option<String>| value.unwrap_or_default();
    field(out, &record.id);
    field(out, &rfc3339(record.received_at));
    field(out, &record.day.to_string());
    field(out, &p.version);
    field(out, &p.ad_network_id);
    field(out, &p.campaign);
    field(out, &p.app_store_id.to_string());
    field(out, &p.transaction_id);
    field(out, &p.sequence_index.to_string());
    field(out, &optional(p.did_win.map(|flag| flag.to_string())));
    field(out, &p.redownload.to_string());
    field(out, &optional(p.fidelity_type.map(|value| value.to_string())));
    field(out, &optional(p.conversion_value.map(|value| value.to_string())));
    field(out, p.coarse_value.map_or("", |value| value.as_str()));
    field(out, &optional(p.source_app_id.map(|id| id.to_string())));
    field(out, p.source_domain.as_deref().unwrap_or_default());
    field(
        out,
        &optional(
            schema.estimated_revenue(p.conversion_value, p.coarse_value).map(|v| v.to_string()),
        ),
    );
    out.pop();
    out.push('\n');
}

/// `export/skadnetwork.csv`: every postback received on the days asked, in the order they
/// were received, streamed a page at a time.
pub(crate) async fn export_csv(
    state: AppState,
    found: TenantApp<AsMember>,
    client: ClientInfo,
    from: Option<&str>,
    to: Option<&str>,
) -> ApiResult<Response> {
    let (from, to) = crate::routes::reports::day_range(&found.app.time_zone, from, to, 7)?;
    let filename = format!("{}-{from}-{to}-skadnetwork.csv", found.app.id);
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<bytes::Bytes, std::io::Error>>(4);
    tokio::spawn(async move {
        let tenant = found.tenant();
        let app_id = found.app.id.clone();
        let outcome: Result<u64, unmogrowp_storage::StorageError> = async {
            let schema =
                tenant.skan_schema(&app_id).await?.map(|stored| stored.schema).unwrap_or_default();
            if sender.send(Ok(bytes::Bytes::from_static(CSV_HEADER.as_bytes()))).await.is_err() {
                return Ok(0);
            }
            let mut after = None;
            let mut rows = 0_u64;
            loop {
                let page = tenant.skan_postbacks(&app_id, from, to, after.take(), 1000).await?;
                let Some(last) = page.last() else { break };
                after = Some((last.received_at, last.id.clone()));
                let mut chunk = String::with_capacity(page.len() * 200);
                for record in &page {
                    csv_line(record, &schema, &mut chunk);
                }
                rows += page.len() as u64;
                if sender.send(Ok(bytes::Bytes::from(chunk))).await.is_err() {
                    break;
                }
            }
            Ok(rows)
        }
        .await;
        match outcome {
            Ok(rows) => {
                metrics::counter!(crate::metric_names::EXPORT_ROWS_TOTAL).increment(rows);
                let details = serde_json::json!({
                    "app_id": app_id.to_string(), "kind": "skadnetwork",
                    "from": from.to_string(), "to": to.to_string(), "rows": rows,
                });
                crate::security_events::export_completed(
                    &state,
                    &found.auth,
                    &client,
                    details,
                    rows,
                )
                .await;
            }
            Err(error) => {
                tracing::error!(%error, "SKAdNetwork export failed");
                let _ = sender.send(Err(std::io::Error::other("the export failed"))).await;
            }
        }
    });
    Ok(crate::routes::exports::csv_download(receiver, &filename))
}
