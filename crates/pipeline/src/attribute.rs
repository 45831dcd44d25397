//! Attribution inside the pipeline: touchpoints go into the engine, installs are decided,
//! later events are credited to the device's source. The engine's state (and the table of
//! sources it refers to) is snapshotted to disk so a restart replays only the log since
//! the snapshot.

use crate::enrich::AppInfo;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use unmogrowp_attribution::{
    Decision, Engine, InstallInput, Model, RestoredInstall, Status, TouchInput, TouchKind,
    device_keys, fingerprint, id_hash, weights,
};
use unmogrowp_domain::attribution::FraudReason;
use unmogrowp_domain::event::{EventType, LoggedEvent};
use unmogrowp_eventstore::{AttributionRow, CreditRow, Dims, EventRow, FraudHit, InstallOutcome};

/// Where touchpoints come from: their link's dimensions, interned.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Sources {
    dims: Vec<(String, String, String, String, String)>,
    ids: Vec<String>,
    #[serde(skip)]
    index: HashMap<String, u32>,
}

impl Sources {
    fn intern(&mut self, link_id: &str, dims: &Dims) -> u32 {
        if let Some(found) = self.index.get(link_id) {
            return *found;
        }
        let id = u32::try_from(self.ids.len()).unwrap_or(u32::MAX);
        self.ids.push(link_id.to_owned());
        self.dims.push((
            dims.network.clone(),
            dims.campaign.clone(),
            dims.adgroup.clone(),
            dims.creative.clone(),
            String::new(),
        ));
        self.index.insert(link_id.to_owned(), id);
        id
    }

    fn dims(&self, source: u32, country: &str) -> Option<(Dims, String)> {
        let index = usize::try_from(source).ok()?;
        let (network, campaign, adgroup, creative, _) = self.dims.get(index)?;
        Some((
            Dims {
                network: network.clone(),
                campaign: campaign.clone(),
                adgroup: adgroup.clone(),
                creative: creative.clone(),
                country: country.to_owned(),
            },
            self.ids.get(index).cloned().unwrap_or_default(),
        ))
    }

    fn reindex(&mut self) {
        self.index = self
            .ids
            .iter()
            .enumerate()
            .map(|(i, id)| (id.clone(), u32::try_from(i).unwrap_or(u32::MAX)))
            .collect();
    }
}

/// Snapshot files start with this (then postcard of [`Snapshot`]); a file with
/// [`SNAPSHOT_MAGIC_V2`] holds one offset (partition 0's), and a file with neither is a
/// snapshot of the layout before that ([`LegacySnapshot`]), converted on load.
const SNAPSHOT_MAGIC: &[u8] = b"UMGSNAP3";
const SNAPSHOT_MAGIC_V2: &[u8] = b"UMGSNAP2";

/// Where the engine's state stands: the log offset it has seen in each partition.
pub type Positions = std::collections::BTreeMap<u16, u64>;

#[derive(Deserialize)]
struct Snapshot {
    positions: Vec<(u16, u64)>,
    engine: Engine,
    sources: Sources,
}

#[derive(Deserialize)]
struct SnapshotV2 {
    offset: u64,
    engine: Engine,
    sources: Sources,
}

#[derive(Deserialize)]
struct LegacySnapshot {
    offset: u64,
    engine: unmogrowp_attribution::legacy::LegacyEngine,
    sources: Sources,
}

/// A snapshot as read: the current layout, or an earlier one (the oldest is converted only
/// once its positions have been accepted: the conversion costs time and memory).
enum Decoded {
    Current(Snapshot),
    Legacy(LegacySnapshot),
}

impl Decoded {
    fn positions(&self) -> Positions {
        match self {
            Decoded::Current(snapshot) => snapshot.positions.iter().copied().collect(),
            Decoded::Legacy(snapshot) => [(0, snapshot.offset)].into_iter().collect(),
        }
    }

    fn into_current(self) -> Snapshot {
        match self {
            Decoded::Current(snapshot) => snapshot,
            Decoded::Legacy(old) => Snapshot {
                positions: vec![(0, old.offset)],
                engine: old.engine.into(),
                sources: old.sources,
            },
        }
    }
}

