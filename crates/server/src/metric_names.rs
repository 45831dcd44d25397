//! The names of the metrics this crate records, in one place, with what each measures.
//! [`describe`] registers the descriptions, shown as `# HELP` on `/metrics`.

/// Deleted apps whose erasure the event log did not take (their events stay stored).
pub const ERASURES_NOT_LOGGED_TOTAL: &str = "erasures_not_logged_total";
/// Security events detected, by kind (`credential_stuffing`, `account_attacked`,
/// `unusual_export`).
pub const SECURITY_EVENTS_TOTAL: &str = "security_events_total";
/// Rows streamed by raw-data exports.
pub const EXPORT_ROWS_TOTAL: &str = "export_rows_total";
/// HTTP request latency, by route template and method.
pub const HTTP_REQUEST_DURATION_SECONDS: &str = "http_request_duration_seconds";
/// HTTP requests being answered now.
pub const HTTP_REQUESTS_IN_FLIGHT: &str = "http_requests_in_flight";
/// HTTP requests answered, by route template, method and status.
pub const HTTP_REQUESTS_TOTAL: &str = "http_requests_total";
/// Open live-feed WebSocket connections.
pub const LIVE_CONNECTIONS: &str = "live_connections";
/// Gap notices sent to live-feed clients that fell behind the broadcast.
pub const LIVE_GAPS_TOTAL: &str = "live_gaps_total";
/// Management API requests per organization (the busiest by id, the rest `other`), by status
/// class.
pub const TENANT_API_REQUESTS_TOTAL: &str = "tenant_api_requests_total";
/// Management API latency per organization (the busiest by id, the rest `other`).
pub const TENANT_API_REQUEST_DURATION_SECONDS: &str = "tenant_api_request_duration_seconds";
/// Queries slower than `observability.slow_query_ms`, by store (`events`, `oltp`) and kind.
pub const SLOW_QUERIES_TOTAL: &str = "slow_queries_total";
/// Batch frames sent to live-feed clients that asked for batches (several messages in one).
pub const LIVE_BATCHES_TOTAL: &str = "live_batches_total";
/// Live-feed clients closed for reading too slowly.
pub const LIVE_SLOW_CLIENTS_TOTAL: &str = "live_slow_clients_total";
/// Report cache hits, by level (l1: this node, l2: Redis).
pub const REPORT_CACHE_HITS_TOTAL: &str = "report_cache_hits_total";
/// Reports computed because no cache held them.
pub const REPORT_CACHE_MISSES_TOTAL: &str = "report_cache_misses_total";

/// Finished spans dropped because the export queue was full (`otel.queue_size`): the trace
/// back end is slow or down; requests are never held up for it.
pub const OTEL_SPANS_DROPPED_TOTAL: &str = "otel_spans_dropped_total";
/// New traces not recorded because the export queue was over half full (the trace back end is
/// slow or down).
pub const OTEL_TRACES_SHED_TOTAL: &str = "otel_traces_shed_total";
/// Spans sent to the trace back end (`otel.endpoint`).
pub const OTEL_SPANS_EXPORTED_TOTAL: &str = "otel_spans_exported_total";
/// Span batches the trace back end did not take (their spans are lost).
pub const OTEL_EXPORT_ERRORS_TOTAL: &str = "otel_export_errors_total";

/// Requests refused by a rate limit, by policy (`login`, `auth`, `check_email`, `api`).
pub const RATE_LIMITED_TOTAL: &str = "rate_limited_total";

/// Open HTTP connections.
pub const HTTP_CONNECTIONS_OPEN: &str = "http_connections_open";
/// Connections closed at once because a cap was reached, by cap (`total`, `per_ip`).
pub const HTTP_CONNECTIONS_REFUSED_TOTAL: &str = "http_connections_refused_total";

/// SKAdNetwork postbacks received, by outcome (`recorded`, `duplicate`, `invalid_signature`,
/// `unsupported_version`, `malformed`, `wrong_app`).
pub const SKAN_POSTBACKS_TOTAL: &str = "skan_postbacks_total";

/// Registers every metric's description with the installed recorder.
pub fn describe() {
    metrics::describe_counter!(
        SKAN_POSTBACKS_TOTAL,
        "SKAdNetwork postbacks received, by outcome (recorded, duplicate, invalid_signature, unsupported_version, malformed, wrong_app)."
    );
    metrics::describe_counter!(
        OTEL_SPANS_DROPPED_TOTAL,
        "Finished spans dropped because the export queue was full (the trace back end is slow or down)."
    );
    metrics::describe_counter!(OTEL_SPANS_EXPORTED_TOTAL, "Spans sent to the trace back end.");
    metrics::describe_counter!(
        OTEL_TRACES_SHED_TOTAL,
        "New traces not recorded because the export queue was over half full."
    );
    metrics::describe_counter!(
        OTEL_EXPORT_ERRORS_TOTAL,
        "Span batches the trace back end did not take (their spans are lost)."
    );
    metrics::describe_counter!(
        SECURITY_EVENTS_TOTAL,
        "Security events detected, by kind (credential_stuffing, account_attacked, unusual_export)."
    );
    metrics::describe_counter!(
        ERASURES_NOT_LOGGED_TOTAL,
        "Deleted apps whose erasure the event log did not take (their events stay stored)."
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
    metrics::describe_gauge!(LIVE_CONNECTIONS, "Open live-feed WebSocket connections.");
    metrics::describe_counter!(
        TENANT_API_REQUESTS_TOTAL,
        "Management API requests per organization (the busiest by id, the rest other), by status class."
    );
    metrics::describe_histogram!(
        TENANT_API_REQUEST_DURATION_SECONDS,
        metrics::Unit::Seconds,
        "Management API latency per organization (the busiest by id, the rest other)."
    );
    metrics::describe_counter!(
        SLOW_QUERIES_TOTAL,
        "Queries slower than observability.slow_query_ms, by store (events, oltp) and kind."
    );
    metrics::describe_counter!(
        LIVE_BATCHES_TOTAL,
        "Batch frames sent to live-feed clients that asked for batches."
    );
    metrics::describe_counter!(
        LIVE_GAPS_TOTAL,
        "Gap notices sent to live-feed clients that fell behind the broadcast."
    );
    metrics::describe_counter!(
        LIVE_SLOW_CLIENTS_TOTAL,
        "Live-feed clients closed for reading too slowly."
    );
    metrics::describe_counter!(
        REPORT_CACHE_HITS_TOTAL,
        "Report cache hits, by level (l1: this node, l2: Redis)."
    );
    metrics::describe_counter!(
        REPORT_CACHE_MISSES_TOTAL,
        "Reports computed because no cache held them."
    );
    metrics::describe_counter!(
        RATE_LIMITED_TOTAL,
        "Requests refused by a rate limit, by policy (login, auth, check_email, api)."
    );
    metrics::describe_gauge!(HTTP_CONNECTIONS_OPEN, "Open HTTP connections.");
    metrics::describe_counter!(
        HTTP_CONNECTIONS_REFUSED_TOTAL,
        "Connections closed at once because a cap was reached, by cap (total, per_ip)."
    );
}
