//! Erasures on ClickHouse. Rows are removed with mutations (`ALTER TABLE … DELETE`, waited
//! for), and the rollups and device days of what was removed are computed again from the
//! events that remain (the views only ever add). ClickHouse has no transactions, so what an
//! erasure will delete is written first (`erasures`, stage 1) and every step after it can run
//! again: a crash part-way is finished when the batch comes again. Once done (stage 2) the
//! stage-1 row, which names the device's identifiers, is merged away.

use super::schema::{DEVICE_DAYS_SELECT, ROLLUP_SELECT};
use super::{ClickHouseEventStore, count, day_literal, quote, text};
use crate::{ErasureReport, Result, StoreError};
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::Duration;
use unmogrowp_domain::erasure::{Erasure, ErasureScope, row_identifiers};
use unmogrowp_domain::{AppId, Day, ErasureId};

/// How long one erasure's mutations may take before the batch is retried.
const MUTATION_TIMEOUT: Duration = Duration::from_secs(600);

/// What a device erasure deletes, decided before anything is deleted.
#[derive(Default)]
struct Plan {
    rows: u64,
    days: BTreeSet<Day>,
    event_ids: BTreeSet<String>,
    identifiers: BTreeSet<String>,
    touch_ids: BTreeSet<String>,
}

/// `'a', 'b'` for an `IN (…)` list; `None` when empty (an empty list is a syntax error).
fn list<'a>(values: impl IntoIterator<Item = &'a String>) -> Option<String> {
    let quoted: Vec<String> = values.into_iter().map(|v| quote(v)).collect();
    (!quoted.is_empty()).then(|| quoted.join(", "))
}

fn strings(value: Option<&Value>) -> BTreeSet<String> {
    match value {
        Some(Value::Array(items)) => {
            items.iter().filter_map(|item| item.as_str().map(str::to_owned)).collect()
        }
        _ => BTreeSet::new(),
    }
}

/// Rows of the device: any of its identifiers. (Every stored row came before the request in
/// the log: erasures run before their batch's rows are stored.)
fn own_rows(identifiers: &BTreeSet<String>) -> String {
    let Some(ids) = list(identifiers) else { return "0".to_owned() };
    format!(
        "((ifNull(device_id, '') IN ({ids})
            OR concat('gaid:', lower(replaceRegexpAll(ifNull(gaid, ''), '^[[:space:]]+|[[:space:]]+$', ''))) IN ({ids})
            OR concat('idfa:', lower(replaceRegexpAll(ifNull(idfa, ''), '^[[:space:]]+|[[:space:]]+$', ''))) IN ({ids})
            OR concat('idfv:', lower(replaceRegexpAll(ifNull(idfv, ''), '^[[:space:]]+|[[:space:]]+$', ''))) IN ({ids})))"
    )
}

impl ClickHouseEventStore {
    /// Carries out the batch's erasures, one after another.
    pub(super) async fn erase_all(&self, erasures: &[Erasure]) -> Result<()> {
        for erasure in erasures {
            self.erase(erasure).await?;
        }
        Ok(())
    }

    async fn progress(
        &self,
        app_id: &AppId,
        id: &ErasureId,
    ) -> Result<Option<serde_json::Map<String, Value>>> {
        Ok(self
            .query(&format!(
                "SELECT stage, rows, days, event_ids, identifiers, touch_ids, completed_ms
                 FROM erasures FINAL WHERE app_id = {} AND id = {}",
                quote(app_id.as_str()),
                quote(id.as_str())
            ))
            .await?
            .into_iter()
            .next())
    }

    /// [`crate::EventStore::erasure`].
    pub(super) async fn erasure_report(
        &self,
        app_id: &AppId,
        id: &ErasureId,
    ) -> Result<Option<ErasureReport>> {
        Ok(self.progress(app_id, id).await?.filter(|row| count(row, "stage") == 2).map(|row| {
            ErasureReport {
                rows: count(&row, "rows"),
                completed_ms: super::int(&row, "completed_ms").unwrap_or(0),
            }
        }))
    }