fn decode_snapshot(bytes: &[u8]) -> Result<Decoded, postcard::Error> {
    if let Some(body) = bytes.strip_prefix(SNAPSHOT_MAGIC) {
        return postcard::from_bytes::<Snapshot>(body).map(Decoded::Current);
    }
    if let Some(body) = bytes.strip_prefix(SNAPSHOT_MAGIC_V2) {
        return postcard::from_bytes::<SnapshotV2>(body).map(|old| {
            Decoded::Current(Snapshot {
                positions: vec![(0, old.offset)],
                engine: old.engine,
                sources: old.sources,
            })
        });
    }
    postcard::from_bytes::<LegacySnapshot>(bytes).map(Decoded::Legacy)
}

/// The same layout as [`Snapshot`], borrowed, so saving does not copy the engine.
#[derive(Serialize)]
struct SnapshotRef<'a> {
    positions: Vec<(u16, u64)>,
    engine: &'a Engine,
    sources: &'a Sources,
}

pub struct Attributor {
    engine: Engine,
    sources: Sources,
    snapshot_path: Option<PathBuf>,
    /// How late an event may arrive (ingestion's maximum event age), in ms.
    max_lateness_ms: i64,
    /// Devices that opted out, by app key: their identifiers' index keys. Not in the
    /// snapshot: loaded from the event store at start (it keeps every opt-out).
    opted_out: HashMap<u64, HashSet<u64>>,
}

/// What attribution added to a batch.
#[derive(Default)]
pub struct Outputs {
    pub attributions: Vec<AttributionRow>,
    pub credits: Vec<CreditRow>,
    pub fraud: Vec<FraudHit>,
    pub triggers: Vec<Trigger>,
}

/// Something a network may want a postback for: an attributed install, or an in-app event
/// of a device credited to the network.
#[derive(Clone, Debug)]
pub struct Trigger {
    pub app_id: String,
    pub network: String,
    pub campaign: String,
    /// `install` or the event's name.
    pub event_name: String,
    pub event_id: String,
    pub click_id: Option<String>,
    pub network_click_id: Option<String>,
    pub revenue: Option<f64>,
    pub currency: Option<String>,
    pub device_id: Option<String>,
    pub install_time: Option<i64>,
    /// The trace of the request that accepted the event: its postback calls continue it.
    pub trace: Option<unmogrowp_domain::trace::TraceContext>,
}

/// The device's first real identifier as sent (for the `{device_id}` macro).
fn raw_device_id(event: &LoggedEvent) -> Option<String> {
    [&event.device.gaid, &event.device.idfa, &event.device.idfv]
        .into_iter()
        .flatten()
        .find(|value| !unmogrowp_domain::event::is_placeholder_id(value))
        .cloned()
}

/// The device's identifiers as index keys (advertising ids, vendor id, the SDK's
/// installation id); placeholders give none.
fn devices(event: &LoggedEvent) -> Vec<u64> {
    device_keys(&event.device.identifier_fields())
}

fn blocked(ip: Option<&str>, ranges: &[unmogrowp_domain::net::IpNet]) -> bool {
    let Some(ip) = ip.and_then(|ip| ip.parse::<std::net::IpAddr>().ok()) else { return false };
    ranges.iter().any(|range| range.contains(ip))
}

impl Attributor {
    pub fn new(snapshot_path: Option<PathBuf>, max_lateness_ms: i64) -> Self {
        Self {
            engine: Engine::new(),
            sources: Sources::default(),
            snapshot_path,
            max_lateness_ms,
            opted_out: HashMap::new(),
        }
    }

