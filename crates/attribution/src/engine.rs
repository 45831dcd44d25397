//! The index and the decision procedure.

use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};

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

/// A stored install decision, for [`Engine::restore_device`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestoredInstall {
    /// The install's time.
    pub at: Millis,
    /// `Attributed` or `Organic` (rejected installs leave nothing to remember).
    pub status: Status,
    pub match_type: Option<MatchType>,
    /// The winning touch (its `source` is the caller's handle of the tracking link).
    pub touch: Option<TouchRef>,
}

/// Where a later event of a device is credited.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credit {
    /// The source of the install (or of an active re-engagement); `None` is organic.
    pub source: Option<u32>,
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
}

/// How a touchpoint's id is kept: 32 lower-case hex digits (the click ids of tracking links)
/// and hyphenated lower-case UUIDs packed into the touch's 16 bytes; anything else as text
/// in `AppIndex::text_ids`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum IdForm {
    Hex = 0,
    Uuid = 1,
    Text = 2,
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        _ => None,
    }
}

fn pack_hex(digits: impl Iterator<Item = u8>) -> Option<[u8; 16]> {
    let mut out = [0u8; 16];
    let mut count = 0usize;
    for (i, digit) in digits.enumerate() {
        let value = hex_value(digit)?;
        let byte = out.get_mut(i / 2)?;
        *byte = if i % 2 == 0 { value << 4 } else { *byte | value };
        count = i + 1;
    }
    (count == 32).then_some(out)
}

/// Packs an id into 16 bytes when it is hex or a UUID (see [`IdForm`]).
fn pack_id(id: &str) -> (IdForm, [u8; 16]) {
    let bytes = id.as_bytes();
    if bytes.len() == 32
        && let Some(packed) = pack_hex(bytes.iter().copied())
    {
        return (IdForm::Hex, packed);
    }
    if bytes.len() == 36
        && [8, 13, 18, 23].iter().all(|&i| bytes[i] == b'-')
        && let Some(packed) = pack_hex(bytes.iter().copied().filter(|b| *b != b'-'))
    {
        return (IdForm::Uuid, packed);
    }
    (IdForm::Text, [0; 16])
}

fn unpack_id(packed: &[u8; 16], hyphens: bool) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(36);
    for (i, byte) in packed.iter().enumerate() {
        if hyphens && matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

/// A 64-bit hash as two 32-bit halves (a map key of alignment 4).
fn halves(hash: u64) -> [u32; 2] {
    [(hash >> 32) as u32, hash as u32]
}

/// "No link": the end of a chain.
const NO_LINK: u64 = u64::MAX;

/// Touches per block of the time bound (`AppIndex::latest_at_blocks`).
const BLOCK_BITS: u32 = 10;

/// Links kept inside the touch; a touch's further links (several device ids and a
/// fingerprint) are in `AppIndex::more_links`.
const INLINE_LINKS: usize = 2;

/// At most this many device ids of one touch are indexed (gaid, idfa, idfv, install id).
const MAX_DEVICE_LINKS: usize = 6;

/// A position in a key's chain: the touch's sequence number and which of its links.
fn link_ref(seq: u64, slot: usize) -> u64 {
    (seq << 8) | (slot as u64 & 0xff)
}

/// A touchpoint (40 bytes). Touches sharing a key (device id, fingerprint) are chained newest
/// to oldest: the key's map holds the newest touch's link, each touch the distance back to
/// the previous touch of the same key — no per-key vectors (at 10 M touchpoints their spare
/// capacity dominated memory), and walking a chain reads one touch per step.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Touch {
    at: Millis,
    /// The id packed (see [`IdForm`]).
    id: [u8; 16],
    /// For links 0 and 1: how many sequence numbers back the previous touch of that key is
    /// (0: none).
    back: [u32; INLINE_LINKS],
    source: u32,
    kind: TouchKind,
    state: TouchState,
    /// Bits 0–1 the [`IdForm`], bit 2 a network click id in `AppIndex::network_click_ids`,
    /// bits 3–5 the number of device links, bit 6 a fingerprint link.
    flags: u8,
    /// Bits 0–2 and 3–5: which link of the previous touch links 0 and 1 continue to.
    back_slots: u8,
}

