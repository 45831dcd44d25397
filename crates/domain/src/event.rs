//! Events as collected: what SDKs and servers send (`IncomingEvent`), the checks they pass,
//! and the record that enters the event log (`LoggedEvent`), the same for SDK events, S2S
//! events, clicks and impressions.
//!
//! Log records are encoded with postcard (compact, fast); their types therefore use no
//! `skip_serializing_if` and no untyped JSON values (properties travel as JSON text).

use crate::ids::{AppId, OrgId};
use serde::{Deserialize, Serialize};

/// The kind of an event: an app lifecycle event or in-app event sent by an SDK or server, or
/// a touchpoint (click or impression).
///
/// Serialized in lowercase (`install`, `open`, `session`, `event`, `click`, `impression`),
/// the same text as [`EventType::as_str`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum EventType {
    /// The app's first launch after it was installed; the event that attribution decides
    /// (attributed, organic or rejected).
    Install,
    /// A launch of the app, possibly through a deep link; an open through a retargeting link
    /// can count as a re-engagement. Reports count it as a session.
    Open,
    /// A session of use of an installed app, counted in sessions and retention.
    Session,
    /// A named in-app event (`name` is required), e.g. `purchase`, optionally with revenue.
    Event,
    /// A click on an ad: a touchpoint recorded by a tracking link (`/c/…`) or sent
    /// server-to-server.
    Click,
    /// An ad impression: a view-through touchpoint recorded by a tracking link (`/i/…`) or
    /// sent server-to-server.
    Impression,
}

impl EventType {
    /// The type's text form, as sent in an event's `type` field and stored: `install`,
    /// `open`, `session`, `event`, `click` or `impression`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Install => "install",
            EventType::Open => "open",
            EventType::Session => "session",
            EventType::Event => "event",
            EventType::Click => "click",
            EventType::Impression => "impression",
        }
    }

    /// Parses the text form written by [`EventType::as_str`] (exact, lower case); `None` for
    /// anything else.
    pub fn parse(raw: &str) -> Option<Self> {
        EventType::ALL.iter().copied().find(|kind| kind.as_str() == raw)
    }

    /// Every event type, in declaration order.
    pub const ALL: [EventType; 6] = [
        EventType::Install,
        EventType::Open,
        EventType::Session,
        EventType::Event,
        EventType::Click,
        EventType::Impression,
    ];

    /// Whether this is a touchpoint (a click or an impression) rather than an app event.
    /// Touchpoints are accepted from tracking links and server-to-server only, and need a
    /// `link_id`.
    pub fn is_touch(self) -> bool {
        matches!(self, EventType::Click | EventType::Impression)
    }
}

/// Device facts as sent by the SDK (or the server, for S2S).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Device {
    /// Google advertising id (Android), at most 128 characters. All-zero and
    /// other placeholder values are kept but never match.
    #[serde(default)]
    pub gaid: Option<String>,
    /// Apple identifier for advertisers (IDFA, iOS), at most 128 characters;
    /// the all-zero value sent without tracking consent is a placeholder.
    #[serde(default)]
    pub idfa: Option<String>,
    /// Apple identifier for vendor (IDFV, iOS): the same for all of one vendor's apps on
    /// the device. At most 128 characters.
    #[serde(default)]
    pub idfv: Option<String>,
    /// The device's IP address, IPv4 or IPv6; validation rewrites it in canonical form
    /// and refuses anything that is not an address. Used
    /// for probabilistic matching and click-flood counting.
    #[serde(default)]
    pub ip: Option<String>,
    /// The device's HTTP user agent, used with the IP for probabilistic matching. Cut to
    /// 1 024 characters when longer.
    #[serde(default)]
    pub user_agent: Option<String>,
    /// The operating system's name as the sender reports it, e.g. `Android` or `iOS`. Cut to
    /// 1 024 characters when longer.
    #[serde(default)]
    pub os: Option<String>,
    /// The operating system's version, e.g. `14` or `17.4.1`. Cut to
    /// 1 024 characters when longer.
    #[serde(default)]
    pub os_version: Option<String>,
    /// The device model, e.g. `Pixel 8` or `iPhone15,2`. Cut to 1 024
    /// characters when longer.
    #[serde(default)]
    pub model: Option<String>,
    /// The device's locale as reported, e.g. `en_US`. Cut to 1 024
    /// characters when longer.
    #[serde(default)]
    pub locale: Option<String>,
    /// The device's country as a two-letter ISO 3166-1 alpha-2 code; validation refuses
    /// any other shape and stores it upper-cased (`DE`).
    #[serde(default)]
    pub country: Option<String>,
    /// An id the SDK generates at first launch and keeps while the app is installed
    /// (app-scoped). It identifies the device when no advertising id is available.
    #[serde(default)]
    pub install_id: Option<String>,
}

