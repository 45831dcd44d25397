//! The names of the metrics this crate records, in one place, with what each measures.
//! [`describe`] registers the descriptions, shown as `# HELP` on `/metrics`.

/// Cache invalidations received from other nodes.
pub const CACHE_INVALIDATIONS_RECEIVED_TOTAL: &str = "cache_invalidations_received_total";
/// Failed Redis operations (the node falls back to its own state).
pub const REDIS_ERRORS_TOTAL: &str = "redis_errors_total";
/// 1 when Redis answers, 0 when it does not.
pub const REDIS_UP: &str = "redis_up";

/// Registers every metric's description with the installed recorder.
pub fn describe() {
    metrics::describe_counter!(
        CACHE_INVALIDATIONS_RECEIVED_TOTAL,
        "Cache invalidations received from other nodes."
    );
    metrics::describe_counter!(
        REDIS_ERRORS_TOTAL,
        "Failed Redis operations (the node falls back to its own state)."
    );
    metrics::describe_gauge!(REDIS_UP, "1 when Redis answers, 0 when it does not.");
}
