//! Erasure: forgetting a device or a whole app.

use super::{DeviceState, Engine, Millis, TouchKind};

impl Engine {
    /// Forgets a device of an app (an erasure): its install and credit, its flood counters, and
    /// every touchpoint indexed under its identifiers or credited with its install, which are
    /// made unusable and lose their ids. Returns how many touchpoints were erased. A later
    /// install of the device is decided as a first install.
    pub fn forget_device(&mut self, app: u64, device_ids: &[u64]) -> usize {
        let Some(index) = self.apps.get_mut(&app) else { return 0 };
        let mut seqs: Vec<u64> = Vec::new();
        for id in device_ids {
            for heads in [&index.device_clicks, &index.device_impressions] {
                seqs.extend(index.chain(heads.get(id), Millis::MIN));
            }
        }
        let mut states: Vec<DeviceState> = Vec::new();
        for id in device_ids {
            if let Some(state) = index.devices.remove(id) {
                if let Some(touch) = &state.touch
                    && touch.kind == TouchKind::Click
                    && let Some(seq) = index.click(crate::id_hash(&touch.id))
                {
                    seqs.push(seq);
                }
                states.push(state);
            }
            index.device_clicks.remove(id);
            index.device_impressions.remove(id);
            index.flood.remove(id);
        }
        // An install records its state under each identifier the device sent (an advertising
        // id and a vendor id, say); the request may name only one. The others hold an equal
        // state (same install time, outcome and touch): forget those too. (Two devices that
        // installed in the same millisecond with the same outcome would be taken for one;
        // the cost is a later re-install of the other counted afresh.)
        let mut linked: Vec<u64> = Vec::new();
        if !states.is_empty() {
            index.devices.retain(|key, state| {
                let same = states.contains(state);
                if same {
                    linked.push(*key);
                }
                !same
            });
        }
        // Those identifiers' own touchpoints go too (a click that carried only the vendor id).
        for key in &linked {
            for heads in [&index.device_clicks, &index.device_impressions] {
                seqs.extend(index.chain(heads.get(key), Millis::MIN));
            }
        }
        for key in &linked {
            index.device_clicks.remove(key);
            index.device_impressions.remove(key);
            index.flood.remove(key);
        }
        seqs.sort_unstable();
        seqs.dedup();
        seqs.into_iter().filter(|seq| index.erase(*seq)).count()
    }

    /// Forgets an app entirely (it was deleted): its touchpoints, devices and counters.
    pub fn forget_app(&mut self, app: u64) {
        self.apps.remove(&app);
    }
}
