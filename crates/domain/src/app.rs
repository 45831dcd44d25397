//! Apps as organizations register them, and their attribution settings.

use crate::validate::FieldErrors;
use serde::{Deserialize, Serialize};

/// The mobile platform an app is published on; it decides the rules its bundle id must
/// follow.
///
/// Serialized in lowercase: `"android"` or `"ios"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    /// Google Android; the bundle id is the package name (`com.example.app`).
    Android,
    /// Apple iOS; the bundle id is the iOS bundle identifier (`com.example.App`).
    Ios,
}

impl Platform {
    /// The platform's wire name, `"android"` or `"ios"` — the same string serde writes and
    /// [`Platform::parse`] accepts.
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Android => "android",
            Platform::Ios => "ios",
        }
    }

    /// Parses a wire name as written by [`Platform::as_str`]. Matching is exact and
    /// case-sensitive: only `"android"` and `"ios"` are accepted; anything else is `None`.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "android" => Some(Platform::Android),
            "ios" => Some(Platform::Ios),
            _ => None,
        }
    }
}

/// Per-app attribution settings. Defaults are the product's documented rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct AttributionSettings {
    /// Clicks this many hours before an install can win it by click id or device id.
    pub click_window_hours: u32,
    /// Impressions this many hours before an install can win it (view-through).
    pub view_window_hours: u32,
    /// Clicks this many hours before an install can win it by IP + user agent.
    pub probabilistic_window_hours: u32,
    /// A re-install after this many days is attributed afresh.
    pub reattribution_window_days: u32,
    /// Opens through a retargeting link within this many days are re-engagements.
    pub reengagement_window_days: u32,
    /// A winning click closer than this to the install marks it as click injection.
    pub min_ctit_seconds: u32,
    /// Clicks per device or IP per hour above which that source's clicks are flagged.
    pub click_flood_threshold_per_hour: u32,
}

impl Default for AttributionSettings {
    fn default() -> Self {
        Self {
            click_window_hours: 168,
            view_window_hours: 24,
            probabilistic_window_hours: 24,
            reattribution_window_days: 90,
            reengagement_window_days: 30,
            min_ctit_seconds: 10,
            click_flood_threshold_per_hour: 100,
        }
    }
}

impl AttributionSettings {
    /// Checks every field's range, naming each one out of range (`attribution.<field>`).
    pub fn validate(&self, errors: &mut FieldErrors) {
        let mut check = |name: &str, value: u32, min: u32, max: u32| {
            if value < min || value > max {
                errors.push(
                    format!("attribution.{name}"),
                    format!("must be between {min} and {max}"),
                );
            }
        };
        check("click_window_hours", self.click_window_hours, 1, 720);
        check("view_window_hours", self.view_window_hours, 0, 168);
        check("probabilistic_window_hours", self.probabilistic_window_hours, 0, 168);
        check("reattribution_window_days", self.reattribution_window_days, 0, 365);
        check("reengagement_window_days", self.reengagement_window_days, 0, 365);
        check("min_ctit_seconds", self.min_ctit_seconds, 0, 3600);
        check("click_flood_threshold_per_hour", self.click_flood_threshold_per_hour, 1, 1_000_000);
    }
}

/// Checks an app's display name: after trimming surrounding whitespace it must be non-empty,
/// at most 100 characters (Unicode scalar values) and free of control characters (see
/// [`crate::validate::name`]). Problems are pushed onto `errors`
/// under the field `name`.
pub fn validate_app_name(name: &str, errors: &mut FieldErrors) {
    crate::validate::name("name", name, 100, errors);
}

/// Android package names (`com.example.app`) and iOS bundle ids (`com.example.App`).
pub fn validate_bundle_id(platform: Platform, bundle_id: &str, errors: &mut FieldErrors) {
    let segments: Vec<&str> = bundle_id.split('.').collect();
    let ok = match platform {
        Platform::Android => {
            segments.len() >= 2
                && segments.iter().all(|segment| {
                    segment.starts_with(|c: char| c.is_ascii_alphabetic())
                        && segment.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                })
        }
        Platform::Ios => {
            segments.len() >= 2
                && segments.iter().all(|segment| {
                    !segment.is_empty()
                        && segment.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                })
        }
    };
    if bundle_id.len() > 255 || !ok {
        let expected = match platform {
            Platform::Android => "an Android package name such as com.example.app",
            Platform::Ios => "an iOS bundle id such as com.example.App",
        };
        errors.push("bundle_id", format!("must be {expected}"));
    }
}

/// The app stores a tracking link may send users to (the hosts of their store pages).
pub const STORE_HOSTS: [&str; 10] = [
    "play.google.com",
    "apps.apple.com",
    "itunes.apple.com",
    "appgallery.huawei.com",
    "appgallery.cloud.huawei.com",
    "galaxystore.samsung.com",
    "www.amazon.com",
    "apps.microsoft.com",
    "f-droid.org",
    "www.rustore.ru",
];