impl Touch {
    fn id_form(&self) -> IdForm {
        match self.flags & 0b11 {
            0 => IdForm::Hex,
            1 => IdForm::Uuid,
            _ => IdForm::Text,
        }
    }

    fn has_network_click_id(&self) -> bool {
        self.flags & 0b100 != 0
    }

    fn links(&self) -> usize {
        usize::from((self.flags >> 3) & 0b111) + usize::from((self.flags >> 6) & 1)
    }
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
    /// Links from 2 on, by `link_ref(seq, slot)`: the previous touch's link, or `NO_LINK`.
    more_links: Map<u64, u64>,
    /// Ids that are neither hex nor UUIDs, by sequence number.
    text_ids: Map<u64, Box<str>>,
    /// Click id hash (as two halves: 12-byte entries instead of 16) → the low 32 bits of the
    /// click's sequence number (see [`AppIndex::click`]).
    click_ids: Map<[u32; 2], u32>,
    /// Key hash → the newest touch's link.
    device_clicks: Map<u64, u64>,
    device_impressions: Map<u64, u64>,
    fingerprint_clicks: Map<u64, u64>,
    /// Sequence number → the network's own click id (few touches have one).
    network_click_ids: Map<u64, Box<str>>,
    /// Clicks per (device or IP) in the current hour.
    flood: Map<u64, (i64, u32)>,
    /// The latest hour (of click time) the flood counters were pruned at.
    flood_hour: i64,
    /// Per block of `1 << BLOCK_BITS` touches (from block `first_block`): the latest touch
    /// time of that block's touches and of all before them (see [`AppIndex::stamped_by`]).
    latest_at_blocks: VecDeque<Millis>,
    first_block: u64,
    devices: Map<u64, DeviceState>,
    /// The latest acceptance time seen (server clock): what eviction measures against.
    latest: Millis,
    evicted_since_compaction: u64,
}

/// A touchpoint to add to an index, as [`AppIndex::push`] takes it.
struct NewTouch<'a> {
    at: Millis,
    id: &'a str,
    kind: TouchKind,
    state: TouchState,
    source: u32,
    device_ids: &'a [u64],
    fingerprint: Option<u64>,
    network_click_id: Option<&'a str>,
}

impl AppIndex {
    fn get(&self, seq: u64) -> Option<&Touch> {
        let index = seq.checked_sub(self.first)?;
        self.touches.get(usize::try_from(index).ok()?)
    }

    /// The live click with this id hash, if any. Sequence numbers are stored as their low 32
    /// bits and recovered from `first` (the index never holds 2^32 touches of one app).
    fn click(&self, id_hash: u64) -> Option<u64> {
        let low = *self.click_ids.get(&halves(id_hash))?;
        let seq = self.first + u64::from(low.wrapping_sub(self.first as u32));
        (seq < self.first + self.touches.len() as u64).then_some(seq)
    }

    fn get_mut(&mut self, seq: u64) -> Option<&mut Touch> {
        let index = seq.checked_sub(self.first)?;
        self.touches.get_mut(usize::try_from(index).ok()?)
    }

