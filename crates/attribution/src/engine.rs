//! The index and the decision procedure.

use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet, VecDeque};

/// Milliseconds since the epoch (event time).
pub type Millis = i64;

const HOUR_MS: i64 = 3_600_000;

/// Per-app rules, as durations in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    pub click_window_ms: i64,
    pub view_window_ms: i64,
    pub probabilistic_window_ms: i64,
    pub reattribution_window_ms: i64,
    pub reengagement_window_ms: i64,
    pub min_ctit_ms: i64,
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

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TouchKind {
    Click,
    Impression,
}

/// A touchpoint to index.
#[derive(Clone, Debug)]
pub struct TouchInput<'a> {
    pub app: u64,
    /// The touchpoint's id (the click id for clicks), reported back in decisions.
    pub id: &'a str,
    pub kind: TouchKind,
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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlagReason {
    ClickFlood,
    InstallBeforeClick,
}

impl FlagReason {
    pub fn as_str(self) -> &'static str {
        match self {
            FlagReason::ClickFlood => "click_flood",
            FlagReason::InstallBeforeClick => "install_before_click",
        }
    }
}

/// An install to decide.
#[derive(Clone, Debug)]
pub struct InstallInput<'a> {
    pub app: u64,
    pub at: Millis,
    /// When the server accepted it.
    pub received: Millis,
    /// Hash of the click id carried by the install (install referrer, deep link).
    pub click_id: Option<u64>,
    pub device_ids: &'a [u64],
    pub fingerprint: Option<u64>,
    /// The install came from an IP range the organization blocked.
    pub blocked_ip: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MatchType {
    ClickId,
    DeviceId,
    Probabilistic,
    ViewThrough,
}

