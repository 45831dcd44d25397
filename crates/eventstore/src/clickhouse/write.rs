//! The write path: a batch checked against what is stored (ClickHouse has no transactions, so
//! a batch cut short by a crash comes again and its stored rows are dropped one by one), then
//! inserted table by table, with each partition's log position recorded last.

use super::rows::{
    AttributionInsert, CreditInsert, EventInsert, FraudInsert, QuarantineInsert, StoredKey,
    json_lines, key_of, stored_key,
};
use super::{ClickHouseEventStore, count, quote};
use crate::{ApplyOutcome, Batch, EventRow, Offset, Result};
use std::collections::HashSet;
use std::fmt::Write as _;
use unmogrowp_domain::event::EventType;

impl ClickHouseEventStore {
    /// The recorded position of every partition (see [`EventStore::positions`]).
    pub(super) async fn read_positions(&self) -> Result<std::collections::BTreeMap<u16, Offset>> {
        let rows =
            self.query("SELECT key, max(log_offset) AS position FROM offsets GROUP BY key").await?;
        Ok(rows
            .iter()
            .map(|row| {
                (u16::try_from(count(row, "key")).unwrap_or(u16::MAX), count(row, "position"))
            })
            .collect())
    }

    /// Which of the batch's rows are stored already, as [`stored_key`]s: installs by app and
    /// id whatever their time (an install counted twice would skew every report and credit),
    /// other rows by app, id and event time — a re-sent event carries its time, so the
    /// lookup is a point read on the sort key `(app_id, kind, ts)`. This is what makes a
    /// re-sent id count once however it reached the log (two ingest nodes, a retry after
    /// the broker's duplicate window), as the embedded store's `seen` tables do.
    pub(super) async fn stored_rows(&self, rows: &[EventRow]) -> Result<HashSet<StoredKey>> {
        let mut found = HashSet::new();
        let (installs, others): (Vec<&EventRow>, Vec<&EventRow>) =
            rows.iter().partition(|row| row.kind == EventType::Install);
        let set = |values: &mut dyn Iterator<Item = String>| -> String {
            let unique: std::collections::BTreeSet<String> = values.collect();
            unique.into_iter().collect::<Vec<_>>().join(", ")
        };
        if !installs.is_empty() {
            let sql = format!(
                "SELECT app_id, id, kind, ts FROM events WHERE app_id IN ({}) AND kind = 'install' AND id IN ({})",
                set(&mut installs.iter().map(|row| quote(row.app_id.as_str()))),
                set(&mut installs.iter().map(|row| quote(&row.id))),
            );
            for row in self.query(&sql).await? {
                found.insert(key_of(&row)?);
            }
        }
        if !others.is_empty() {
            let sql = format!(
                "SELECT app_id, id, kind, ts FROM events WHERE app_id IN ({}) AND kind IN ({}) AND ts IN ({}) AND id IN ({})",
                set(&mut others.iter().map(|row| quote(row.app_id.as_str()))),
                set(&mut others.iter().map(|row| quote(row.kind.as_str()))),
                set(&mut others.iter().map(|row| row.timestamp_ms.to_string())),
                set(&mut others.iter().map(|row| quote(&row.id))),
            );
            for row in self.query(&sql).await? {
                found.insert(key_of(&row)?);
            }
        }
        Ok(found)
    }

