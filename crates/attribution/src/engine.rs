//! The index and the decision procedure.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// The index's maps: foldhash, seeded at random per process. Their keys are hashes of text
/// that clients choose (device ids, click ids); the unkeyed hash of that text is public, so
/// an unseeded hasher would let anyone compute colliding ids and slow every lookup down.
type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Milliseconds since the epoch (event time).
pub type Millis = i64;

const HOUR_MS: i64 = 3_600_000;

/// Per-app rules, as durations in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// The click lookback window: a click qualifies (by click id or device identifier) when
    /// the install is 0 to this many milliseconds after it. Default 7 days.
    pub click_window_ms: i64,
    /// The view-through lookback window: how long after an impression an install of the same
    /// device can be credited to it. Default 24 hours.
    pub view_window_ms: i64,
    /// The lookback window for probabilistic matches (a click with the install's fingerprint,
    /// IP + user agent). Default 24 hours.
    pub probabilistic_window_ms: i64,
    /// How long after a device's install another install of it is a re-install that keeps
    /// the original source; later, it is attributed afresh (a re-attribution). Within it, a
    /// new non-retargeting click from the device is flagged `install_before_click`.
    /// Default 90 days.
    pub reattribution_window_ms: i64,
    /// How long after an open through a retargeting link the device's events are credited to
    /// that link (re-engagement). Default 30 days.
    pub reengagement_window_ms: i64,
    /// The minimum click-to-install time (CTIT): a winning click less than this before the
    /// install is click injection, and the install is rejected. Default 10 seconds.
    pub min_ctit_ms: i64,
    /// Most clicks allowed per clock hour (of the clicks' own time) from one device identifier
    /// or one IP; the clicks past it are flagged `click_flood` and never win. Default 100.
    pub flood_threshold_per_hour: u32,
    /// How long after its own time an event may still arrive (ingestion's maximum event age,
    /// default 30 days). A touchpoint is kept until no install that could still be accepted
    /// could use it: `received_now > touch_time + window + max_lateness`.
    #[serde(default = "default_max_lateness_ms")]
    pub max_lateness_ms: i64,
}

fn default_max_lateness_ms() -> i64 {
    30 * 24 * HOUR_MS
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            click_window_ms: 168 * HOUR_MS,
            view_window_ms: 24 * HOUR_MS,
            probabilistic_window_ms: 24 * HOUR_MS,
            reattribution_window_ms: 90 * 24 * HOUR_MS,
            reengagement_window_ms: 30 * 24 * HOUR_MS,
            min_ctit_ms: 10_000,
            flood_threshold_per_hour: 100,
            max_lateness_ms: default_max_lateness_ms(),
        }
    }
}

impl Settings {
    /// How long after its own time a touchpoint of this kind can matter to any rule.
    fn window_ms(&self, kind: TouchKind) -> i64 {
        match kind {
            TouchKind::Click => self.click_window_ms.max(self.probabilistic_window_ms),
            TouchKind::Impression => self.view_window_ms,
        }
    }
}

pub use unmogrowp_domain::attribution::{FlagReason, MatchType, RejectionReason, TouchKind};

/// A touchpoint to index.
#[derive(Clone, Debug)]
pub struct TouchInput<'a> {
    /// The app's key: [`crate::id_hash`] of its app id. A touchpoint only matches installs of
    /// the same app.
    pub app: u64,
    /// The touchpoint's id (the click id for clicks), reported back in decisions.
    pub id: &'a str,
    /// Click or impression: clicks can win by click id, device identifier or fingerprint,
    /// impressions only by device identifier (view-through).
    pub kind: TouchKind,
    /// When the touch happened (its own time), in milliseconds since the Unix epoch; the
    /// lookback windows and the click-to-install time are measured from it.
    pub at: Millis,
    /// When the server accepted it (the clock eviction measures against, so that a
    /// client-stamped time can never push other touchpoints out).
    pub received: Millis,
    /// Through a retargeting link (re-engagement), so a click from a device that has
    /// installed already is expected, not suspicious.
    pub retargeting: bool,
    /// The caller's handle for where the touch came from (its tracking link).
    pub source: u32,
    /// Hashes of `kind:value` device identifiers (see [`crate::id_hash`]).
    pub device_ids: &'a [u64],
    /// The probabilistic fingerprint (IP + normalised user agent, see [`crate::fingerprint`]);
    /// `None` when either is missing. Lets a click win by probabilistic match.
    pub fingerprint: Option<u64>,
    /// Hash of the IP, for click-flood counting.
    pub ip: Option<u64>,
    /// The network's own click id, echoed in postbacks.
    pub network_click_id: Option<&'a str>,
}