impl MatchType {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchType::ClickId => "click_id",
            MatchType::DeviceId => "device_id",
            MatchType::Probabilistic => "probabilistic",
            MatchType::ViewThrough => "view_through",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Status {
    Attributed,
    Organic,
    Rejected,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RejectionReason {
    /// The winning click came too soon before the install.
    ClickInjection,
    /// The install came from a blocked IP range.
    BlockedIp,
}

impl RejectionReason {
    pub fn as_str(self) -> &'static str {
        match self {
            RejectionReason::ClickInjection => "click_injection",
            RejectionReason::BlockedIp => "blocked_ip",
        }
    }
}

/// A touchpoint named in a decision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TouchRef {
    pub id: String,
    pub kind: TouchKind,
    pub at: Millis,
    pub source: u32,
    pub network_click_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub status: Status,
    pub match_type: Option<MatchType>,
    /// The winning touchpoint (also for a click-injection rejection: the offending click).
    pub touch: Option<TouchRef>,
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

/// Where a later event of a device is credited.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credit {
    /// The source of the install (or of an active re-engagement); `None` is organic.
    pub source: Option<u32>,
    pub reengagement: bool,
    /// When the device's credited install happened (`None`: no install seen).
    pub installed_at: Option<Millis>,
    /// The touchpoint the credit comes from (the install's winning touch), so an in-app
    /// event's postback carries the same click ids as the install's. `None` for organic
    /// devices and re-engagements.
    pub touch: Option<TouchRef>,
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
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Touch {
    at: Millis,
    source: u32,
    kind: TouchKind,
    state: TouchState,
    id: Box<str>,
    network_click_id: Option<Box<str>>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct DeviceState {
    /// When the install that set the current credit happened.
    attributed_at: Millis,
    status: Status,
    source: Option<u32>,
    touch: Option<TouchRef>,
    match_type: Option<MatchType>,
    /// An active re-engagement: its source and until when it holds.
    reengaged: Option<(u32, Millis)>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct AppIndex {
    touches: VecDeque<Touch>,
    /// The sequence number of `touches[0]`.
    first: u64,
    click_ids: HashMap<u64, u64>,
    device_clicks: HashMap<u64, Vec<u64>>,
    device_impressions: HashMap<u64, Vec<u64>>,
    fingerprint_clicks: HashMap<u64, Vec<u64>>,
    /// Clicks per (device or IP) in the current hour.
    flood: HashMap<u64, (i64, u32)>,
    devices: HashMap<u64, DeviceState>,
    /// The latest acceptance time seen (server clock): what eviction measures against.
    latest: Millis,
    evicted_since_compaction: u64,
}

impl AppIndex {
    fn get(&self, seq: u64) -> Option<&Touch> {
        let index = seq.checked_sub(self.first)?;
        self.touches.get(usize::try_from(index).ok()?)
    }

    /// Drops touchpoints that no acceptable install can use any more. Touches are in arrival
    /// order, so this stops at the first one still usable (keeping a few extra is safe).
    fn evict(&mut self, settings: &Settings) {
        let latest = self.latest;
        let useless = |t: &Touch| {
            t.at.saturating_add(settings.window_ms(t.kind)).saturating_add(settings.max_lateness_ms)
                < latest
        };
        while self.touches.front().is_some_and(useless) {
            self.touches.pop_front();
            self.first += 1;
            self.evicted_since_compaction += 1;
        }
        // Drop stale references once a good share of the index has gone.
        if self.evicted_since_compaction > 1024
            && self.evicted_since_compaction as usize > self.touches.len()
        {
            let first = self.first;
            self.click_ids.retain(|_, seq| *seq >= first);
            for map in [
                &mut self.device_clicks,
                &mut self.device_impressions,
                &mut self.fingerprint_clicks,
            ] {
                map.retain(|_, seqs| {
                    seqs.retain(|seq| *seq >= first);
                    !seqs.is_empty()
                });
            }
            let hour = self.latest.div_euclid(HOUR_MS);
            self.flood.retain(|_, (bucket, _)| *bucket >= hour - 1);
            self.evicted_since_compaction = 0;
        }
    }

    fn touch_ref(&self, seq: u64) -> Option<TouchRef> {
        self.get(seq).map(|t| TouchRef {
            id: t.id.to_string(),
            kind: t.kind,
            at: t.at,
            source: t.source,
            network_click_id: t.network_click_id.as_deref().map(str::to_owned),
        })
    }

    /// The latest qualifying touch among `seqs` (not flagged, `0 ≤ at_install − at ≤
    /// window`); ties on time go to the later arrival.
    fn latest_qualifying(
        &self,
        seqs: impl IntoIterator<Item = u64>,
        install_at: Millis,
        window: i64,
    ) -> Option<u64> {
        let mut best: Option<(Millis, u64)> = None;
        for seq in seqs {
            let Some(touch) = self.get(seq) else { continue };
            let age = install_at - touch.at;
            if touch.state == TouchState::Flagged || age < 0 || age > window {
                continue;
            }
            if best.is_none_or(|(at, best_seq)| (touch.at, seq) > (at, best_seq)) {
                best = Some((touch.at, seq));
            }
        }
        best.map(|(_, seq)| seq)
    }
}

/// The engine: one index per app.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Engine {
    apps: HashMap<u64, AppIndex>,
}

impl Engine {
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
        let seq = index.first + index.touches.len() as u64;
        index.touches.push_back(Touch {
            at: touch.at,
            source: touch.source,
            kind: touch.kind,
            state: if flagged.is_some() { TouchState::Flagged } else { TouchState::Usable },
            id: touch.id.into(),
            network_click_id: touch.network_click_id.map(Into::into),
        });
        match touch.kind {
            TouchKind::Click => {
                index.click_ids.insert(crate::id_hash(touch.id), seq);
                for device in touch.device_ids {
                    index.device_clicks.entry(*device).or_default().push(seq);
                }
                if let Some(fingerprint) = touch.fingerprint {
                    index.fingerprint_clicks.entry(fingerprint).or_default().push(seq);
                }
            }
            TouchKind::Impression => {
                for device in touch.device_ids {
                    index.device_impressions.entry(*device).or_default().push(seq);
                }
            }
        }
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
            && let Some(seq) = index.click_ids.get(&click_id).copied()
            && let Some(touch) = index.get(seq)
            && touch.kind == TouchKind::Click
            && touch.at > install.at
        {
            if touch.state == TouchState::Usable {
                decision.install_before_click = index.touch_ref(seq);
            }
            if let Some(t) =
                usize::try_from(seq - index.first).ok().and_then(|i| index.touches.get_mut(i))
            {
                t.state = TouchState::Flagged;
            }
        }
        let mut winner: Option<(u64, MatchType)> = None;

        if let Some(click_id) = install.click_id
            && let Some(seq) = index.click_ids.get(&click_id).copied()
            && index.get(seq).is_some_and(|t| t.kind == TouchKind::Click)
            && let Some(found) =
                index.latest_qualifying([seq], install.at, settings.click_window_ms)
        {
            winner = Some((found, MatchType::ClickId));
        }
        if winner.is_none() {
            let seqs = install
                .device_ids
                .iter()
                .filter_map(|id| index.device_clicks.get(id))
                .flatten()
                .copied();
            if let Some(found) = index.latest_qualifying(seqs, install.at, settings.click_window_ms)
            {
                winner = Some((found, MatchType::DeviceId));
            }
        }
        if winner.is_none()
            && let Some(fingerprint) = install.fingerprint
            && let Some(seqs) = index.fingerprint_clicks.get(&fingerprint)
            && let Some(found) = index.latest_qualifying(
                seqs.iter().copied(),
                install.at,
                settings.probabilistic_window_ms,
            )
        {
            winner = Some((found, MatchType::Probabilistic));
        }
        if winner.is_none() {
            let seqs = install
                .device_ids
                .iter()
                .filter_map(|id| index.device_impressions.get(id))
                .flatten()
                .copied();
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
                if let Some(offset) = seq.checked_sub(index.first)
                    && let Some(t) =
                        usize::try_from(offset).ok().and_then(|i| index.touches.get_mut(i))
                {
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

    /// Where an event of the device at `at` is credited.
    pub fn credit(&self, app: u64, device_ids: &[u64], at: Millis) -> Credit {
        let none = Credit { source: None, reengagement: false, installed_at: None, touch: None };
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
                touch: None,
            };
        }
        Credit {
            source: state.source,
            reengagement: false,
            installed_at: Some(state.attributed_at),
            touch: state.touch.clone().filter(|_| state.source.is_some()),
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
    let mut seen = HashSet::new();
    let mut found: Vec<u64> = Vec::new();
    let mut consider = |seq: u64, window: i64, found: &mut Vec<u64>| {
        if let Some(touch) = index.get(seq) {
            let age = install.at - touch.at;
            if touch.state == TouchState::Usable && (0..=window).contains(&age) && seen.insert(seq)
            {
                found.push(seq);
            }
        }
    };
    if let Some(click_id) = install.click_id
        && let Some(seq) = index.click_ids.get(&click_id)
    {
        consider(*seq, settings.click_window_ms, &mut found);
    }
    for id in install.device_ids {
        for seq in index.device_clicks.get(id).into_iter().flatten() {
            consider(*seq, settings.click_window_ms, &mut found);
        }
        for seq in index.device_impressions.get(id).into_iter().flatten() {
            consider(*seq, settings.view_window_ms, &mut found);
        }
    }
    if let Some(fingerprint) = install.fingerprint {
        for seq in index.fingerprint_clicks.get(&fingerprint).into_iter().flatten() {
            consider(*seq, settings.probabilistic_window_ms, &mut found);
        }
    }
    let mut touches: Vec<TouchRef> =
        found.into_iter().filter_map(|seq| index.touch_ref(seq)).collect();
    touches.sort_by_key(|t| t.at);
    touches
}

/// Multi-touch models for reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Model {
    LastTouch,
    Linear,
    TimeDecay,
    PositionBased,
}

impl Model {
    pub const ALL: [Model; 4] =
        [Model::LastTouch, Model::Linear, Model::TimeDecay, Model::PositionBased];

    pub fn as_str(self) -> &'static str {
        match self {
            Model::LastTouch => "last_touch",
            Model::Linear => "linear",
            Model::TimeDecay => "time_decay",
            Model::PositionBased => "position_based",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Model::ALL.into_iter().find(|m| m.as_str() == raw)
    }
}

const HALF_LIFE_MS: f64 = 7.0 * 24.0 * 3_600_000.0;

/// Credit per touchpoint (touch times oldest first); the weights sum to 1.
pub fn weights(model: Model, touch_times: &[Millis], install_at: Millis) -> Vec<f64> {
    let n = touch_times.len();
    if n == 0 {
        return Vec::new();
    }
    match model {
        Model::LastTouch => (0..n).map(|i| if i + 1 == n { 1.0 } else { 0.0 }).collect(),
        Model::Linear => vec![1.0 / n as f64; n],
        Model::TimeDecay => {
            let raw: Vec<f64> = touch_times
                .iter()
                .map(|at| 0.5f64.powf(((install_at - at).max(0)) as f64 / HALF_LIFE_MS))
                .collect();
            let sum: f64 = raw.iter().sum();
            raw.into_iter().map(|w| w / sum).collect()
        }
        Model::PositionBased => match n {
            1 => vec![1.0],
            2 => vec![0.5, 0.5],
            _ => {
                let middle = 0.2 / (n - 2) as f64;
                (0..n).map(|i| if i == 0 || i + 1 == n { 0.4 } else { middle }).collect()
            }
        },
    }
}