/// A placeholder identifier (empty, all zeros, `unknown`, …) identifies nobody and never
/// matches anything.
pub fn is_placeholder_id(value: &str) -> bool {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return true;
    }
    let lower = trimmed.to_ascii_lowercase();
    if matches!(lower.as_str(), "unknown" | "null" | "none" | "undefined" | "n/a" | "-") {
        return true;
    }
    trimmed.chars().all(|c| c == '0' || c == '-')
}

impl Device {
    /// The first real device identifier, as `kind:value` (`gaid:…`, `idfa:…`, `idfv:…`,
    /// `install_id:…`), normalised to lower case. `None` when the device sent none: the
    /// event is still counted, it just cannot be tied to a device.
    pub fn primary_id(&self) -> Option<String> {
        self.identifiers().into_iter().next()
    }

    /// The identifier fields, strongest first: advertising ids, the vendor id, then the
    /// SDK's installation id.
    pub fn identifier_fields(&self) -> [(&'static str, Option<&str>); 4] {
        [
            ("gaid", self.gaid.as_deref()),
            ("idfa", self.idfa.as_deref()),
            ("idfv", self.idfv.as_deref()),
            ("install_id", self.install_id.as_deref()),
        ]
    }

    /// Every real identifier as `kind:value`, strongest first (placeholders left out).
    pub fn identifiers(&self) -> Vec<String> {
        let mut ids = Vec::new();
        for (kind, value) in self.identifier_fields() {
            if let Some(value) = value
                && !is_placeholder_id(value)
            {
                ids.push(format!("{kind}:{}", value.trim().to_ascii_lowercase()));
            }
        }
        ids
    }
}

/// A revenue amount reported with an event, in the currency it was earned in (reports convert
/// it to the app's currency).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Money {
    /// The amount in major units of `currency` (`4.99` is 4.99 EUR, not cents). It must be
    /// finite and at most 10¹² in absolute value; negative amounts are accepted.
    pub amount: f64,
    /// ISO 4217, e.g. `EUR`.
    pub currency: String,
}

/// The tracking link a touchpoint (or a deep-link open) came through, denormalised into the
/// record so that consumers need no lookup.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkRef {
    /// The tracking link's id (a [`crate::LinkId`] as text).
    pub link_id: String,
    /// The ad network the link was made for; reports and postbacks are grouped by it.
    pub network: String,
    /// The campaign name set on the link.
    pub campaign: String,
    /// The ad group (ad set) name set on the link, below the campaign.
    pub adgroup: String,
    /// The creative (ad) name set on the link, below the ad group.
    pub creative: String,
    /// Whether this is a retargeting link: its touchpoints and opens aim at users who already
    /// have the app, so an open through it can count as a re-engagement.
    pub retargeting: bool,
}

/// Which path an event entered by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Source {
    /// Sent by the app's SDK to `/v1/events` with an app token. The device's IP and user
    /// agent in the event body are not trusted on this path and are dropped.
    Sdk,
    /// Sent server-to-server to `/v1/s2s/events`, signed with an S2S key of the app; the
    /// only request body that may carry clicks and impressions.
    S2s,
    /// A click or impression recorded by `/c/…` or `/i/…`.
    TrackingLink,
}

