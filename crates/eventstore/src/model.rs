//! What the store stores and answers.

use serde::Serialize;
use unmogrowp_domain::event::EventType;
use unmogrowp_domain::{AppId, Day, OrgId};

/// The network that organic installs (and everything credited to them) report under.
pub const ORGANIC: &str = "organic";

/// Where a row is credited in reports: the touchpoint's link, or organic.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Dims {
    /// The ad network of the tracking link credited, or [`ORGANIC`].
    pub network: String,
    /// The campaign name set on the link (empty for organic).
    pub campaign: String,
    /// The ad group (ad set) name set on the link, below the campaign (empty for organic).
    pub adgroup: String,
    /// The creative (ad) name set on the link, below the ad group (empty for organic).
    pub creative: String,
    /// The device's country as an upper-case ISO 3166-1 alpha-2 code (`DE`); empty when unknown.
    pub country: String,
}

impl Dims {
    /// Organic credit in `country`: network [`ORGANIC`], empty campaign, ad group and creative.
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
    /// The app the row belongs to (an app id as text).
    pub app_id: AppId,
    /// The organization that owns the app.
    pub org_id: OrgId,
    /// The sender's event id (for a click recorded by a tracking link, the click id), unique
    /// per app. A re-sent row is recognised by app and id, plus `timestamp_ms` for rows other
    /// than installs.
    pub id: String,
    /// Install, open, session, in-app event, click or impression.
    pub kind: EventType,
    /// The in-app event's name, e.g. `purchase` (always set for `event` rows).
    pub name: Option<String>,
    /// When it happened (the sender's clock), in milliseconds since the Unix epoch. Its UTC day
    /// is the raw partition the row is stored in.
    pub timestamp_ms: i64,
    /// When the server accepted it, in milliseconds since the Unix epoch.
    pub received_ms: i64,
    /// The report day in the app's time zone.
    pub day: Day,
    /// The device's first real identifier as `kind:value` (`gaid:…`, `idfa:…`, `idfv:…`,
    /// `install_id:…`), lower case; `None` when the device sent none. Ties the row to a device
    /// for retention and re-attribution.
    pub device_id: Option<String>,
    /// The Google advertising id (Android) as sent.
    pub gaid: Option<String>,
    /// Apple's identifier for advertisers (IDFA, iOS) as sent.
    pub idfa: Option<String>,
    /// Apple's identifier for vendor (IDFV, iOS) as sent.
    pub idfv: Option<String>,
    /// The device's IP address (IPv4 or IPv6, canonical form), when known.
    pub ip: Option<String>,
    /// The device's HTTP user agent, when known.
    pub user_agent: Option<String>,
    /// The operating system's name as reported, e.g. `Android` or `iOS`.
    pub os: Option<String>,
    /// The operating system's version as reported, e.g. `17.4.1`.
    pub os_version: Option<String>,
    /// The device's model (`device.model` as sent), not an attribution model.
    #[serde(rename = "model")]
    pub device_model: Option<String>,
    /// The device's locale as reported, e.g. `en_US`.
    pub locale: Option<String>,
    /// For installs and opens: the click id from the install referrer or deep link.
    pub click_id: Option<String>,
    /// The tracking link the row came through: always set for clicks and impressions, and for
    /// other events sent with a link (e.g. a deep-link open).
    pub link_id: Option<String>,
    /// The ad network's own click id, passed on a click link and echoed back in postbacks;
    /// `None` except for tracking-link touchpoints.
    pub network_click_id: Option<String>,
    /// The tracking link's free sub-parameters `sub1` to `sub5`, in order (`None` where not
    /// given); empty except for tracking-link touchpoints.
    pub subs: Vec<Option<String>>,
    /// Where the row is credited in reports: a touchpoint's own link; for an install, its
    /// winning touchpoint's link or organic; for later app events, the source attribution
    /// credits them to (organic when none).
    pub dims: Dims,
    /// The revenue amount as sent, in `revenue_currency`.
    pub revenue_amount: Option<f64>,
    /// The currency of the revenue as sent (upper-case ISO 4217 code).
    pub revenue_currency: Option<String>,
    /// Revenue in the app's currency.
    pub revenue: f64,
    /// The event's custom properties: a JSON object as text.
    pub properties: Option<String>,
    /// For installs: how attribution decided (none until decided).
    pub install: Option<InstallOutcome>,
    /// For installs: a device seen installing before, past the re-attribution window, and
    /// attributed afresh (a re-attribution, not a new install).
    pub reattribution: bool,
    /// For opens: an open through a retargeting link that counts as a re-engagement.
    pub reengagement: bool,
    /// A re-install inside the re-attribution window (not a new install).
    pub reinstall: bool,
    /// Why a fraud rule rejected (installs) or flagged (clicks) this row.
    pub fraud_reason: Option<FraudReason>,
}

