//! SKAdNetwork: Apple's privacy-preserving install attribution for iOS. After an install
//! from an ad, the device sends the ad network (and, when the app opts in, the advertiser) a
//! postback signed by Apple, one to three days or more later, carrying the campaign (a
//! 2-digit to 4-digit source identifier from version 4.0, a campaign id before) and a
//! conversion value the app set: a fine value 0–63, or from 4.0 a coarse `low` / `medium` /
//! `high`. There is no device identifier, so postbacks are counted beside the product's own
//! attribution, not merged with it.
//!
//! This module holds the verified postback ([`SkanPostback`]) and an app's conversion-value
//! schema ([`ConversionSchema`]): which fine and coarse values mean which revenue range or
//! in-app event, for the SDK that sets them and for the report that reads them back. The
//! signature check lives with collection (`unmogrowp_ingest::skadnetwork`).
//!
//! Field names and meanings: Apple, "Identifying the parameters in install-validation
//! postbacks" and "SKAdNetwork 4 release notes".

use crate::validate::FieldErrors;
use serde::{Deserialize, Serialize};

/// The coarse conversion value of a version 4.0 postback.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum CoarseValue {
    /// `low`
    Low,
    /// `medium`
    Medium,
    /// `high`
    High,
}

impl CoarseValue {
    /// `low`, `medium` or `high`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
        }
    }

    /// The value named `text` (exactly as Apple spells it); `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "low" => Some(Self::Low),
            "medium" => Some(Self::Medium),
            "high" => Some(Self::High),
            _ => None,
        }
    }
}

/// A postback whose Apple signature has been verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkanPostback {
    /// The SKAdNetwork version that signed it (`2.1`, `2.2`, `3.0` or `4.0`).
    pub version: String,
    /// The ad network's SKAdNetwork id, e.g. `example123.skadnetwork`.
    pub ad_network_id: String,
    /// The campaign as the network encoded it: the `source-identifier` (4.0) or the
    /// `campaign-id` (earlier versions), as decimal text.
    pub campaign: String,
    /// The advertised app's App Store id (`app-id`).
    pub app_store_id: u64,
    /// Apple's id of the conversion; with [`Self::sequence_index`], unique per postback.
    pub transaction_id: String,
    /// Whether the user had installed the app before (`redownload`).
    pub redownload: bool,
    /// The App Store id of the app that showed the ad, when Apple's privacy threshold allows.
    pub source_app_id: Option<u64>,
    /// The web site that showed the ad (4.0 web ads), when Apple's privacy threshold allows.
    pub source_domain: Option<String>,
    /// 0: a view-through ad; 1: a StoreKit-rendered (click) ad. Absent before 2.2.
    pub fidelity_type: Option<u8>,
    /// Whether this ad won the attribution (3.0 and later); `None` before 3.0, where every
    /// postback is the winning one.
    pub did_win: Option<bool>,
    /// The fine conversion value 0–63, when present.
    pub conversion_value: Option<u8>,
    /// The coarse conversion value (4.0), when present.
    pub coarse_value: Option<CoarseValue>,
    /// Which of the up to three 4.0 postbacks this is (0, 1, 2); 0 before 4.0.
    pub sequence_index: u8,
}

impl SkanPostback {
    /// Whether it counts as an install for its network: the winning ad's first postback
    /// (before 3.0 every postback wins).
    pub fn counts_as_install(&self) -> bool {
        self.did_win != Some(false) && self.sequence_index == 0
    }
}

/// One fine conversion value's meaning.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FineRule {
    /// The value, 0–63.
    #[schema(minimum = 0, maximum = 63)]
    pub value: u8,
    /// The in-app event that sets it (e.g. `tutorial_complete`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// Revenue from (inclusive), in the app's currency, if the value is a revenue bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0)]
    pub revenue_min: Option<f64>,
    /// Revenue up to (exclusive), in the app's currency; absent for an open-ended bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revenue_max: Option<f64>,
}

/// One coarse conversion value's meaning (4.0).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CoarseRule {
    /// `low`, `medium` or `high`.
    pub value: CoarseValue,
    /// The in-app event that sets it, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// Revenue from (inclusive), in the app's currency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revenue_min: Option<f64>,
    /// Revenue up to (exclusive); absent for an open-ended bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revenue_max: Option<f64>,
}

/// An app's conversion-value schema: what its SDK sets and what reports read back.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConversionSchema {
    /// Fine values (at most 64, each value once).
    #[serde(default)]
    pub fine: Vec<FineRule>,
    /// Coarse values (at most 3, each value once).
    #[serde(default)]
    pub coarse: Vec<CoarseRule>,
}

/// The longest event name a schema may name, in characters.
const MAX_EVENT_CHARS: usize = 100;

fn check_rule(
    errors: &mut FieldErrors,
    at: &str,
    event: Option<&str>,
    min: Option<f64>,
    max: Option<f64>,
) {
    if let Some(event) = event
        && (event.trim().is_empty()
            || event.chars().count() > MAX_EVENT_CHARS
            || event.chars().any(char::is_control))
    {
        errors.push(
            format!("{at}.event"),
            format!("must be 1 to {MAX_EVENT_CHARS} characters without control characters"),
        );
    }
    for (name, bound) in [("revenue_min", min), ("revenue_max", max)] {
        if let Some(bound) = bound
            && !(bound.is_finite() && bound >= 0.0)
        {
            errors.push(format!("{at}.{name}"), "must be a number ≥ 0");
        }
    }
    if max.is_some() && min.is_none() {
        errors.push(format!("{at}.revenue_min"), "is required with `revenue_max`");
    }
    if let (Some(min), Some(max)) = (min, max)
        && min >= max
    {
        errors.push(format!("{at}.revenue_max"), "must be greater than `revenue_min`");
    }
    if event.is_none() && min.is_none() {
        errors.push(at, "needs an `event`, a revenue range (`revenue_min`), or both");
    }
}

