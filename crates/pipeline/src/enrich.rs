//! Turning a log record into a stored row: report day in the app's time zone, revenue in the
//! app's currency, the source it is credited to.

use std::sync::Arc;
use std::time::Duration;
use unmogrowp_domain::event::LoggedEvent;
use unmogrowp_domain::money::Rates;
use unmogrowp_domain::{AppId, Day};
use unmogrowp_eventstore::{Dims, EventRow};
use unmogrowp_storage::Store;

/// What the pipeline needs to know of an app.
#[derive(Clone, Debug)]
pub struct AppInfo {
    /// The IANA time zone report days follow (UTC when the app's zone is unknown to the
    /// time zone database, or for a deleted app).
    pub time_zone: jiff::tz::TimeZone,
    /// The ISO 4217 code revenue is converted into (e.g. `EUR`; `USD` for a deleted app).
    pub currency: String,
    /// The app's attribution windows and fraud thresholds in the engine's units
    /// (milliseconds; see [`engine_settings`]). Its `max_lateness_ms` is not used: the
    /// pipeline applies ingestion's maximum event age instead.
    pub settings: unmogrowp_attribution::Settings,
    /// The organization's blocked IP ranges.
    pub blocked: Vec<unmogrowp_domain::net::IpNet>,
}

impl Default for AppInfo {
    fn default() -> Self {
        Self {
            time_zone: jiff::tz::TimeZone::UTC,
            currency: "USD".to_owned(),
            settings: unmogrowp_attribution::Settings::default(),
            blocked: Vec::new(),
        }
    }
}

/// The engine's settings for an app's attribution settings.
pub fn engine_settings(
    settings: &unmogrowp_domain::app::AttributionSettings,
) -> unmogrowp_attribution::Settings {
    const HOUR: i64 = 3_600_000;
    unmogrowp_attribution::Settings {
        click_window_ms: i64::from(settings.click_window_hours) * HOUR,
        view_window_ms: i64::from(settings.view_window_hours) * HOUR,
        probabilistic_window_ms: i64::from(settings.probabilistic_window_hours) * HOUR,
        reattribution_window_ms: i64::from(settings.reattribution_window_days) * 24 * HOUR,
        reengagement_window_ms: i64::from(settings.reengagement_window_days) * 24 * HOUR,
        min_ctit_ms: i64::from(settings.min_ctit_seconds) * 1000,
        flood_threshold_per_hour: settings.click_flood_threshold_per_hour,
        // Set by the attributor from ingestion's maximum event age.
        max_lateness_ms: unmogrowp_attribution::Settings::default().max_lateness_ms,
    }
}

/// The cache of app settings, shared with the pipeline's handle so that changes made on
/// this node apply at once.
pub type AppCache = moka::future::Cache<AppId, Arc<AppInfo>>;

pub fn app_cache() -> AppCache {
    moka::future::Cache::builder()
        .max_capacity(100_000)
        .time_to_live(Duration::from_secs(60))
        .build()
}

/// App settings by id, cached (an app's time zone or currency rarely changes; a change
/// applies to records processed after the cache entry expires).
pub(crate) struct AppDirectory {
    store: Store,
    cache: AppCache,
}

impl AppDirectory {
    pub(crate) fn new(store: Store, cache: AppCache) -> Self {
        Self { store, cache }
    }

    /// The app's settings. A failed read is an error, never defaults: deciding with default
    /// windows or without the blocked ranges would store a different outcome for good
    /// (the caller retries).
    pub(crate) async fn get(
        &self,
        app_id: &AppId,
    ) -> Result<Arc<AppInfo>, unmogrowp_storage::StorageError> {
        if let Some(info) = self.cache.get(app_id).await {
            return Ok(info);
        }
        let credentials = self.store.credentials();
        let info = match credentials.app(app_id).await? {
            Some(app) => {
                let blocked = credentials
                    .blocked_ranges(&app.org_id)
                    .await?
                    .iter()
                    .filter_map(|raw| unmogrowp_domain::net::IpNet::parse(raw).ok())
                    .collect();
                AppInfo {
                    time_zone: jiff::tz::TimeZone::get(&app.time_zone)
                        .unwrap_or(jiff::tz::TimeZone::UTC),
                    currency: app.currency,
                    settings: engine_settings(&app.attribution),
                    blocked,
                }
            }
            // A deleted app: its records are still stored, with the defaults.
            None => AppInfo::default(),
        };
        let info = Arc::new(info);
        self.cache.insert(app_id.clone(), info.clone()).await;
        Ok(info)
    }
}

pub fn report_day(timestamp_ms: i64, time_zone: &jiff::tz::TimeZone) -> Day {
    Day::of_millis_in(timestamp_ms, time_zone)
}

/// The stored row for a record, credited to its link (touchpoints) or to organic.
pub fn to_row(event: &LoggedEvent, app: &AppInfo, rates: &Rates) -> EventRow {
    let country = event.device.country.clone().unwrap_or_default();
    let dims = match (&event.link, event.kind.is_touch()) {
        (Some(link), true) => Dims {
            network: link.network.clone(),
            campaign: link.campaign.clone(),
            adgroup: link.adgroup.clone(),
            creative: link.creative.clone(),
            country,
        },
        _ => Dims::organic(&country),
    };
    let revenue = event
        .revenue
        .as_ref()
        .and_then(|money| rates.convert(money.amount, &money.currency, &app.currency))
        .unwrap_or(0.0);
    let device = &event.device;
    EventRow {
        app_id: event.app_id.clone(),
        org_id: event.org_id.clone(),
        id: event.id.clone(),
        kind: event.kind,
        name: event.name.clone(),
        timestamp_ms: event.timestamp_ms,
        received_ms: event.received_ms,
        day: report_day(event.timestamp_ms, &app.time_zone),
        device_id: device.primary_id(),
        gaid: device.gaid.clone(),
        idfa: device.idfa.clone(),
        idfv: device.idfv.clone(),
        ip: device.ip.clone(),
        user_agent: device.user_agent.clone(),
        os: device.os.clone(),
        os_version: device.os_version.clone(),
        device_model: device.model.clone(),
        locale: device.locale.clone(),
        click_id: event.click_id.clone(),
        link_id: event.link.as_ref().map(|l| l.link_id.clone()),
        network_click_id: event.network_click_id.clone(),
        subs: event.subs.clone(),
        dims,
        revenue_amount: event.revenue.as_ref().map(|m| m.amount),
        revenue_currency: event.revenue.as_ref().map(|m| m.currency.clone()),
        revenue,
        properties: event.properties.clone(),
        install: None,
        reattribution: false,
        reengagement: false,
        reinstall: false,
        fraud_reason: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_days_follow_the_time_zone() {
        // 2026-11-20T23:30:00Z is already the 21st in Berlin.
        let ms = "2026-11-20T23:30:00Z"
            .parse::<jiff::Timestamp>()
            .map(|t| t.as_millisecond())
            .unwrap_or_default();
        assert_eq!(report_day(ms, &jiff::tz::TimeZone::UTC).to_string(), "2026-11-20");
        let berlin = jiff::tz::TimeZone::get("Europe/Berlin").unwrap_or(jiff::tz::TimeZone::UTC);
        assert_eq!(report_day(ms, &berlin).to_string(), "2026-11-21");
    }
}
