//! Ingestion's window of recently accepted event keys.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

/// Recently accepted event keys, in daily buckets, so a re-sent event is counted once for at
/// least the dedup window. Keys are 64-bit hashes; sharded to keep locks short.
/// Keys by the day (since the epoch) they were first seen.
type DayBuckets = VecDeque<(i64, HashSet<u64>)>;

/// The window of recently accepted event keys: 64-bit hashes of `<app id>:<event id>`, so
/// an event re-sent for the same app is counted once. Keys are kept in buckets by the UTC day
/// they were recorded, spread over 16 separately locked shards; a key recorded on day D is
/// recognised through the end of UTC day D + `window_days` (so for at least `window_days`
/// full days). It lives in memory only: ingestion rebuilds it from the event log at start.
pub struct Deduper {
    shards: Vec<Mutex<DayBuckets>>,
    window_days: i64,
}

const SHARDS: usize = 16;

fn day_index() -> i64 {
    jiff::Timestamp::now().as_second() / 86_400
}

impl Deduper {
    /// An empty window that recognises keys for `window_days` days (0: only keys recorded
    /// on the current UTC day).
    pub fn new(window_days: u32) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(VecDeque::new())).collect(),
            window_days: i64::from(window_days),
        }
    }

    fn shard(&self, key: u64) -> std::sync::MutexGuard<'_, DayBuckets> {
        let index = usize::try_from(key % SHARDS as u64).unwrap_or(0);
        self.shards[index].lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records the key; `false` when it was already there (a duplicate).
    pub fn insert(&self, key: u64) -> bool {
        let today = day_index();
        let oldest = today - self.window_days;
        let mut buckets = self.shard(key);
        while buckets.front().is_some_and(|(day, _)| *day < oldest) {
            buckets.pop_front();
        }
        if buckets.iter().any(|(_, keys)| keys.contains(&key)) {
            return false;
        }
        if buckets.back().is_none_or(|(day, _)| *day != today) {
            buckets.push_back((today, HashSet::new()));
        }
        if let Some((_, keys)) = buckets.back_mut() {
            keys.insert(key);
        }
        true
    }

    /// Whether the key was recorded inside the window.
    pub fn contains(&self, key: u64) -> bool {
        let oldest = day_index() - self.window_days;
        self.shard(key).iter().any(|(day, keys)| *day >= oldest && keys.contains(&key))
    }

    /// Whether no key is held (see [`Deduper::len`]).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many keys are held across all shards. Days that left the window are dropped only
    /// when a key is next recorded in their shard, so this may include expired keys.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().map_or(0, |b| b.iter().map(|(_, k)| k.len()).sum()))
            .sum()
    }
}
