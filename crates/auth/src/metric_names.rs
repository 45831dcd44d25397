//! The names of the metrics this crate records, in one place, with what each measures.
//! [`describe`] registers the descriptions, shown as `# HELP` on `/metrics`.

/// Login attempts, by outcome.
pub const LOGINS_TOTAL: &str = "logins_total";
/// Password hashing requests refused because the hashing queue was full.
pub const PASSWORD_HASH_REJECTED_TOTAL: &str = "password_hash_rejected_total";
/// Password hashes and checks run, by class (`login`, `bulk`).
pub const PASSWORD_HASHES_TOTAL: &str = "password_hashes_total";

/// Registers every metric's description with the installed recorder.
pub fn describe() {
    metrics::describe_counter!(LOGINS_TOTAL, "Login attempts, by outcome.");
    metrics::describe_counter!(
        PASSWORD_HASH_REJECTED_TOTAL,
        "Password hashing requests refused because the hashing queue was full."
    );
    metrics::describe_counter!(
        PASSWORD_HASHES_TOTAL,
        "Password hashes and checks run, by class (login, bulk)."
    );
}