    /// Appends a touch and links it into its keys' chains; returns its sequence number.
    fn push(&mut self, touch: &NewTouch<'_>) -> u64 {
        let seq = self.first + self.touches.len() as u64;
        // The running maximum of touch times, per block of touches (see `stamped_by`).
        let block = seq >> BLOCK_BITS;
        if self.latest_at_blocks.is_empty() {
            self.first_block = block;
        }
        while self.first_block + self.latest_at_blocks.len() as u64 <= block {
            let carried = self.latest_at_blocks.back().copied().unwrap_or(Millis::MIN);
            self.latest_at_blocks.push_back(carried);
        }
        if let Some(last) = self.latest_at_blocks.back_mut() {
            *last = (*last).max(touch.at);
        }
        // Each key once (a repeated key would link a touch to itself and cut its chain).
        let mut unique: [u64; MAX_DEVICE_LINKS] = [0; MAX_DEVICE_LINKS];
        let mut count = 0;
        for device in touch.device_ids {
            if count < MAX_DEVICE_LINKS && !unique[..count].contains(device) {
                unique[count] = *device;
                count += 1;
            }
        }
        let devices = &unique[..count];
        let fingerprint = touch.fingerprint.filter(|_| touch.kind == TouchKind::Click);
        let (form, id) = pack_id(touch.id);
        let mut record = Touch {
            at: touch.at,
            id,
            back: [0; INLINE_LINKS],
            source: touch.source,
            kind: touch.kind,
            state: touch.state,
            flags: form as u8
                | (u8::from(touch.network_click_id.is_some()) << 2)
                | ((devices.len() as u8) << 3)
                | (u8::from(fingerprint.is_some()) << 6),
            back_slots: 0,
        };
        let keys = devices
            .iter()
            .map(|device| (*device, touch.kind != TouchKind::Click, false))
            .chain(fingerprint.map(|fp| (fp, false, true)));
        for (slot, (key, impression, is_fingerprint)) in keys.enumerate() {
            let heads = if is_fingerprint {
                &mut self.fingerprint_clicks
            } else if impression {
                &mut self.device_impressions
            } else {
                &mut self.device_clicks
            };
            let previous = heads.insert(key, link_ref(seq, slot)).unwrap_or(NO_LINK);
            if slot < INLINE_LINKS {
                if previous != NO_LINK {
                    let back = seq - (previous >> 8);
                    record.back[slot] = u32::try_from(back).unwrap_or(0);
                    record.back_slots |= ((previous & 0b111) as u8) << (3 * slot);
                }
            } else {
                self.more_links.insert(link_ref(seq, slot), previous);
            }
        }
        if form == IdForm::Text {
            self.text_ids.insert(seq, touch.id.into());
        }
        if touch.kind == TouchKind::Click {
            self.click_ids.insert(halves(crate::id_hash(touch.id)), seq as u32);
        }
        if let Some(network_click_id) = touch.network_click_id {
            self.network_click_ids.insert(seq, network_click_id.into());
        }
        self.touches.push_back(record);
        seq
    }

    /// The link that follows `link` in its chain.
    fn next_link(&self, link: u64) -> u64 {
        let (seq, slot) = (link >> 8, (link & 0xff) as usize);
        if slot >= INLINE_LINKS {
            return self.more_links.get(&link).copied().unwrap_or(NO_LINK);
        }
        let Some(touch) = self.get(seq) else { return NO_LINK };
        match touch.back[slot] {
            0 => NO_LINK,
            back => link_ref(
                seq - u64::from(back),
                usize::from((touch.back_slots >> (3 * slot)) & 0b111),
            ),
        }
    }

