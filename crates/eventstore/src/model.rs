//! What the store stores and answers.

use serde::Serialize;
use unmogrowp_domain::event::EventType;
use unmogrowp_domain::{AppId, Day};

/// The network that organic installs (and everything credited to them) report under.
pub const ORGANIC: &str = "organic";

/// Where a row is credited in reports: the touchpoint's link, or organic.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Dims {
    pub network: String,
    pub campaign: String,
    pub adgroup: String,
    pub creative: String,
    pub country: String,
}

impl Dims {
    pub fn organic(country: &str) -> Self {
        Self { network: ORGANIC.to_owned(), country: country.to_owned(), ..Self::default() }
    }
}

/// The attribution outcome of an install, as far as reports need it.
pub use unmogrowp_domain::attribution::InstallStatus as InstallOutcome;
pub use unmogrowp_domain::attribution::{
    FlagReason, FraudKind, FraudReason, InstallStatus, MatchType, Model, RejectionReason, TouchKind,
};

/// One raw row: an event, click or impression with everything reports and exports need.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EventRow {
    pub app_id: String,
    pub org_id: String,
    pub id: String,
    pub kind: EventType,
    pub name: Option<String>,
    pub timestamp_ms: i64,
    pub received_ms: i64,
    /// The report day in the app's time zone.
    pub day: Day,
    pub device_id: Option<String>,
    pub gaid: Option<String>,
    pub idfa: Option<String>,
    pub idfv: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub os: Option<String>,
    pub os_version: Option<String>,
    /// The device's model (`device.model` as sent), not an attribution model.
    #[serde(rename = "model")]
    pub device_model: Option<String>,
    pub locale: Option<String>,
    pub click_id: Option<String>,
    pub link_id: Option<String>,
    pub network_click_id: Option<String>,
    pub subs: Vec<Option<String>>,
    pub dims: Dims,
    pub revenue_amount: Option<f64>,
    pub revenue_currency: Option<String>,
    /// Revenue in the app's currency.
    pub revenue: f64,
    pub properties: Option<String>,
    /// For installs: how attribution decided (none until decided).
    pub install: Option<InstallOutcome>,
    pub reattribution: bool,
    pub reengagement: bool,
    /// A re-install inside the re-attribution window (not a new install).
    pub reinstall: bool,
    /// Why a fraud rule rejected (installs) or flagged (clicks) this row.
    pub fraud_reason: Option<FraudReason>,
}

/// The attribution decision of an install.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AttributionRow {
    pub app_id: String,
    pub event_id: String,
    /// The install's report day (app time zone).
    pub day: Day,
    pub device_id: Option<String>,
    pub status: InstallStatus,
    pub match_type: Option<MatchType>,
    pub touch_id: Option<String>,
    pub touch_kind: Option<TouchKind>,
    pub touch_at_ms: Option<i64>,
    pub link_id: Option<String>,
    pub dims: Dims,
    pub rejection_reason: Option<RejectionReason>,
    pub reattribution: bool,
    pub reinstall: bool,
    pub install_at_ms: i64,
    pub decided_at_ms: i64,
}

/// A share of an install credited to a source under a multi-touch model.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CreditRow {
    pub app_id: String,
    /// The install it is a share of (applied only when that install is stored anew).
    pub event_id: String,
    /// The install's report day (app time zone).
    pub day: Day,
    pub dims: Dims,
    /// The multi-touch model the share is computed under.
    #[serde(rename = "model")]
    pub attribution_model: Model,
    pub installs: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FraudRow {
    /// Why the installs were rejected or the clicks flagged; [`FraudReason::kind`] tells
    /// which.
    pub reason: FraudReason,
    pub network: String,
    pub count: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct QuarantinedRow {
    pub app_id: String,
    pub received_ms: i64,
    pub index: u32,
    pub event_id: Option<String>,
    pub code: String,
    pub message: String,
    pub raw: String,
}

/// A fraud signal that is not a row's own: a click reported `install_before_click` when an
/// install carrying its id (and stamped before it) is decided. Counted in the fraud report
/// only when that install is stored anew (so a replay counts it once).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FraudHit {
    pub app_id: String,
    /// The install whose decision raised it.
    pub event_id: String,
    /// The install's report day.
    pub day: Day,
    /// Why the click is flagged (or the install rejected).
    pub reason: FraudReason,
    pub network: String,
}

