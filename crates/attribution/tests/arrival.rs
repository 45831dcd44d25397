//! The index under real arrival: late and shuffled arrivals, touches after the install,
//! injected clicks, credit for later events, and the index's own structure (touches with
//! many keys, chain walks that stop early, repeated keys) — each against the rules' answer.

#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use unmogrowp_attribution::*;

const APP: u64 = 1;
const INSTALL_AT: Millis = 1_800_000_000_000;
const SECOND: i64 = 1000;
const HOUR: i64 = 3_600 * SECOND;

/// One touchpoint for the arrival-order tests: `at` and `received` in ms.
#[allow(clippy::too_many_arguments)]
fn touch_input<'a>(
    id: &'a str,
    kind: TouchKind,
    at: Millis,
    received: Millis,
    devices: &'a [u64],
    fingerprint: Option<u64>,
    network_click_id: Option<&'a str>,
    retargeting: bool,
) -> TouchInput<'a> {
    TouchInput {
        app: APP,
        id,
        kind,
        at,
        received,
        retargeting,
        source: 1,
        device_ids: devices,
        fingerprint,
        ip: None,
        network_click_id,
    }
}

fn install_input(at: Millis, received: Millis, devices: &[u64]) -> InstallInput<'_> {
    InstallInput {
        app: APP,
        at,
        received,
        click_id: None,
        device_ids: devices,
        fingerprint: None,
        blocked_ip: false,
    }
}

/// Issue 13, item 6: a later-stamped install of another device must not push out a touch
/// that an install arriving late (but inside the 30-day acceptance) still qualifies for.
#[test]
fn a_late_install_still_finds_its_touch_whatever_was_stamped_later() {
    let settings = Settings::default();
    let day = 24 * HOUR;
    let t = INSTALL_AT;
    let now = t + 8 * day + HOUR;
    let x = device_keys(&[("gaid", Some("x"))]);
    let other = device_keys(&[("gaid", Some("other"))]);
    let mut engine = Engine::new();
    engine.add_touch(&settings, &touch_input("c-x", TouchKind::Click, t, t, &x, None, None, false));
    let first = engine.decide(&settings, &install_input(t + 8 * day, now, &other));
    assert_eq!(first.status, Status::Organic);
    let late = engine.decide(&settings, &install_input(t + 6 * day, now, &x));
    assert_eq!(late.status, Status::Attributed);
    assert_eq!(late.match_type, Some(MatchType::DeviceId));
    assert_eq!(late.touch.map(|t| t.id), Some("c-x".to_owned()));
}

/// Touches are dropped once no install that could still be accepted can use them: the
/// window plus the maximum lateness, measured on the server's clock.
#[test]
fn touches_leave_the_index_once_no_acceptable_install_can_use_them() {
    let settings = Settings::default();
    let day = 24 * HOUR;
    let lateness = settings.max_lateness_ms;
    let mut engine = Engine::new();
    let devices = device_keys(&[("gaid", Some("d"))]);
    engine.add_touch(
        &settings,
        &touch_input("old", TouchKind::Click, INSTALL_AT, INSTALL_AT, &devices, None, None, false),
    );
    let keep_until = INSTALL_AT + 7 * day + lateness;
    // Still needed at the last moment an install 7 days after it could be accepted…
    engine.decide(&settings, &install_input(keep_until - 1, keep_until, &[]));
    assert_eq!(engine.touch_count(), 1);
    // …and gone after.
    engine.decide(&settings, &install_input(keep_until, keep_until + 1, &[]));
    assert_eq!(engine.touch_count(), 0);
}