impl ConversionSchema {
    /// Checks every rule; errors name the field, e.g. `fine[2].value`.
    pub fn validate(&self) -> Result<(), Vec<crate::validate::FieldError>> {
        let mut errors = FieldErrors::new();
        let mut seen = [false; 64];
        for (index, rule) in self.fine.iter().enumerate() {
            let at = format!("fine[{index}]");
            match seen.get_mut(usize::from(rule.value)) {
                None => errors.push(format!("{at}.value"), "must be between 0 and 63"),
                Some(true) => errors.push(format!("{at}.value"), "is given twice"),
                Some(slot) => *slot = true,
            }
            check_rule(&mut errors, &at, rule.event.as_deref(), rule.revenue_min, rule.revenue_max);
        }
        let mut coarse_seen = Vec::new();
        for (index, rule) in self.coarse.iter().enumerate() {
            let at = format!("coarse[{index}]");
            if coarse_seen.contains(&rule.value) {
                errors.push(format!("{at}.value"), "is given twice");
            }
            coarse_seen.push(rule.value);
            check_rule(&mut errors, &at, rule.event.as_deref(), rule.revenue_min, rule.revenue_max);
        }
        errors.into_result()
    }

    /// The revenue a postback stands for by this schema, in the app's currency: the middle of
    /// its value's revenue bucket, or the bucket's lower bound when it is open-ended. The fine
    /// value is read first, then the coarse one; `None` when neither maps to revenue.
    pub fn estimated_revenue(
        &self,
        conversion_value: Option<u8>,
        coarse: Option<CoarseValue>,
    ) -> Option<f64> {
        let estimate = |min: Option<f64>, max: Option<f64>| match (min, max) {
            (Some(min), Some(max)) => Some(f64::midpoint(min, max)),
            (Some(min), None) => Some(min),
            _ => None,
        };
        if let Some(value) = conversion_value
            && let Some(rule) = self.fine.iter().find(|rule| rule.value == value)
        {
            return estimate(rule.revenue_min, rule.revenue_max);
        }
        let coarse = coarse?;
        let rule = self.coarse.iter().find(|rule| rule.value == coarse)?;
        estimate(rule.revenue_min, rule.revenue_max)
    }
}

/// The App Store id in an App Store URL (`https://apps.apple.com/us/app/name/id525463029` →
/// 525463029); `None` when the URL has none.
pub fn app_store_id(store_url: &str) -> Option<u64> {
    let path = store_url.split(['?', '#']).next()?;
    path.rsplit('/').find_map(|segment| {
        let digits = segment.strip_prefix("id")?;
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fine(value: u8, min: Option<f64>, max: Option<f64>) -> FineRule {
        FineRule { value, event: None, revenue_min: min, revenue_max: max }
    }

    #[test]
    fn schema_checks_name_the_field() {
        let schema = ConversionSchema {
            fine: vec![
                fine(1, Some(0.0), Some(1.0)),
                fine(1, Some(1.0), Some(5.0)),
                fine(64, Some(5.0), None),
                fine(2, Some(5.0), Some(5.0)),
                FineRule { value: 3, event: None, revenue_min: None, revenue_max: None },
            ],
            coarse: vec![
                CoarseRule {
                    value: CoarseValue::Low,
                    event: Some("signup".into()),
                    revenue_min: None,
                    revenue_max: None,
                },
                CoarseRule {
                    value: CoarseValue::Low,
                    event: Some(" ".into()),
                    revenue_min: Some(-1.0),
                    revenue_max: None,
                },
            ],
        };
        let errors = schema.validate().expect_err("invalid rules");
        let fields: Vec<&str> = errors.iter().map(|error| error.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "fine[1].value",
                "fine[2].value",
                "fine[3].revenue_max",
                "fine[4]",
                "coarse[1].value",
                "coarse[1].event",
                "coarse[1].revenue_min"
            ]
        );
    }

    #[test]
    fn revenue_is_the_buckets_middle_fine_value_first() {
        let schema = ConversionSchema {
            fine: vec![fine(10, Some(1.0), Some(5.0)), fine(63, Some(100.0), None)],
            coarse: vec![CoarseRule {
                value: CoarseValue::High,
                event: None,
                revenue_min: Some(20.0),
                revenue_max: Some(40.0),
            }],
        };
        assert!(schema.validate().is_ok());
        assert_eq!(schema.estimated_revenue(Some(10), Some(CoarseValue::High)), Some(3.0));
        assert_eq!(schema.estimated_revenue(Some(63), None), Some(100.0));
        assert_eq!(schema.estimated_revenue(Some(11), Some(CoarseValue::High)), Some(30.0));
        assert_eq!(schema.estimated_revenue(None, Some(CoarseValue::Low)), None);
        assert_eq!(schema.estimated_revenue(None, None), None);
    }

    #[test]
    fn app_store_ids_come_from_store_urls() {
        assert_eq!(app_store_id("https://apps.apple.com/us/app/demo/id525463029"), Some(525463029));
        assert_eq!(app_store_id("https://apps.apple.com/app/id42?mt=8"), Some(42));
        assert_eq!(app_store_id("https://play.google.com/store/apps/details?id=com.x"), None);
        assert_eq!(app_store_id("https://apps.apple.com/us/app/idle-game/"), None);
    }
}
