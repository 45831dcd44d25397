//! What collection takes (its settings, where a request came from) and answers.

use serde::{Deserialize, Serialize};

/// An event refused because of its own content. It is not counted or attributed; a copy is
/// kept in the app's quarantine for inspection.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RejectedItem {
    /// Position in `events`.
    pub index: usize,
    /// The event's id as sent, when it could be read (absent when the event is larger than
    /// 32 KiB, is not a JSON object, or has no readable id).
    pub id: Option<String>,
    /// Why the event was refused, as a stable code: `invalid_event`, `invalid_field`,
    /// `invalid_id`, `invalid_type`, `type_not_allowed`, `missing_name`,
    /// `invalid_timestamp`, `timestamp_out_of_range`, `missing_link`, `unknown_link`,
    /// `invalid_revenue` or `event_too_large`.
    pub code: String,
    /// A readable explanation that names the field at fault, e.g. `name: is required for
    /// events of type event`.
    pub message: String,
}

/// An accepted event whose descriptive text was cut to 1 024 characters.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TruncatedItem {
    /// Position in `events`.
    pub index: usize,
    /// The event's id, without surrounding spaces.
    pub id: String,
    /// The fields that were cut, e.g. `device.user_agent`, `properties`.
    pub fields: Vec<&'static str>,
}

/// The outcome of a collection request. Events are judged one by one: the request succeeds
/// when the batch as a whole could be taken, even if some of its events were refused.
/// Every event of the request is counted in exactly one of accepted, duplicates and
/// rejected.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IngestResponse {
    /// Events stored durably by this request.
    pub accepted: usize,
    /// Events whose id was seen before and whose first copy is durable (counted once).
    pub duplicates: usize,
    /// Events refused because of their own content, in request order (empty when none).
    pub rejected: Vec<RejectedItem>,
    /// Accepted events with descriptive text cut to the documented limit (absent when none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub truncated: Vec<TruncatedItem>,
}

/// Where a collection request came from: the connection's address and user agent (SDK
/// events always take these; S2S events may report the device's own).
#[derive(Clone, Copy, Debug)]
pub struct Client<'a> {
    /// The client's address (the peer, or the forwarded address behind a trusted proxy).
    pub ip: std::net::IpAddr,
    /// The `User-Agent` header, at most 1 024 characters.
    pub user_agent: &'a str,
    /// The header was longer and has been cut.
    pub user_agent_truncated: bool,
}

/// Collection limits (the server's `ingest` section). Every field has a default: events up
/// to 30 days old and 5 minutes ahead, 503 beyond 5 000 000 records of lag or (embedded
/// log only) 4 096 waiting appends, no per-organization quota (burst 100 000 events when
/// one is set), re-sent ids recognised for 7 days. Unknown fields are refused.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    /// Oldest event timestamp accepted, in days before now.
    pub max_event_age_days: u32,
    /// Latest event timestamp accepted, in minutes after now.
    pub max_future_minutes: u32,
    /// Records the workers may fall behind the log before ingestion answers 503.
    pub max_lag_records: u64,
    /// Appends allowed to wait for the log writer before ingestion answers 503.
    pub queue_capacity: usize,
    /// Events per second one organization may send (0: no limit); beyond, 429.
    pub org_events_per_second: u32,
    /// Burst allowed above that rate, in events.
    pub org_events_burst: u32,
    /// Events per second one app may send (0: no limit); beyond, 429. Shared by every node
    /// through Redis like the organization's quota.
    pub app_events_per_second: u32,
    /// Burst allowed above the app's rate, in events.
    pub app_events_burst: u32,
    /// How long a re-sent event id is recognised.
    pub dedup_window_days: u32,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            max_event_age_days: 30,
            max_future_minutes: 5,
            max_lag_records: 5_000_000,
            queue_capacity: 4096,
            org_events_per_second: 0,
            org_events_burst: 100_000,
            app_events_per_second: 0,
            app_events_burst: 100_000,
            dedup_window_days: 7,
        }
    }
}