/// Checks an app's store URL, where its tracking links redirect users: an absolute `https`
/// URL (at most 2048 characters, no spaces or credentials) on one of [`STORE_HOSTS`] or of
/// `extra_hosts` (an operator's own, e.g. an enterprise store), compared without case and
/// without a trailing dot. Anything else would make `/c/{link}` an open redirect. Problems are
/// pushed onto `errors` under `store_url`.
pub fn validate_store_url(url: &str, extra_hosts: &[String], errors: &mut FieldErrors) {
    let mut shape = FieldErrors::new();
    validate_http_url("store_url", url, &mut shape);
    let lower = url.to_ascii_lowercase();
    let Some(rest) = lower.strip_prefix("https://").filter(|_| shape.is_empty()) else {
        errors.push("store_url", "must be an https URL of an app store page");
        return;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        errors.push("store_url", "must not carry a user name or password");
        return;
    }
    let host = authority.split(':').next().unwrap_or_default().trim_end_matches('.');
    let known = STORE_HOSTS.contains(&host)
        || extra_hosts
            .iter()
            .any(|extra| extra.trim().trim_end_matches('.').eq_ignore_ascii_case(host));
    if !known {
        errors.push(
            "store_url",
            format!("must be on an app store ({}), not {host}", STORE_HOSTS[..3].join(", ") + "…"),
        );
    }
}

/// An absolute http(s) URL without spaces, at most 2048 characters.
pub fn validate_http_url(field: &str, url: &str, errors: &mut FieldErrors) {
    let lower = url.to_ascii_lowercase();
    let rest = lower.strip_prefix("https://").or_else(|| lower.strip_prefix("http://"));
    let host_ok = rest.is_some_and(|rest| {
        let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
        !host.is_empty() && !host.starts_with(':')
    });
    if url.len() > 2048 || !host_ok || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        errors.push(field, "must be an absolute http(s) URL");
    }
}

/// An IANA time zone name is checked by the caller (with the tz database); this only checks
/// the ISO 4217 shape of a currency code.
pub fn validate_currency(field: &str, currency: &str, errors: &mut FieldErrors) {
    if currency.len() != 3 || !currency.chars().all(|c| c.is_ascii_uppercase()) {
        errors.push(field, "must be an ISO 4217 currency code such as USD");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_documented_rules() {
        let settings = AttributionSettings::default();
        assert_eq!(settings.click_window_hours, 168);
        assert_eq!(settings.view_window_hours, 24);
        assert_eq!(settings.probabilistic_window_hours, 24);
        assert_eq!(settings.reattribution_window_days, 90);
        assert_eq!(settings.min_ctit_seconds, 10);
        let mut errors = FieldErrors::new();
        settings.validate(&mut errors);
        assert!(errors.is_empty());
    }

    #[test]
    fn out_of_range_settings_are_named() {
        let settings = AttributionSettings {
            click_window_hours: 0,
            min_ctit_seconds: 99_999,
            ..Default::default()
        };
        let mut errors = FieldErrors::new();
        settings.validate(&mut errors);
        let fields: Vec<String> = errors.into_vec().into_iter().map(|e| e.field).collect();
        assert_eq!(fields, vec!["attribution.click_window_hours", "attribution.min_ctit_seconds"]);
    }

    #[test]
    fn bundle_ids() {
        let ok = |platform, id: &str| {
            let mut errors = FieldErrors::new();
            validate_bundle_id(platform, id, &mut errors);
            errors.is_empty()
        };
        assert!(ok(Platform::Android, "com.example.app"));
        assert!(ok(Platform::Android, "com.example.my_app2"));
        assert!(!ok(Platform::Android, "example"));
        assert!(!ok(Platform::Android, "com.1example.app"));
        assert!(ok(Platform::Ios, "com.example.My-App"));
        assert!(!ok(Platform::Ios, "com..example"));
    }

    #[test]
    fn urls() {
        let ok = |url: &str| {
            let mut errors = FieldErrors::new();
            validate_http_url("store_url", url, &mut errors);
            errors.is_empty()
        };
        assert!(ok("https://play.google.com/store/apps/details?id=com.example.app"));
        assert!(ok("http://localhost:8080/x"));
        assert!(!ok("ftp://example.com"));
        assert!(!ok("https://"));
        assert!(!ok("https://exa mple.com"));
        assert!(!ok("javascript:alert(1)"));
    }

    #[test]
    fn store_urls_are_app_store_pages_only() {
        let check = |url: &str, extra: &[&str]| {
            let mut errors = FieldErrors::new();
            let extra: Vec<String> = extra.iter().map(|h| (*h).to_owned()).collect();
            validate_store_url(url, &extra, &mut errors);
            errors.is_empty()
        };
        assert!(check("https://play.google.com/store/apps/details?id=com.example.app", &[]));
        assert!(check("https://apps.apple.com/app/id123456789", &[]));
        assert!(check("https://APPS.APPLE.COM./app/id1", &[]));
        for bad in [
            "http://play.google.com/store/apps/details?id=x",
            "https://evil.example/store",
            "https://play.google.com.evil.example/x",
            "https://play.google.com@evil.example/x",
            "https://127.0.0.1/",
            "http://127.0.0.1/",
            "javascript:alert(1)",
            "https://",
        ] {
            assert!(!check(bad, &[]), "{bad} was accepted");
        }
        assert!(check("https://store.corp.example/app/1", &["store.corp.example"]));
        assert!(!check("https://other.corp.example/app/1", &["store.corp.example"]));
    }

    #[test]
    fn currencies() {
        let ok = |code: &str| {
            let mut errors = FieldErrors::new();
            validate_currency("currency", code, &mut errors);
            errors.is_empty()
        };
        assert!(ok("EUR"));
        assert!(!ok("eur"));
        assert!(!ok("EURO"));
    }
}