    async fn erase(&self, erasure: &Erasure) -> Result<()> {
        let app = quote(erasure.app_id.as_str());
        let plan = match self.progress(&erasure.app_id, &erasure.id).await? {
            Some(row) if count(&row, "stage") >= 2 => return Ok(()),
            Some(row) => Plan {
                rows: count(&row, "rows"),
                days: strings(row.get("days")).iter().filter_map(|d| d.parse().ok()).collect(),
                event_ids: strings(row.get("event_ids")),
                identifiers: strings(row.get("identifiers")),
                touch_ids: strings(row.get("touch_ids")),
            },
            None => {
                let plan = match &erasure.scope {
                    ErasureScope::App => {
                        let rows = self
                            .query(&format!(
                                "SELECT count() AS rows FROM events WHERE app_id = {app}"
                            ))
                            .await?
                            .first()
                            .map_or(0, |row| count(row, "rows"));
                        Plan { rows, ..Plan::default() }
                    }
                    ErasureScope::Device { identifiers } => self.plan(erasure, identifiers).await?,
                };
                self.record(erasure, 1, &plan).await?;
                plan
            }
        };
        match &erasure.scope {
            ErasureScope::App => {
                for table in [
                    "events",
                    "rollups",
                    "fraud_rollups",
                    "device_days",
                    "attributions",
                    "credits",
                    "quarantine",
                ] {
                    self.execute(&format!("ALTER TABLE {table} DELETE WHERE app_id = {app}"))
                        .await?;
                }
                self.mutations_done(&erasure.app_id).await?;
            }
            ErasureScope::Device { .. } => self.erase_device(erasure, &plan).await?,
        }
        self.record(erasure, 2, &Plan { rows: plan.rows, ..Plan::default() }).await?;
        // Merge the stage-1 row (which names the identifiers) away.
        self.execute("OPTIMIZE TABLE erasures FINAL").await?;
        // (ClickHouse keeps the text of mutations, which names the identifiers, in
        // `system.mutations` until old mutations are cleaned up: see ARCHITECTURE.md.)
        tracing::info!(erasure = %erasure.id, app_id = %erasure.app_id, rows = plan.rows, "erasure carried out");
        Ok(())
    }

    /// Finds the device's identifiers (those asked for and those seen with them on a row,
    /// transitively), its installs' decisions and the touchpoints credited with them, and
    /// counts the rows to delete.
    async fn plan(&self, erasure: &Erasure, asked: &[String]) -> Result<Plan> {
        let app = quote(erasure.app_id.as_str());
        let mut plan = Plan { identifiers: asked.iter().cloned().collect(), ..Plan::default() };
        for _ in 0..8 {
            let rows = self
                .query(&format!(
                    "SELECT DISTINCT gaid, idfa, idfv, device_id FROM events WHERE app_id = {app} AND {}",
                    own_rows(&plan.identifiers)
                ))
                .await?;
            let known = plan.identifiers.len();
            for row in &rows {
                plan.identifiers.extend(row_identifiers(
                    text(row, "gaid").as_deref(),
                    text(row, "idfa").as_deref(),
                    text(row, "idfv").as_deref(),
                    text(row, "device_id").as_deref(),
                ));
            }
            if plan.identifiers.len() == known {
                break;
            }
        }
        if let Some(ids) = list(&plan.identifiers) {
            for row in self
                .query(&format!(
                    "SELECT event_id, touch_id FROM attributions
                     WHERE app_id = {app} AND device_id IN ({ids})"
                ))
                .await?
            {
                plan.event_ids.extend(text(&row, "event_id"));
                plan.touch_ids.extend(text(&row, "touch_id"));
            }
        }
        for row in self
            .query(&format!(
                "SELECT id, kind, toString(day) AS day FROM events WHERE app_id = {app} AND {}",
                Self::device_rows(&plan)
            ))
            .await?
        {
            plan.rows += 1;
            if let Some(day) = text(&row, "day").and_then(|d| d.parse().ok()) {
                plan.days.insert(day);
            }
            if text(&row, "kind").as_deref() == Some("install") {
                plan.event_ids.extend(text(&row, "id"));
            }
        }
        Ok(plan)
    }

    /// The events a device erasure deletes: the device's own rows, the touchpoints its
    /// installs were credited to, and its installs.
    fn device_rows(plan: &Plan) -> String {
        let mut terms = vec![own_rows(&plan.identifiers)];
        if let Some(touches) = list(&plan.touch_ids) {
            terms.push(format!("(kind IN ('click', 'impression') AND id IN ({touches}))"));
        }
        if let Some(installs) = list(&plan.event_ids) {
            terms.push(format!("(kind = 'install' AND id IN ({installs}))"));
        }
        format!("({})", terms.join(" OR "))
    }