/// What indexing a touchpoint found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TouchOutcome {
    /// Why the touchpoint will never win, if it will not: `click_flood` (over the per-hour
    /// threshold for its device or IP) or `install_before_click` (a click stamped after the
    /// device's install, inside the re-attribution window).
    pub flagged: Option<FlagReason>,
}

/// An install to decide.
#[derive(Clone, Debug)]
pub struct InstallInput<'a> {
    /// The app's key: [`crate::id_hash`] of its app id, as for its touchpoints.
    pub app: u64,
    /// When the install happened (its own time), in milliseconds since the Unix epoch; the
    /// lookback windows are counted back from it.
    pub at: Millis,
    /// When the server accepted it.
    pub received: Millis,
    /// Hash of the click id carried by the install (install referrer, deep link).
    pub click_id: Option<u64>,
    /// Hashes of the device's `kind:value` identifiers (see [`crate::device_keys`]), matched
    /// against touchpoints of the same kind and remembered for re-installs and event credit.
    pub device_ids: &'a [u64],
    /// The install's probabilistic fingerprint (see [`crate::fingerprint`]), for the
    /// fingerprint rule; `None` without both an IP and a user agent.
    pub fingerprint: Option<u64>,
    /// The install came from an IP range the organization blocked.
    pub blocked_ip: bool,
}

/// What an install was decided to be (the product's one install-status type).
pub use unmogrowp_domain::attribution::InstallStatus as Status;

/// A touchpoint named in a decision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TouchRef {
    /// The touchpoint's id as indexed ([`TouchInput::id`]; the click id for clicks).
    pub id: String,
    /// Click or impression.
    pub kind: TouchKind,
    /// When the touch happened, in milliseconds since the Unix epoch.
    pub at: Millis,
    /// The caller's handle for where the touch came from (its tracking link), as given in
    /// [`TouchInput::source`].
    pub source: u32,
    /// The ad network's own click id, echoed in postbacks; `None` when the network sent none.
    pub network_click_id: Option<String>,
}

/// The outcome of [`Engine::decide`] for one install: its status, the winning touchpoint and
/// rule, any fraud rejection, whether it is a re-install or a re-attribution, and every
/// touchpoint that shares multi-touch credit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// Attributed, organic or rejected.
    pub status: Status,
    /// The rule that found the winning touchpoint (click id, device id, probabilistic or
    /// view-through); `None` when no touchpoint qualified (organic, or rejected for a blocked
    /// IP). A re-install keeps its original install's.
    pub match_type: Option<MatchType>,
    /// The winning touchpoint (also for a click-injection rejection: the offending click).
    pub touch: Option<TouchRef>,
    /// The fraud rule that rejected the install (`click_injection` or `blocked_ip`); `None`
    /// unless the status is rejected.
    pub rejection: Option<RejectionReason>,
    /// A device seen installing before, past the re-attribution window, attributed afresh.
    pub reattribution: bool,
    /// A device installing again inside the re-attribution window: not a new install; it
    /// keeps its original source.
    pub reinstall: bool,
    /// Every qualifying touchpoint, oldest first, for multi-touch credit.
    pub contributors: Vec<TouchRef>,
    /// The install carried the id of a click stamped *after* it (install before click): that
    /// click, now flagged. It is reported against its network; the install is decided by the
    /// other rules.
    #[serde(default)]
    pub install_before_click: Option<TouchRef>,
}

/// A stored install decision, for [`Engine::restore_device`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestoredInstall {
    /// The install's time.
    pub at: Millis,
    /// `Attributed` or `Organic` (rejected installs leave nothing to remember).
    pub status: Status,
    /// The rule that matched the winning touch; `None` for an organic install.
    pub match_type: Option<MatchType>,
    /// The winning touch (its `source` is the caller's handle of the tracking link).
    pub touch: Option<TouchRef>,
}

