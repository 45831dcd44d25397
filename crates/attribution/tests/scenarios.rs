//! The attribution rules, case by case, including every window edge; then properties that
//! hold for any sequence of touchpoints and installs.

#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use unmogrowp_attribution::*;

const APP: u64 = 1;
const OTHER_APP: u64 = 2;
const INSTALL_AT: Millis = 1_800_000_000_000;
const SECOND: i64 = 1000;
const HOUR: i64 = 3_600 * SECOND;

#[derive(Clone)]
struct T {
    app: u64,
    id: &'static str,
    kind: TouchKind,
    /// Seconds before the install (negative: after).
    before: i64,
    gaid: Option<&'static str>,
    fingerprint: Option<u64>,
}

fn click(id: &'static str, before: i64, gaid: Option<&'static str>) -> T {
    T { app: APP, id, kind: TouchKind::Click, before, gaid, fingerprint: None }
}

fn impression(id: &'static str, before: i64, gaid: Option<&'static str>) -> T {
    T { app: APP, id, kind: TouchKind::Impression, before, gaid, fingerprint: None }
}

struct Install {
    click_id: Option<&'static str>,
    gaid: Option<&'static str>,
    fingerprint: Option<u64>,
    blocked: bool,
}

fn install(click_id: Option<&'static str>, gaid: Option<&'static str>) -> Install {
    Install { click_id, gaid, fingerprint: None, blocked: false }
}

fn run(settings: Settings, touches: &[T], install: &Install) -> Decision {
    let mut engine = Engine::new();
    let mut ordered = touches.to_vec();
    ordered.sort_by_key(|t| -t.before);
    for touch in &ordered {
        let devices = device_keys(&[("gaid", touch.gaid)]);
        engine.add_touch(
            &settings,
            &TouchInput {
                app: touch.app,
                id: touch.id,
                kind: touch.kind,
                at: INSTALL_AT - touch.before * SECOND,
                received: INSTALL_AT - touch.before * SECOND,
                retargeting: false,
                source: 7,
                device_ids: &devices,
                fingerprint: touch.fingerprint,
                ip: None,
                network_click_id: None,
            },
        );
    }
    let devices = device_keys(&[("gaid", install.gaid)]);
    engine.decide(
        &settings,
        &InstallInput {
            app: APP,
            at: INSTALL_AT,
            received: INSTALL_AT,
            click_id: install.click_id.map(id_hash),
            device_ids: &devices,
            fingerprint: install.fingerprint,
            blocked_ip: install.blocked,
        },
    )
}

