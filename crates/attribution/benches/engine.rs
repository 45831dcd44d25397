//! Attribution throughput and latency against large indexes.
//!
//! `cargo bench -p unmogrowp-attribution --bench engine` runs criterion on install decisions
//! against an index of 1 M touchpoints, then prints, for 1 M and 10 M touchpoints: the
//! index's memory per touchpoint (resident-set growth while building it, each size measured
//! in a process of its own), decisions per second on one core, and p50/p99 latency per
//! decision.

use criterion::{Criterion, criterion_group};
use std::hint::black_box;
use std::time::Instant;
use unmogrowp_attribution::{
    Engine, InstallInput, MatchType, Settings, TouchInput, TouchKind, device_keys, id_hash,
};

const START: i64 = 1_800_000_000_000;
const APPS: u64 = 10;

fn resident_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|text| text.split_whitespace().nth(1).and_then(|pages| pages.parse::<u64>().ok()))
        .map_or(0, |pages| pages * 4096)
}

/// An index of `touches` touchpoints over 7 days: 80 % clicks (with device ids and
/// fingerprints), 20 % impressions, spread over `APPS` apps and `touches / 3` devices.
/// The device keys of the first million devices (the installs come from them), computed
/// before the index is built so that they are not counted as the index's memory.
fn device_keys_of(touches: u64) -> Vec<Vec<u64>> {
    (0..(touches / 3).min(1_000_000))
        .map(|i| device_keys(&[("gaid", Some(&format!("device-{i}")))]))
        .collect()
}

fn build(touches: u64, device_keys_cache: &[Vec<u64>]) -> Engine {
    let settings = Settings { flood_threshold_per_hour: u32::MAX, ..Settings::default() };
    let mut engine = Engine::new();
    let devices = touches / 3;
    let span = 7 * 24 * 3_600_000i64;
    let mut id = String::new();
    for i in 0..touches {
        let device = i % devices;
        let keys = if device < 1_000_000 {
            device_keys_cache[usize::try_from(device).unwrap_or(0)].clone()
        } else {
            device_keys(&[("gaid", Some(&format!("device-{device}")))])
        };
        id.clear();
        use std::fmt::Write;
        let _ = write!(id, "{i:032x}");
        let at = START + (i as i64 * span) / touches as i64;
        engine.add_touch(
            &settings,
            &TouchInput {
                app: i % APPS,
                id: &id,
                kind: if i % 5 == 0 { TouchKind::Impression } else { TouchKind::Click },
                at,
                received: at,
                retargeting: false,
                source: u32::try_from(i % 1000).unwrap_or(0),
                device_ids: &keys,
                fingerprint: Some(id_hash(&format!("fp-{}", device % 100_000))),
                ip: None,
                network_click_id: None,
            },
        );
    }
    engine
}

type Install = (u64, i64, Option<u64>, Vec<u64>, Option<u64>);

/// The `i`-th install: one hour after the index's last day, from a device of the index. A
/// fifth of them carry the click id of a click that qualifies: same app (touch `j` belongs to
/// app `j % APPS`), a click (every fifth touch is an impression, so apps 0 and 5 have only
/// impressions and get no click id), and within the click window (from the newer half of
/// the index).
fn install_for(i: u64, keys: &[Vec<u64>], touches: u64) -> Install {
    let device = usize::try_from(i % keys.len() as u64).unwrap_or(0);
    let at = START + 7 * 24 * 3_600_000 + (i as i64 % 3_600_000);
    let click_id = (i % 4 == 1 && !i.is_multiple_of(5)).then(|| {
        let newer = touches - 1 - (i.wrapping_mul(7_919) % (touches / 2));
        let touch = newer - (newer + APPS - i % APPS) % APPS;
        id_hash(&format!("{touch:032x}"))
    });
    (
        i % APPS,
        at,
        click_id,
        keys[device].clone(),
        Some(id_hash(&format!("fp-{}", device % 100_000))),
    )
}

fn decide(engine: &mut Engine, settings: &Settings, install: &Install) -> Option<MatchType> {
    let decision = engine.decide(
        settings,
        &InstallInput {
            app: install.0,
            at: install.1,
            received: install.1,
            click_id: install.2,
            device_ids: &install.3,
            fingerprint: install.4,
            blocked_ip: false,
        },
    );
    decision.match_type
}

#[allow(clippy::print_stdout)] // a benchmark's report is its output
fn report(touches: u64, decisions: u64) {
    let keys = device_keys_of(touches);
    let before = resident_bytes();
    let started = Instant::now();
    let mut engine = build(touches, &keys);
    let built = started.elapsed();
    let per_touch = (resident_bytes().saturating_sub(before)) as f64 / touches as f64;
    // Reattribution would turn repeated devices into re-installs; decide each device once.
    let settings = Settings { reattribution_window_ms: 0, ..Settings::default() };
    let installs: Vec<_> = (0..decisions).map(|i| install_for(i, &keys, touches)).collect();
    let mut latencies = Vec::with_capacity(installs.len());
    let mut matched = 0u64;
    let mut by_click_id = 0u64;
    let started = Instant::now();
    for install in &installs {
        let one = Instant::now();
        let match_type = decide(&mut engine, &settings, install);
        latencies.push(one.elapsed().as_nanos() as u64);
        matched += u64::from(match_type.is_some());
        by_click_id += u64::from(match_type == Some(MatchType::ClickId));
    }
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    let percentile =
        |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize] as f64 / 1000.0;
    println!(
        "index {touches} touchpoints: built in {:.1} s, {per_touch:.0} bytes/touchpoint (RSS growth); \
         {decisions} installs in {:.2} s = {:.0} installs/s on one core ({matched} attributed, \
         {by_click_id} by click id); \
         p50 {:.2} µs, p99 {:.2} µs per decision",
        built.as_secs_f64(),
        elapsed.as_secs_f64(),
        decisions as f64 / elapsed.as_secs_f64(),
        percentile(0.5),
        percentile(0.99)
    );
    black_box(engine);
}

fn criterion_benches(c: &mut Criterion) {
    let keys = device_keys_of(1_000_000);
    let mut engine = build(1_000_000, &keys);
    let settings = Settings { reattribution_window_ms: 0, ..Settings::default() };
    let mut i = 0u64;
    c.bench_function("decide install, index of 1M touchpoints", |b| {
        b.iter(|| {
            i += 1;
            black_box(decide(&mut engine, &settings, &install_for(i, &keys, 1_000_000)))
        });
    });
}

criterion_group!(benches, criterion_benches);

/// Set in a child process: measure one index size there, so that its resident-set growth is
/// not hidden by memory an earlier, freed index left to the allocator.
const REPORT_VARIABLE: &str = "ENGINE_BENCH_REPORT_TOUCHES";

fn main() {
    if let Some(touches) = std::env::var(REPORT_VARIABLE).ok().and_then(|v| v.parse().ok()) {
        report(touches, 1_000_000);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
    let Ok(this) = std::env::current_exe() else { return };
    for touches in [1_000_000u64, 10_000_000] {
        let status =
            std::process::Command::new(&this).env(REPORT_VARIABLE, touches.to_string()).status();
        assert!(status.is_ok_and(|s| s.success()), "the {touches}-touchpoint report failed");
    }
}
