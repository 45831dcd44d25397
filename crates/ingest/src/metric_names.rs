//! The names of the metrics this crate records, in one place, with what each measures.
//! [`describe`] registers the descriptions, shown as `# HELP` on `/metrics`.

/// Collection requests refused with 503 because the workers are too far behind.
pub const INGEST_BACKPRESSURE_TOTAL: &str = "ingest_backpressure_total";
/// Events accepted and appended to the log.
pub const INGEST_EVENTS_ACCEPTED_TOTAL: &str = "ingest_events_accepted_total";
/// Events answered as duplicates of ones already accepted.
pub const INGEST_EVENTS_DUPLICATE_TOTAL: &str = "ingest_events_duplicate_total";
/// Events that failed their checks (quarantined).
pub const INGEST_EVENTS_REJECTED_TOTAL: &str = "ingest_events_rejected_total";
/// Accepted events whose descriptive text was cut to the limit.
pub const INGEST_EVENTS_TRUNCATED_TOTAL: &str = "ingest_events_truncated_total";
/// Opt-outs recorded by `POST /v1/opt-out`.
pub const INGEST_OPT_OUTS_TOTAL: &str = "ingest_opt_outs_total";
/// Collection requests refused because the log queue was full.
pub const INGEST_OVERLOADED_TOTAL: &str = "ingest_overloaded_total";
/// Collection requests refused by an app rate limit.
pub const INGEST_QUOTA_EXCEEDED_TOTAL: &str = "ingest_quota_exceeded_total";
/// Events answered per organization (top N by id, the rest `other`), by outcome.
pub const TENANT_EVENTS_TOTAL: &str = "tenant_events_total";
/// Clicks and impressions recorded by tracking links.
pub const INGEST_TOUCHES_TOTAL: &str = "ingest_touches_total";

/// Registers every metric's description with the installed recorder.
pub fn describe() {
    metrics::describe_counter!(
        TENANT_EVENTS_TOTAL,
        "Events answered per organization (the busiest by id, the rest other), by outcome."
    );
    metrics::describe_counter!(INGEST_OPT_OUTS_TOTAL, "Opt-outs recorded by `POST /v1/opt-out`.");
    metrics::describe_counter!(
        INGEST_BACKPRESSURE_TOTAL,
        "Collection requests refused with 503 because the workers are too far behind."
    );
    metrics::describe_counter!(
        INGEST_EVENTS_ACCEPTED_TOTAL,
        "Events accepted and appended to the log."
    );
    metrics::describe_counter!(
        INGEST_EVENTS_DUPLICATE_TOTAL,
        "Events answered as duplicates of ones already accepted."
    );
    metrics::describe_counter!(
        INGEST_EVENTS_REJECTED_TOTAL,
        "Events that failed their checks (quarantined)."
    );
    metrics::describe_counter!(
        INGEST_EVENTS_TRUNCATED_TOTAL,
        "Accepted events whose descriptive text was cut to the limit."
    );
    metrics::describe_counter!(
        INGEST_OVERLOADED_TOTAL,
        "Collection requests refused because the log queue was full."
    );
    metrics::describe_counter!(
        INGEST_QUOTA_EXCEEDED_TOTAL,
        "Collection requests refused by an app rate limit."
    );
    metrics::describe_counter!(
        INGEST_TOUCHES_TOTAL,
        "Clicks and impressions recorded by tracking links."
    );
}
