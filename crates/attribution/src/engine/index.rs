//! The per-app touchpoint index: touches in arrival order, chained per key, and what the
//! engine remembers of devices.

use super::{HOUR_MS, Map, MatchType, Millis, Settings, Status, TouchKind, TouchRef, TouchState};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// How a touchpoint's id is kept: 32 lower-case hex digits (the click ids of tracking links)
/// and hyphenated lower-case UUIDs packed into the touch's 16 bytes; anything else as text
/// in `AppIndex::text_ids`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum IdForm {
    Hex = 0,
    Uuid = 1,
    Text = 2,
}

pub(super) fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        _ => None,
    }
}

pub(super) fn pack_hex(digits: impl Iterator<Item = u8>) -> Option<[u8; 16]> {
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
pub(super) fn pack_id(id: &str) -> (IdForm, [u8; 16]) {
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

pub(super) fn unpack_id(packed: &[u8; 16], hyphens: bool) -> String {
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
pub(super) fn halves(hash: u64) -> [u32; 2] {
    [(hash >> 32) as u32, hash as u32]
}

/// "No link": the end of a chain.
pub(super) const NO_LINK: u64 = u64::MAX;

/// Touches per block of the time bound (`AppIndex::latest_at_blocks`).
pub(super) const BLOCK_BITS: u32 = 10;

/// Links kept inside the touch; a touch's further links (several device ids and a
/// fingerprint) are in `AppIndex::more_links`.
pub(super) const INLINE_LINKS: usize = 2;

/// At most this many device ids of one touch are indexed (gaid, idfa, idfv, install id).
pub(super) const MAX_DEVICE_LINKS: usize = 6;

/// A position in a key's chain: the touch's sequence number and which of its links.
pub(super) fn link_ref(seq: u64, slot: usize) -> u64 {
    (seq << 8) | (slot as u64 & 0xff)
}

/// A touchpoint (40 bytes). Touches sharing a key (device id, fingerprint) are chained newest
/// to oldest: the key's map holds the newest touch's link, each touch the distance back to
/// the previous touch of the same key — no per-key vectors (at 10 M touchpoints their spare
/// capacity dominated memory), and walking a chain reads one touch per step.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct Touch {
    pub(super) at: Millis,
    /// The id packed (see [`IdForm`]).
    pub(super) id: [u8; 16],
    /// For links 0 and 1: how many sequence numbers back the previous touch of that key is
    /// (0: none).
    pub(super) back: [u32; INLINE_LINKS],
    pub(super) source: u32,
    pub(super) kind: TouchKind,
    pub(super) state: TouchState,
    /// Bits 0–1 the [`IdForm`], bit 2 a network click id in `AppIndex::network_click_ids`,
    /// bits 3–5 the number of device links, bit 6 a fingerprint link.
    pub(super) flags: u8,
    /// Bits 0–2 and 3–5: which link of the previous touch links 0 and 1 continue to.
    pub(super) back_slots: u8,
}

impl Touch {
    pub(super) fn id_form(&self) -> IdForm {
        match self.flags & 0b11 {
            0 => IdForm::Hex,
            1 => IdForm::Uuid,
            _ => IdForm::Text,
        }
    }

    pub(super) fn has_network_click_id(&self) -> bool {
        self.flags & 0b100 != 0
    }

    pub(super) fn links(&self) -> usize {
        usize::from((self.flags >> 3) & 0b111) + usize::from((self.flags >> 6) & 1)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(super) struct DeviceState {
    /// When the install that set the current credit happened.
    pub(super) attributed_at: Millis,
    pub(super) status: Status,
    pub(super) source: Option<u32>,
    pub(super) touch: Option<TouchRef>,
    pub(super) match_type: Option<MatchType>,
    /// An active re-engagement: its source and until when it holds.
    pub(super) reengaged: Option<(u32, Millis)>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(super) struct AppIndex {
    pub(super) touches: VecDeque<Touch>,
    /// The sequence number of `touches[0]`.
    pub(super) first: u64,
    /// Links from 2 on, by `link_ref(seq, slot)`: the previous touch's link, or `NO_LINK`.
    pub(super) more_links: Map<u64, u64>,
    /// Ids that are neither hex nor UUIDs, by sequence number.
    pub(super) text_ids: Map<u64, Box<str>>,
    /// Click id hash (as two halves: 12-byte entries instead of 16) → the low 32 bits of the
    /// click's sequence number (see [`AppIndex::click`]).
    pub(super) click_ids: Map<[u32; 2], u32>,
    /// Key hash → the newest touch's link.
    pub(super) device_clicks: Map<u64, u64>,
    pub(super) device_impressions: Map<u64, u64>,
    pub(super) fingerprint_clicks: Map<u64, u64>,
    /// Sequence number → the network's own click id (few touches have one).
    pub(super) network_click_ids: Map<u64, Box<str>>,
    /// Clicks per (device or IP) in the current hour.
    pub(super) flood: Map<u64, (i64, u32)>,
    /// The latest hour (of click time) the flood counters were pruned at.
    pub(super) flood_hour: i64,
    /// Per block of `1 << BLOCK_BITS` touches (from block `first_block`): the latest touch
    /// time of that block's touches and of all before them (see [`AppIndex::stamped_by`]).
    pub(super) latest_at_blocks: VecDeque<Millis>,
    pub(super) first_block: u64,
    pub(super) devices: Map<u64, DeviceState>,
    /// The latest acceptance time seen (server clock): what eviction measures against.
    pub(super) latest: Millis,
    pub(super) evicted_since_compaction: u64,
}

/// A touchpoint to add to an index, as [`AppIndex::push`] takes it.
pub(super) struct NewTouch<'a> {
    pub(super) at: Millis,
    pub(super) id: &'a str,
    pub(super) kind: TouchKind,
    pub(super) state: TouchState,
    pub(super) source: u32,
    pub(super) device_ids: &'a [u64],
    pub(super) fingerprint: Option<u64>,
    pub(super) network_click_id: Option<&'a str>,
}

impl AppIndex {
    pub(super) fn get(&self, seq: u64) -> Option<&Touch> {
        let index = seq.checked_sub(self.first)?;
        self.touches.get(usize::try_from(index).ok()?)
    }

    /// The live click with this id hash, if any. Sequence numbers are stored as their low 32
    /// bits and recovered from `first` (the index never holds 2^32 touches of one app).
    pub(super) fn click(&self, id_hash: u64) -> Option<u64> {
        let low = *self.click_ids.get(&halves(id_hash))?;
        let seq = self.first + u64::from(low.wrapping_sub(self.first as u32));
        (seq < self.first + self.touches.len() as u64).then_some(seq)
    }

    pub(super) fn get_mut(&mut self, seq: u64) -> Option<&mut Touch> {
        let index = seq.checked_sub(self.first)?;
        self.touches.get_mut(usize::try_from(index).ok()?)
    }

    /// Appends a touch and links it into its keys' chains; returns its sequence number.
    pub(super) fn push(&mut self, touch: &NewTouch<'_>) -> u64 {
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

    /// Makes touch `seq` unusable for good and drops what identifies it (its id, its network
    /// click id, its click-id entry). It stays in its chains, so other keys' chains still
    /// walk through it. Returns whether there was such a touch.
    pub(super) fn erase(&mut self, seq: u64) -> bool {
        let Some(reference) = self.touch_ref(seq) else { return false };
        if reference.kind == TouchKind::Click {
            let key = halves(crate::id_hash(&reference.id));
            if self.click_ids.get(&key) == Some(&(seq as u32)) {
                self.click_ids.remove(&key);
            }
        }
        self.text_ids.remove(&seq);
        self.network_click_ids.remove(&seq);
        if let Some(touch) = self.get_mut(seq) {
            touch.state = TouchState::Erased;
            touch.id = [0; 16];
            touch.flags &= !0b111;
        }
        true
    }

    /// The link that follows `link` in its chain.
    pub(super) fn next_link(&self, link: u64) -> u64 {
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
    pub(super) fn chain(&self, head: Option<&u64>, earliest: Millis) -> Chain<'_> {
        Chain { index: self, next: head.copied().unwrap_or(NO_LINK), earliest }
    }

    /// A bound on the time of touch `seq` and of every touch that arrived before it: the
    /// running maximum of touch times up to its block. Once it is before a window's start,
    /// neither that touch nor any earlier arrival is in the window (exact, whatever order
    /// touches arrived in and however late they were reported).
    pub(super) fn stamped_by(&self, seq: u64) -> Millis {
        (seq >> BLOCK_BITS)
            .checked_sub(self.first_block)
            .and_then(|i| usize::try_from(i).ok())
            .and_then(|i| self.latest_at_blocks.get(i).copied())
            .unwrap_or(Millis::MAX)
    }

    /// Drops touchpoints that no acceptable install can use any more. Touches are in arrival
    /// order, so this stops at the first one still usable (keeping a few extra is safe).
    pub(super) fn evict(&mut self, settings: &Settings) {
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

    pub(super) fn touch_ref(&self, seq: u64) -> Option<TouchRef> {
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
    pub(super) fn latest_qualifying(
        &self,
        seqs: impl IntoIterator<Item = u64>,
        install_at: Millis,
        window: i64,
    ) -> Option<u64> {
        let mut best: Option<(Millis, u64)> = None;
        for seq in seqs {
            let Some(touch) = self.get(seq) else { continue };
            let age = install_at - touch.at;
            if matches!(touch.state, TouchState::Flagged | TouchState::Erased)
                || age < 0
                || age > window
            {
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
pub(super) struct Chain<'a> {
    pub(super) index: &'a AppIndex,
    pub(super) next: u64,
    /// The window's start: touches that cannot be at or after it end the walk.
    pub(super) earliest: Millis,
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