/// Issue 13, item 9: a click stamped after the device's install is flagged (and reported as
/// `install_before_click`); a retargeting click is not; neither is one past the
/// re-attribution window.
#[test]
fn clicks_after_the_install_are_flagged_install_before_click() {
    let settings = Settings::default();
    let devices = device_keys(&[("gaid", Some("installed"))]);
    let mut engine = Engine::new();
    let decided = engine.decide(&settings, &install_input(INSTALL_AT, INSTALL_AT, &devices));
    assert_eq!(decided.status, Status::Organic);
    let after = INSTALL_AT + 30 * 60 * SECOND;
    let outcome = engine.add_touch(
        &settings,
        &touch_input("late", TouchKind::Click, after, after, &devices, None, None, false),
    );
    assert_eq!(outcome.flagged, Some(FlagReason::InstallBeforeClick));
    let retargeting = engine.add_touch(
        &settings,
        &touch_input("rt", TouchKind::Click, after, after, &devices, None, None, true),
    );
    assert_eq!(retargeting.flagged, None);
    let much_later = INSTALL_AT + settings.reattribution_window_ms + HOUR;
    let outcome = engine.add_touch(
        &settings,
        &touch_input("new", TouchKind::Click, much_later, much_later, &devices, None, None, false),
    );
    assert_eq!(outcome.flagged, None);
    let stranger = device_keys(&[("gaid", Some("stranger"))]);
    let outcome = engine.add_touch(
        &settings,
        &touch_input("s", TouchKind::Click, after, after, &stranger, None, None, false),
    );
    assert_eq!(outcome.flagged, None);
}

/// Issue 13, item 9: once a click caused a click-injection rejection, the device's next
/// install is not credited to it (it is rejected for the same click), while another click
/// of a different device still wins normally.
#[test]
fn an_injected_click_never_wins_a_later_install() {
    let settings = Settings::default();
    let devices = device_keys(&[("gaid", Some("victim"))]);
    let mut engine = Engine::new();
    let click_at = INSTALL_AT - 5 * SECOND;
    engine.add_touch(
        &settings,
        &touch_input("inj", TouchKind::Click, click_at, click_at, &devices, None, None, false),
    );
    let first = engine.decide(&settings, &install_input(INSTALL_AT, INSTALL_AT, &devices));
    assert_eq!(first.status, Status::Rejected);
    assert_eq!(first.rejection, Some(RejectionReason::ClickInjection));
    let again = INSTALL_AT + 10 * SECOND;
    let second = engine.decide(&settings, &install_input(again, again, &devices));
    assert_eq!(second.status, Status::Rejected, "{second:?}");
    assert_eq!(second.rejection, Some(RejectionReason::ClickInjection));
    assert_eq!(second.touch.map(|t| t.id), Some("inj".to_owned()));
    assert!(second.contributors.is_empty());
}

/// Issue 13, item 8: a device's later events are credited with the install's touch, click
/// ids included.
#[test]
fn credit_carries_the_install_touch_and_its_click_ids() {
    let settings = Settings::default();
    let devices = device_keys(&[("gaid", Some("buyer"))]);
    let mut engine = Engine::new();
    let at = INSTALL_AT - HOUR;
    engine.add_touch(
        &settings,
        &touch_input("c-1", TouchKind::Click, at, at, &devices, None, Some("abc"), false),
    );
    engine.decide(&settings, &install_input(INSTALL_AT, INSTALL_AT, &devices));
    let credit = engine.credit(APP, &devices, INSTALL_AT + HOUR);
    assert_eq!(credit.source, Some(1));
    let touch =
        engine.credited_touch(APP, &devices, INSTALL_AT + HOUR).expect("the install's touch");
    assert_eq!(touch.id, "c-1");
    assert_eq!(touch.network_click_id.as_deref(), Some("abc"));
    let organic = device_keys(&[("gaid", Some("organic"))]);
    engine.decide(&settings, &install_input(INSTALL_AT, INSTALL_AT, &organic));
    assert_eq!(engine.credited_touch(APP, &organic, INSTALL_AT + HOUR), None);
}

/// A touchpoint for the shuffled-arrival property: offsets in seconds before the install.
#[derive(Clone, Debug)]
struct Candidate {
    kind: TouchKind,
    before_s: i64,
    device: Option<u8>,
    fingerprint: Option<u8>,
    /// Accepted this long after its own time (up to 5 minutes before it: stamped ahead).
    delay_s: i64,
}

fn candidate() -> impl Strategy<Value = Candidate> {
    (
        prop::bool::ANY,
        prop_oneof![-7_200i64..0, 0i64..90_000, 500_000i64..700_000],
        prop::option::of(0u8..3),
        prop::option::of(0u8..3),
        prop_oneof![-300i64..0, 0i64..60, 0i64..(10 * 24 * 3_600)],
    )
        .prop_map(|(is_click, before_s, device, fingerprint, delay_s)| Candidate {
            kind: if is_click { TouchKind::Click } else { TouchKind::Impression },
            before_s,
            device,
            fingerprint,
            delay_s,
        })
}