    /// Loads the snapshot if `usable` accepts its positions (per partition); returns them
    /// (`None`: no snapshot, an unreadable one, or one not accepted — the engine stays empty).
    pub fn load(&mut self, usable: impl FnOnce(&Positions) -> bool) -> Option<Positions> {
        let path = self.snapshot_path.as_ref()?;
        let bytes = std::fs::read(path).ok()?;
        match decode_snapshot(&bytes) {
            Ok(decoded) if usable(&decoded.positions()) => {
                let positions = decoded.positions();
                let snapshot = decoded.into_current();
                self.engine = snapshot.engine;
                self.sources = snapshot.sources;
                self.sources.reindex();
                Some(positions)
            }
            Ok(decoded) => {
                tracing::warn!(
                    snapshot = ?decoded.positions(),
                    "the attribution snapshot does not match the event store; rebuilding"
                );
                None
            }
            Err(error) => {
                tracing::warn!(%error, "the attribution snapshot is unreadable; rebuilding");
                None
            }
        }
    }

    /// Restores a device's install from its stored decision (see [`Engine::restore_device`]).
    /// Re-installs and rejections changed nothing the engine keeps, and are skipped.
    pub fn restore_decision(&mut self, row: &AttributionRow) {
        let status = match row.status {
            status @ (Status::Attributed | Status::Organic) => status,
            Status::Rejected => return,
        };
        let Some(device) = row.device_id.as_deref().filter(|_| !row.reinstall) else { return };
        let touch = match (&row.touch_id, &row.link_id) {
            (Some(id), Some(link)) => Some(unmogrowp_attribution::TouchRef {
                id: id.clone(),
                kind: row.touch_kind.unwrap_or(TouchKind::Click),
                at: row.touch_at_ms.unwrap_or(row.install_at_ms),
                source: self.sources.intern(link, &row.dims),
                network_click_id: None,
            }),
            _ => None,
        };
        let match_type = row.match_type;
        self.engine.restore_device(
            id_hash(row.app_id.as_str()),
            &[id_hash(device)],
            RestoredInstall { at: row.install_at_ms, status, match_type, touch },
        );
    }

    /// Puts a stored click or impression back into the index (rebuilding without a
    /// snapshot), with its app's settings.
    pub fn restore_touch(&mut self, row: &EventRow, settings: &unmogrowp_attribution::Settings) {
        let Some(link) = &row.link_id else { return };
        let kind = match row.kind {
            EventType::Click => TouchKind::Click,
            EventType::Impression => TouchKind::Impression,
            _ => return,
        };
        let source = self.sources.intern(link, &row.dims);
        let device_ids = device_keys(&[
            ("gaid", row.gaid.as_deref()),
            ("idfa", row.idfa.as_deref()),
            ("idfv", row.idfv.as_deref()),
        ]);
        let settings =
            unmogrowp_attribution::Settings { max_lateness_ms: self.max_lateness_ms, ..*settings };
        self.engine.add_touch(
            &settings,
            &TouchInput {
                app: id_hash(row.app_id.as_str()),
                id: &row.id,
                kind,
                at: row.timestamp_ms,
                received: row.received_ms,
                retargeting: false,
                source,
                device_ids: &device_ids,
                fingerprint: fingerprint(row.ip.as_deref(), row.user_agent.as_deref()),
                ip: row.ip.as_deref().map(id_hash),
                network_click_id: row.network_click_id.as_deref(),
            },
        );
    }

    /// The engine's state as of `positions`, encoded for [`write_atomically`].
    pub fn encode(&self, positions: &Positions) -> std::io::Result<Vec<u8>> {
        let snapshot = SnapshotRef {
            positions: positions.iter().map(|(p, o)| (*p, *o)).collect(),
            engine: &self.engine,
            sources: &self.sources,
        };
        let mut bytes = SNAPSHOT_MAGIC.to_vec();
        postcard::to_io(&snapshot, &mut bytes).map_err(|e| std::io::Error::other(e.to_string()))?;
        Ok(bytes)
    }

    pub fn touch_count(&self) -> usize {
        self.engine.touch_count()
    }

