//! Decoding a run of log records, and the span that follows a batch through both stages
//! (`pipeline.batch`: records, partitions, lag). The batch continues the trace of the first
//! traced request among its events and links to the others' (at most [`MAX_LINKS`]), so a
//! trace back end shows an ingest request, its log append and the batch that decided it
//! together (OpenTelemetry's messaging conventions link a batch to each message it handles).

use crate::feed;
use unmogrowp_bus::Offset;
use unmogrowp_domain::event::LogRecord;
use unmogrowp_domain::trace::TraceContext;

/// Links a batch span carries at most (beyond them the batch is still decided and stored;
/// only the links are left out).
pub(crate) const MAX_LINKS: usize = 32;

/// A record read from the log and decoded: its partition, offset and content.
pub(crate) type Decoded = (u16, Offset, LogRecord);

/// Decodes `records`, skipping (and counting, and logging) those that do not decode.
pub(crate) fn decode(records: Vec<feed::Record>) -> Vec<Decoded> {
    let mut decoded = Vec::with_capacity(records.len());
    for (partition, offset, bytes) in records {
        match LogRecord::decode(&bytes) {
            Ok(record) => decoded.push((partition, offset, record)),
            Err(error) => {
                metrics::counter!(crate::metric_names::PIPELINE_UNDECODABLE_RECORDS_TOTAL)
                    .increment(1);
                tracing::error!(partition, offset, %error, "skipping an undecodable log record");
            }
        }
    }
    decoded
}

/// The span of a batch about to be decided: `records`, the distinct `partitions` it reads
/// and the pipeline's `lag` (records behind the log's head) as attributes; its parent is the
/// first traced event's request, and it links to the other requests' traces.
pub(crate) fn batch_span(records: &[Decoded], lag: u64) -> tracing::Span {
    let mut partitions: Vec<u16> = records.iter().map(|(partition, _, _)| *partition).collect();
    partitions.sort_unstable();
    partitions.dedup();
    let partitions = partitions.iter().map(u16::to_string).collect::<Vec<_>>().join(",");
    let span = tracing::info_span!(
        "pipeline.batch",
        records = records.len(),
        partitions = %partitions,
        lag,
    );
    let mut traces = records.iter().filter_map(|(_, _, record)| match record {
        LogRecord::Event(event) => event.trace,
        _ => None,
    });
    if let Some(first) = traces.next() {
        first.adopt(&span);
        let mut linked: Vec<TraceContext> = Vec::new();
        for trace in traces {
            if linked.len() >= MAX_LINKS {
                break;
            }
            if trace != first && !linked.contains(&trace) {
                trace.link(&span);
                linked.push(trace);
            }
        }
    }
    span
}
