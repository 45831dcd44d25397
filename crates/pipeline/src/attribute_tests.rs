//! Snapshot layouts: the current one and the previous one read back.

#![allow(clippy::unwrap_used)]

use super::*;

/// An attributor holding one click.
fn with_a_click(path: PathBuf) -> Attributor {
    let mut attributor = Attributor::new(Some(path), 0);
    let source = attributor.sources.intern("link-1", &unmogrowp_eventstore::Dims::default());
    attributor.engine.add_touch(
        &unmogrowp_attribution::Settings::default(),
        &TouchInput {
            app: id_hash("app-1"),
            id: "click-1",
            kind: TouchKind::Click,
            at: 1_000,
            received: 1_000,
            retargeting: false,
            source,
            device_ids: &[id_hash("gaid:one")],
            fingerprint: None,
            ip: None,
            network_click_id: None,
        },
    );
    assert_eq!(attributor.touch_count(), 1);
    attributor
}

/// The previous layout (`UMGSNAP2`: one offset) is read as partition 0 at that offset.
#[test]
fn a_snapshot_of_the_previous_layout_loads_as_partition_zero() {
    #[derive(Serialize)]
    struct V2<'a> {
        offset: u64,
        engine: &'a Engine,
        sources: &'a Sources,
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("attribution.snapshot");
    let old = with_a_click(path.clone());
    let mut bytes = SNAPSHOT_MAGIC_V2.to_vec();
    postcard::to_io(&V2 { offset: 7, engine: &old.engine, sources: &old.sources }, &mut bytes)
        .unwrap();
    write_atomically(&path, &bytes).unwrap();
    let mut loaded = Attributor::new(Some(path), 0);
    let positions = loaded.load(|positions| positions.get(&0) == Some(&7));
    assert_eq!(positions, Some([(0, 7)].into_iter().collect()));
    assert_eq!(loaded.touch_count(), 1, "the engine came with it");
}

/// The current layout keeps each partition's position, and a snapshot the caller does
/// not accept leaves the engine empty.
#[test]
fn a_snapshot_keeps_the_position_of_each_partition() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested").join("attribution.snapshot");
    let positions: Positions = [(1, 40), (3, 40)].into_iter().collect();
    let bytes = with_a_click(path.clone()).encode(&positions).unwrap();
    write_atomically(&path, &bytes).unwrap();
    let mut refused = Attributor::new(Some(path.clone()), 0);
    assert_eq!(refused.load(|found| found.get(&1) == Some(&41)), None);
    assert_eq!(refused.touch_count(), 0);
    let mut loaded = Attributor::new(Some(path), 0);
    assert_eq!(loaded.load(|found| found == &positions), Some(positions.clone()));
    assert_eq!(loaded.touch_count(), 1);
}