/// Where a later event of a device is credited.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credit {
    /// The source of the install (or of an active re-engagement); `None` is organic.
    pub source: Option<u32>,
    /// The event falls inside the re-engagement window of an open through a retargeting
    /// link, and `source` is that link rather than the install's.
    pub reengagement: bool,
    /// When the device's credited install happened (`None`: no install seen).
    pub installed_at: Option<Millis>,
}

/// Whether a touchpoint can win. (Encoded like the `bool` it replaced: snapshots of the
/// previous release read `false` as `Usable` and `true` as `Flagged`.)
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum TouchState {
    Usable,
    /// A flood or install-before-click: never wins, never shares credit.
    Flagged,
    /// The click of a click-injection rejection: an install it would win is rejected too.
    Injected,
    /// Erased with its device (see [`Engine::forget_device`]): never matches, never wins,
    /// and its id is gone.
    Erased,
}

mod forget;
mod index;
use index::{AppIndex, DeviceState, NewTouch};

/// The engine: one index per app.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Engine {
    apps: Map<u64, AppIndex>,
}

impl Engine {
    /// An engine with an empty index (no apps, touchpoints or devices yet).
    pub fn new() -> Self {
        Self::default()
    }

    /// Touchpoints held, across apps.
    pub fn touch_count(&self) -> usize {
        self.apps.values().map(|app| app.touches.len()).sum()
    }

    /// Indexes a click or impression.
    pub fn add_touch(&mut self, settings: &Settings, touch: &TouchInput<'_>) -> TouchOutcome {
        let index = self.apps.entry(touch.app).or_default();
        index.latest = index.latest.max(touch.received);
        let mut flagged = None;
        if touch.kind == TouchKind::Click {
            let hour = touch.at.div_euclid(HOUR_MS);
            // Counters of hours before the last are of no use: drop them once an hour.
            if hour > index.flood_hour {
                index.flood.retain(|_, (bucket, _)| *bucket >= hour - 1);
                index.flood_hour = hour;
            }
            for key in touch
                .device_ids
                .iter()
                .copied()
                .chain(touch.ip.map(|ip| ip ^ 0x9e37_79b9_7f4a_7c15))
            {
                let entry = index.flood.entry(key).or_insert((hour, 0));
                if entry.0 != hour {
                    *entry = (hour, 0);
                }
                entry.1 += 1;
                if entry.1 > settings.flood_threshold_per_hour {
                    flagged = Some(FlagReason::ClickFlood);
                }
            }
            // A click stamped after the device installed (inside the re-attribution window,
            // where a re-install keeps its source) can never be what brought the install.
            if flagged.is_none()
                && !touch.retargeting
                && touch.device_ids.iter().filter_map(|id| index.devices.get(id)).any(|state| {
                    let since = touch.at - state.attributed_at;
                    since > 0 && since < settings.reattribution_window_ms
                })
            {
                flagged = Some(FlagReason::InstallBeforeClick);
            }
        }
        index.push(&NewTouch {
            at: touch.at,
            id: touch.id,
            kind: touch.kind,
            state: if flagged.is_some() { TouchState::Flagged } else { TouchState::Usable },
            source: touch.source,
            device_ids: touch.device_ids,
            fingerprint: touch.fingerprint,
            network_click_id: touch.network_click_id,
        });
        index.evict(settings);
        TouchOutcome { flagged }
    }