/// An accepted event, click or impression, as it travels through the event log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoggedEvent {
    /// The client's event id (or, for clicks recorded by a tracking link, the click id).
    pub id: String,
    /// The organization that owns the app.
    pub org_id: OrgId,
    /// The app the event belongs to.
    pub app_id: AppId,
    /// What kind of event it is.
    pub kind: EventType,
    /// The event's name, trimmed and non-empty (always present for [`EventType::Event`],
    /// e.g. `purchase`); at most [`MAX_NAME_CHARS`] characters.
    pub name: Option<String>,
    /// When it happened (client clock), ms since the epoch.
    pub timestamp_ms: i64,
    /// When the server accepted it, ms since the epoch.
    pub received_ms: i64,
    /// Which path the event entered by.
    pub source: Source,
    /// The device facts as checked (IP canonical, country upper-cased, descriptive text
    /// possibly cut).
    pub device: Device,
    /// For installs and opens: the click id from the install referrer or deep link.
    pub click_id: Option<String>,
    /// The tracking link the event came through: always set for touchpoints, and for other
    /// events sent with a `link_id` (e.g. a deep-link open).
    pub link: Option<LinkRef>,
    /// The ad network's own click id, passed as `network_click_id` on a click link and
    /// echoed back in postbacks; `None` for events other than tracking-link touchpoints.
    pub network_click_id: Option<String>,
    /// The free sub-parameters `sub1` to `sub5` of a tracking-link touchpoint, in order
    /// (`subs[0]` is `sub1`; `None` where not given); empty for events other than
    /// tracking-link touchpoints.
    pub subs: Vec<Option<String>>,
    /// Revenue reported with the event, currency upper-cased and checked against the known
    /// ISO 4217 codes.
    pub revenue: Option<Money>,
    /// A JSON object, as text.
    pub properties: Option<String>,
    /// The trace of the request that accepted the event, when it was traced and sampled
    /// (OpenTelemetry): the pipeline's batch span and the event's postbacks continue it. Not
    /// part of the event's own layout: a traced event is written as its own log variant.
    #[serde(skip)]
    pub trace: Option<crate::trace::TraceContext>,
}

impl LoggedEvent {
    /// Strips what could identify the device or its user, for a device that opted out: its
    /// identifiers, IP, user agent, model and locale, the click ids and the custom
    /// properties. What stays is what an anonymous count needs: the kind, name and time, the
    /// revenue, the tracking link (campaign facts), and the device's OS and country.
    pub fn anonymize(&mut self) {
        let device = std::mem::take(&mut self.device);
        self.device = Device {
            os: device.os,
            os_version: device.os_version,
            country: device.country,
            ..Device::default()
        };
        self.click_id = None;
        self.network_click_id = None;
        self.properties = None;
    }

    /// The key that makes a re-sent event recognisable: unique per app.
    pub fn dedup_key(&self) -> String {
        format!("{}:{}", self.app_id, self.id)
    }
}

/// An event that failed its checks, kept for inspection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuarantinedEvent {
    /// The organization that owns the app the event was sent for.
    pub org_id: OrgId,
    /// The app the event was sent for.
    pub app_id: AppId,
    /// When the server received the request, in milliseconds since the Unix epoch.
    pub received_ms: i64,
    /// Position in the request's `events` array.
    pub index: u32,
    /// The event's `id` as sent, when one could be read from it (`None` for an event that is
    /// not a JSON object, is too large or has no string `id`).
    pub event_id: Option<String>,
    /// The stable rejection code (see [`Rejection::code`]), e.g. `invalid_timestamp`.
    pub code: String,
    /// The human-readable reason, naming the field (see [`Rejection::message`]).
    pub message: String,
    /// The event as sent (JSON text, truncated to 32 KiB).
    pub raw: String,
}

/// One record of the event log. (Records are short-lived values between decoding and
/// storing; boxing the larger variant would only add an allocation per record.)
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[allow(clippy::large_enum_variant)]
pub enum LogRecord {
    /// An accepted event, click or impression.
    Event(LoggedEvent),
    /// An event refused by its checks, kept for inspection.
    Quarantined(QuarantinedEvent),
    /// A request to erase a device's data or a deleted app's events, carried out by the
    /// worker that owns the app when it reaches this point of the log.
    Erasure(crate::erasure::Erasure),
    /// A device opting out of tracking (see [`crate::erasure::OptOut`]).
    OptOut(crate::erasure::OptOut),
}

