//! The names of the metrics this crate records, in one place, with what each measures.
//! [`describe`] registers the descriptions, shown as `# HELP` on `/metrics`.

/// Cache invalidations received from other nodes.
pub const CACHE_INVALIDATIONS_RECEIVED_TOTAL: &str = "cache_invalidations_received_total";
/// Rows streamed by raw-data exports.
pub const EXPORT_ROWS_TOTAL: &str = "export_rows_total";
/// HTTP request latency, by route template and method.
pub const HTTP_REQUEST_DURATION_SECONDS: &str = "http_request_duration_seconds";
/// HTTP requests being answered now.
pub const HTTP_REQUESTS_IN_FLIGHT: &str = "http_requests_in_flight";
/// HTTP requests answered, by route template, method and status.
pub const HTTP_REQUESTS_TOTAL: &str = "http_requests_total";
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
/// Collection requests refused because the log queue was full.
pub const INGEST_OVERLOADED_TOTAL: &str = "ingest_overloaded_total";
/// Collection requests refused by an app rate limit.
pub const INGEST_QUOTA_EXCEEDED_TOTAL: &str = "ingest_quota_exceeded_total";
/// Clicks and impressions recorded by tracking links.
pub const INGEST_TOUCHES_TOTAL: &str = "ingest_touches_total";
/// Open live-feed WebSocket connections.
pub const LIVE_CONNECTIONS: &str = "live_connections";
/// Gap notices sent to live-feed clients that fell behind the broadcast.
pub const LIVE_GAPS_TOTAL: &str = "live_gaps_total";
/// Live-feed clients closed for reading too slowly.
pub const LIVE_SLOW_CLIENTS_TOTAL: &str = "live_slow_clients_total";
/// Login attempts, by outcome.
pub const LOGINS_TOTAL: &str = "logins_total";
/// Password hashing requests refused because the hashing queue was full.
pub const PASSWORD_HASH_REJECTED_TOTAL: &str = "password_hash_rejected_total";
/// Failed Redis operations (the node falls back to its own state).
pub const REDIS_ERRORS_TOTAL: &str = "redis_errors_total";
/// 1 when Redis answers, 0 when it does not.
pub const REDIS_UP: &str = "redis_up";
/// Report cache hits, by level (l1: this node, l2: Redis).
pub const REPORT_CACHE_HITS_TOTAL: &str = "report_cache_hits_total";
/// Reports computed because no cache held them.
pub const REPORT_CACHE_MISSES_TOTAL: &str = "report_cache_misses_total";

/// Registers every metric's description with the installed recorder.
pub fn describe() {
    metrics::describe_counter!(
        CACHE_INVALIDATIONS_RECEIVED_TOTAL,
        "Cache invalidations received from other nodes."
    );
    metrics::describe_counter!(EXPORT_ROWS_TOTAL, "Rows streamed by raw-data exports.");
    metrics::describe_histogram!(
        HTTP_REQUEST_DURATION_SECONDS,
        "HTTP request latency, by route template and method."
    );
    metrics::describe_gauge!(HTTP_REQUESTS_IN_FLIGHT, "HTTP requests being answered now.");
    metrics::describe_counter!(
        HTTP_REQUESTS_TOTAL,
        "HTTP requests answered, by route template, method and status."
    );
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
    metrics::describe_gauge!(LIVE_CONNECTIONS, "Open live-feed WebSocket connections.");
    metrics::describe_counter!(
        LIVE_GAPS_TOTAL,
        "Gap notices sent to live-feed clients that fell behind the broadcast."
    );
    metrics::describe_counter!(
        LIVE_SLOW_CLIENTS_TOTAL,
        "Live-feed clients closed for reading too slowly."
    );
    metrics::describe_counter!(LOGINS_TOTAL, "Login attempts, by outcome.");
    metrics::describe_counter!(
        PASSWORD_HASH_REJECTED_TOTAL,
        "Password hashing requests refused because the hashing queue was full."
    );
    metrics::describe_counter!(
        REDIS_ERRORS_TOTAL,
        "Failed Redis operations (the node falls back to its own state)."
    );
    metrics::describe_gauge!(REDIS_UP, "1 when Redis answers, 0 when it does not.");
    metrics::describe_counter!(
        REPORT_CACHE_HITS_TOTAL,
        "Report cache hits, by level (l1: this node, l2: Redis)."
    );
    metrics::describe_counter!(
        REPORT_CACHE_MISSES_TOTAL,
        "Reports computed because no cache held them."
    );
}
