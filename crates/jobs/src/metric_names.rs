//! The names of the metrics this crate records, in one place, with what each measures.
//! [`describe`] registers the descriptions, shown as `# HELP` on `/metrics`.

/// Emails that could not be sent or written.
pub const EMAILS_FAILED_TOTAL: &str = "emails_failed_total";
/// Emails sent (or written to the outbox).
pub const EMAILS_SENT_TOTAL: &str = "emails_sent_total";
/// Times a postback destination circuit breaker opened.
pub const POSTBACK_BREAKER_OPENED_TOTAL: &str = "postback_breaker_opened_total";
/// Postbacks delivered to ad networks.
pub const POSTBACKS_DELIVERED_TOTAL: &str = "postbacks_delivered_total";
/// Postback delivery attempts that failed.
pub const POSTBACKS_FAILED_TOTAL: &str = "postbacks_failed_total";

/// Registers every metric's description with the installed recorder.
pub fn describe() {
    metrics::describe_counter!(EMAILS_FAILED_TOTAL, "Emails that could not be sent or written.");
    metrics::describe_counter!(EMAILS_SENT_TOTAL, "Emails sent (or written to the outbox).");
    metrics::describe_counter!(
        POSTBACK_BREAKER_OPENED_TOTAL,
        "Times a postback destination circuit breaker opened."
    );
    metrics::describe_counter!(POSTBACKS_DELIVERED_TOTAL, "Postbacks delivered to ad networks.");
    metrics::describe_counter!(POSTBACKS_FAILED_TOTAL, "Postback delivery attempts that failed.");
}
