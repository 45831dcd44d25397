//! Opt-outs: a device asking not to be tracked, as a log record placed before its events.

use crate::{Ingest, IngestError, encode};
use unmogrowp_bus::Entry;
use unmogrowp_domain::event::{LogRecord, LoggedEvent, Source};
use unmogrowp_storage::App;

/// The log entry of a device's opt-out (`None`: the device sent no identifier, so there is
/// nothing to opt out beyond the event itself). Its key names the app (for the partition),
/// never the identifiers.
pub(crate) fn opt_out_entry(event: &LoggedEvent) -> Result<Option<Entry>, IngestError> {
    let identifiers = event.device.identifiers();
    if identifiers.is_empty() {
        return Ok(None);
    }
    // Random, so that no event id (`optout:…`) can share the key and be taken for a
    // duplicate of it.
    let key = format!("{}:optout:{}", event.app_id, uuid::Uuid::new_v4().simple());
    let record = LogRecord::OptOut(unmogrowp_domain::erasure::OptOut {
        org_id: event.org_id.clone(),
        app_id: event.app_id.clone(),
        identifiers,
        received_ms: event.received_ms,
    });
    Ok(Some(Entry { key, payload: encode(&record)? }))
}

impl Ingest {
    /// Records that a device of `app` opted out of tracking (`POST /v1/opt-out`): from this
    /// point of the log on, its events are kept only as anonymous counts. `device` must carry
    /// at least one real identifier (the caller says so to the client otherwise). Returns once
    /// the opt-out is durable.
    pub async fn opt_out(
        &self,
        app: &App,
        device: unmogrowp_domain::event::Device,
    ) -> Result<(), IngestError> {
        let event = LoggedEvent {
            id: String::new(),
            org_id: app.org_id.clone(),
            app_id: app.id.clone(),
            kind: unmogrowp_domain::event::EventType::Session,
            name: None,
            timestamp_ms: 0,
            received_ms: jiff::Timestamp::now().as_millisecond(),
            source: Source::Sdk,
            device,
            click_id: None,
            link: None,
            network_click_id: None,
            subs: Vec::new(),
            revenue: None,
            properties: None,
            trace: None,
        };
        self.check_backlog()?;
        self.admit(&app.org_id, &app.id, 1).await?;
        if let Some(entry) = opt_out_entry(&event)? {
            self.log.append(vec![entry]).await?;
            metrics::counter!(crate::metric_names::INGEST_OPT_OUTS_TOTAL).increment(1);
        }
        Ok(())
    }
}