/// The log's wire format: a postcard enum whose variant index says the record's layout.
/// Variants are only ever added, so a log written by an older release stays readable:
/// 0 is an event from before `device.install_id` (release 1.0), 1 a quarantined event, 2 the
/// current event layout, 3 an erasure request, 4 an opt-out, 5 an event with the trace
/// context of the request that accepted it (only written when tracing is on and the request
/// was sampled, so a log without tracing stays readable by the previous release).
#[derive(Deserialize)]
enum Wire {
    EventV0(legacy::LoggedEventV0),
    Quarantined(QuarantinedEvent),
    Event(LoggedEvent),
    Erasure(crate::erasure::Erasure),
    OptOut(crate::erasure::OptOut),
    TracedEvent(LoggedEvent, crate::trace::TraceContext),
}

/// [`Wire`] borrowed, for encoding without a copy (same variants, same order). An event
/// without what the newer layout added (`device.install_id`) is written in the 1.0 layout,
/// so that workers of the previous release still read what new ingest nodes append during a
/// rolling upgrade.
#[derive(Serialize)]
enum WireRef<'a> {
    EventV0(legacy::LoggedEventV0Ref<'a>),
    Quarantined(&'a QuarantinedEvent),
    Event(&'a LoggedEvent),
    Erasure(&'a crate::erasure::Erasure),
    OptOut(&'a crate::erasure::OptOut),
    TracedEvent(&'a LoggedEvent, &'a crate::trace::TraceContext),
}

mod legacy;

impl LogRecord {
    /// The record in the log's wire format (see [`Wire`]). Fails only if serialisation
    /// does — a bug, reported as such, never an empty record.
    pub fn encode(&self) -> Result<Vec<u8>, postcard::Error> {
        let wire = match self {
            LogRecord::Event(event) => match (&event.trace, legacy::as_v0(event)) {
                (Some(trace), _) => WireRef::TracedEvent(event, trace),
                (None, Some(v0)) => WireRef::EventV0(v0),
                (None, None) => WireRef::Event(event),
            },
            LogRecord::Quarantined(rejected) => WireRef::Quarantined(rejected),
            LogRecord::Erasure(erasure) => WireRef::Erasure(erasure),
            LogRecord::OptOut(opt_out) => WireRef::OptOut(opt_out),
        };
        postcard::to_allocvec(&wire)
    }

    /// Reads a record of this release or of an earlier one.
    pub fn decode(bytes: &[u8]) -> Result<Self, postcard::Error> {
        Ok(match postcard::from_bytes(bytes)? {
            Wire::EventV0(old) => LogRecord::Event(old.into()),
            Wire::Quarantined(rejected) => LogRecord::Quarantined(rejected),
            Wire::Event(event) => LogRecord::Event(event),
            Wire::Erasure(erasure) => LogRecord::Erasure(erasure),
            Wire::OptOut(opt_out) => LogRecord::OptOut(opt_out),
            Wire::TracedEvent(mut event, trace) => {
                event.trace = Some(trace);
                LogRecord::Event(event)
            }
        })
    }

    /// The app the record belongs to, whichever its kind (all of an app's records go to
    /// one log partition, see [`crate::hash::partition_of`]).
    pub fn app_id(&self) -> &AppId {
        match self {
            LogRecord::Event(event) => &event.app_id,
            LogRecord::Quarantined(rejected) => &rejected.app_id,
            LogRecord::Erasure(erasure) => &erasure.app_id,
            LogRecord::OptOut(opt_out) => &opt_out.app_id,
        }
    }
}

mod check;
pub use check::{
    CheckContext, Checked, IncomingEvent, MAX_DESCRIPTIVE_CHARS, MAX_ID_CHARS, MAX_NAME_CHARS,
    Rejection, check_event, truncate_descriptive,
};

#[cfg(test)]
mod tests;
