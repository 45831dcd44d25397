//! Bringing the attribution engine up to the event store's position when the pipeline
//! starts: from the snapshot and the log, or, without a usable snapshot, from the event store.

use crate::{Pipeline, attribute};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

impl Pipeline {
    /// Rebuilds the attribution engine for the partitions this worker decides, up to what
    /// the event store already holds in each (decisions for those records are stored; only
    /// the engine's memory is rebuilt): the snapshot if it stands exactly there; on a log of
    /// one partition, a snapshot behind the store and the log from there; otherwise the
    /// event store.
    pub(crate) async fn warm_up(
        &mut self,
        shutdown: &mut watch::Receiver<bool>,
    ) -> anyhow::Result<()> {
        // Opt-outs first: a replay of the log below must already anonymize their devices.
        let opt_outs = self.events.opt_outs().await?;
        self.attributor.set_opt_outs(&opt_outs);
        self.warm_up_engine(shutdown).await?;
        // A rebuild from the store starts from a new attributor.
        self.attributor.set_opt_outs(&opt_outs);
        Ok(())
    }

    async fn warm_up_engine(&mut self, shutdown: &mut watch::Receiver<bool>) -> anyhow::Result<()> {
        let stored = self.positions.clone();
        let single = stored.keys().eq([0u16].iter()) && self.log.partitions() == 1;
        let loaded = self.attributor.load(|snapshot| {
            let same_partitions = snapshot.keys().eq(stored.keys());
            let behind = stored
                .iter()
                .all(|(partition, at)| snapshot.get(partition).is_some_and(|s| s <= at));
            if single { same_partitions && behind } else { snapshot == &stored }
        });
        let from = loaded.as_ref().and_then(|positions| positions.get(&0).copied()).unwrap_or(0);
        let position = stored.get(&0).copied().unwrap_or(0);
        if loaded.as_ref() == Some(&stored) || stored.values().all(|at| *at == 0) {
            return Ok(());
        }
        if !single || from == 0 {
            // No usable snapshot: the event store holds every decision and touch, the log
            // only its retention.
            self.attributor = attribute::Attributor::new(
                self.options.snapshot_path.clone(),
                i64::try_from(self.options.max_event_age.as_millis()).unwrap_or(i64::MAX),
            );
            return self.rebuild_from_store(shutdown).await;
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
            let records = crate::trace::decode(
                records.into_iter().map(|(offset, bytes)| (0, offset, bytes)).collect(),
            );
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

    /// Rebuilds the attribution engine from the event store (as of its positions): every
    /// stored decision of an app in this worker's partitions restores its device's history
    /// (so a re-install of a device seen before the log's retention is still a re-install),
    /// then the clicks and impressions that an acceptable install could still use go back
    /// into the index.
    async fn rebuild_from_store(
        &mut self,
        shutdown: &mut watch::Receiver<bool>,
    ) -> anyhow::Result<()> {
        let partition_count = self.log.partitions();
        let owned: std::collections::BTreeSet<u16> = self.positions.keys().copied().collect();
        let every_partition = owned.len() == usize::from(partition_count);
        let mine = move |app_id: &str| {
            every_partition
                || owned.contains(&unmogrowp_domain::hash::partition_of(app_id, partition_count))
        };
        const HOUR_MS: i64 = 3_600_000;
        let started = std::time::Instant::now();
        // The sinks run where the store reads (a blocking thread, or the store's task): the
        // attributor goes there behind a lock and comes back after.
        let attributor = Arc::new(std::sync::Mutex::new(std::mem::replace(
            &mut self.attributor,
            attribute::Attributor::new(None, 0),
        )));
        let restore = attributor.clone();
        let mine_too = mine.clone();
        let decisions = self
            .events
            .decisions(Box::new(move |row| {
                if !mine_too(row.app_id.as_str()) {
                    return true;
                }
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
                    for app_id in apps.into_iter().filter(|app_id| mine(app_id.as_str())) {
                        let Some(app) = self.app_settings(&app_id, shutdown).await else {
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
        metrics::counter!(crate::metric_names::PIPELINE_INDEX_REBUILDS_TOTAL, "from" => "event_store").increment(1);
        tracing::info!(
            positions = ?self.positions,
            decisions,
            touches,
            touchpoints = self.attributor.touch_count(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "attribution index rebuilt from the event store"
        );
        Ok(())
    }
}
