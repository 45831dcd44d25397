//! The GraphQL schema's objects. Each is read from the JSON the matching REST route answers
//! (snake_case there, camelCase here, as GraphQL names go), so the two APIs show the same
//! values; the fields' meanings are documented once, on the REST views (see the OpenAPI
//! document), and summarized here.

use async_graphql::{ComplexObject, Context, Enum, ID, Result, SimpleObject};
use serde::Deserialize;
use std::collections::BTreeMap;

use super::rest::{Caller, segment};

/// The caller's organization.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Organization {
    /// The organization's id.
    pub id: ID,
    /// Its name.
    pub name: String,
    /// The caller's role in it: `owner`, `admin`, `member` or `viewer`.
    pub role: String,
}

#[ComplexObject]
impl Organization {
    /// Its members (`GET /api/v1/org/members`).
    #[graphql(complexity = "10 + child_complexity")]
    async fn members(&self, ctx: &Context<'_>) -> Result<Vec<Member>> {
        Caller::of(ctx)?.get("/api/v1/org/members").await
    }
}

/// A member of the organization.
#[derive(SimpleObject, Deserialize)]
pub struct Member {
    /// The user's id.
    pub user_id: ID,
    /// Their email address.
    pub email: String,
    /// Their display name.
    pub name: String,
    /// `owner`, `admin`, `member` or `viewer`.
    pub role: String,
    /// When they joined (RFC 3339).
    pub joined_at: String,
}

/// A registered app.
#[derive(SimpleObject, Deserialize)]
#[graphql(complex)]
pub struct App {
    /// The app's id.
    pub id: ID,
    /// Display name.
    pub name: String,
    /// `android` or `ios`.
    pub platform: String,
    /// Android package name or iOS bundle id.
    pub bundle_id: String,
    /// The store page tracking links send users to.
    pub store_url: String,
    /// The token SDKs send.
    pub app_token: String,
    /// The IANA time zone report days follow.
    pub time_zone: String,
    /// The ISO 4217 currency revenue is reported in.
    pub currency: String,
    /// When it was registered (RFC 3339).
    pub created_at: String,
    /// When it was last changed (RFC 3339).
    pub updated_at: String,
}

/// A summary report dimension.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum SummaryDimension {
    /// The ad network.
    Network,
    /// The campaign.
    Campaign,
    /// The ad group.
    Adgroup,
    /// The creative.
    Creative,
    /// The country (ISO 3166 alpha-2).
    Country,
    /// The report day.
    Day,
}

/// A multi-touch attribution model for install credit.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum AttributionModel {
    /// All credit to the last touch (the default).
    LastTouch,
    /// Equal credit to every touch.
    Linear,
    /// More credit to recent touches (7-day half-life).
    TimeDecay,
    /// 40 % first, 40 % last, 20 % shared by the middle.
    PositionBased,
}

/// A cohort report dimension.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum CohortDimension {
    /// The ad network.
    Network,
    /// The campaign.
    Campaign,
    /// The country.
    Country,
}

/// A SKAdNetwork report dimension.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum SkanDimension {
    /// The ad network's SKAdNetwork id.
    Network,
    /// The campaign (source identifier or campaign id).
    Campaign,
    /// The day postbacks were received.
    Day,
}

fn names<T: Copy>(values: &[T], name: fn(T) -> &'static str) -> String {
    values.iter().map(|value| name(*value)).collect::<Vec<_>>().join(",")
}

#[ComplexObject]
impl App {
    /// The app's tracking links (`GET …/links`).
    #[graphql(complexity = "10 + child_complexity")]
    async fn links(&self, ctx: &Context<'_>) -> Result<Vec<Link>> {
        Caller::of(ctx)?.get(&format!("/api/v1/apps/{}/links", segment(&self.id))).await
    }

    /// The app's postbacks (`GET …/postbacks`).
    #[graphql(complexity = "10 + child_complexity")]
    async fn postbacks(&self, ctx: &Context<'_>) -> Result<Vec<Postback>> {
        Caller::of(ctx)?.get(&format!("/api/v1/apps/{}/postbacks", segment(&self.id))).await
    }