    /// Decides an install by the rules and records the device's credit.
    pub fn decide(&mut self, settings: &Settings, install: &InstallInput<'_>) -> Decision {
        let index = self.apps.entry(install.app).or_default();
        index.latest = index.latest.max(install.received);
        index.evict(settings);
        let mut decision = Decision {
            status: Status::Organic,
            match_type: None,
            touch: None,
            rejection: None,
            reattribution: false,
            reinstall: false,
            contributors: Vec::new(),
            install_before_click: None,
        };
        if install.blocked_ip {
            decision.status = Status::Rejected;
            decision.rejection = Some(RejectionReason::BlockedIp);
            return decision;
        }
        let prior = install.device_ids.iter().find_map(|id| index.devices.get(id)).cloned();
        if let Some(prior) = &prior {
            let since = install.at - prior.attributed_at;
            if (0..settings.reattribution_window_ms).contains(&since) || since < 0 {
                // Inside the window: the original source keeps it.
                decision.status = prior.status;
                decision.match_type = prior.match_type;
                decision.touch = prior.touch.clone();
                decision.reinstall = true;
                return decision;
            }
        }

        // A click id from a click stamped after the install: reported, and that click never
        // wins anything.
        if let Some(click_id) = install.click_id
            && let Some(seq) = index.click(click_id)
            && let Some(touch) = index.get(seq)
            && touch.kind == TouchKind::Click
            && touch.at > install.at
        {
            if touch.state == TouchState::Usable {
                decision.install_before_click = index.touch_ref(seq);
            }
            if let Some(t) = index.get_mut(seq) {
                t.state = TouchState::Flagged;
            }
        }
        let mut winner: Option<(u64, MatchType)> = None;

        if let Some(click_id) = install.click_id
            && let Some(seq) = index.click(click_id)
            && index.get(seq).is_some_and(|t| t.kind == TouchKind::Click)
            && let Some(found) =
                index.latest_qualifying([seq], install.at, settings.click_window_ms)
        {
            winner = Some((found, MatchType::ClickId));
        }
        if winner.is_none() {
            let earliest = install.at - settings.click_window_ms;
            let seqs = install
                .device_ids
                .iter()
                .flat_map(|id| index.chain(index.device_clicks.get(id), earliest));
            if let Some(found) = index.latest_qualifying(seqs, install.at, settings.click_window_ms)
            {
                winner = Some((found, MatchType::DeviceId));
            }
        }
        if winner.is_none()
            && let Some(fingerprint) = install.fingerprint
            && let Some(found) = index.latest_qualifying(
                index.chain(
                    index.fingerprint_clicks.get(&fingerprint),
                    install.at - settings.probabilistic_window_ms,
                ),
                install.at,
                settings.probabilistic_window_ms,
            )
        {
            winner = Some((found, MatchType::Probabilistic));
        }
        if winner.is_none() {
            let earliest = install.at - settings.view_window_ms;
            let seqs = install
                .device_ids
                .iter()
                .flat_map(|id| index.chain(index.device_impressions.get(id), earliest));
            if let Some(found) = index.latest_qualifying(seqs, install.at, settings.view_window_ms)
            {
                winner = Some((found, MatchType::ViewThrough));
            }
        }

        decision.reattribution = prior.is_some();
        if let Some((seq, match_type)) = winner {
            let touch = index.touch_ref(seq);
            // Too close before the install, or the click of an earlier click-injection
            // rejection (the device's next install must not reward it).
            let injected = index.get(seq).is_some_and(|t| t.state == TouchState::Injected)
                || touch.as_ref().is_some_and(|t| {
                    t.kind == TouchKind::Click && install.at - t.at < settings.min_ctit_ms
                });
            decision.match_type = Some(match_type);
            decision.touch = touch;
            if injected {
                if let Some(t) = index.get_mut(seq) {
                    t.state = TouchState::Injected;
                }
                decision.status = Status::Rejected;
                decision.rejection = Some(RejectionReason::ClickInjection);
                return decision;
            }
            decision.status = Status::Attributed;
        }
        decision.contributors = contributors(index, settings, install);
        if decision.contributors.is_empty()
            && let Some(touch) = &decision.touch
        {
            decision.contributors.push(touch.clone());
        }
        let state = DeviceState {
            attributed_at: install.at,
            status: decision.status,
            source: decision
                .touch
                .as_ref()
                .filter(|_| decision.status == Status::Attributed)
                .map(|t| t.source),
            touch: decision.touch.clone(),
            match_type: decision.match_type,
            reengaged: None,
        };
        for id in install.device_ids {
            index.devices.insert(*id, state.clone());
        }
        decision
    }

    /// Restores what the index remembers of a device's install, from a stored decision
    /// (rebuilding without a snapshot): a later install of the device is then a re-install
    /// or a re-attribution, and its events are credited as before. Restored oldest first, so
    /// the latest decision stays.
    pub fn restore_device(&mut self, app: u64, device_ids: &[u64], install: RestoredInstall) {
        let index = self.apps.entry(app).or_default();
        let state = DeviceState {
            attributed_at: install.at,
            status: install.status,
            source: install
                .touch
                .as_ref()
                .filter(|_| install.status == Status::Attributed)
                .map(|t| t.source),
            touch: install.touch,
            match_type: install.match_type,
            reengaged: None,
        };
        for id in device_ids {
            index.devices.insert(*id, state.clone());
        }
    }