/// The rules of DESIGN §5 by brute force: the latest qualifying touch of the highest rule
/// (ties on time to the later arrival). `arrival[i]` is candidate `i`'s position.
fn expected_winner(
    settings: &Settings,
    candidates: &[Candidate],
    arrival: &[usize],
    click_id: Option<usize>,
    device: u8,
    fingerprint: u8,
) -> Option<(usize, MatchType)> {
    let qualifies = |c: &Candidate, window_ms: i64| {
        let age = c.before_s * SECOND;
        (0..=window_ms).contains(&age)
    };
    let best = |matching: &dyn Fn(&Candidate) -> bool, window_ms: i64| {
        (0..candidates.len())
            .filter(|&i| matching(&candidates[i]) && qualifies(&candidates[i], window_ms))
            .max_by_key(|&i| (-candidates[i].before_s, arrival[i]))
    };
    if let Some(i) = click_id
        && candidates[i].kind == TouchKind::Click
        && qualifies(&candidates[i], settings.click_window_ms)
    {
        return Some((i, MatchType::ClickId));
    }
    let click = |c: &Candidate| c.kind == TouchKind::Click;
    if let Some(i) = best(&|c| click(c) && c.device == Some(device), settings.click_window_ms) {
        return Some((i, MatchType::DeviceId));
    }
    if let Some(i) =
        best(&|c| click(c) && c.fingerprint == Some(fingerprint), settings.probabilistic_window_ms)
    {
        return Some((i, MatchType::Probabilistic));
    }
    best(&|c| !click(c) && c.device == Some(device), settings.view_window_ms)
        .map(|i| (i, MatchType::ViewThrough))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Touches arrive in any order and are accepted at any time after their own (or up to
    /// 5 minutes before), interleaved with later-stamped installs of other devices; the
    /// install decided last is credited to the latest qualifying touch of the highest rule,
    /// exactly as the brute-force reading of the rules says.
    #[test]
    fn the_latest_qualifying_touch_of_the_highest_rule_wins_whatever_the_arrival_order(
        candidates in prop::collection::vec(candidate(), 0..24),
        order_seed in prop::collection::vec(any::<u32>(), 24),
        others in prop::collection::vec((0usize..24, 0i64..(9 * 24 * 3_600)), 0..6),
        click_pick in prop::option::of(0usize..24),
        device in 0u8..3,
        fingerprint in 0u8..3,
    ) {
        let settings = Settings { flood_threshold_per_hour: 10_000, min_ctit_ms: 0, ..Settings::default() };
        let n = candidates.len();
        // A shuffled arrival order.
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by_key(|&i| order_seed[i]);
        let mut arrival = vec![0usize; n];
        for (position, &i) in order.iter().enumerate() {
            arrival[i] = position;
        }
        // Each touch is accepted some time after its own (arrival order is shuffled apart
        // from that); the install is decided after all of them, late but acceptable.
        let received = |c: &Candidate| INSTALL_AT - c.before_s * SECOND + c.delay_s * SECOND;
        let now = candidates.iter().map(received).max().unwrap_or(INSTALL_AT).max(INSTALL_AT);
        let ids: Vec<String> = (0..n).map(|i| format!("t{i}")).collect();
        let devices: Vec<Vec<u64>> = candidates
            .iter()
            .map(|c| device_keys(&[("gaid", c.device.map(|d| format!("d{d}")).as_deref())]))
            .collect();
        let mut engine = Engine::new();
        for (position, &i) in order.iter().enumerate() {
            let c = &candidates[i];
            engine.add_touch(&settings, &TouchInput {
                app: APP,
                id: &ids[i],
                kind: c.kind,
                at: INSTALL_AT - c.before_s * SECOND,
                received: received(c),
                retargeting: false,
                source: u32::try_from(i).unwrap(),
                device_ids: &devices[i],
                fingerprint: c.fingerprint.map(u64::from),
                ip: None,
                network_click_id: None,
            });
            // Installs of devices no touch has, stamped up to 9 days after the subject.
            for (k, (after, later_s)) in others.iter().enumerate() {
                if *after == position {
                    let stranger = device_keys(&[("gaid", Some(format!("stranger{k}").as_str()))]);
                    engine.decide(&settings, &install_input(INSTALL_AT + later_s * SECOND, now, &stranger));
                }
            }
        }
        let click_id = click_pick.filter(|&i| i < n);
        let subject = device_keys(&[("gaid", Some(format!("d{device}").as_str()))]);
        let decision = engine.decide(&settings, &InstallInput {
            app: APP,
            at: INSTALL_AT,
            received: now,
            click_id: click_id.map(|i| id_hash(&ids[i])),
            device_ids: &subject,
            fingerprint: Some(u64::from(fingerprint)),
            blocked_ip: false,
        });
        let want = expected_winner(&settings, &candidates, &arrival, click_id, device, fingerprint);
        let got = decision.touch.as_ref().map(|t| (t.source as usize, decision.match_type));
        prop_assert_eq!(got, want.map(|(i, m)| (i, Some(m))), "decision {:?}", decision);
        prop_assert_eq!(
            decision.status,
            if want.is_some() { Status::Attributed } else { Status::Organic }
        );
    }
}

/// DESIGN §5: an install carrying the id of a click stamped after it is reported (the click
/// is named in the decision and flagged), and decided by the other rules.
#[test]
fn an_install_carrying_a_later_click_id_reports_that_click() {
    let settings = Settings::default();
    let devices = device_keys(&[("gaid", Some("carrier"))]);
    let mut engine = Engine::new();
    let before = INSTALL_AT - HOUR;
    engine.add_touch(
        &settings,
        &touch_input("earlier", TouchKind::Click, before, before, &devices, None, None, false),
    );
    let after = INSTALL_AT + 10 * 60 * SECOND;
    engine.add_touch(
        &settings,
        &touch_input("later", TouchKind::Click, after, after, &[], None, None, false),
    );
    let decision = engine.decide(
        &settings,
        &InstallInput {
            click_id: Some(id_hash("later")),
            ..install_input(INSTALL_AT, after, &devices)
        },
    );
    assert_eq!(decision.install_before_click.map(|t| t.id), Some("later".to_owned()));
    assert_eq!(decision.status, Status::Attributed);
    assert_eq!(decision.match_type, Some(MatchType::DeviceId));
    assert_eq!(decision.touch.map(|t| t.id), Some("earlier".to_owned()));
    // Flagged: it wins nothing later, even for an install after it.
    let next = engine.decide(
        &settings,
        &InstallInput {
            click_id: Some(id_hash("later")),
            ..install_input(after + HOUR, after + HOUR, &device_keys(&[("gaid", Some("other"))]))
        },
    );
    assert_eq!(next.status, Status::Organic);
    assert_eq!(next.install_before_click, None);
}

/// Touches with several device ids and a fingerprint (links past the two kept inside a
/// touch): each key's chain still finds its latest qualifying touch, and eviction keeps
/// chains consistent.
#[test]
fn touches_with_many_keys_are_found_through_every_key() {
    let settings = Settings::default();
    let mut engine = Engine::new();
    let ids = |i: u32| {
        device_keys(&[
            ("gaid", Some(format!("g{i}").as_str())),
            ("idfa", Some(format!("a{}", i % 3).as_str())),
            ("idfv", Some(format!("v{}", i % 5).as_str())),
            ("install_id", Some(format!("n{}", i % 7).as_str())),
        ])
    };
    let names: Vec<String> = (0..40).map(|i| format!("t{i}")).collect();
    for i in 0..40u32 {
        let devices = ids(i);
        let at = INSTALL_AT - HOUR + i64::from(i) * SECOND;
        engine.add_touch(
            &settings,
            &TouchInput {
                fingerprint: Some(u64::from(i % 4)),
                ..touch_input(
                    &names[i as usize],
                    TouchKind::Click,
                    at,
                    at,
                    &devices,
                    None,
                    None,
                    false,
                )
            },
        );
    }
    let decide = |engine: &mut Engine, devices: &[u64], fingerprint: Option<u64>| {
        let decision = engine.decide(
            &settings,
            &InstallInput { fingerprint, ..install_input(INSTALL_AT, INSTALL_AT, devices) },
        );
        (decision.match_type, decision.touch.map(|t| t.id))
    };
    // The latest touch of each key: idfv v2 → touches 2, 7, …, 37; install id n3 → 3, 10, …, 38.
    let by_idfv = device_keys(&[("idfv", Some("v2"))]);
    assert_eq!(
        decide(&mut engine, &by_idfv, None),
        (Some(MatchType::DeviceId), Some("t37".to_owned()))
    );
    let by_install_id = device_keys(&[("install_id", Some("n3"))]);
    assert_eq!(
        decide(&mut engine, &by_install_id, None),
        (Some(MatchType::DeviceId), Some("t38".to_owned()))
    );
    let nobody = device_keys(&[("gaid", Some("nobody"))]);
    assert_eq!(
        decide(&mut engine, &nobody, Some(1)),
        (Some(MatchType::Probabilistic), Some("t37".to_owned()))
    );
    // Far later, everything has left the index, chains included.
    let later = INSTALL_AT + 60 * 24 * HOUR;
    let stranger = device_keys(&[("gaid", Some("stranger"))]);
    engine.decide(&settings, &install_input(later, later, &stranger));
    assert_eq!(engine.touch_count(), 0);
    let by_idfa = device_keys(&[("idfa", Some("a1"))]);
    assert_eq!(
        engine.decide(&settings, &install_input(later, later, &by_idfa)).status,
        Status::Organic
    );
}

/// Chain walks stop at touches that arrived too early to be in the window (the index keeps
/// the latest acceptance time per block of touches); across many blocks every qualifying
/// touch is still found — including one accepted late whose own time is early — and none
/// outside the window is.
#[test]
fn chain_walks_stop_early_without_losing_a_qualifying_touch() {
    let settings = Settings::default();
    let minute = 60 * SECOND;
    let mut engine = Engine::new();
    let device = device_keys(&[("gaid", Some("busy"))]);
    let names: Vec<String> = (0..3000).map(|i| format!("c{i}")).collect();
    let start = INSTALL_AT - 3000 * 10 * minute;
    let mut stamps = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let at = start + i as i64 * 10 * minute;
        stamps.push(at);
        engine.add_touch(
            &settings,
            &TouchInput {
                fingerprint: Some(5),
                ..touch_input(name, TouchKind::Click, at, at, &device, None, None, false)
            },
        );
    }
    // Reported late: stamped six days before the install, accepted just before it.
    let late_at = INSTALL_AT - 6 * 24 * HOUR - 7;
    engine.add_touch(
        &settings,
        &TouchInput {
            fingerprint: Some(5),
            ..touch_input(
                "late",
                TouchKind::Click,
                late_at,
                INSTALL_AT - minute,
                &device,
                None,
                None,
                false,
            )
        },
    );
    stamps.push(late_at);
    let decision = engine.decide(
        &settings,
        &InstallInput { fingerprint: Some(5), ..install_input(INSTALL_AT, INSTALL_AT, &device) },
    );
    assert_eq!(decision.touch.map(|t| t.id), Some("c2999".to_owned()));
    // Multi-touch credit: every click of the 7-day window, the late one included.
    let in_window = stamps
        .iter()
        .filter(|at| (0..=settings.click_window_ms).contains(&(INSTALL_AT - **at)))
        .count();
    assert_eq!(decision.contributors.len(), in_window);
    assert!(decision.contributors.iter().any(|t| t.id == "late"));
    assert!(
        decision.contributors.iter().all(|t| INSTALL_AT - t.at <= settings.click_window_ms),
        "nothing outside the window"
    );
}

/// A touch that names one key twice is indexed once under it: the key's older touches stay
/// reachable.
#[test]
fn a_repeated_device_key_does_not_cut_the_chain() {
    let settings = Settings::default();
    let mut engine = Engine::new();
    let key = device_keys(&[("gaid", Some("twice"))])[0];
    let older = INSTALL_AT - 2 * HOUR;
    engine.add_touch(
        &settings,
        &touch_input("older", TouchKind::Click, older, older, &[key], None, None, false),
    );
    let newer = INSTALL_AT - HOUR;
    engine.add_touch(
        &settings,
        &touch_input("newer", TouchKind::Impression, newer, newer, &[key, key], None, None, false),
    );
    let again = INSTALL_AT - 90 * 60 * SECOND;
    engine.add_touch(
        &settings,
        &touch_input("again", TouchKind::Click, again, again, &[key, key, key], None, None, false),
    );
    let decision = engine.decide(&settings, &install_input(INSTALL_AT, INSTALL_AT, &[key]));
    assert_eq!(decision.touch.map(|t| t.id), Some("again".to_owned()));
    let ids: Vec<String> = decision.contributors.iter().map(|t| t.id.clone()).collect();
    assert_eq!(ids, vec!["older", "again", "newer"]);
}