/// What the pipeline hands the store at once.
#[derive(Clone, Debug, Default)]
pub struct Batch {
    pub rows: Vec<EventRow>,
    pub quarantined: Vec<QuarantinedRow>,
    pub attributions: Vec<AttributionRow>,
    pub credits: Vec<CreditRow>,
    pub fraud: Vec<FraudHit>,
    /// The highest log offset in the batch (rows are stamped with it).
    pub last_offset: u64,
    /// The log partitions the batch reads from and the offset it ends at in each, recorded
    /// with the data. Empty for a log of one partition: partition 0 at `last_offset`.
    pub positions: Vec<(u16, u64)>,
}

impl Batch {
    /// Where the batch ends, per partition (see [`Batch::positions`]).
    pub fn ends(&self) -> Vec<(u16, u64)> {
        if self.positions.is_empty() { vec![(0, self.last_offset)] } else { self.positions.clone() }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ApplyOutcome {
    pub stored: u64,
    pub duplicates: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dimension {
    Network,
    Campaign,
    Adgroup,
    Creative,
    Country,
    Day,
}

impl Dimension {
    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "network" => Dimension::Network,
            "campaign" => Dimension::Campaign,
            "adgroup" => Dimension::Adgroup,
            "creative" => Dimension::Creative,
            "country" => Dimension::Country,
            "day" => Dimension::Day,
            _ => return None,
        })
    }

    pub fn column(self) -> &'static str {
        match self {
            Dimension::Network => "network",
            Dimension::Campaign => "campaign",
            Dimension::Adgroup => "adgroup",
            Dimension::Creative => "creative",
            Dimension::Country => "country",
            Dimension::Day => "day",
        }
    }
}

#[derive(Clone, Debug)]
pub struct SummaryQuery {
    /// Multi-touch attribution model for `installs` (`None`: last touch).
    pub attribution_model: Option<Model>,
    pub app_id: AppId,
    /// First report day (app time zone), inclusive.
    pub from_day: Day,
    /// Last report day, inclusive.
    pub to_day: Day,
    pub group_by: Vec<Dimension>,
    pub network: Option<String>,
    pub campaign: Option<String>,
    pub country: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Counts {
    pub reinstalls: u64,
    pub clicks: u64,
    pub impressions: u64,
    pub installs: u64,
    pub organic_installs: u64,
    pub rejected_installs: u64,
    pub reattributions: u64,
    pub reengagements: u64,
    pub sessions: u64,
    pub events: u64,
    pub revenue: f64,
}

impl Counts {
    pub fn add(&mut self, other: &Counts) {
        self.reinstalls += other.reinstalls;
        self.clicks += other.clicks;
        self.impressions += other.impressions;
        self.installs += other.installs;
        self.organic_installs += other.organic_installs;
        self.rejected_installs += other.rejected_installs;
        self.reattributions += other.reattributions;
        self.reengagements += other.reengagements;
        self.sessions += other.sessions;
        self.events += other.events;
        self.revenue += other.revenue;
    }