    /// Counts and revenue over report days `from`..`to` (`YYYY-MM-DD`; default the last 7),
    /// grouped as asked (`GET …/reports/summary`).
    #[allow(clippy::too_many_arguments)]
    #[graphql(complexity = "50 + child_complexity")]
    async fn summary(
        &self,
        ctx: &Context<'_>,
        from: Option<String>,
        to: Option<String>,
        #[graphql(default)] group_by: Vec<SummaryDimension>,
        network: Option<String>,
        campaign: Option<String>,
        country: Option<String>,
        model: Option<AttributionModel>,
    ) -> Result<SummaryReport> {
        let group_by = names(&group_by, |dimension| match dimension {
            SummaryDimension::Network => "network",
            SummaryDimension::Campaign => "campaign",
            SummaryDimension::Adgroup => "adgroup",
            SummaryDimension::Creative => "creative",
            SummaryDimension::Country => "country",
            SummaryDimension::Day => "day",
        });
        let model = model.map(|model| match model {
            AttributionModel::LastTouch => "last_touch",
            AttributionModel::Linear => "linear",
            AttributionModel::TimeDecay => "time_decay",
            AttributionModel::PositionBased => "position_based",
        });
        let query = [
            ("from", from),
            ("to", to),
            ("group_by", Some(group_by)),
            ("network", network),
            ("campaign", campaign),
            ("country", country),
            ("model", model.map(str::to_owned)),
        ];
        let path = format!("/api/v1/apps/{}/reports/summary", segment(&self.id));
        Caller::of(ctx)?.get_with(&path, &query).await
    }

    /// Retention and revenue per install cohort (`GET …/reports/cohorts`); `days` are the days
    /// since install to report (default 0, 1, 7, 30).
    #[graphql(complexity = "50 + child_complexity")]
    async fn cohorts(
        &self,
        ctx: &Context<'_>,
        from: Option<String>,
        to: Option<String>,
        group_by: Option<CohortDimension>,
        days: Option<Vec<u32>>,
    ) -> Result<CohortReport> {
        let group_by = group_by.map(|dimension| match dimension {
            CohortDimension::Network => "network",
            CohortDimension::Campaign => "campaign",
            CohortDimension::Country => "country",
        });
        let days =
            days.map(|days| days.iter().map(ToString::to_string).collect::<Vec<_>>().join(","));
        let query =
            [("from", from), ("to", to), ("group_by", group_by.map(str::to_owned)), ("days", days)];
        let path = format!("/api/v1/apps/{}/reports/cohorts", segment(&self.id));
        let raw: RawCohortReport = Caller::of(ctx)?.get_with(&path, &query).await?;
        Ok(raw.into())
    }

    /// Rejected installs and flagged clicks by reason and network (`GET …/reports/fraud`).
    #[graphql(complexity = "50 + child_complexity")]
    async fn fraud(
        &self,
        ctx: &Context<'_>,
        from: Option<String>,
        to: Option<String>,
    ) -> Result<FraudReport> {
        let path = format!("/api/v1/apps/{}/reports/fraud", segment(&self.id));
        Caller::of(ctx)?.get_with(&path, &[("from", from), ("to", to)]).await
    }

    /// SKAdNetwork postbacks by network and campaign (`GET …/reports/skadnetwork`).
    #[graphql(complexity = "50 + child_complexity")]
    async fn skadnetwork(
        &self,
        ctx: &Context<'_>,
        from: Option<String>,
        to: Option<String>,
        group_by: Option<Vec<SkanDimension>>,
    ) -> Result<SkanReport> {
        let group_by = group_by.map(|dimensions| {
            names(&dimensions, |dimension| match dimension {
                SkanDimension::Network => "network",
                SkanDimension::Campaign => "campaign",
                SkanDimension::Day => "day",
            })
        });
        let path = format!("/api/v1/apps/{}/reports/skadnetwork", segment(&self.id));
        Caller::of(ctx)?
            .get_with(&path, &[("from", from), ("to", to), ("group_by", group_by)])
            .await
    }

    /// The attribution of one install event (`GET …/installs/{event_id}`).
    #[graphql(complexity = "5 + child_complexity")]
    async fn install(&self, ctx: &Context<'_>, event_id: ID) -> Result<Install> {
        let path = format!("/api/v1/apps/{}/installs/{}", segment(&self.id), segment(&event_id));
        Caller::of(ctx)?.get(&path).await
    }
}

/// A tracking link.
#[derive(SimpleObject, Deserialize)]
pub struct Link {
    /// The link's id.
    pub id: ID,
    /// The ad network.
    pub network: String,
    /// The campaign.
    pub campaign: String,
    /// The ad group (may be empty).
    pub adgroup: String,
    /// The creative (may be empty).
    pub creative: String,
    /// Whether its opens count as re-engagements.
    pub retargeting: bool,
    /// The deep link installs from its clicks open.
    pub deep_link: Option<String>,
    /// The URL ad networks send clicks to.
    pub click_url: String,
    /// The URL ad networks send impressions to.
    pub impression_url: String,
    /// When it was made (RFC 3339).
    pub created_at: String,
}

