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

/// Writes `as_str`, `FromStr` (an unknown text is an error naming it) and `Display` for an
/// enum of unit variants from one table of variant ↔ text, so each text is written once.
macro_rules! vocabulary {
    ($(#[$doc:meta])* $name:ident, $what:literal { $($(#[$vdoc:meta])* $variant:ident => $text:literal,)* }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)*
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                $name::ALL
                    .iter()
                    .copied()
                    .find(|item| item.as_str() == text)
                    .ok_or_else(|| format!(concat!("unknown ", $what, " {:?}"), text))
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

vocabulary! {
    /// How an install was matched to its touchpoint. The variant order is part of the
    /// attribution snapshot's layout: add variants at the end only.
    MatchType, "match type" {
        /// The install carried the click's id (install referrer, deep link).
        ClickId => "click_id",
        /// The same advertising, vendor or installation id.
        DeviceId => "device_id",
        /// IP and user agent within the probabilistic window.
        Probabilistic => "probabilistic",
        /// An impression, no click.
        ViewThrough => "view_through",
    }
}

vocabulary! {
    /// A touchpoint's kind. The variant order is part of the attribution snapshot's layout.
    TouchKind, "touch kind" {
        Click => "click",
        Impression => "impression",
    }
}

vocabulary! {
    /// Multi-touch attribution models for reports.
    Model, "attribution model" {
        /// All credit to the winning touchpoint.
        LastTouch => "last_touch",
        /// Equal shares.
        Linear => "linear",
        /// Shares halving every 7 days before the install.
        TimeDecay => "time_decay",
        /// 40 % first, 40 % last, 20 % shared by the ones between.
        PositionBased => "position_based",
    }
}

vocabulary! {
    /// Why a fraud rule refused an install.
    RejectionReason, "rejection reason" {
        /// The winning click came too soon before the install.
        ClickInjection => "click_injection",
        /// The install came from a blocked IP range.
        BlockedIp => "blocked_ip",
    }
}

vocabulary! {
    /// Why a click was flagged.
    FlagReason, "flag reason" {
        /// More clicks per hour from the device than the app allows.
        ClickFlood => "click_flood",
        /// The click came after the install that carried its id.
        InstallBeforeClick => "install_before_click",
    }
}

#[cfg(test)]
mod tests {
    use super::InstallStatus;

    #[test]
    fn every_term_reads_back_from_its_text() {
        use super::{FlagReason, MatchType, Model, RejectionReason, TouchKind};
        for item in MatchType::ALL {
            assert_eq!(item.as_str().parse::<MatchType>(), Ok(*item));
        }
        for item in TouchKind::ALL {
            assert_eq!(item.as_str().parse::<TouchKind>(), Ok(*item));
        }
        for item in Model::ALL {
            assert_eq!(item.as_str().parse::<Model>(), Ok(*item));
        }
        for item in RejectionReason::ALL {
            assert_eq!(item.as_str().parse::<RejectionReason>(), Ok(*item));
        }
        for item in FlagReason::ALL {
            assert_eq!(item.as_str().parse::<FlagReason>(), Ok(*item));
        }
        let error = "ClickId".parse::<MatchType>().expect_err("text is snake case");
        assert_eq!(error, "unknown match type \"ClickId\"");
    }

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
