//! The attribution engine. Pure: no I/O, no clock — every time is an event's own timestamp,
//! so replaying the same records in the same order gives the same decisions.
//!
//! Touchpoints (clicks and impressions) go into a per-app index keyed by click id, device
//! identifier and fingerprint (IP + normalised user agent). An install is decided by the
//! rules, strongest evidence first; the first rule that finds a qualifying touchpoint
//! decides, and within a rule the latest touchpoint wins (last touch):
//!
//! 1. the click id carried by the install, within the click window;
//! 2. a click from the same device identifier (same kind: gaid, idfa, idfv), click window;
//! 3. a click from the same fingerprint, probabilistic window;
//! 4. an impression from the same device identifier, view-through window;
//! 5. otherwise organic.
//!
//! A touchpoint qualifies when `0 ≤ install − touch ≤ window` (both ends inclusive) and it
//! belongs to the same app; placeholder identifiers never match. Fraud rules run before
//! credit is given: installs from blocked IP ranges are rejected; a winning click closer than
//! the minimum click-to-install time is click injection (rejected, credited to nobody);
//! clicks from a device or IP above the per-hour threshold are flagged and never win.
#![warn(missing_docs)]

mod credit;
mod engine;
mod hash;

pub use credit::*;
pub use engine::*;
pub use hash::{device_keys, fingerprint, id_hash, normalise_user_agent};
