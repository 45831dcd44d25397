//! The vocabulary of attribution decisions shared by the engine, the pipeline, the event
//! stores and the API: each term's text form is written here once.

use serde::{Deserialize, Serialize};

/// What an install was decided to be. Text: `attributed`, `organic`, `rejected` (stored in
/// the event stores, shown in reports and exports). The variant order is part of the
/// attribution snapshot's layout: add variants at the end only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum InstallStatus {
    /// Credited to a touchpoint (a click or an impression).
    Attributed,
    /// No qualifying touchpoint.
    Organic,
    /// Refused by a fraud rule.
    Rejected,
}

impl InstallStatus {
    pub const ALL: [InstallStatus; 3] =
        [InstallStatus::Attributed, InstallStatus::Organic, InstallStatus::Rejected];

    pub fn as_str(self) -> &'static str {
        match self {
            InstallStatus::Attributed => "attributed",
            InstallStatus::Organic => "organic",
            InstallStatus::Rejected => "rejected",
        }
    }
}

impl std::str::FromStr for InstallStatus {
    type Err = String;

    /// The text form back (see [`InstallStatus::as_str`]); anything else is an error naming it.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        InstallStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == text)
            .ok_or_else(|| format!("unknown install status {text:?}"))
    }
}

impl std::fmt::Display for InstallStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::InstallStatus;

    #[test]
    fn install_statuses_read_back_from_their_text() {
        for status in InstallStatus::ALL {
            assert_eq!(status.as_str().parse::<InstallStatus>(), Ok(status));
        }
        assert_eq!(InstallStatus::Organic.to_string(), "organic");
        let error = "Attributed".parse::<InstallStatus>().expect_err("text is lower case");
        assert!(error.contains("\"Attributed\""), "{error}");
    }
}
