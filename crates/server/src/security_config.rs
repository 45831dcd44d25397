//! The `[security]` settings: outbound allow-list, security alert recipients, export
//! anomaly thresholds, store URL hosts.

use serde::Deserialize;

/// Security settings.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecurityConfig {
    /// Ranges (CIDR or bare addresses) outside the public internet that postbacks (and later
    /// webhooks) may still reach, e.g. `["10.20.0.0/16"]` for a receiver on the same private
    /// network (`security.outbound_allow_cidrs` / `UNMOGROWP_SECURITY__OUTBOUND_ALLOW_CIDRS`, a
    /// TOML array in the environment too). Empty by default: loopback, private, link-local
    /// (cloud metadata included) and other special-purpose addresses are refused.
    pub outbound_allow_cidrs: Vec<String>,
    /// Who is emailed platform-wide security events, such as credential stuffing from one
    /// address (`security.alert_emails`, e.g. `["secops@example.com"]`). Empty by default: the
    /// events are still in the audit log, the logs and `security_events_total`.
    pub alert_emails: Vec<String>,
    /// An organization's exported rows in one day count as unusual above this many times its
    /// average of the 7 days before (`security.export_anomaly_factor`, default 10) …
    pub export_anomaly_factor: Option<u64>,
    /// … and above this many rows (`security.export_anomaly_min_rows`, default 1 000 000).
    pub export_anomaly_min_rows: Option<u64>,
    /// Hosts accepted as an app's store URL besides the public app stores (Google Play, the
    /// App Store, AppGallery, Galaxy Store, Amazon, Microsoft Store, F-Droid, RuStore), e.g.
    /// `["store.corp.example"]` for an enterprise store (`security.store_url_hosts` /
    /// `UNMOGROWP_SECURITY__STORE_URL_HOSTS`). Store URLs must be `https`: tracking links
    /// redirect there, so anything else would be an open redirect.
    pub store_url_hosts: Vec<String>,
}

impl SecurityConfig {
    /// The outbound guard these settings describe (entries were checked when the
    /// configuration was loaded; one that is not a range allows nothing).
    pub fn outbound_policy(&self) -> unmogrowp_jobs::OutboundPolicy {
        let ranges = self
            .outbound_allow_cidrs
            .iter()
            .filter_map(|text| unmogrowp_domain::net::IpNet::parse(text).ok())
            .collect();
        unmogrowp_jobs::OutboundPolicy::new(ranges)
    }
}