    /// The touchpoint an event of the device at `at` is credited through: the install's
    /// winning touch (so an in-app event's postback carries the install's click ids); `None`
    /// for organic devices and during a re-engagement.
    pub fn credited_touch(&self, app: u64, device_ids: &[u64], at: Millis) -> Option<&TouchRef> {
        let index = self.apps.get(&app)?;
        let state = device_ids.iter().find_map(|id| index.devices.get(id))?;
        if state.reengaged.is_some_and(|(_, until)| at <= until) || state.source.is_none() {
            return None;
        }
        state.touch.as_ref()
    }

    /// Where an event of the device at `at` is credited.
    pub fn credit(&self, app: u64, device_ids: &[u64], at: Millis) -> Credit {
        let none = Credit { source: None, reengagement: false, installed_at: None };
        let Some(index) = self.apps.get(&app) else { return none };
        let Some(state) = device_ids.iter().find_map(|id| index.devices.get(id)) else {
            return none;
        };
        if let Some((source, until)) = state.reengaged
            && at <= until
        {
            return Credit {
                source: Some(source),
                reengagement: true,
                installed_at: Some(state.attributed_at),
            };
        }
        Credit {
            source: state.source,
            reengagement: false,
            installed_at: Some(state.attributed_at),
        }
    }

    /// An open through a retargeting link: the device's events within the re-engagement
    /// window are credited to that link. Returns whether it counts as a re-engagement (the
    /// device had installed before).
    pub fn reengage(
        &mut self,
        settings: &Settings,
        app: u64,
        device_ids: &[u64],
        at: Millis,
        source: u32,
    ) -> bool {
        let Some(index) = self.apps.get_mut(&app) else { return false };
        let mut known = false;
        for id in device_ids {
            if let Some(state) = index.devices.get_mut(id) {
                state.reengaged =
                    Some((source, at.saturating_add(settings.reengagement_window_ms)));
                known = true;
            }
        }
        known
    }

    /// The recorded decision for a device, for SDKs asking where their install came from.
    pub fn device_decision(
        &self,
        app: u64,
        device_ids: &[u64],
    ) -> Option<(Status, Option<MatchType>, Option<TouchRef>)> {
        let index = self.apps.get(&app)?;
        let state = device_ids.iter().find_map(|id| index.devices.get(id))?;
        Some((state.status, state.match_type, state.touch.clone()))
    }
}

/// Every qualifying, unflagged touchpoint for the install, oldest first.
fn contributors(
    index: &AppIndex,
    settings: &Settings,
    install: &InstallInput<'_>,
) -> Vec<TouchRef> {
    let mut found: Vec<u64> = Vec::new();
    let consider = |seq: u64, window: i64, found: &mut Vec<u64>| {
        if let Some(touch) = index.get(seq) {
            let age = install.at - touch.at;
            // Few touches qualify: a linear check beats hashing.
            if touch.state == TouchState::Usable
                && (0..=window).contains(&age)
                && !found.contains(&seq)
            {
                found.push(seq);
            }
        }
    };
    if let Some(click_id) = install.click_id
        && let Some(seq) = index.click(click_id)
    {
        consider(seq, settings.click_window_ms, &mut found);
    }
    for id in install.device_ids {
        let (clicks, views) = (settings.click_window_ms, settings.view_window_ms);
        for seq in index.chain(index.device_clicks.get(id), install.at - clicks) {
            consider(seq, clicks, &mut found);
        }
        for seq in index.chain(index.device_impressions.get(id), install.at - views) {
            consider(seq, views, &mut found);
        }
    }
    if let Some(fingerprint) = install.fingerprint {
        let window = settings.probabilistic_window_ms;
        for seq in index.chain(index.fingerprint_clicks.get(&fingerprint), install.at - window) {
            consider(seq, window, &mut found);
        }
    }

    let mut touches: Vec<TouchRef> =
        found.into_iter().filter_map(|seq| index.touch_ref(seq)).collect();
    touches.sort_by_key(|t| t.at);
    touches
}

/// The index as releases before chained touchpoints wrote it in attribution snapshots
/// (per-key vectors of sequence numbers, ids as text): read only, and converted on load so
/// an upgrade keeps the devices' history and the touchpoints in their windows.
pub mod legacy;
