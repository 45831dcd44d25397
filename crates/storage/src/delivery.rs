//! Postback deliveries as the store queues them: the calls made or to be made, and how an
//! attempt ended.

use unmogrowp_domain::OrgId;
use unmogrowp_domain::time::UnixMillis;

/// One postback call, made or to be made: the filled-in URL and the state of its attempts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// The delivery's id (a UUIDv7 string).
    pub id: String,
    /// The organization that owns the app.
    pub org_id: OrgId,
    /// The app whose event triggered it.
    pub app_id: unmogrowp_domain::AppId,
    /// The postback it was made from.
    pub postback_id: String,
    /// The URL to call, with the template's macros filled in.
    pub url: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    /// How many attempts were made so far (postponed ones do not count).
    pub attempts: i64,
    /// The error of the latest failed attempt, if any.
    pub last_error: Option<String>,
    /// When the next attempt is due, in milliseconds since the Unix epoch; while a sender has
    /// claimed the delivery, the end of its lease.
    pub next_attempt_at: UnixMillis,
    /// When the delivery was enqueued, in milliseconds since the Unix epoch.
    pub created_at: UnixMillis,
    /// When its state last changed, in milliseconds since the Unix epoch.
    pub updated_at: UnixMillis,
    /// The W3C `traceparent` of the request whose event triggered it, when that request was
    /// traced: the call continues the trace.
    pub traceparent: Option<String>,
}

/// A delivery to enqueue with
/// [`Credentials::enqueue_deliveries`](crate::Credentials::enqueue_deliveries); it starts `pending`
/// and due at once.
#[derive(Clone, Debug)]
pub struct NewDelivery {
    /// The organization that owns the app.
    pub org_id: OrgId,
    /// The app whose event triggered it.
    pub app_id: unmogrowp_domain::AppId,
    /// The postback it is made from.
    pub postback_id: String,
    /// Makes enqueueing idempotent: a delivery whose key was already enqueued is left out. The
    /// pipeline uses `<postback id>:<event id>`.
    pub dedup_key: String,
    /// The URL to call, with the template's macros filled in.
    pub url: String,
    /// The W3C `traceparent` of the request whose event triggers it, when that request was
    /// traced (see [`Delivery::traceparent`]).
    pub traceparent: Option<String>,
}

/// How one delivery attempt ended.
#[derive(Clone, Debug)]
pub enum AttemptOutcome {
    /// The call succeeded: the delivery becomes `delivered`.
    Delivered,
    /// Try again at the given time.
    Retry {
        /// Why the attempt failed; kept as `last_error`.
        error: String,
        /// When to try again, in milliseconds since the Unix epoch.
        next_attempt_at: UnixMillis,
    },
    /// No more attempts.
    Failed {
        /// Why the last attempt failed; kept as `last_error`.
        error: String,
    },
    /// Not attempted (circuit open): try again later without counting an attempt.
    Postponed {
        /// When to try again, in milliseconds since the Unix epoch.
        next_attempt_at: UnixMillis,
    },
}
