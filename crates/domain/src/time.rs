//! Time as stored: milliseconds since the Unix epoch (UTC), one integer type in every backend.

use jiff::Timestamp;

/// Milliseconds since the Unix epoch.
pub type UnixMillis = i64;

/// The current time (system clock) in milliseconds since the Unix epoch.
pub fn now_millis() -> UnixMillis {
    Timestamp::now().as_millisecond()
}

/// Formats stored milliseconds as RFC 3339 UTC, the form every API response uses.
pub fn rfc3339(millis: UnixMillis) -> String {
    match Timestamp::from_millisecond(millis) {
        Ok(ts) => ts.to_string(),
        Err(_) => Timestamp::UNIX_EPOCH.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_as_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_763_632_800_500), "2025-11-20T10:00:00.5Z");
    }
}