    /// [`EventStore::apply_shared`](crate::EventStore::apply_shared): rows checked against the
    /// stored ones, idempotent tables first, the events (and, through the views, the rollups)
    /// next, the positions last.
    pub(super) async fn apply_batch(&self, batch: std::sync::Arc<Batch>) -> Result<ApplyOutcome> {
        let batch = &*batch;
        let mut state = self.write.lock().await;
        let ends = batch.ends();
        let applied = |(partition, offset): &(u16, Offset)| {
            state.positions.get(partition).is_some_and(|stored| *stored > 0 && offset <= stored)
        };
        if ends.iter().all(applied) {
            // Already applied (a replay after a restart).
            return Ok(ApplyOutcome { stored: 0, duplicates: batch.rows.len() as u64 });
        }
        // Erasures first: they take what earlier batches stored (the pipeline already took
        // this batch's rows from before the request out of it). A batch applied again after
        // a crash finds them done and cannot bring erased rows back.
        self.erase_all(&batch.erasures).await?;
        let stored_before: HashSet<StoredKey> = self.stored_rows(&batch.rows).await?;
        let mut outcome = ApplyOutcome::default();
        let mut seen: HashSet<StoredKey> = HashSet::new();
        let mut fresh: Vec<&EventRow> = Vec::with_capacity(batch.rows.len());
        for row in &batch.rows {
            let key = stored_key(row.app_id.as_str(), &row.id, row.kind, row.timestamp_ms);
            if stored_before.contains(&key) || !seen.insert(key) {
                outcome.duplicates += 1;
                continue;
            }
            fresh.push(row);
        }
        outcome.stored = fresh.len() as u64;
        let new_installs: HashSet<(&str, &str)> = fresh
            .iter()
            .filter(|row| row.kind == EventType::Install)
            .map(|row| (row.app_id.as_str(), row.id.as_str()))
            .collect();
        let mut decided: HashSet<(&str, &str)> = HashSet::new();
        // Idempotent tables first; the events (and, through the views, the rollups) next; the
        // offset last.
        self.insert(
            "quarantine",
            json_lines(batch.quarantined.iter().map(|r| QuarantineInsert {
                app_id: r.app_id.as_str(),
                received_ms: r.received_ms,
                idx: r.index,
                event_id: r.event_id.as_deref(),
                code: &r.code,
                message: &r.message,
                raw: &r.raw,
            }))?,
        )
        .await?;
        self.insert(
            "attributions",
            // Decisions of installs stored anew only, the first per install: a copy of an
            // install (decided again, as a re-install) must not replace the original's.
            json_lines(
                batch
                    .attributions
                    .iter()
                    .filter(|a| {
                        let key = (a.app_id.as_str(), a.event_id.as_str());
                        new_installs.contains(&key) && decided.insert(key)
                    })
                    .map(|a| AttributionInsert {
                        app_id: a.app_id.as_str(),
                        event_id: &a.event_id,
                        device_id: a.device_id.as_deref(),
                        status: a.status.as_str(),
                        match_type: a.match_type.map(|m| m.as_str()),
                        touch_id: a.touch_id.as_deref(),
                        touch_kind: a.touch_kind.map(|k| k.as_str()),
                        touch_at: a.touch_at_ms,
                        link_id: a.link_id.as_deref(),
                        network: &a.dims.network,
                        campaign: &a.dims.campaign,
                        adgroup: &a.dims.adgroup,
                        creative: &a.dims.creative,
                        country: &a.dims.country,
                        rejection_reason: a.rejection_reason.map(|r| r.as_str()),
                        reattribution: u8::from(a.reattribution),
                        reinstall: u8::from(a.reinstall),
                        install_at: a.install_at_ms,
                        decided_at: a.decided_at_ms,
                        day: a.day,
                        keep: u64::MAX - u64::try_from(a.decided_at_ms).unwrap_or(0),
                    }),
            )?,
        )
        .await?;
        self.insert(
            "credits",
            json_lines(
                batch
                    .credits
                    .iter()
                    .filter(|c| new_installs.contains(&(c.app_id.as_str(), c.event_id.as_str())))
                    .map(|c| CreditInsert {
                        app_id: c.app_id.as_str(),
                        model: c.attribution_model.as_str(),
                        day: c.day,
                        event_id: &c.event_id,
                        network: &c.dims.network,
                        campaign: &c.dims.campaign,
                        adgroup: &c.dims.adgroup,
                        creative: &c.dims.creative,
                        country: &c.dims.country,
                        installs: c.installs,
                    }),
            )?,
        )
        .await?;
        self.insert(
            "events",
            json_lines(fresh.iter().map(|row| EventInsert::of(row, batch.last_offset)))?,
        )
        .await?;
        // Fraud signals of installs stored anew (after the events: a crash in between loses
        // a signal rather than counting it twice).
        self.insert(
            "fraud_rollups",
            json_lines(
                batch
                    .fraud
                    .iter()
                    .filter(|hit| {
                        new_installs.contains(&(hit.app_id.as_str(), hit.event_id.as_str()))
                    })
                    .map(|hit| FraudInsert {
                        app_id: hit.app_id.as_str(),
                        day: hit.day,
                        fraud_kind: hit.reason.kind().as_str(),
                        reason: hit.reason,
                        network: &hit.network,
                        hits: 1,
                    }),
            )?,
        )
        .await?;
        let mut opt_outs = String::new();
        for opt_out in &batch.opt_outs {
            let app_key = unmogrowp_domain::hash::stable_hash(opt_out.app_id.as_str());
            for identifier in &opt_out.identifiers {
                let device_key = unmogrowp_domain::hash::stable_hash(identifier);
                let _ = writeln!(
                    opt_outs,
                    "{{\"app_key\":{app_key},\"device_key\":{device_key},\"at\":{}}}",
                    opt_out.received_ms
                );
            }
        }
        self.insert("opt_outs", opt_outs).await?;
        let mut recorded = String::new();
        for (partition, offset) in &ends {
            let offset = state.positions.get(partition).map_or(*offset, |o| (*o).max(*offset));
            let _ = writeln!(recorded, "{{\"key\":{partition},\"log_offset\":{offset}}}");
        }
        self.insert("offsets", recorded).await?;
        for (partition, offset) in ends {
            let entry = state.positions.entry(partition).or_insert(0);
            *entry = (*entry).max(offset);
        }
        Ok(outcome)
    }
}
