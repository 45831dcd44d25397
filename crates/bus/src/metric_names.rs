//! The names of the metrics this crate records, in one place, with what each measures.
//! [`describe`] registers the descriptions, shown as `# HELP` on `/metrics`.

/// Records appended to the embedded event log.
pub const EVENT_LOG_APPENDED_RECORDS_TOTAL: &str = "event_log_appended_records_total";
/// Append requests made durable by one fdatasync of the embedded log.
pub const EVENT_LOG_GROUP_COMMIT_REQUESTS: &str = "event_log_group_commit_requests";
/// Append calls to the NATS event log (each a batch of records).
pub const LOG_APPENDS_TOTAL: &str = "log_appends_total";

/// Registers every metric's description with the installed recorder.
pub fn describe() {
    metrics::describe_counter!(
        EVENT_LOG_APPENDED_RECORDS_TOTAL,
        "Records appended to the embedded event log."
    );
    metrics::describe_histogram!(
        EVENT_LOG_GROUP_COMMIT_REQUESTS,
        "Append requests made durable by one fdatasync of the embedded log."
    );
    metrics::describe_counter!(
        LOG_APPENDS_TOTAL,
        "Append calls to the NATS event log (each a batch of records)."
    );
}
