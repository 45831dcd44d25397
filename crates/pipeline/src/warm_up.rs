//! Bringing the attribution engine up to the event store's position when the pipeline
//! starts: from the snapshot and the log, or, without a usable snapshot, from the event store.

use crate::{Offset, Pipeline, attribute};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

impl Pipeline {
    /// Rebuilds the attribution engine: the snapshot, then the log from there up to what
    /// the event store already holds (decisions for those records are stored; only the
    /// engine's memory is rebuilt).
    pub(crate) async fn warm_up(
        &mut self,
        shutdown: &mut watch::Receiver<bool>,
    ) -> anyhow::Result<()> {
        let position = self.handle.position();
        let from = self.attributor.load(position);
        if from >= position {
            return Ok(());
        }
        if from == 0 {
            // No usable snapshot: the event store holds every decision and touch, the log
            // only its retention.
            return self.rebuild_from_store(position, shutdown).await;
        }
        let started = std::time::Instant::now();
        let mut reader = self.log.reader(from + 1).await?;
        let mut next = from + 1;
        while next <= position {
            let records = reader
                .next_batch(
                    self.options
                        .batch_size
                        .min(usize::try_from(position - next + 1).unwrap_or(usize::MAX)),
                    Duration::from_millis(200),
                )
                .await?;
            if records.is_empty() {
                anyhow::bail!("the event log ends at {} but the store is at {position}", next - 1);
            }
            next = records.last().map_or(next, |(offset, _)| offset + 1);
            if self.prepare(records, shutdown).await.is_none() {
                anyhow::bail!("stopped while rebuilding");
            }
        }
        tracing::info!(
            from,
            to = position,
            touchpoints = self.attributor.touch_count(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "attribution index rebuilt"
        );
        Ok(())
    }

    /// Rebuilds the attribution engine from the event store (as of `position`): every stored
    /// decision restores its device's history (so a re-install of a device seen before the
    /// log's retention is still a re-install), then the clicks and impressions that an
    /// acceptable install could still use go back into the index.
    async fn rebuild_from_store(
        &mut self,
        position: Offset,
        shutdown: &mut watch::Receiver<bool>,
    ) -> anyhow::Result<()> {
        const HOUR_MS: i64 = 3_600_000;
        let started = std::time::Instant::now();
        // The sinks run where the store reads (a blocking thread, or the store's task): the
        // attributor goes there behind a lock and comes back after.
        let attributor = Arc::new(std::sync::Mutex::new(std::mem::replace(
            &mut self.attributor,
            attribute::Attributor::new(None, 0),
        )));
        let restore = attributor.clone();
        let decisions = self
            .events
            .decisions(Box::new(move |row| {
                if let Ok(mut attributor) = restore.lock() {
                    attributor.restore_decision(&row);
                }
                true
            }))
            .await;
        // The longest window an app may set (720 h of clicks) plus how late events may come.
        let horizon = 720 * HOUR_MS
            + i64::try_from(self.options.max_event_age.as_millis()).unwrap_or(i64::MAX / 2);
        let since = jiff::Timestamp::now().as_millisecond().saturating_sub(horizon);
        let mut settings = std::collections::HashMap::new();
        let touches = match &decisions {
            Err(_) => Ok(0),
            Ok(_) => match self.events.touch_apps(since).await {
                Err(error) => Err(error),
                Ok(apps) => {
                    for app_id in apps {
                        let id = unmogrowp_domain::AppId::from_stored(app_id.clone());
                        let Some(app) = self.app_settings(&id, shutdown).await else {
                            anyhow::bail!("stopped while rebuilding");
                        };
                        settings.insert(app_id, app.settings);
                    }
                    let restore = attributor.clone();
                    self.events
                        .touches(
                            since,
                            Box::new(move |row| {
                                if let (Ok(mut attributor), Some(settings)) =
                                    (restore.lock(), settings.get(&row.app_id))
                                {
                                    attributor.restore_touch(&row, settings);
                                }
                                true
                            }),
                        )
                        .await
                }
            },
        };
        let restored = Arc::try_unwrap(attributor)
            .map_err(|_| anyhow::anyhow!("the attributor is still shared"))?
            .into_inner()
            .map_err(|_| anyhow::anyhow!("restoring the attribution index panicked"))?;
        self.attributor = restored;
        let decisions = decisions?;
        let touches = touches?;
        metrics::counter!("pipeline_index_rebuilds_total", "from" => "event_store").increment(1);
        tracing::info!(
            position,
            decisions,
            touches,
            touchpoints = self.attributor.touch_count(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "attribution index rebuilt from the event store"
        );
        Ok(())
    }
}