/// The attribution decision of an install.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AttributionRow {
    /// The app of the install.
    pub app_id: AppId,
    /// The install's event id (its row's `id`).
    pub event_id: String,
    /// The install's report day (app time zone).
    pub day: Day,
    /// The install's device identifier as `kind:value` (see [`EventRow::device_id`]); `None`
    /// when the device sent none.
    pub device_id: Option<String>,
    /// Attributed, organic or rejected.
    pub status: InstallStatus,
    /// The rule that found the winning touchpoint (click id, device id, probabilistic,
    /// view-through); `None` when none qualified. A re-install keeps its original install's.
    pub match_type: Option<MatchType>,
    /// The winning touchpoint's id (for a click-injection rejection, the offending click);
    /// `None` when no touchpoint won. A re-install keeps its original install's.
    pub touch_id: Option<String>,
    /// Whether the winning touchpoint is a click or an impression.
    pub touch_kind: Option<TouchKind>,
    /// When the winning touchpoint happened, in milliseconds since the Unix epoch.
    pub touch_at_ms: Option<i64>,
    /// The tracking link of the winning touchpoint, when its source is known.
    pub link_id: Option<String>,
    /// Where the install is credited in reports: the winning touchpoint's link, or organic.
    pub dims: Dims,
    /// The fraud rule that rejected the install (`click_injection`, `blocked_ip`); `None`
    /// unless the status is rejected.
    pub rejection_reason: Option<RejectionReason>,
    /// A device seen installing before, past the re-attribution window, and attributed afresh.
    pub reattribution: bool,
    /// A device installing again inside the re-attribution window: not a new install; it keeps
    /// its original source.
    pub reinstall: bool,
    /// The install's event time (its row's `timestamp_ms`), in milliseconds since the Unix
    /// epoch.
    pub install_at_ms: i64,
    /// When the install was decided: its receipt time (its row's `received_ms`), in
    /// milliseconds since the Unix epoch. The first decision stored for an install is kept.
    pub decided_at_ms: i64,
}

/// A share of an install credited to a source under a multi-touch model.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CreditRow {
    /// The app of the install.
    pub app_id: AppId,
    /// The install it is a share of (applied only when that install is stored anew).
    pub event_id: String,
    /// The install's report day (app time zone).
    pub day: Day,
    /// The source credited with this share: a contributing touchpoint's link (organic, with
    /// the whole install, for an organic install or one without contributors).
    pub dims: Dims,
    /// The multi-touch model the share is computed under.
    #[serde(rename = "model")]
    pub attribution_model: Model,
    /// The share of one install, above 0 and at most 1; an install's shares under one model
    /// normally add up to 1.
    pub installs: f64,
}

/// One line of the fraud report (see [`EventStore::fraud`](crate::EventStore::fraud)): how
/// many installs a fraud rule rejected, or clicks it flagged, for one reason and network over
/// the requested report days. Rows come ordered by kind (`click` before `install`), reason and
/// network.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FraudRow {
    /// Why the installs were rejected or the clicks flagged; [`FraudReason::kind`] tells
    /// which.
    pub reason: FraudReason,
    /// The network the installs or clicks are credited to: a rejected install's winning
    /// touchpoint's (`organic` when none won), a flagged click's own; empty when unknown.
    pub network: String,
    /// How many installs were rejected or clicks flagged (each [`FraudHit`] counts one).
    pub count: u64,
}

/// An event that failed ingestion's checks, kept for inspection (see
/// [`EventStore::quarantined`](crate::EventStore::quarantined)).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct QuarantinedRow {
    /// The app the event was sent for.
    pub app_id: AppId,
    /// When the server received the request, in milliseconds since the Unix epoch.
    pub received_ms: i64,
    /// The event's position in the request's `events` array, from 0.
    pub index: u32,
    /// The event's `id` as sent, when one could be read from it.
    pub event_id: Option<String>,
    /// The stable rejection code, e.g. `invalid_timestamp`.
    pub code: String,
    /// The human-readable reason, naming the field.
    pub message: String,
    /// The event as sent (JSON text, truncated to 32 KiB).
    pub raw: String,
}

/// A fraud signal that is not a row's own: a click reported `install_before_click` when an
/// install carrying its id (and stamped before it) is decided. Counted in the fraud report
/// only when that install is stored anew (so a replay counts it once).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FraudHit {
    /// The app of the install and the flagged click.
    pub app_id: AppId,
    /// The install whose decision raised it.
    pub event_id: String,
    /// The install's report day.
    pub day: Day,
    /// Why the click is flagged (or the install rejected).
    pub reason: FraudReason,
    /// The flagged click's network (empty when its link is unknown).
    pub network: String,
}

