use super::{AppIndex, DeviceState, Engine, Millis, NewTouch, TouchKind, TouchState};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};

/// The engine of a snapshot written before chained touchpoints.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct LegacyEngine {
    apps: HashMap<u64, LegacyIndex>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct LegacyIndex {
    touches: VecDeque<LegacyTouch>,
    first: u64,
    click_ids: HashMap<u64, u64>,
    device_clicks: HashMap<u64, Vec<u64>>,
    device_impressions: HashMap<u64, Vec<u64>>,
    fingerprint_clicks: HashMap<u64, Vec<u64>>,
    flood: HashMap<u64, (i64, u32)>,
    devices: HashMap<u64, DeviceState>,
    latest: Millis,
    evicted_since_compaction: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct LegacyTouch {
    at: Millis,
    source: u32,
    kind: TouchKind,
    /// A `bool` (`flagged`) in the oldest snapshots: encoded the same.
    state: TouchState,
    id: Box<str>,
    network_click_id: Option<Box<str>>,
}

impl From<LegacyEngine> for Engine {
    /// Re-indexes every touchpoint in its original order (so chains keep arrival order
    /// and sequence numbers stay the same) and keeps devices, flood counters and clock.
    fn from(old: LegacyEngine) -> Self {
        let mut engine = Engine::new();
        for (app, old) in old.apps {
            // Each touch's keys, from the per-key vectors: (seq, key, is a fingerprint),
            // live touches only, in sequence order.
            let first = old.first;
            let mut keys: Vec<(u64, u64, bool)> = Vec::new();
            let per_key = [
                (old.device_clicks, false),
                (old.device_impressions, false),
                (old.fingerprint_clicks, true),
            ];
            for (map, fingerprint) in per_key {
                for (key, seqs) in map {
                    keys.extend(
                        seqs.into_iter().filter(|s| *s >= first).map(|s| (s, key, fingerprint)),
                    );
                }
            }
            keys.sort_unstable();
            let mut keys = keys.into_iter().peekable();
            let mut index = AppIndex { first, ..AppIndex::default() };
            for touch in &old.touches {
                let seq = index.first + index.touches.len() as u64;
                let (mut devices, mut fingerprint) = (Vec::new(), None);
                while let Some((_, key, is_fingerprint)) = keys.next_if(|(s, _, _)| *s <= seq) {
                    if is_fingerprint {
                        fingerprint = Some(key);
                    } else {
                        devices.push(key);
                    }
                }
                index.push(&NewTouch {
                    at: touch.at,
                    id: &touch.id,
                    kind: touch.kind,
                    state: touch.state,
                    source: touch.source,
                    device_ids: &devices,
                    fingerprint,
                    network_click_id: touch.network_click_id.as_deref(),
                });
            }
            index.flood = old.flood.into_iter().collect();
            index.devices = old.devices.into_iter().collect();
            index.latest = old.latest;
            engine.apps.insert(app, index);
        }
        engine
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{InstallInput, MatchType, Settings, Status, TouchRef, device_keys};

    #[test]
    fn a_snapshot_of_the_previous_layout_keeps_touches_and_devices() {
        const T: Millis = 1_800_000_000_000;
        const HOUR: Millis = 3_600_000;
        let clicker = device_keys(&[("gaid", Some("clicker"))]);
        let viewer = device_keys(&[("gaid", Some("viewer"))]);
        let known = device_keys(&[("gaid", Some("known"))]);
        let fingerprint = 77u64;
        let index = LegacyIndex {
            touches: VecDeque::from(vec![
                LegacyTouch {
                    at: T - HOUR,
                    source: 3,
                    kind: TouchKind::Click,
                    state: TouchState::Usable,
                    id: "0190a3b2c4d5e6f708192a3b4c5d6e7f".into(),
                    network_click_id: Some("net-1".into()),
                },
                LegacyTouch {
                    at: T - 2 * HOUR,
                    source: 4,
                    kind: TouchKind::Impression,
                    state: TouchState::Usable,
                    id: "imp-1".into(),
                    network_click_id: None,
                },
            ]),
            first: 40,
            click_ids: HashMap::from([(crate::id_hash("0190a3b2c4d5e6f708192a3b4c5d6e7f"), 40)]),
            device_clicks: HashMap::from([(clicker[0], vec![40])]),
            device_impressions: HashMap::from([(viewer[0], vec![41])]),
            fingerprint_clicks: HashMap::from([(fingerprint, vec![40])]),
            flood: HashMap::new(),
            devices: HashMap::from([(
                known[0],
                DeviceState {
                    attributed_at: T - 10 * HOUR,
                    status: Status::Attributed,
                    source: Some(9),
                    touch: Some(TouchRef {
                        id: "old".to_owned(),
                        kind: TouchKind::Click,
                        at: T - 11 * HOUR,
                        source: 9,
                        network_click_id: None,
                    }),
                    match_type: Some(MatchType::DeviceId),
                    reengaged: None,
                },
            )]),
            latest: T,
            evicted_since_compaction: 0,
        };
        let bytes = postcard::to_allocvec(&LegacyEngine { apps: HashMap::from([(1, index)]) })
            .unwrap_or_default();
        let Ok(old) = postcard::from_bytes::<LegacyEngine>(&bytes) else {
            unreachable!("the legacy layout decodes")
        };
        let mut engine = Engine::from(old);
        assert_eq!(engine.touch_count(), 2);
        let settings = Settings::default();
        fn install(devices: &[u64], fingerprint: Option<u64>) -> InstallInput<'_> {
            InstallInput {
                app: 1,
                at: T,
                received: T,
                click_id: None,
                device_ids: devices,
                fingerprint,
                blocked_ip: false,
            }
        }
        let by_device = engine.decide(&settings, &install(&clicker, None));
        assert_eq!(by_device.match_type, Some(MatchType::DeviceId));
        let touch = by_device.touch.unwrap_or_else(|| unreachable!("a touch"));
        assert_eq!(touch.id, "0190a3b2c4d5e6f708192a3b4c5d6e7f");
        assert_eq!(touch.network_click_id.as_deref(), Some("net-1"));
        let stranger = device_keys(&[("gaid", Some("stranger"))]);
        let by_fingerprint = engine.decide(&settings, &install(&stranger, Some(fingerprint)));
        assert_eq!(by_fingerprint.match_type, Some(MatchType::Probabilistic));
        let viewed = engine.decide(&settings, &install(&viewer, None));
        assert_eq!(viewed.match_type, Some(MatchType::ViewThrough));
        assert_eq!(viewed.touch.map(|t| t.id), Some("imp-1".to_owned()));
        let again = engine.decide(&settings, &install(&known, None));
        assert!(again.reinstall, "the device's history is kept");
        assert_eq!(again.touch.map(|t| t.id), Some("old".to_owned()));
    }
}
