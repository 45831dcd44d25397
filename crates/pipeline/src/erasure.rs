//! An erasure met while deciding a batch: the batch's own rows of the device (or app) that
//! came before it in the log are taken out before anything is stored, with their decisions,
//! credits, fraud signals, postback triggers and live messages. The store then erases what
//! earlier batches stored, before it stores this batch's rows: so everything before the
//! request in log order goes, everything after it stays, whatever the clocks say, and a
//! batch applied again after a crash cannot bring erased rows back.

use crate::attribute::Outputs;
use crate::handle::LiveMessage;
use std::collections::HashSet;
use unmogrowp_domain::erasure::{Erasure, ErasureScope};
use unmogrowp_domain::event::EventType;
use unmogrowp_eventstore::Batch;

/// Takes what `erasure` names out of the batch decided so far.
pub(crate) fn drop_erased(
    erasure: &Erasure,
    batch: &mut Batch,
    outputs: &mut Outputs,
    live: &mut Vec<LiveMessage>,
) {
    let app = &erasure.app_id;
    let gone: HashSet<String> = match &erasure.scope {
        ErasureScope::App => {
            batch.quarantined.retain(|row| &row.app_id != app);
            batch.rows.iter().filter(|row| &row.app_id == app).map(|row| row.id.clone()).collect()
        }
        ErasureScope::Device { identifiers: asked } => {
            // The device's identifiers, widened by those seen with them on the batch's rows.
            let mut ids: HashSet<String> = asked.iter().cloned().collect();
            loop {
                let known = ids.len();
                for row in batch.rows.iter().filter(|row| &row.app_id == app) {
                    let row_ids = row.identifiers();
                    if row_ids.iter().any(|id| ids.contains(id)) {
                        ids.extend(row_ids);
                    }
                }
                if ids.len() == known {
                    break;
                }
            }
            let mut gone: HashSet<String> = batch
                .rows
                .iter()
                .filter(|row| {
                    &row.app_id == app && row.identifiers().iter().any(|id| ids.contains(id))
                })
                .map(|row| row.id.clone())
                .collect();
            // The touchpoints its installs in this batch were credited to.
            let credited: Vec<String> = outputs
                .attributions
                .iter()
                .filter(|a| &a.app_id == app && gone.contains(&a.event_id))
                .filter_map(|a| a.touch_id.clone())
                .collect();
            gone.extend(
                batch
                    .rows
                    .iter()
                    .filter(|row| {
                        &row.app_id == app
                            && matches!(row.kind, EventType::Click | EventType::Impression)
                            && credited.contains(&row.id)
                    })
                    .map(|row| row.id.clone()),
            );
            gone
        }
    };
    if gone.is_empty() {
        return;
    }
    let erased = |app_id: &str, id: &str| app_id == app.as_str() && gone.contains(id);
    batch.rows.retain(|row| !erased(row.app_id.as_str(), &row.id));
    outputs.attributions.retain(|a| !erased(a.app_id.as_str(), &a.event_id));
    outputs.credits.retain(|c| !erased(c.app_id.as_str(), &c.event_id));
    outputs.fraud.retain(|f| !erased(f.app_id.as_str(), &f.event_id));
    outputs.triggers.retain(|t| !erased(&t.app_id, &t.event_id));
    live.retain(|m| !erased(&m.app_id, &m.id));
}