    /// Applies attribution to one record's row (in log order).
    pub fn process(
        &mut self,
        event: &LoggedEvent,
        app: &AppInfo,
        row: &mut EventRow,
        outputs: &mut Outputs,
    ) {
        let app_key = id_hash(event.app_id.as_str());
        let device_ids = devices(event);
        let settings = &unmogrowp_attribution::Settings {
            max_lateness_ms: self.max_lateness_ms,
            ..app.settings
        };
        let country = row.dims.country.clone();
        match event.kind {
            EventType::Click | EventType::Impression => {
                let Some(link) = &event.link else { return };
                let source = self.sources.intern(&link.link_id, &row.dims);
                let outcome = self.engine.add_touch(
                    settings,
                    &TouchInput {
                        app: app_key,
                        id: &event.id,
                        kind: if event.kind == EventType::Click {
                            TouchKind::Click
                        } else {
                            TouchKind::Impression
                        },
                        at: event.timestamp_ms,
                        received: event.received_ms,
                        retargeting: link.retargeting,
                        source,
                        device_ids: &device_ids,
                        fingerprint: fingerprint(
                            event.device.ip.as_deref(),
                            event.device.user_agent.as_deref(),
                        ),
                        ip: event.device.ip.as_deref().map(id_hash),
                        network_click_id: event.network_click_id.as_deref(),
                    },
                );
                if let Some(reason) = outcome.flagged {
                    row.fraud_reason = Some(FraudReason::Flagged(reason));
                }
            }
            EventType::Install => {
                let decision = self.engine.decide(
                    settings,
                    &InstallInput {
                        app: app_key,
                        at: event.timestamp_ms,
                        received: event.received_ms,
                        click_id: event.click_id.as_deref().map(id_hash),
                        device_ids: &device_ids,
                        fingerprint: fingerprint(
                            event.device.ip.as_deref(),
                            event.device.user_agent.as_deref(),
                        ),
                        blocked_ip: blocked(event.device.ip.as_deref(), &app.blocked),
                    },
                );
                self.apply_decision(event, row, &decision, &country, outputs);
            }
            EventType::Open if event.link.as_ref().is_some_and(|l| l.retargeting) => {
                if let Some(link) = &event.link {
                    let source = self.sources.intern(
                        &link.link_id,
                        &Dims {
                            network: link.network.clone(),
                            campaign: link.campaign.clone(),
                            adgroup: link.adgroup.clone(),
                            creative: link.creative.clone(),
                            country: country.clone(),
                        },
                    );
                    row.reengagement = self.engine.reengage(
                        settings,
                        app_key,
                        &device_ids,
                        event.timestamp_ms,
                        source,
                    );
                    if let Some((dims, _)) = self.sources.dims(source, &country) {
                        row.dims = dims;
                    }
                }
            }
            EventType::Open | EventType::Session | EventType::Event => {
                let credit = self.engine.credit(app_key, &device_ids, event.timestamp_ms);
                if let Some((dims, _)) =
                    credit.source.and_then(|source| self.sources.dims(source, &country))
                {
                    row.dims = dims;
                    if event.kind == EventType::Event {
                        let touch =
                            self.engine.credited_touch(app_key, &device_ids, event.timestamp_ms);
                        outputs.triggers.push(Trigger {
                            app_id: row.app_id.to_string(),
                            network: row.dims.network.clone(),
                            campaign: row.dims.campaign.clone(),
                            event_name: event.name.clone().unwrap_or_default(),
                            event_id: event.id.clone(),
                            click_id: touch
                                .filter(|t| t.kind == TouchKind::Click)
                                .map(|t| t.id.clone()),
                            network_click_id: touch.and_then(|t| t.network_click_id.clone()),
                            revenue: event.revenue.as_ref().map(|m| m.amount),
                            currency: event.revenue.as_ref().map(|m| m.currency.clone()),
                            device_id: raw_device_id(event),
                            install_time: credit.installed_at,
                            trace: event.trace,
                        });
                    }
                }
            }
        }
    }

