//! The names of the metrics this crate records, in one place, with what each measures.
//! [`describe`] registers the descriptions, shown as `# HELP` on `/metrics`.

/// Failed reads of app settings from the OLTP store (retried).
pub const PIPELINE_DEPENDENCY_ERRORS_TOTAL: &str = "pipeline_dependency_errors_total";
/// Attribution index rebuilds, by source (`from`).
pub const PIPELINE_INDEX_REBUILDS_TOTAL: &str = "pipeline_index_rebuilds_total";
/// Records appended to the log but not yet stored.
pub const PIPELINE_LAG_RECORDS: &str = "pipeline_lag_records";
/// Live-feed payloads that could not be relayed to other nodes.
pub const PIPELINE_LIVE_RELAY_ERRORS_TOTAL: &str = "pipeline_live_relay_errors_total";
/// The log offset up to which every record is stored.
pub const PIPELINE_POSITION: &str = "pipeline_position";
/// Records the event store dropped as copies of stored ones.
pub const PIPELINE_RECORDS_DUPLICATE_TOTAL: &str = "pipeline_records_duplicate_total";
/// Records stored in the event store.
pub const PIPELINE_RECORDS_STORED_TOTAL: &str = "pipeline_records_stored_total";
/// Time a batch spent in a pipeline stage (`stage`: read, decide, hand_over, store).
pub const PIPELINE_STAGE_SECONDS: &str = "pipeline_stage_seconds";
/// Per stored batch, the time from its oldest row's acknowledgement to the batch being stored
/// (visible to reports).
pub const PIPELINE_VISIBLE_LATENCY_SECONDS: &str = "pipeline_visible_latency_seconds";
/// Log records that could not be decoded and were skipped.
pub const PIPELINE_UNDECODABLE_RECORDS_TOTAL: &str = "pipeline_undecodable_records_total";
/// Install decisions stored per organization (the busiest by id, the rest `other`), by status.
pub const TENANT_INSTALLS_TOTAL: &str = "tenant_installs_total";
/// Postback deliveries enqueued by the pipeline.
pub const POSTBACKS_ENQUEUED_TOTAL: &str = "postbacks_enqueued_total";

/// Registers every metric's description with the installed recorder.
pub fn describe() {
    metrics::describe_histogram!(
        PIPELINE_VISIBLE_LATENCY_SECONDS,
        metrics::Unit::Seconds,
        "Per stored batch: from its oldest row's acknowledgement to being visible to reports."
    );
    metrics::describe_counter!(
        TENANT_INSTALLS_TOTAL,
        "Install decisions stored per organization (the busiest by id, the rest other), by status."
    );
    metrics::describe_counter!(
        PIPELINE_DEPENDENCY_ERRORS_TOTAL,
        "Failed reads of app settings from the OLTP store (retried)."
    );
    metrics::describe_counter!(
        PIPELINE_INDEX_REBUILDS_TOTAL,
        "Attribution index rebuilds, by source (`from`)."
    );
    metrics::describe_gauge!(
        PIPELINE_LAG_RECORDS,
        "Records appended to the log but not yet stored."
    );
    metrics::describe_counter!(
        PIPELINE_LIVE_RELAY_ERRORS_TOTAL,
        "Live-feed payloads that could not be relayed to other nodes."
    );
    metrics::describe_gauge!(
        PIPELINE_POSITION,
        "The log offset up to which every record is stored."
    );
    metrics::describe_counter!(
        PIPELINE_RECORDS_DUPLICATE_TOTAL,
        "Records the event store dropped as copies of stored ones."
    );
    metrics::describe_counter!(PIPELINE_RECORDS_STORED_TOTAL, "Records stored in the event store.");
    metrics::describe_histogram!(
        PIPELINE_STAGE_SECONDS,
        "Time a batch spent in a pipeline stage (`stage`: read, decide, hand_over, store)."
    );
    metrics::describe_counter!(
        PIPELINE_UNDECODABLE_RECORDS_TOTAL,
        "Log records that could not be decoded and were skipped."
    );
    metrics::describe_counter!(
        POSTBACKS_ENQUEUED_TOTAL,
        "Postback deliveries enqueued by the pipeline."
    );
}