type Expected = (Status, Option<MatchType>, Option<&'static str>, Option<RejectionReason>);

fn check(name: &str, settings: Settings, touches: &[T], install: &Install, expected: Expected) {
    let decision = run(settings, touches, install);
    let got = (
        decision.status,
        decision.match_type,
        decision.touch.as_ref().map(|t| t.id.clone()),
        decision.rejection,
    );
    let want = (expected.0, expected.1, expected.2.map(str::to_owned), expected.3);
    assert_eq!(got, want, "{name}");
}

const CLICK_WINDOW_S: i64 = 168 * 3600;
const VIEW_WINDOW_S: i64 = 24 * 3600;
const FP: Option<u64> = Some(42);

#[test]
fn each_rule_and_each_window_edge() {
    use MatchType::*;
    use Status::*;
    let d = Settings::default();
    let a = Some("38400000-8cf0-11bd-b23e-10b96e40000d");
    let cases: Vec<(&str, Vec<T>, Install, Expected)> = vec![
        (
            "click id inside the window",
            vec![click("c1", 3600, None)],
            install(Some("c1"), None),
            (Attributed, Some(ClickId), Some("c1"), None),
        ),
        (
            "click id exactly at the window",
            vec![click("c1", CLICK_WINDOW_S, None)],
            install(Some("c1"), None),
            (Attributed, Some(ClickId), Some("c1"), None),
        ),
        (
            "click id one second past",
            vec![click("c1", CLICK_WINDOW_S + 1, None)],
            install(Some("c1"), None),
            (Organic, None, None, None),
        ),
        (
            "device id click",
            vec![click("c1", 3600, a)],
            install(None, a),
            (Attributed, Some(DeviceId), Some("c1"), None),
        ),
        (
            "device id exactly at the window",
            vec![click("c1", CLICK_WINDOW_S, a)],
            install(None, a),
            (Attributed, Some(DeviceId), Some("c1"), None),
        ),
        (
            "device id one second past",
            vec![click("c1", CLICK_WINDOW_S + 1, a)],
            install(None, a),
            (Organic, None, None, None),
        ),
        (
            "probabilistic",
            vec![T { fingerprint: FP, ..click("c1", 3600, None) }],
            Install { fingerprint: FP, ..install(None, None) },
            (Attributed, Some(Probabilistic), Some("c1"), None),
        ),
        (
            "probabilistic exactly at the window",
            vec![T { fingerprint: FP, ..click("c1", VIEW_WINDOW_S, None) }],
            Install { fingerprint: FP, ..install(None, None) },
            (Attributed, Some(Probabilistic), Some("c1"), None),
        ),
        (
            "probabilistic one second past",
            vec![T { fingerprint: FP, ..click("c1", VIEW_WINDOW_S + 1, None) }],
            Install { fingerprint: FP, ..install(None, None) },
            (Organic, None, None, None),
        ),
        (
            "view-through",
            vec![impression("i1", 3600, a)],
            install(None, a),
            (Attributed, Some(ViewThrough), Some("i1"), None),
        ),
        (
            "view-through exactly at the window",
            vec![impression("i1", VIEW_WINDOW_S, a)],
            install(None, a),
            (Attributed, Some(ViewThrough), Some("i1"), None),
        ),
        (
            "view-through one second past",
            vec![impression("i1", VIEW_WINDOW_S + 1, a)],
            install(None, a),
            (Organic, None, None, None),
        ),
        ("nothing: organic", vec![], install(None, a), (Organic, None, None, None)),
        (
            "last touch within a rule",
            vec![click("old", 7200, a), click("new", 3600, a)],
            install(None, a),
            (Attributed, Some(DeviceId), Some("new"), None),
        ),
        (
            "click id beats a later device-id click",
            vec![click("c1", 7200, None), click("c2", 3600, a)],
            install(Some("c1"), a),
            (Attributed, Some(ClickId), Some("c1"), None),
        ),
        (
            "a device-id click beats a later impression",
            vec![click("c1", 7200, a), impression("i1", 3600, a)],
            install(None, a),
            (Attributed, Some(DeviceId), Some("c1"), None),
        ),
        (
            "a probabilistic click beats a device-id impression",
            vec![T { fingerprint: FP, ..click("c1", 7200, None) }, impression("i1", 3600, a)],
            Install { fingerprint: FP, ..install(None, a) },
            (Attributed, Some(Probabilistic), Some("c1"), None),
        ),
        (
            "placeholder ids never match",
            vec![click("c1", 3600, Some("00000000-0000-0000-0000-000000000000"))],
            install(None, Some("00000000-0000-0000-0000-000000000000")),
            (Organic, None, None, None),
        ),
        (
            "unknown never matches",
            vec![impression("i1", 3600, Some("unknown"))],
            install(None, Some("unknown")),
            (Organic, None, None, None),
        ),
        (
            "touchpoints after the install are ignored",
            vec![click("c1", -60, a)],
            install(Some("c1"), a),
            (Organic, None, None, None),
        ),
        (
            "another app's touchpoints never match",
            vec![T { app: OTHER_APP, ..click("c1", 3600, a) }],
            install(Some("c1"), a),
            (Organic, None, None, None),
        ),
        (
            "click injection",
            vec![click("c1", 5, a)],
            install(None, a),
            (Rejected, Some(DeviceId), Some("c1"), Some(RejectionReason::ClickInjection)),
        ),
        (
            "exactly the minimum click-to-install time is fine",
            vec![click("c1", 10, a)],
            install(None, a),
            (Attributed, Some(DeviceId), Some("c1"), None),
        ),
        (
            "impressions are not click injection",
            vec![impression("i1", 1, a)],
            install(None, a),
            (Attributed, Some(ViewThrough), Some("i1"), None),
        ),
        (
            "blocked IP",
            vec![click("c1", 3600, a)],
            Install { blocked: true, ..install(None, a) },
            (Rejected, None, None, Some(RejectionReason::BlockedIp)),
        ),
    ];
    for (name, touches, install, expected) in cases {
        check(name, d, &touches, &install, expected);
    }
}

#[test]
fn per_app_windows_change_the_outcome() {
    let a = Some("device-a");
    let touches = [click("c1", 48 * 3600, a)];
    check(
        "default window",
        Settings::default(),
        &touches,
        &install(None, a),
        (Status::Attributed, Some(MatchType::DeviceId), Some("c1"), None),
    );
    let narrow = Settings { click_window_ms: 24 * HOUR, ..Settings::default() };
    check(
        "narrower window",
        narrow,
        &touches,
        &install(None, a),
        (Status::Organic, None, None, None),
    );
    let strict = Settings { min_ctit_ms: 60 * SECOND, ..Settings::default() };
    check(
        "higher CTIT floor",
        strict,
        &[click("c1", 30, a)],
        &install(None, a),
        (
            Status::Rejected,
            Some(MatchType::DeviceId),
            Some("c1"),
            Some(RejectionReason::ClickInjection),
        ),
    );
}

#[test]
fn flooded_clicks_are_flagged_and_never_win() {
    let settings = Settings { flood_threshold_per_hour: 3, ..Settings::default() };
    let mut engine = Engine::new();
    let devices = device_keys(&[("gaid", Some("flooder"))]);
    let mut flagged = Vec::new();
    for i in 0..5 {
        let id = format!("c{i}");
        let outcome = engine.add_touch(
            &settings,
            &TouchInput {
                app: APP,
                id: &id,
                kind: TouchKind::Click,
                at: INSTALL_AT - 600_000 + i,
                received: INSTALL_AT - 600_000 + i,
                retargeting: false,
                source: 1,
                device_ids: &devices,
                fingerprint: None,
                ip: None,
                network_click_id: None,
            },
        );
        flagged.push(outcome.flagged);
    }
    let flood = Some(FlagReason::ClickFlood);
    assert_eq!(flagged, vec![None, None, None, flood, flood]);
    let decision = engine.decide(
        &settings,
        &InstallInput {
            app: APP,
            at: INSTALL_AT,
            received: INSTALL_AT,
            click_id: Some(id_hash("c4")),
            device_ids: &devices,
            fingerprint: None,
            blocked_ip: false,
        },
    );
    // The flagged click id does not win; the latest unflagged device click does.
    assert_eq!(decision.touch.map(|t| t.id), Some("c2".to_owned()));
    assert_eq!(decision.match_type, Some(MatchType::DeviceId));
}

#[test]
fn reinstalls_keep_their_source_until_the_window_passes() {
    let settings = Settings::default();
    let mut engine = Engine::new();
    let devices = device_keys(&[("gaid", Some("returning"))]);
    engine.add_touch(
        &settings,
        &TouchInput {
            app: APP,
            id: "first",
            kind: TouchKind::Click,
            at: INSTALL_AT - HOUR,
            received: INSTALL_AT - HOUR,
            retargeting: false,
            source: 1,
            device_ids: &devices,
            fingerprint: None,
            ip: None,
            network_click_id: None,
        },
    );
    let first = engine.decide(
        &settings,
        &InstallInput {
            app: APP,
            at: INSTALL_AT,
            received: INSTALL_AT,
            click_id: None,
            device_ids: &devices,
            fingerprint: None,
            blocked_ip: false,
        },
    );
    assert_eq!(first.status, Status::Attributed);
    assert!(!first.reattribution && !first.reinstall);

    let ten_days = INSTALL_AT + 240 * HOUR;
    engine.add_touch(
        &settings,
        &TouchInput {
            app: APP,
            id: "second",
            kind: TouchKind::Click,
            at: ten_days - HOUR,
            received: ten_days - HOUR,
            retargeting: false,
            source: 2,
            device_ids: &devices,
            fingerprint: None,
            ip: None,
            network_click_id: None,
        },
    );
    let again = engine.decide(
        &settings,
        &InstallInput {
            app: APP,
            at: ten_days,
            received: ten_days,
            click_id: None,
            device_ids: &devices,
            fingerprint: None,
            blocked_ip: false,
        },
    );
    assert!(again.reinstall, "inside the re-attribution window");
    assert_eq!(again.touch.map(|t| t.id), Some("first".to_owned()));
    assert_eq!(engine.credit(APP, &devices, ten_days + 1).source, Some(1));

    let later = INSTALL_AT + 91 * 24 * HOUR;
    engine.add_touch(
        &settings,
        &TouchInput {
            app: APP,
            id: "third",
            kind: TouchKind::Click,
            at: later - HOUR,
            received: later - HOUR,
            retargeting: false,
            source: 3,
            device_ids: &devices,
            fingerprint: None,
            ip: None,
            network_click_id: None,
        },
    );
    let fresh = engine.decide(
        &settings,
        &InstallInput {
            app: APP,
            at: later,
            received: later,
            click_id: None,
            device_ids: &devices,
            fingerprint: None,
            blocked_ip: false,
        },
    );
    assert!(fresh.reattribution && !fresh.reinstall, "past the window: attributed afresh");
    assert_eq!(fresh.touch.map(|t| t.id), Some("third".to_owned()));
    assert_eq!(engine.credit(APP, &devices, later + 1).source, Some(3));
}

#[test]
fn retargeting_opens_reengage_for_the_window() {
    let settings = Settings::default();
    let mut engine = Engine::new();
    let devices = device_keys(&[("idfa", Some("loyal"))]);
    engine.decide(
        &settings,
        &InstallInput {
            app: APP,
            at: INSTALL_AT,
            received: INSTALL_AT,
            click_id: None,
            device_ids: &devices,
            fingerprint: None,
            blocked_ip: false,
        },
    );
    assert_eq!(
        engine.credit(APP, &devices, INSTALL_AT + 1),
        Credit { source: None, reengagement: false, installed_at: Some(INSTALL_AT) }
    );
    assert!(engine.reengage(&settings, APP, &devices, INSTALL_AT + HOUR, 9));
    assert_eq!(
        engine.credit(APP, &devices, INSTALL_AT + 2 * HOUR),
        Credit { source: Some(9), reengagement: true, installed_at: Some(INSTALL_AT) }
    );
    assert!(!engine.credit(APP, &devices, INSTALL_AT + HOUR + 31 * 24 * HOUR).reengagement);
    assert!(!engine.reengage(
        &settings,
        APP,
        &device_keys(&[("idfa", Some("stranger"))]),
        INSTALL_AT,
        9
    ));
}

#[test]
fn model_weights() {
    let day = 24 * HOUR;
    let times = [INSTALL_AT - 14 * day, INSTALL_AT - 7 * day, INSTALL_AT];
    assert_eq!(weights(Model::LastTouch, &times, INSTALL_AT), vec![0.0, 0.0, 1.0]);
    let linear = weights(Model::Linear, &times, INSTALL_AT);
    assert!(linear.iter().all(|w| (w - 1.0 / 3.0).abs() < 1e-12));
    let decay = weights(Model::TimeDecay, &times, INSTALL_AT);
    // Half-lives of 7 days: 1/4, 1/2, 1 before normalising.
    assert!((decay[0] - 0.25 / 1.75).abs() < 1e-12 && (decay[2] - 1.0 / 1.75).abs() < 1e-12);
    assert_eq!(weights(Model::PositionBased, &times, INSTALL_AT), vec![0.4, 0.2, 0.4]);
    assert_eq!(weights(Model::PositionBased, &times[..2], INSTALL_AT), vec![0.5, 0.5]);
    assert!(weights(Model::Linear, &[], INSTALL_AT).is_empty());
}

#[derive(Clone, Debug)]
enum Step {
    Touch { app: u64, kind: TouchKind, offset_s: i64, device: u8, fingerprint: u8 },
    Install { offset_s: i64, device: u8, fingerprint: u8, click: Option<u16> },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (1u64..=2, prop::bool::ANY, -400_000i64..400_000, 0u8..6, 0u8..4).prop_map(
            |(app, is_click, offset_s, device, fingerprint)| Step::Touch {
                app,
                kind: if is_click { TouchKind::Click } else { TouchKind::Impression },
                offset_s,
                device,
                fingerprint
            }
        ),
        (-400_000i64..400_000, 0u8..6, 0u8..4, prop::option::of(0u16..40)).prop_map(
            |(offset_s, device, fingerprint, click)| Step::Install {
                offset_s,
                device,
                fingerprint,
                click
            }
        ),
    ]
}

