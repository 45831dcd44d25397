//! Erasing a device: the index forgets its install and every touchpoint tied to it, and
//! nothing else.

#![allow(clippy::unwrap_used)]

use unmogrowp_attribution::*;

const APP: u64 = 1;
const AT: Millis = 1_800_000_000_000;
const HOUR: i64 = 3_600_000;

fn touch(engine: &mut Engine, id: &str, at: Millis, gaid: Option<&str>, fingerprint: Option<u64>) {
    let devices = device_keys(&[("gaid", gaid)]);
    engine.add_touch(
        &Settings::default(),
        &TouchInput {
            app: APP,
            id,
            kind: TouchKind::Click,
            at,
            received: at,
            retargeting: false,
            source: 7,
            device_ids: &devices,
            fingerprint,
            ip: None,
            network_click_id: Some("net-1"),
        },
    );
}

fn install(
    engine: &mut Engine,
    at: Millis,
    gaid: Option<&str>,
    click_id: Option<&str>,
    fingerprint: Option<u64>,
) -> Decision {
    let devices = device_keys(&[("gaid", gaid)]);
    engine.decide(
        &Settings::default(),
        &InstallInput {
            app: APP,
            at,
            received: at,
            click_id: click_id.map(id_hash),
            device_ids: &devices,
            fingerprint,
            blocked_ip: false,
        },
    )
}

fn won(decision: &Decision) -> Option<String> {
    decision.touch.as_ref().filter(|_| decision.status == Status::Attributed).map(|t| t.id.clone())
}

#[test]
fn a_forgotten_device_loses_its_install_and_touchpoints_and_others_keep_theirs() {
    let mut engine = Engine::new();
    let fingerprint = Some(0xf00d);
    touch(&mut engine, "c-a", AT - 3 * HOUR, Some("dev-a"), None);
    touch(&mut engine, "c-b", AT - 2 * HOUR, Some("dev-b"), None);
    touch(&mut engine, "c-fp", AT - HOUR, None, fingerprint);

    // Device A by its identifier, device C by fingerprint only.
    assert_eq!(won(&install(&mut engine, AT, Some("dev-a"), None, None)).as_deref(), Some("c-a"));
    assert_eq!(
        won(&install(&mut engine, AT, Some("dev-c"), None, fingerprint)).as_deref(),
        Some("c-fp")
    );

    let keys = device_keys(&[("gaid", Some("dev-a")), ("gaid", Some("dev-c"))]);
    // c-a through A's chain, c-fp as the click C's install was credited to.
    assert_eq!(engine.forget_device(APP, &keys), 2);
    assert_eq!(engine.forget_device(APP, &keys), 0, "a second erasure finds nothing");

    // A installs again: a first install (not a re-install), and c-a can win nothing, by
    // device or by its click id.
    let again = install(&mut engine, AT + HOUR, Some("dev-a"), Some("c-a"), None);
    assert!(!again.reinstall);
    assert_eq!(again.status, Status::Organic);
    assert!(engine.device_decision(APP, &device_keys(&[("gaid", Some("dev-c"))])).is_none());
    // The fingerprint click is gone for every device.
    let other = install(&mut engine, AT + HOUR, Some("dev-d"), None, fingerprint);
    assert_eq!(other.status, Status::Organic);
    // Device B is untouched.
    assert_eq!(won(&install(&mut engine, AT, Some("dev-b"), None, None)).as_deref(), Some("c-b"));
}

#[test]
fn a_device_named_by_one_identifier_is_forgotten_under_all_it_installed_with() {
    let mut engine = Engine::new();
    let both = [("gaid", Some("dev-a")), ("idfv", Some("vendor-a"))];
    let keys = device_keys(&both);
    let decision = engine.decide(
        &Settings::default(),
        &InstallInput {
            app: APP,
            at: AT,
            received: AT,
            click_id: None,
            device_ids: &keys,
            fingerprint: None,
            blocked_ip: false,
        },
    );
    assert_eq!(decision.status, Status::Organic);
    // A click from the device that carried only its vendor id.
    let vendor_only = device_keys(&[("idfv", Some("vendor-a"))]);
    engine.add_touch(
        &Settings::default(),
        &TouchInput {
            app: APP,
            id: "c-vendor",
            kind: TouchKind::Click,
            at: AT + HOUR,
            received: AT + HOUR,
            retargeting: true,
            source: 7,
            device_ids: &vendor_only,
            fingerprint: None,
            ip: None,
            network_click_id: None,
        },
    );
    // Another device installing at another time keeps its state.
    install(&mut engine, AT + 1, Some("dev-b"), None, None);
    assert_eq!(engine.forget_device(APP, &device_keys(&[("gaid", Some("dev-a"))])), 1);
    // The vendor-id click can win nothing now, by click id or by the vendor id.
    let later = install(&mut engine, AT + 2 * HOUR, None, Some("c-vendor"), None);
    assert_eq!(later.status, Status::Organic);
    assert!(engine.device_decision(APP, &device_keys(&[("idfv", Some("vendor-a"))])).is_none());
    assert!(engine.device_decision(APP, &device_keys(&[("gaid", Some("dev-b"))])).is_some());
}

#[test]
fn a_forgotten_app_keeps_nothing() {
    let mut engine = Engine::new();
    touch(&mut engine, "c-a", AT - HOUR, Some("dev-a"), None);
    assert_eq!(engine.touch_count(), 1);
    engine.forget_app(APP);
    assert_eq!(engine.touch_count(), 0);
    assert_eq!(install(&mut engine, AT, Some("dev-a"), Some("c-a"), None).status, Status::Organic);
}
