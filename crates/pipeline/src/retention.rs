//! Retention: log records and raw event partitions past their time are removed on a
//! schedule of their own, beside the read loop, so a worker that is never idle still does it.

use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use unmogrowp_bus::EventLog;
use unmogrowp_eventstore::EventStore;

/// Enforces the log's and the event store's retention every `every` (the first time one
/// period after start) until `shutdown` turns true.
pub(crate) async fn enforce_every(
    log: Arc<dyn EventLog>,
    events: Arc<dyn EventStore>,
    log_retention: Duration,
    events_retention_days: u32,
    every: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut ticks = tokio::time::interval_at(
        tokio::time::Instant::now() + every,
        every.max(Duration::from_millis(100)),
    );
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = shutdown.wait_for(|stopping| *stopping) => return,
        }
        retention(log.as_ref(), events.as_ref(), log_retention, events_retention_days).await;
    }
}

/// Removes log records past `log_retention` and raw event partitions past
/// `events_retention_days`; failures are logged and retried at the next period.
async fn retention(
    log: &dyn EventLog,
    events: &dyn EventStore,
    log_retention: Duration,
    events_retention_days: u32,
) {
    match log.enforce_retention(log_retention).await {
        Ok(removed) if removed > 0 => {
            tracing::info!(removed, "event log segments past retention removed")
        }
        Ok(_) => {}
        Err(error) => tracing::warn!(%error, "event log retention failed"),
    }
    let cutoff = jiff::Timestamp::now()
        .checked_sub(jiff::SignedDuration::from_hours(24 * i64::from(events_retention_days)))
        .map(|t| unmogrowp_domain::Day::of_utc_millis(t.as_millisecond()));
    if let Ok(cutoff) = cutoff {
        match events.drop_days_before(cutoff).await {
            Ok(dropped) if dropped > 0 => {
                tracing::info!(dropped, "raw event partitions past retention dropped")
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "event store retention failed"),
        }
    }
}