/// A postback to an ad network.
#[derive(SimpleObject, Deserialize)]
pub struct Postback {
    /// The postback's id.
    pub id: ID,
    /// The network it notifies.
    pub network: String,
    /// The URL template, with `{placeholders}`.
    pub url_template: String,
    /// What it is sent for (`install`, event names).
    pub events: Vec<String>,
    /// When it was made (RFC 3339).
    pub created_at: String,
}

/// A row of the summary report: the dimensions grouped by (null when not), then the counts.
#[derive(SimpleObject, Deserialize)]
pub struct SummaryRow {
    /// The ad network (`organic` for installs without a touchpoint).
    pub network: Option<String>,
    /// The campaign.
    pub campaign: Option<String>,
    /// The ad group.
    pub adgroup: Option<String>,
    /// The creative.
    pub creative: Option<String>,
    /// The country.
    pub country: Option<String>,
    /// The report day.
    pub day: Option<String>,
    /// Clicks.
    pub clicks: u64,
    /// Impressions.
    pub impressions: u64,
    /// Installs (fractional under a multi-touch model).
    pub installs: f64,
    /// Organic installs (counted in `installs` too).
    pub organic_installs: u64,
    /// Installs rejected by a fraud rule.
    pub rejected_installs: u64,
    /// Re-attributed installs.
    pub reattributions: u64,
    /// Opens through retargeting links by devices that had installed.
    pub reengagements: u64,
    /// Re-installs inside the re-attribution window.
    pub reinstalls: u64,
    /// Opens and sessions.
    pub sessions: u64,
    /// In-app events.
    pub events: u64,
    /// Revenue in the app's currency.
    pub revenue: f64,
}

/// The summary report.
#[derive(SimpleObject, Deserialize)]
pub struct SummaryReport {
    /// One row per group.
    pub rows: Vec<SummaryRow>,
    /// The counts over every row.
    pub totals: SummaryRow,
    /// The currency `revenue` is in.
    pub currency: String,
    /// The first report day covered.
    pub from: String,
    /// The last report day covered.
    pub to: String,
}

#[derive(Deserialize)]
struct RawCohort {
    install_day: String,
    group: Option<String>,
    installs: u64,
    retained: BTreeMap<String, u64>,
    retention: BTreeMap<String, f64>,
    revenue: BTreeMap<String, f64>,
    revenue_per_install: BTreeMap<String, f64>,
}

#[derive(Deserialize)]
struct RawCohortReport {
    cohorts: Vec<RawCohort>,
    days: Vec<u32>,
    currency: String,
    from: String,
    to: String,
}

/// One day-since-install of a cohort.
#[derive(SimpleObject)]
pub struct CohortDay {
    /// Days since install.
    pub day: u32,
    /// Users active that day.
    pub retained: u64,
    /// Retained / installs.
    pub retention: f64,
    /// Revenue from install day through this day.
    pub revenue: f64,
    /// That revenue per install.
    pub revenue_per_install: f64,
}

/// One install cohort.
#[derive(SimpleObject)]
pub struct Cohort {
    /// The install day.
    pub install_day: String,
    /// The group's value, when grouped.
    pub group: Option<String>,
    /// Installs in the cohort.
    pub installs: u64,
    /// The requested days, in order.
    pub days: Vec<CohortDay>,
}

/// The cohort report.
#[derive(SimpleObject)]
pub struct CohortReport {
    /// One cohort per install day (and group value).
    pub cohorts: Vec<Cohort>,
    /// The days since install reported.
    pub days: Vec<u32>,
    /// The currency revenue is in.
    pub currency: String,
    /// The first install day covered.
    pub from: String,
    /// The last install day covered.
    pub to: String,
}

impl From<RawCohortReport> for CohortReport {
    fn from(raw: RawCohortReport) -> Self {
        let days = raw.days;
        let cohorts = raw
            .cohorts
            .into_iter()
            .map(|cohort| Cohort {
                days: days
                    .iter()
                    .map(|day| {
                        let key = day.to_string();
                        CohortDay {
                            day: *day,
                            retained: cohort.retained.get(&key).copied().unwrap_or(0),
                            retention: cohort.retention.get(&key).copied().unwrap_or(0.0),
                            revenue: cohort.revenue.get(&key).copied().unwrap_or(0.0),
                            revenue_per_install: cohort
                                .revenue_per_install
                                .get(&key)
                                .copied()
                                .unwrap_or(0.0),
                        }
                    })
                    .collect(),
                install_day: cohort.install_day,
                group: cohort.group,
                installs: cohort.installs,
            })
            .collect();
        Self { cohorts, days, currency: raw.currency, from: raw.from, to: raw.to }
    }
}