    /// What one row adds to its rollup.
    pub fn of(row: &EventRow) -> Counts {
        let mut counts = Counts::default();
        match row.kind {
            EventType::Click => counts.clicks = 1,
            EventType::Impression => counts.impressions = 1,
            EventType::Install if row.reinstall => counts.reinstalls = 1,
            EventType::Install => match row.install {
                Some(InstallOutcome::Attributed) if row.reattribution => counts.reattributions = 1,
                Some(InstallOutcome::Attributed) => counts.installs = 1,
                Some(InstallOutcome::Organic) if row.reattribution => counts.reattributions = 1,
                Some(InstallOutcome::Organic) => {
                    counts.installs = 1;
                    counts.organic_installs = 1;
                }
                Some(InstallOutcome::Rejected) => counts.rejected_installs = 1,
                None => {}
            },
            EventType::Open | EventType::Session => {
                counts.sessions = 1;
                if row.reengagement {
                    counts.reengagements = 1;
                }
            }
            EventType::Event => {
                counts.events = 1;
                counts.revenue = row.revenue;
            }
        }
        counts
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SummaryRow {
    pub network: Option<String>,
    pub campaign: Option<String>,
    pub adgroup: Option<String>,
    pub creative: Option<String>,
    pub country: Option<String>,
    pub day: Option<String>,
    pub counts: Counts,
    /// Installs credited under a multi-touch model (fractional), when one was asked for.
    pub credited_installs: Option<f64>,
}

#[derive(Clone, Debug)]
pub struct ExportQuery {
    pub app_id: AppId,
    pub kinds: Vec<EventType>,
    /// First UTC day, inclusive.
    pub from_day: Day,
    /// Last UTC day, inclusive.
    pub to_day: Day,
}

#[derive(Clone, Debug)]
pub struct CohortQuery {
    pub app_id: AppId,
    /// First install day (app time zone), inclusive.
    pub from_day: Day,
    /// Last install day, inclusive.
    pub to_day: Day,
    /// `network`, `campaign` or `country` (or none).
    pub group_by: Option<Dimension>,
    /// Days since install to report (0 is the install day).
    pub days: Vec<u32>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CohortRow {
    pub install_day: Day,
    pub group: Option<String>,
    pub installs: u64,
    /// Per requested day N: users active N days after installing.
    pub retained: Vec<u64>,
    /// Per requested day N: revenue from the cohort up to and including day N.
    pub revenue: Vec<f64>,
}

/// Replaces each summary group's `installs` by the fractional credit a multi-touch model
/// gives it (`credited`: the group's key, in `group_by` order, and its credited installs).
/// Groups with credit but no rollup row are added.
pub(crate) fn merge_credits(
    group_by: &[Dimension],
    rows: &mut Vec<SummaryRow>,
    credited: Vec<(Vec<Option<String>>, f64)>,
) {
    let key_of = |row: &SummaryRow| -> Vec<Option<String>> {
        group_by.iter().map(|d| row.dimension(*d).cloned()).collect()
    };
    for row in rows.iter_mut() {
        row.counts.installs = 0;
        row.credited_installs = Some(0.0);
    }
    for (key, installs) in credited {
        match rows.iter_mut().find(|row| key_of(row) == key) {
            Some(row) => row.credited_installs = Some(installs),
            None => {
                let mut row = SummaryRow::default();
                for (dimension, value) in group_by.iter().zip(key) {
                    row.set_dimension(*dimension, value);
                }
                row.credited_installs = Some(installs);
                rows.push(row);
            }
        }
    }
}

impl SummaryRow {
    pub fn dimension(&self, dimension: Dimension) -> Option<&String> {
        match dimension {
            Dimension::Network => self.network.as_ref(),
            Dimension::Campaign => self.campaign.as_ref(),
            Dimension::Adgroup => self.adgroup.as_ref(),
            Dimension::Creative => self.creative.as_ref(),
            Dimension::Country => self.country.as_ref(),
            Dimension::Day => self.day.as_ref(),
        }
    }

    pub fn set_dimension(&mut self, dimension: Dimension, value: Option<String>) {
        match dimension {
            Dimension::Network => self.network = value,
            Dimension::Campaign => self.campaign = value,
            Dimension::Adgroup => self.adgroup = value,
            Dimension::Creative => self.creative = value,
            Dimension::Country => self.country = value,
            Dimension::Day => self.day = value,
        }
    }
}

pub(crate) fn install_name(outcome: Option<InstallOutcome>) -> Option<&'static str> {
    outcome.map(InstallOutcome::as_str)
}

pub(crate) fn parse_install(raw: Option<&str>) -> Option<InstallOutcome> {
    raw.and_then(|text| text.parse().ok())
}