/// What the pipeline hands the store at once.
#[derive(Clone, Debug, Default)]
pub struct Batch {
    /// The accepted events, clicks and impressions, enriched (report day, revenue in the app's
    /// currency, credited source) and with attribution's outcome set. Rows stored before are
    /// skipped.
    pub rows: Vec<EventRow>,
    /// Events the log carries as quarantined (they failed ingestion's checks).
    pub quarantined: Vec<QuarantinedRow>,
    /// The install decisions for the batch's installs. The first decision stored for an install
    /// is kept; a later one for the same install changes nothing.
    pub attributions: Vec<AttributionRow>,
    /// Multi-touch credit shares of the batch's installs, applied only for installs stored
    /// anew.
    pub credits: Vec<CreditRow>,
    /// Fraud signals raised by the batch's install decisions that no row carries, counted only
    /// for installs stored anew.
    pub fraud: Vec<FraudHit>,
    /// The highest log offset in the batch (rows are stamped with it).
    pub last_offset: u64,
    /// The log partitions the batch reads from and the offset it ends at in each, recorded
    /// with the data. Empty for a log of one partition: partition 0 at `last_offset`.
    pub positions: Vec<(u16, u64)>,
    /// Erasures the batch's records asked for, carried out on what earlier batches stored
    /// *before* this batch's rows are stored (the pipeline takes the batch's own rows that
    /// came before the request out of `rows`; those after it stay), and recorded, so a batch
    /// applied again does not repeat them (see [`crate::EventStore::erasure`]).
    pub erasures: Vec<unmogrowp_domain::erasure::Erasure>,
    /// Devices that opted out in the batch's records, kept for good (see
    /// [`crate::EventStore::opt_outs`]).
    pub opt_outs: Vec<unmogrowp_domain::erasure::OptOut>,
}

impl Batch {
    /// Where the batch ends, per partition (see [`Batch::positions`]).
    pub fn ends(&self) -> Vec<(u16, u64)> {
        if self.positions.is_empty() { vec![(0, self.last_offset)] } else { self.positions.clone() }
    }
}

/// A carried-out erasure, as [`crate::EventStore::erasure`] reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ErasureReport {
    /// Raw rows removed (events, clicks, impressions).
    pub rows: u64,
    /// When the store finished it, in milliseconds since the Unix epoch.
    pub completed_ms: i64,
}

/// What applying a batch did with its rows (`batch.rows` only: quarantined rows, decisions
/// and credits are not counted).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ApplyOutcome {
    /// Rows stored anew (and counted in the rollups).
    pub stored: u64,
    /// Rows skipped: already stored, repeated within the batch, or, on ClickHouse, the whole
    /// batch when its positions show it was applied already.
    pub duplicates: u64,
}

/// A report dimension: summaries group by any of them, cohorts by network, campaign or
/// country. Its text form ([`Dimension::parse`], [`Dimension::column`]) is also its column
/// in the rollups.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dimension {
    /// The ad network (`organic` for organic rows).
    Network,
    /// The campaign name set on the tracking link.
    Campaign,
    /// The ad group (ad set) name set on the tracking link.
    Adgroup,
    /// The creative (ad) name set on the tracking link.
    Creative,
    /// The device's country (upper-case ISO 3166-1 alpha-2 code).
    Country,
    /// The report day (app time zone).
    Day,
}

impl Dimension {
    /// The dimension named `raw`: `network`, `campaign`, `adgroup`, `creative`, `country` or
    /// `day` (exact, lower case); `None` for anything else.
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