/// Rejected installs or flagged clicks for one reason and network.
#[derive(SimpleObject, Deserialize)]
pub struct FraudRow {
    /// `install` or `click`.
    pub kind: String,
    /// The rule: `click_injection`, `blocked_ip`, `click_flood`, `install_before_click`.
    pub reason: String,
    /// The network.
    pub network: String,
    /// How many.
    pub count: u64,
}

/// The fraud report.
#[derive(SimpleObject, Deserialize)]
pub struct FraudReport {
    /// By kind, reason and network.
    pub rows: Vec<FraudRow>,
    /// Rejected installs in the range.
    pub rejected_installs: u64,
    /// Flagged clicks in the range.
    pub flagged_clicks: u64,
    /// The first report day covered.
    pub from: String,
    /// The last report day covered.
    pub to: String,
}

/// A count by value (a conversion value, a coarse value).
#[derive(SimpleObject)]
pub struct ValueCount {
    /// The value.
    pub value: String,
    /// How many postbacks had it.
    pub count: u64,
}

fn value_counts<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> std::result::Result<Vec<ValueCount>, D::Error> {
    let map = BTreeMap::<String, u64>::deserialize(deserializer)?;
    Ok(map.into_iter().map(|(value, count)| ValueCount { value, count }).collect())
}

/// A row of the SKAdNetwork report.
#[derive(SimpleObject, Deserialize)]
pub struct SkanRow {
    /// The ad network's SKAdNetwork id.
    pub network: Option<String>,
    /// The campaign.
    pub campaign: Option<String>,
    /// The day received.
    pub day: Option<String>,
    /// New installs.
    pub installs: u64,
    /// Re-downloads.
    pub redownloads: u64,
    /// Every postback.
    pub postbacks: u64,
    /// Postbacks of ads that did not win.
    pub nonwinning: u64,
    /// Winning 4.0 postbacks of later windows.
    pub later_postbacks: u64,
    /// Winning first postbacks by fine value.
    #[serde(deserialize_with = "value_counts")]
    pub conversion_values: Vec<ValueCount>,
    /// Winning postbacks by coarse value.
    #[serde(deserialize_with = "value_counts")]
    pub coarse_values: Vec<ValueCount>,
    /// Winning first postbacks without a value.
    pub without_value: u64,
    /// Revenue the app's schema puts on them.
    pub estimated_revenue: f64,
}

/// The SKAdNetwork report.
#[derive(SimpleObject, Deserialize)]
pub struct SkanReport {
    /// One row per group.
    pub rows: Vec<SkanRow>,
    /// Over every row.
    pub totals: SkanRow,
    /// The currency of `estimatedRevenue`.
    pub currency: String,
    /// The first day covered.
    pub from: String,
    /// The last day covered.
    pub to: String,
}

/// The touchpoint an install was matched to.
#[derive(SimpleObject, Deserialize)]
pub struct Touch {
    /// `click` or `impression`.
    #[serde(rename = "type")]
    #[graphql(name = "type")]
    pub kind: String,
    /// The click's or impression's id.
    pub id: ID,
    /// The tracking link's id.
    pub link_id: Option<ID>,
    /// Its network.
    pub network: String,
    /// Its campaign.
    pub campaign: String,
    /// Its ad group.
    pub adgroup: String,
    /// Its creative.
    pub creative: String,
    /// When it happened (RFC 3339).
    pub at: Option<String>,
}

/// The attribution decision for one install.
#[derive(SimpleObject, Deserialize)]
pub struct Install {
    /// `pending`, `attributed`, `organic` or `rejected`.
    pub status: String,
    /// `click_id`, `device_id`, `probabilistic`, `view_through` or null.
    pub match_type: Option<String>,
    /// The winning touchpoint.
    pub touch: Option<Touch>,
    /// The fraud rule that rejected it.
    pub rejection_reason: Option<String>,
    /// When it was decided (RFC 3339).
    pub attributed_at: Option<String>,
    /// Attributed afresh after the re-attribution window.
    pub reattribution: bool,
    /// A re-install inside the window.
    pub reinstall: bool,
    /// The deferred deep link, for a new install from a click on a link with one.
    pub deep_link: Option<String>,
}