fn replay(steps: &[Step], settings: &Settings) -> Vec<(Decision, Millis)> {
    let mut engine = Engine::new();
    let mut decisions = Vec::new();
    let mut touch_count = 0;
    let mut ids: Vec<String> = Vec::new();
    for step in steps {
        match step {
            Step::Touch { app, kind, offset_s, device, fingerprint } => {
                let id = format!("t{touch_count}");
                touch_count += 1;
                ids.push(id.clone());
                let devices = device_keys(&[("gaid", Some(&format!("d{device}")))]);
                engine.add_touch(
                    settings,
                    &TouchInput {
                        app: *app,
                        id: &id,
                        kind: *kind,
                        at: INSTALL_AT + offset_s * SECOND,
                        received: INSTALL_AT + offset_s * SECOND,
                        retargeting: false,
                        source: u32::try_from(*app).unwrap(),
                        device_ids: &devices,
                        fingerprint: Some(u64::from(*fingerprint)),
                        ip: None,
                        network_click_id: None,
                    },
                );
            }
            Step::Install { offset_s, device, fingerprint, click } => {
                let devices = device_keys(&[("gaid", Some(&format!("d{device}")))]);
                let at = INSTALL_AT + offset_s * SECOND;
                let click_id = click.map(|c| id_hash(&format!("t{c}")));
                let decision = engine.decide(
                    settings,
                    &InstallInput {
                        app: APP,
                        at,
                        received: at,
                        click_id,
                        device_ids: &devices,
                        fingerprint: Some(u64::from(*fingerprint)),
                        blocked_ip: false,
                    },
                );
                decisions.push((decision, at));
            }
        }
    }
    decisions
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn decisions_never_credit_a_later_foreign_or_expired_touchpoint(steps in prop::collection::vec(step(), 1..80)) {
        let settings = Settings { flood_threshold_per_hour: 1_000, ..Settings::default() };
        for (decision, at) in replay(&steps, &settings) {
            if decision.reinstall {
                continue;
            }
            if let Some(touch) = &decision.touch {
                prop_assert!(touch.at <= at, "a touchpoint after the install won");
                prop_assert_eq!(touch.source, 1, "another app's touchpoint won");
                let window = match decision.match_type {
                    Some(MatchType::ClickId | MatchType::DeviceId) => settings.click_window_ms,
                    Some(MatchType::Probabilistic) => settings.probabilistic_window_ms,
                    Some(MatchType::ViewThrough) => settings.view_window_ms,
                    None => 0,
                };
                prop_assert!(at - touch.at <= window, "a touchpoint outside its window won");
            }
            for contributor in &decision.contributors {
                prop_assert!(contributor.at <= at && contributor.source == 1);
            }
        }
    }

    #[test]
    fn replaying_the_log_gives_the_same_decisions(steps in prop::collection::vec(step(), 1..80)) {
        let settings = Settings::default();
        prop_assert_eq!(replay(&steps, &settings), replay(&steps, &settings));
    }

}
