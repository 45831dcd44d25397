//! Calendar days: the unit of report ranges, rollups and raw-event partitions.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// One calendar day, written `YYYY-MM-DD` (years 0000 to 9999).
///
/// Which clock a day is on depends on where it is used: raw partitions and exports use UTC
/// days ([`Day::of_utc_millis`]); report rows and rollups use the app's time zone
/// ([`Day::of_millis_in`]). Days order chronologically; text form is the only form stored or
/// sent (`Display`, `FromStr`, serde as a string).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day(jiff::civil::Date);

/// A text that is not a day as `YYYY-MM-DD`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a day as YYYY-MM-DD")]
pub struct DayError(pub String);

impl Day {
    /// The first day of the Unix epoch, 1970-01-01.
    pub const EPOCH: Day = Day(jiff::civil::date(1970, 1, 1));

    /// The day of a civil date.
    pub fn from_date(date: jiff::civil::Date) -> Day {
        Day(date)
    }

    /// Builds a day from its parts; `None` when they name no day (e.g. month 13, 30 February).
    pub fn new(year: i16, month: i8, day: i8) -> Option<Day> {
        jiff::civil::Date::new(year, month, day)
            .ok()
            .filter(|d| (0..=9999).contains(&d.year()))
            .map(Day)
    }

    /// The civil date.
    pub fn date(self) -> jiff::civil::Date {
        self.0
    }

    /// The UTC day of a timestamp in milliseconds since the Unix epoch (timestamps outside
    /// jiff's range give [`Day::EPOCH`]).
    pub fn of_utc_millis(ms: i64) -> Day {
        Day::of_millis_in(ms, &jiff::tz::TimeZone::UTC)
    }

    /// The day a timestamp (milliseconds since the Unix epoch) falls on in `zone`.
    pub fn of_millis_in(ms: i64, zone: &jiff::tz::TimeZone) -> Day {
        jiff::Timestamp::from_millisecond(ms)
            .map(|ts| Day(ts.to_zoned(zone.clone()).date()))
            .unwrap_or(Day::EPOCH)
    }

    /// This day moved by `days` (either direction); `None` past year 0000 or 9999.
    pub fn shifted(self, days: i64) -> Option<Day> {
        self.0
            .checked_add(jiff::Span::new().days(days))
            .ok()
            .filter(|d| (0..=9999).contains(&d.year()))
            .map(Day)
    }

    /// Whole days from `self` to `later` (negative when `later` is earlier).
    pub fn days_until(self, later: Day) -> i64 {
        later.0.since(self.0).map(|span| i64::from(span.get_days())).unwrap_or(0)
    }

    /// The text form (`YYYY-MM-DD`) without allocating, for hot paths that bind or hash it.
    pub fn text(self) -> DayText {
        let mut out = [b'0'; 10];
        let mut put = |at: usize, width: usize, mut value: u32| {
            for slot in out[at..at + width].iter_mut().rev() {
                *slot = b'0' + (value % 10) as u8;
                value /= 10;
            }
        };
        put(0, 4, self.0.year().unsigned_abs().into());
        put(5, 2, self.0.month().unsigned_abs().into());
        put(8, 2, self.0.day().unsigned_abs().into());
        out[4] = b'-';
        out[7] = b'-';
        DayText(out)
    }

    /// Milliseconds since the Unix epoch at 00:00 UTC of this day.
    pub fn utc_start_millis(self) -> i64 {
        self.0
            .to_zoned(jiff::tz::TimeZone::UTC)
            .map(|zoned| zoned.timestamp().as_millisecond())
            .unwrap_or(0)
    }
}

/// A day's `YYYY-MM-DD` text held inline (see [`Day::text`]); dereferences to `&str`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct DayText([u8; 10]);

impl std::ops::Deref for DayText {
    type Target = str;

    fn deref(&self) -> &str {
        // Only ASCII digits and dashes are ever written.
        std::str::from_utf8(&self.0).unwrap_or("0000-00-00")
    }
}

impl AsRef<str> for DayText {
    fn as_ref(&self) -> &str {
        self
    }
}

impl FromStr for Day {
    type Err = DayError;

    /// Reads exactly `YYYY-MM-DD` (four-digit year, two-digit month and day).
    fn from_str(raw: &str) -> Result<Day, DayError> {
        let bytes = raw.as_bytes();
        let shaped = bytes.len() == 10
            && bytes[4] == b'-'
            && bytes[7] == b'-'
            && bytes.iter().enumerate().all(|(i, b)| i == 4 || i == 7 || b.is_ascii_digit());
        let field =
            |range: std::ops::Range<usize>| raw.get(range).and_then(|t| t.parse::<i16>().ok());
        let parts = shaped.then(|| Some((field(0..4)?, field(5..7)?, field(8..10)?))).flatten();
        parts
            .and_then(|(y, m, d)| Day::new(y, i8::try_from(m).ok()?, i8::try_from(d).ok()?))
            .ok_or_else(|| DayError(raw.to_owned()))
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.0.year(), self.0.month(), self.0.day())
    }
}

impl fmt::Debug for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Day({self})")
    }
}

impl Default for Day {
    /// [`Day::EPOCH`].
    fn default() -> Day {
        Day::EPOCH
    }
}

impl Serialize for Day {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // The inline text: no allocation per row on the store's write path.
        serializer.serialize_str(&self.text())
    }
}

impl<'de> Deserialize<'de> for Day {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Day, D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trips_and_only_the_exact_shape_parses() {
        let day: Day = "2026-02-28".parse().expect("a day");
        assert_eq!(day.to_string(), "2026-02-28");
        assert_eq!(&*day.text(), "2026-02-28");
        assert_eq!(&*Day::EPOCH.text(), "1970-01-01");
        assert_eq!(day.shifted(1).map(|d| d.to_string()).as_deref(), Some("2026-03-01"));
        assert_eq!(day.shifted(-59).map(|d| d.to_string()).as_deref(), Some("2025-12-31"));
        for bad in
            ["2026-2-28", "2026-02-30", "26-02-28", "2026/02/28", "2026-02-28T00", "", "+2026-02-2"]
        {
            assert!(bad.parse::<Day>().is_err(), "{bad:?} parsed");
        }
        assert_eq!(
            "0001-01-01".parse::<Day>().map(|d| d.to_string()).ok().as_deref(),
            Some("0001-01-01")
        );
    }

    #[test]
    fn days_of_timestamps_follow_the_zone() {
        // 2026-03-01T02:00:00Z is still 28 February in New York.
        let ms = 1_772_330_400_000;
        assert_eq!(Day::of_utc_millis(ms).to_string(), "2026-03-01");
        let zone = jiff::tz::TimeZone::get("America/New_York").expect("zone");
        assert_eq!(Day::of_millis_in(ms, &zone).to_string(), "2026-02-28");
        let day = Day::of_utc_millis(ms);
        assert_eq!(day.utc_start_millis(), 1_772_323_200_000);
        assert_eq!(Day::EPOCH.days_until(day), 20_513);
        assert!(Day::EPOCH < day);
    }

    #[test]
    fn serde_uses_the_text_form() {
        let day: Day = serde_json::from_str("\"2024-02-29\"").expect("leap day");
        assert_eq!(serde_json::to_string(&day).expect("json"), "\"2024-02-29\"");
        assert!(serde_json::from_str::<Day>("\"2023-02-29\"").is_err());
    }
}