    async fn erase_device(&self, erasure: &Erasure, plan: &Plan) -> Result<()> {
        let app = quote(erasure.app_id.as_str());
        self.execute(&format!(
            "ALTER TABLE events DELETE WHERE app_id = {app} AND {}",
            Self::device_rows(plan)
        ))
        .await?;
        if let Some(installs) = list(&plan.event_ids) {
            for table in ["attributions", "credits"] {
                self.execute(&format!(
                    "ALTER TABLE {table} DELETE WHERE app_id = {app} AND event_id IN ({installs})"
                ))
                .await?;
            }
        }
        let days: Vec<String> = plan.days.iter().map(|day| day_literal(*day)).collect();
        if !days.is_empty() {
            self.execute(&format!(
                "ALTER TABLE rollups DELETE WHERE app_id = {app} AND day IN ({})",
                days.join(", ")
            ))
            .await?;
        }
        let devices = list(&plan.identifiers);
        if let Some(devices) = &devices {
            self.execute(&format!(
                "ALTER TABLE device_days DELETE WHERE app_id = {app} AND device IN ({devices})"
            ))
            .await?;
        }
        // Quarantined events keep the raw JSON as sent: those naming the device go too.
        let values: Vec<String> = plan
            .identifiers
            .iter()
            .filter_map(|id| id.split_once(':'))
            .map(|(_, value)| format!("positionCaseInsensitive(raw, {}) > 0", quote(value)))
            .collect();
        if !values.is_empty() {
            self.execute(&format!(
                "ALTER TABLE quarantine DELETE WHERE app_id = {app} AND ({})",
                values.join(" OR ")
            ))
            .await?;
        }
        self.mutations_done(&erasure.app_id).await?;
        // What remains of those days and of the device (its rows accepted after the request).
        if !days.is_empty() {
            self.execute(&format!(
                "INSERT INTO rollups (app_id, day, network, campaign, adgroup, creative, country, row_count,
                    clicks, impressions, installs, organic_installs, rejected_installs, reattributions,
                    reengagements, sessions, events, reinstalls, event_revenue)
                 {ROLLUP_SELECT} WHERE app_id = {app} AND day IN ({})",
                days.join(", ")
            ))
            .await?;
        }
        if let Some(devices) = &devices {
            self.execute(&format!(
                "INSERT INTO device_days (app_id, device, day, hits, device_revenue)
                 {DEVICE_DAYS_SELECT} AND app_id = {app} AND device_id IN ({devices})"
            ))
            .await?;
        }
        Ok(())
    }

    async fn record(&self, erasure: &Erasure, stage: u8, plan: &Plan) -> Result<()> {
        let line = serde_json::json!({
            "app_id": erasure.app_id.as_str(),
            "id": erasure.id.as_str(),
            "stage": stage,
            "rows": plan.rows,
            "days": plan.days.iter().map(|day| day.to_string()).collect::<Vec<_>>(),
            "event_ids": plan.event_ids,
            "identifiers": plan.identifiers,
            "touch_ids": plan.touch_ids,
            "completed_ms": if stage >= 2 { jiff::Timestamp::now().as_millisecond() } else { 0 },
        });
        self.insert("erasures", format!("{line}\n")).await
    }

    /// Waits until the mutations of this app's erasures have run (others, of other apps or
    /// by hand, are not waited for: each names its app in its command).
    async fn mutations_done(&self, app_id: &AppId) -> Result<()> {
        let started = std::time::Instant::now();
        let sql = format!(
            "SELECT count() AS pending FROM system.mutations
             WHERE database = {} AND is_done = 0 AND position(command, {}) > 0",
            quote(&self.database),
            quote(app_id.as_str())
        );
        let mut pause = Duration::from_millis(20);
        loop {
            let pending = self.query(&sql).await?.first().map_or(0, |row| count(row, "pending"));
            if pending == 0 {
                return Ok(());
            }
            if started.elapsed() > MUTATION_TIMEOUT {
                return Err(StoreError::Unavailable(format!(
                    "{pending} ClickHouse mutations still running after {} s",
                    MUTATION_TIMEOUT.as_secs()
                )));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(500));
        }
    }
}