    /// The dimension's text form, which is also its column name in the rollups: `network`,
    /// `campaign`, `adgroup`, `creative`, `country` or `day`.
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

/// A summary report request: one app's rollups over a range of report days, filtered and
/// grouped (see [`EventStore::summary`](crate::EventStore::summary)).
#[derive(Clone, Debug)]
pub struct SummaryQuery {
    /// Multi-touch attribution model for `installs` (`None`: last touch).
    pub attribution_model: Option<Model>,
    /// The app reported on.
    pub app_id: AppId,
    /// First report day (app time zone), inclusive.
    pub from_day: Day,
    /// Last report day, inclusive.
    pub to_day: Day,
    /// The dimensions to group by; rows come ordered by them, in this order. Empty: one totals
    /// row.
    pub group_by: Vec<Dimension>,
    /// Only rows credited to this network (exact match, e.g. `organic`); `None`: every network.
    pub network: Option<String>,
    /// Only rows credited to this campaign (exact match); `None`: every campaign.
    pub campaign: Option<String>,
    /// Only rows of this country (exact match on the stored upper-case code, e.g. `DE`);
    /// `None`: every country.
    pub country: Option<String>,
}

/// Totals of one rollup row, or a sum of them: rows counted by kind and outcome, and in-app
/// event revenue. A stored row adds to one count at most (see [`Counts::of`]), except that an
/// organic install also counts in `organic_installs` and a re-engagement also in
/// `sessions`; an install without a decision counts nowhere.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Counts {
    /// Installs of a device inside the re-attribution window after its earlier install: not new
    /// installs, whatever their status.
    pub reinstalls: u64,
    /// Clicks, flagged ones included.
    pub clicks: u64,
    /// Impressions.
    pub impressions: u64,
    /// New installs, attributed or organic; re-installs, re-attributions and rejected installs
    /// are counted apart. Zero in a summary asked for a multi-touch model (see
    /// [`SummaryRow::credited_installs`]).
    pub installs: u64,
    /// Of `installs`, those with no qualifying touchpoint.
    pub organic_installs: u64,
    /// Installs refused by a fraud rule (re-installs aside).
    pub rejected_installs: u64,
    /// Installs of a device seen installing before, past the re-attribution window, and
    /// attributed (or organic) afresh.
    pub reattributions: u64,
    /// Opens and sessions that count as re-engagements (also counted in `sessions`).
    pub reengagements: u64,
    /// Opens and sessions.
    pub sessions: u64,
    /// In-app events (`event` rows).
    pub events: u64,
    /// Revenue of the in-app events, in the app's currency.
    pub revenue: f64,
}

impl Counts {
    /// Adds `other`'s counts and revenue to these, field by field.
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

/// One row of a summary report (see [`EventStore::summary`](crate::EventStore::summary)):
/// the values of the dimensions grouped by, and the group's totals.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SummaryRow {
    /// The group's network, when grouped by network (`None` otherwise).
    pub network: Option<String>,
    /// The group's campaign, when grouped by campaign (`None` otherwise).
    pub campaign: Option<String>,
    /// The group's ad group, when grouped by ad group (`None` otherwise).
    pub adgroup: Option<String>,
    /// The group's creative, when grouped by creative (`None` otherwise).
    pub creative: Option<String>,
    /// The group's country code, when grouped by country (`None` otherwise).
    pub country: Option<String>,
    /// The group's report day as `YYYY-MM-DD` (app time zone), when grouped by day (`None`
    /// otherwise).
    pub day: Option<String>,
    /// The group's totals. With a multi-touch model, `installs` is 0 and the installs are in
    /// `credited_installs`.
    pub counts: Counts,
    /// Installs credited under a multi-touch model (fractional), when one was asked for.
    pub credited_installs: Option<f64>,
}

/// An export request: one app's raw rows of some kinds over a range of report days (see
/// [`EventStore::export`](crate::EventStore::export)). The ClickHouse store reads at most 400
/// UTC days, so a longer range is cut short there.
#[derive(Clone, Debug)]
pub struct ExportQuery {
    /// The app whose rows are exported.
    pub app_id: AppId,
    /// The kinds of rows to export, e.g. installs, or clicks and impressions. Give at least
    /// one: with none, SQLite exports nothing.
    pub kinds: Vec<EventType>,
    /// First report day (app time zone), inclusive.
    pub from_day: Day,
    /// Last report day, inclusive.
    pub to_day: Day,
}

impl ExportQuery {
    /// The UTC days whose raw partitions can hold rows of the report-day range: a day either
    /// side, since report days follow the app's time zone (at most a day from UTC).
    pub fn utc_days(&self) -> (Day, Day) {
        (
            self.from_day.shifted(-1).unwrap_or(self.from_day),
            self.to_day.shifted(1).unwrap_or(self.to_day),
        )
    }
}

/// A cohort report request: one app's installs over a range of install days, optionally
/// grouped, with retention and revenue at chosen days since install (see
/// [`EventStore::cohorts`](crate::EventStore::cohorts)).
#[derive(Clone, Debug)]
pub struct CohortQuery {
    /// The app reported on.
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

/// One cohort: the installs of one install day (and group), with retention and cumulative
/// revenue for each requested day N, in the order of [`CohortQuery::days`]. Rows come ordered
/// by install day, then group; days without installs have no row.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CohortRow {
    /// The install day (app time zone).
    pub install_day: Day,
    /// The cohort's network, campaign or country, when the query groups by one; `None`
    /// otherwise.
    pub group: Option<String>,
    /// Installs in the cohort: attributed and organic installs (re-attributions included) that
    /// have a device id; re-installs and rejected installs are left out.
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
    /// The row's value for `dimension`; `None` when the report does not group by it.
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

    /// Sets the row's value for `dimension` (`None` clears it).
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