    /// The touches of a key's chain, newest arrival first (stops at evicted ones: a chain
    /// runs in arrival order, and eviction pops in arrival order), down to the first touch
    /// that neither it nor any earlier arrival can be at or after `earliest` (see
    /// [`AppIndex::stamped_by`]).
    fn chain(&self, head: Option<&u64>, earliest: Millis) -> Chain<'_> {
        Chain { index: self, next: head.copied().unwrap_or(NO_LINK), earliest }
    }

    /// A bound on the time of touch `seq` and of every touch that arrived before it: the
    /// running maximum of touch times up to its block. Once it is before a window's start,
    /// neither that touch nor any earlier arrival is in the window (exact, whatever order
    /// touches arrived in and however late they were reported).
    fn stamped_by(&self, seq: u64) -> Millis {
        (seq >> BLOCK_BITS)
            .checked_sub(self.first_block)
            .and_then(|i| usize::try_from(i).ok())
            .and_then(|i| self.latest_at_blocks.get(i).copied())
            .unwrap_or(Millis::MAX)
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
            let Some(touch) = self.touches.pop_front() else { break };
            let seq = self.first;
            for slot in INLINE_LINKS..touch.links() {
                self.more_links.remove(&link_ref(seq, slot));
            }
            if touch.id_form() == IdForm::Text {
                self.text_ids.remove(&seq);
            }
            if touch.has_network_click_id() {
                self.network_click_ids.remove(&seq);
            }
            self.first += 1;
            self.evicted_since_compaction += 1;
        }
        while (self.first_block + 1) << BLOCK_BITS <= self.first && self.latest_at_blocks.len() > 1
        {
            self.latest_at_blocks.pop_front();
            self.first_block += 1;
        }
        // Drop stale references once a good share of the index has gone.
        if self.evicted_since_compaction > 1024
            && self.evicted_since_compaction as usize > self.touches.len()
        {
            let first = self.first;
            let live = self.touches.len() as u64;
            self.click_ids.retain(|_, low| u64::from(low.wrapping_sub(first as u32)) < live);
            for map in [
                &mut self.device_clicks,
                &mut self.device_impressions,
                &mut self.fingerprint_clicks,
            ] {
                map.retain(|_, head| *head >> 8 >= first);
            }
            let hour = self.latest.div_euclid(HOUR_MS);
            self.flood.retain(|_, (bucket, _)| *bucket >= hour - 1);
            self.evicted_since_compaction = 0;
        }
    }

    fn touch_ref(&self, seq: u64) -> Option<TouchRef> {
        self.get(seq).map(|t| TouchRef {
            id: match t.id_form() {
                IdForm::Hex => unpack_id(&t.id, false),
                IdForm::Uuid => unpack_id(&t.id, true),
                IdForm::Text => {
                    self.text_ids.get(&seq).map(|id| id.to_string()).unwrap_or_default()
                }
            },
            kind: t.kind,
            at: t.at,
            source: t.source,
            network_click_id: if t.has_network_click_id() {
                self.network_click_ids.get(&seq).map(|n| n.to_string())
            } else {
                None
            },
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

/// Walks a key's chain (see [`AppIndex::chain`]), yielding sequence numbers.
struct Chain<'a> {
    index: &'a AppIndex,
    next: u64,
    /// The window's start: touches that cannot be at or after it end the walk.
    earliest: Millis,
}

impl Iterator for Chain<'_> {
    type Item = u64;

    fn next(&mut self) -> Option<u64> {
        if self.next == NO_LINK {
            return None;
        }
        let seq = self.next >> 8;
        self.index.get(seq)?;
        if self.index.stamped_by(seq) < self.earliest {
            self.next = NO_LINK;
            return None;
        }
        self.next = self.index.next_link(self.next);
        Some(seq)
    }
}

/// The engine: one index per app.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Engine {
    apps: Map<u64, AppIndex>,
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
pub mod legacy {
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
                click_ids: HashMap::from([(
                    crate::id_hash("0190a3b2c4d5e6f708192a3b4c5d6e7f"),
                    40,
                )]),
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

#[cfg(test)]
mod tests {
    use super::{IdForm, pack_id, unpack_id};

    #[test]
    fn ids_are_kept_compact_and_given_back_as_sent() {
        for (id, form) in [
            ("0190a3b2c4d5e6f708192a3b4c5d6e7f", IdForm::Hex),
            ("0190a3b2-c4d5-e6f7-0819-2a3b4c5d6e7f", IdForm::Uuid),
            ("0190A3B2C4D5E6F708192A3B4C5D6E7F", IdForm::Text),
            ("click-42", IdForm::Text),
            ("0190a3b2c4d5e6f708192a3b4c5d6e7", IdForm::Text),
            ("0190a3b2-c4d5-e6f7-0819-2a3b4c5d6e7g", IdForm::Text),
            ("0190a3b2xc4d5-e6f7-0819-2a3b4c5d6e7f", IdForm::Text),
            ("", IdForm::Text),
        ] {
            let (kept, packed) = pack_id(id);
            assert_eq!(kept, form, "{id}");
            match form {
                IdForm::Hex => assert_eq!(unpack_id(&packed, false), id),
                IdForm::Uuid => assert_eq!(unpack_id(&packed, true), id),
                IdForm::Text => {}
            }
        }
    }
}