    fn apply_decision(
        &self,
        event: &LoggedEvent,
        row: &mut EventRow,
        decision: &Decision,
        country: &str,
        outputs: &mut Outputs,
    ) {
        row.install = Some(match decision.status {
            Status::Attributed => InstallOutcome::Attributed,
            Status::Organic => InstallOutcome::Organic,
            Status::Rejected => InstallOutcome::Rejected,
        });
        row.reattribution = decision.reattribution;
        row.reinstall = decision.reinstall;
        row.fraud_reason = decision.rejection.map(FraudReason::Rejected);
        if let Some(click) = &decision.install_before_click {
            outputs.fraud.push(FraudHit {
                app_id: row.app_id.clone(),
                event_id: event.id.clone(),
                day: row.day,
                reason: FraudReason::Flagged(unmogrowp_attribution::FlagReason::InstallBeforeClick),
                network: self
                    .sources
                    .dims(click.source, country)
                    .map(|(dims, _)| dims.network)
                    .unwrap_or_default(),
            });
        }
        let touch_dims = decision.touch.as_ref().and_then(|t| self.sources.dims(t.source, country));
        if let Some((dims, _)) = &touch_dims
            && decision.status != Status::Organic
        {
            row.dims = dims.clone();
        }
        outputs.attributions.push(AttributionRow {
            app_id: row.app_id.clone(),
            event_id: event.id.clone(),
            day: row.day,
            device_id: row.device_id.clone(),
            status: decision.status,
            match_type: decision.match_type,
            touch_id: decision.touch.as_ref().map(|t| t.id.clone()),
            touch_kind: decision.touch.as_ref().map(|t| t.kind),
            touch_at_ms: decision.touch.as_ref().map(|t| t.at),
            link_id: touch_dims.as_ref().map(|(_, link)| link.clone()),
            dims: row.dims.clone(),
            rejection_reason: decision.rejection,
            reattribution: decision.reattribution,
            reinstall: decision.reinstall,
            install_at_ms: event.timestamp_ms,
            decided_at_ms: event.received_ms,
        });
        if decision.status == Status::Attributed && !decision.reinstall {
            let touch = decision.touch.as_ref();
            outputs.triggers.push(Trigger {
                app_id: row.app_id.to_string(),
                network: row.dims.network.clone(),
                campaign: row.dims.campaign.clone(),
                event_name: "install".to_owned(),
                event_id: event.id.clone(),
                click_id: touch.filter(|t| t.kind == TouchKind::Click).map(|t| t.id.clone()),
                network_click_id: touch.and_then(|t| t.network_click_id.clone()),
                revenue: None,
                currency: None,
                device_id: raw_device_id(event),
                install_time: Some(event.timestamp_ms),
                trace: event.trace,
            });
        }
        // Multi-touch credit: new installs only (re-installs and rejections are not installs).
        if decision.reinstall || decision.status == Status::Rejected || decision.reattribution {
            return;
        }
        for &model in Model::ALL {
            if decision.status == Status::Organic || decision.contributors.is_empty() {
                outputs.credits.push(CreditRow {
                    app_id: row.app_id.clone(),
                    event_id: event.id.clone(),
                    day: row.day,
                    dims: row.dims.clone(),
                    attribution_model: model,
                    installs: 1.0,
                });
                continue;
            }
            let times: Vec<i64> = decision.contributors.iter().map(|t| t.at).collect();
            for (touch, weight) in
                decision.contributors.iter().zip(weights(model, &times, event.timestamp_ms))
            {
                if weight <= 0.0 {
                    continue;
                }
                let Some((dims, _)) = self.sources.dims(touch.source, country) else { continue };
                outputs.credits.push(CreditRow {
                    app_id: row.app_id.clone(),
                    event_id: event.id.clone(),
                    day: row.day,
                    dims,
                    attribution_model: model,
                    installs: weight,
                });
            }
        }
    }
}

/// Writes the file whole or not at all: temp file, sync, rename, directory sync.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    // A worker on shared stores keeps nothing else in its data dir: it may not exist yet.
    if let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let partial = path.with_extension("partial");
    let mut file = std::fs::File::create(&partial)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&partial, path)?;
    if let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
        std::fs::File::open(parent)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
#[path = "attribute_tests.rs"]
mod snapshot_tests;

mod privacy;
