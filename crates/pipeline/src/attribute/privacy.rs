//! Erasures and opt-outs, as the attributor applies them.

use super::{Attributor, devices};
use unmogrowp_attribution::id_hash;
use unmogrowp_domain::event::LoggedEvent;

impl Attributor {
    /// The stored opt-outs, `(app key, device key)` as [`EventStore::opt_outs`] gives them.
    ///
    /// [`EventStore::opt_outs`]: unmogrowp_eventstore::EventStore::opt_outs
    pub fn set_opt_outs(&mut self, keys: &[(u64, u64)]) {
        self.opted_out.clear();
        for (app, device) in keys {
            self.opted_out.entry(*app).or_default().insert(*device);
        }
    }

    /// Records a device's opt-out: from now on its events are anonymized.
    pub fn opt_out(&mut self, opt_out: &unmogrowp_domain::erasure::OptOut) {
        let devices = self.opted_out.entry(id_hash(opt_out.app_id.as_str())).or_default();
        devices.extend(opt_out.identifiers.iter().map(|id| id_hash(id)));
    }

    /// Whether the event's device opted out of the event's app (by any of its identifiers).
    pub fn opted_out(&self, event: &LoggedEvent) -> bool {
        !self.opted_out.is_empty()
            && self.opted_out.get(&id_hash(event.app_id.as_str())).is_some_and(|opted| {
                !opted.is_empty() && devices(event).iter().any(|key| opted.contains(key))
            })
    }

    /// Forgets what an erasure names: a device of the app (its install, credit and the
    /// touchpoints tied to it) or the whole app.
    pub fn forget(&mut self, erasure: &unmogrowp_domain::erasure::Erasure) {
        let app = id_hash(erasure.app_id.as_str());
        match &erasure.scope {
            unmogrowp_domain::erasure::ErasureScope::App => self.engine.forget_app(app),
            unmogrowp_domain::erasure::ErasureScope::Device { identifiers } => {
                let keys: Vec<u64> = identifiers.iter().map(|id| id_hash(id)).collect();
                let touches = self.engine.forget_device(app, &keys);
                tracing::info!(erasure = %erasure.id, touches, "attribution index forgot a device");
            }
        }
    }
}
