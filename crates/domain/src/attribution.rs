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
    /// Every status, in declaration order (the snapshot layout's order).
    pub const ALL: [InstallStatus; 3] =
        [InstallStatus::Attributed, InstallStatus::Organic, InstallStatus::Rejected];

    /// The status's text form: `attributed`, `organic` or `rejected`, as stored in the event
    /// stores and shown in reports and exports. Parsing it back gives the same status.
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
            #[doc = concat!("Every ", $what, ", in declaration order.")]
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            #[doc = concat!(
                "The ", $what, "'s text form (snake case), as stored and shown in reports; ",
                "`FromStr` reads it back and `Display` writes it."
            )]
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
        /// A click on an ad.
        Click => "click",
        /// An ad shown without a click; it can win an install only by view-through.
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

vocabulary! {
    /// What a fraud signal was raised on: a refused install or a flagged click.
    FraudKind, "fraud kind" {
        /// An install refused by a fraud rule (its status is `rejected`).
        Install => "install",
        /// A click kept but flagged (it is never credited).
        Click => "click",
    }
}

/// Why a row counts in the fraud report: an install's [`RejectionReason`] or a click's
/// [`FlagReason`]. Its text form is the reason's own (the two vocabularies share no text), so
/// it is stored in one column and read back with `FromStr`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FraudReason {
    /// An install refused by a fraud rule.
    Rejected(RejectionReason),
    /// A click flagged by a fraud rule.
    Flagged(FlagReason),
}

impl FraudReason {
    /// `install` for a rejection, `click` for a flag.
    pub fn kind(self) -> FraudKind {
        match self {
            FraudReason::Rejected(_) => FraudKind::Install,
            FraudReason::Flagged(_) => FraudKind::Click,
        }
    }

    /// The reason's text form, e.g. `click_injection` or `click_flood`.
    pub fn as_str(self) -> &'static str {
        match self {
            FraudReason::Rejected(reason) => reason.as_str(),
            FraudReason::Flagged(reason) => reason.as_str(),
        }
    }
}

impl std::str::FromStr for FraudReason {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        text.parse()
            .map(FraudReason::Rejected)
            .or_else(|_| text.parse().map(FraudReason::Flagged))
            .map_err(|_: String| format!("unknown fraud reason {text:?}"))
    }
}

impl std::fmt::Display for FraudReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for FraudReason {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for FraudReason {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
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
            let reason = super::FraudReason::Rejected(*item);
            assert_eq!(item.as_str().parse::<super::FraudReason>(), Ok(reason));
            assert_eq!(reason.kind(), super::FraudKind::Install);
        }
        for item in FlagReason::ALL {
            let reason = super::FraudReason::Flagged(*item);
            assert_eq!(item.as_str().parse::<super::FraudReason>(), Ok(reason));
            assert_eq!(reason.kind(), super::FraudKind::Click);
        }
        assert!("ctit_too_short".parse::<super::FraudReason>().is_err());
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
