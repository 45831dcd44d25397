use super::*;

fn context() -> CheckContext {
    CheckContext {
        now_ms: 1_800_000_000_000,
        max_age_ms: 30 * 86_400_000,
        max_future_ms: 300_000,
        allow_touches: false,
        trace: None,
    }
}

fn incoming(json: serde_json::Value) -> IncomingEvent {
    serde_json::from_value(json).unwrap_or_else(|e| unreachable!("{e}"))
}

fn at(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).map(|t| t.to_string()).unwrap_or_default()
}

fn check_all(json: serde_json::Value) -> Result<Checked, Rejection> {
    let org = OrgId::generate();
    let app = AppId::generate();
    check_event(incoming(json), &org, &app, Source::Sdk, &context())
}

fn check(json: serde_json::Value) -> Result<LoggedEvent, Rejection> {
    check_all(json).map(|checked| checked.event)
}

#[test]
fn a_good_purchase_passes() {
    let event = check(serde_json::json!({
        "id": "e-1", "type": "event", "name": "purchase", "timestamp": at(context().now_ms - 1000),
        "device": {"gaid": "AB-12", "ip": "203.0.113.9", "country": "de"},
        "revenue": {"amount": 9.99, "currency": "eur"}, "properties": {"sku": "x"}
    }))
    .unwrap_or_else(|r| unreachable!("{r:?}"));
    assert_eq!(event.kind, EventType::Event);
    assert_eq!(event.revenue.as_ref().map(|m| m.currency.as_str()), Some("EUR"));
    assert_eq!(event.device.country.as_deref(), Some("DE"));
    assert_eq!(event.properties.as_deref(), Some(r#"{"sku":"x"}"#));
    assert_eq!(event.device.primary_id().as_deref(), Some("gaid:ab-12"));
}

#[test]
fn the_timestamp_window_is_inclusive_and_enforced() {
    let now = context().now_ms;
    let ok = |ms| {
        check(
            serde_json::json!({"id": "a", "type": "install", "timestamp": at(ms), "device": {"idfv": "v"}}),
        )
    };
    assert!(ok(now - 30 * 86_400_000).is_ok());
    assert!(ok(now + 300_000).is_ok());
    assert_eq!(ok(now - 30 * 86_400_000 - 1).err().map(|r| r.code), Some("timestamp_out_of_range"));
    assert_eq!(ok(now + 300_001).err().map(|r| r.code), Some("timestamp_out_of_range"));
}

#[test]
fn each_refusal_has_its_code() {
    let now = at(context().now_ms);
    let cases = [
        (
            serde_json::json!({"id": "", "type": "install", "timestamp": now, "device": {"idfv": "v"}}),
            "invalid_id",
        ),
        (
            serde_json::json!({"id": "a", "type": "purchase", "timestamp": now, "device": {"idfv": "v"}}),
            "invalid_type",
        ),
        (
            serde_json::json!({"id": "a", "type": "click", "timestamp": now, "link_id": "l"}),
            "type_not_allowed",
        ),
        (
            serde_json::json!({"id": "a", "type": "event", "timestamp": now, "device": {"idfv": "v"}}),
            "missing_name",
        ),
        (
            serde_json::json!({"id": "a", "type": "install", "timestamp": "yesterday", "device": {"idfv": "v"}}),
            "invalid_timestamp",
        ),
        (
            serde_json::json!({"id": "a", "type": "install", "timestamp": now, "device": {"install_id": "i".repeat(129)}}),
            "invalid_field",
        ),
        (
            serde_json::json!({"id": "a", "type": "install", "timestamp": now, "device": {"idfv": "v", "ip": "999.1.1.1"}}),
            "invalid_field",
        ),
        (
            serde_json::json!({"id": "a", "type": "event", "name": "p", "timestamp": now, "device": {"idfv": "v"}, "revenue": {"amount": 1, "currency": "XXQ"}}),
            "invalid_revenue",
        ),
    ];
    for (json, code) in cases {
        assert_eq!(check(json.clone()).err().map(|r| r.code), Some(code), "{json}");
    }
}

#[test]
fn privacy_limited_devices_are_accepted_and_identified_by_their_install_id() {
    let now = at(context().now_ms);
    let zeros = "00000000-0000-0000-0000-000000000000";
    // All-zero advertising ids (Android with personalisation off, iOS without ATT): the
    // install is accepted; the zeros identify nobody.
    let event = check(serde_json::json!({"id": "a", "type": "install", "timestamp": now,
        "device": {"gaid": zeros, "idfa": zeros}}))
    .unwrap_or_else(|r| unreachable!("{r:?}"));
    assert_eq!(event.device.primary_id(), None);
    assert!(event.device.identifiers().is_empty());
    // No identifier at all: accepted too.
    let bare = check(serde_json::json!({"id": "b", "type": "session", "timestamp": now}))
        .unwrap_or_else(|r| unreachable!("{r:?}"));
    assert_eq!(bare.device.primary_id(), None);
    // The SDK's installation id identifies the device when nothing stronger exists…
    let with_install_id = check(serde_json::json!({"id": "c", "type": "install", "timestamp": now,
        "device": {"gaid": zeros, "install_id": "Inst-42"}}))
    .unwrap_or_else(|r| unreachable!("{r:?}"));
    assert_eq!(with_install_id.device.primary_id().as_deref(), Some("install_id:inst-42"));
    // …and comes after every advertising or vendor id.
    let both = check(serde_json::json!({"id": "d", "type": "install", "timestamp": now,
        "device": {"idfv": "V-1", "install_id": "inst-42"}}))
    .unwrap_or_else(|r| unreachable!("{r:?}"));
    assert_eq!(both.device.identifiers(), vec!["idfv:v-1", "install_id:inst-42"]);
}

#[test]
fn long_descriptive_text_is_cut_and_reported_never_refused() {
    let now = at(context().now_ms);
    let long_ua = format!("Mozilla/5.0 (Linux; Android 14) {}", "x\u{e9}".repeat(800));
    let checked = check_all(serde_json::json!({"id": "a", "type": "install", "timestamp": now,
        "device": {"gaid": "g", "user_agent": long_ua, "model": "m".repeat(2000), "os": "android",
                   "locale": "de_DE"},
        "properties": {"note": "n".repeat(1500), "list": ["short", "l".repeat(1025)], "k": 1}}))
    .unwrap_or_else(|r| unreachable!("{r:?}"));
    let device = &checked.event.device;
    let ua = device.user_agent.clone().unwrap_or_default();
    assert_eq!(ua.chars().count(), MAX_DESCRIPTIVE_CHARS);
    assert!(ua.starts_with("Mozilla/5.0 (Linux; Android 14) x\u{e9}x\u{e9}"), "{ua}");
    assert_eq!(device.model.as_ref().map(String::len), Some(MAX_DESCRIPTIVE_CHARS));
    assert_eq!(device.os.as_deref(), Some("android"));
    assert_eq!(checked.truncated, vec!["device.user_agent", "device.model", "properties"]);
    let properties: serde_json::Value =
        serde_json::from_str(checked.event.properties.as_deref().unwrap_or("{}"))
            .unwrap_or_default();
    assert_eq!(properties["note"].as_str().map(str::len), Some(MAX_DESCRIPTIVE_CHARS));
    assert_eq!(properties["list"][0], "short");
    assert_eq!(properties["list"][1].as_str().map(str::len), Some(MAX_DESCRIPTIVE_CHARS));
    assert_eq!(properties["k"], 1);
    // Exactly at the limit: kept whole, nothing reported.
    let at_limit = check_all(serde_json::json!({"id": "b", "type": "install", "timestamp": now,
        "device": {"user_agent": "u".repeat(MAX_DESCRIPTIVE_CHARS)}}))
    .unwrap_or_else(|r| unreachable!("{r:?}"));
    assert!(at_limit.truncated.is_empty());
    assert_eq!(at_limit.event.device.user_agent.map(|u| u.len()), Some(MAX_DESCRIPTIVE_CHARS));
}

#[test]
fn long_property_keys_alike_at_the_start_are_both_kept() {
    let prefix = "k".repeat(MAX_DESCRIPTIVE_CHARS);
    let checked = check_all(serde_json::json!({"id": "a", "type": "session",
        "timestamp": at(context().now_ms), "properties": {
            format!("{prefix}-one"): 1, format!("{prefix}-two"): 2, "short": 3 }}))
    .unwrap_or_else(|r| unreachable!("{r:?}"));
    assert_eq!(checked.truncated, vec!["properties"]);
    let properties: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(checked.event.properties.as_deref().unwrap_or("{}"))
            .unwrap_or_default();
    assert_eq!(properties.len(), 3, "no property lost");
    let mut values: Vec<i64> = properties.values().filter_map(serde_json::Value::as_i64).collect();
    values.sort_unstable();
    assert_eq!(values, vec![1, 2, 3]);
    assert!(properties.keys().all(|k| k.chars().count() <= MAX_DESCRIPTIVE_CHARS));
}

#[test]
fn records_of_the_previous_release_are_still_read() {
    // The 1.0 layout: no `device.install_id`, variant 0 for events.
    #[derive(Serialize)]
    struct DeviceV0<'a> {
        gaid: Option<&'a str>,
        idfa: Option<&'a str>,
        idfv: Option<&'a str>,
        ip: Option<&'a str>,
        user_agent: Option<&'a str>,
        os: Option<&'a str>,
        os_version: Option<&'a str>,
        model: Option<&'a str>,
        locale: Option<&'a str>,
        country: Option<&'a str>,
    }
    #[derive(Serialize)]
    struct EventV0<'a> {
        id: &'a str,
        org_id: &'a OrgId,
        app_id: &'a AppId,
        kind: EventType,
        name: Option<&'a str>,
        timestamp_ms: i64,
        received_ms: i64,
        source: Source,
        device: DeviceV0<'a>,
        click_id: Option<&'a str>,
        link: Option<LinkRef>,
        network_click_id: Option<&'a str>,
        subs: Vec<Option<&'a str>>,
        revenue: Option<Money>,
        properties: Option<&'a str>,
    }
    #[derive(Serialize)]
    enum RecordV0<'a> {
        Event(EventV0<'a>),
    }
    let (org, app) = (OrgId::generate(), AppId::generate());
    let old = RecordV0::Event(EventV0 {
        id: "e-1",
        org_id: &org,
        app_id: &app,
        kind: EventType::Event,
        name: Some("purchase"),
        timestamp_ms: 1_800_000_000_000,
        received_ms: 1_800_000_000_500,
        source: Source::Sdk,
        device: DeviceV0 {
            gaid: Some("g-1"),
            idfa: None,
            idfv: None,
            ip: Some("203.0.113.9"),
            user_agent: Some("ua"),
            os: Some("android"),
            os_version: None,
            model: None,
            locale: None,
            country: Some("DE"),
        },
        click_id: Some("c-1"),
        link: None,
        network_click_id: None,
        subs: vec![Some("s1"), None],
        revenue: Some(Money { amount: 2.5, currency: "EUR".to_owned() }),
        properties: Some(r#"{"a":1}"#),
    });
    let bytes = postcard::to_allocvec(&old).unwrap_or_default();
    let Ok(LogRecord::Event(event)) = LogRecord::decode(&bytes) else {
        unreachable!("a 1.0 record decodes")
    };
    assert_eq!(event.id, "e-1");
    assert_eq!(event.org_id, org);
    assert_eq!(event.device.gaid.as_deref(), Some("g-1"));
    assert_eq!(event.device.country.as_deref(), Some("DE"));
    assert_eq!(event.device.install_id, None);
    assert_eq!(event.click_id.as_deref(), Some("c-1"));
    assert_eq!(event.subs, vec![Some("s1".to_owned()), None]);
    assert_eq!(event.revenue.map(|m| m.amount), Some(2.5));
    assert_eq!(event.properties.as_deref(), Some(r#"{"a":1}"#));
}

/// What a worker of the previous release reads: an event in the 1.0 layout.
#[test]
fn events_without_new_fields_are_written_in_the_previous_layout() {
    #[derive(Deserialize)]
    #[allow(dead_code, clippy::large_enum_variant)]
    enum RecordV0 {
        Event(legacy::LoggedEventV0),
        Rejected(QuarantinedEvent),
    }
    let now = at(context().now_ms);
    let plain = check(serde_json::json!({"id": "a", "type": "install", "timestamp": now, "device": {"gaid": "g"}}))
        .unwrap_or_else(|r| unreachable!("{r:?}"));
    let bytes = LogRecord::Event(plain).encode().unwrap_or_default();
    assert!(postcard::from_bytes::<RecordV0>(&bytes).is_ok(), "a 1.0 worker reads it");
    let newer = check(serde_json::json!({"id": "b", "type": "install", "timestamp": now, "device": {"install_id": "i"}}))
        .unwrap_or_else(|r| unreachable!("{r:?}"));
    let bytes = LogRecord::Event(newer.clone()).encode().unwrap_or_default();
    assert_eq!(LogRecord::decode(&bytes).ok(), Some(LogRecord::Event(newer)));
}

/// A traced event keeps its trace context through the log, in a variant of its own; the same
/// event untraced is written exactly as before (the previous release reads it).
#[test]
fn traced_events_keep_their_trace_context() {
    let now = at(context().now_ms);
    let untraced = check(serde_json::json!({"id": "a", "type": "install", "timestamp": now, "device": {"gaid": "g"}}))
        .unwrap_or_else(|r| unreachable!("{r:?}"));
    let trace = crate::trace::TraceContext::parse(
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    );
    assert!(trace.is_some());
    let traced = LoggedEvent { trace, ..untraced.clone() };
    let plain_bytes = LogRecord::Event(untraced.clone()).encode().unwrap_or_default();
    let traced_bytes = LogRecord::Event(traced.clone()).encode().unwrap_or_default();
    assert_ne!(plain_bytes, traced_bytes);
    assert_eq!(LogRecord::decode(&traced_bytes).ok(), Some(LogRecord::Event(traced)));
    assert_eq!(LogRecord::decode(&plain_bytes).ok(), Some(LogRecord::Event(untraced)));
}

#[test]
fn placeholders_identify_nobody() {
    for placeholder in ["", "  ", "00000000-0000-0000-0000-000000000000", "unknown", "0", "NULL"] {
        assert!(is_placeholder_id(placeholder), "{placeholder:?}");
    }
    assert!(!is_placeholder_id("38400000-8cf0-11bd-b23e-10b96e40000d"));
}

#[test]
fn log_records_round_trip() {
    let event = check(serde_json::json!({"id": "a", "type": "install", "timestamp": at(context().now_ms), "device": {"idfv": "v"}}))
        .unwrap_or_else(|r| unreachable!("{r:?}"));
    let record = LogRecord::Event(event);
    assert_eq!(LogRecord::decode(&record.encode().unwrap_or_default()).ok(), Some(record));
    let with_install_id = check(serde_json::json!({"id": "b", "type": "install", "timestamp": at(context().now_ms), "device": {"install_id": "i-1"}}))
        .unwrap_or_else(|r| unreachable!("{r:?}"));
    let record = LogRecord::Event(with_install_id);
    assert_eq!(LogRecord::decode(&record.encode().unwrap_or_default()).ok(), Some(record));
    let rejected = LogRecord::Quarantined(QuarantinedEvent {
        org_id: OrgId::generate(),
        app_id: AppId::generate(),
        received_ms: 1,
        index: 3,
        event_id: Some("x".to_owned()),
        code: "invalid_id".to_owned(),
        message: "id: bad".to_owned(),
        raw: "{}".to_owned(),
    });
    assert_eq!(LogRecord::decode(&rejected.encode().unwrap_or_default()).ok(), Some(rejected));
    for scope in [
        crate::erasure::ErasureScope::Device { identifiers: vec!["gaid:ab".to_owned()] },
        crate::erasure::ErasureScope::App,
    ] {
        let erasure = LogRecord::Erasure(crate::erasure::Erasure {
            id: crate::ErasureId::generate(),
            org_id: OrgId::generate(),
            app_id: AppId::generate(),
            scope,
            requested_ms: 5,
        });
        let bytes = erasure.encode().unwrap_or_default();
        // Variant 3 of the wire enum: records of earlier kinds keep their indexes.
        assert_eq!(bytes.first(), Some(&3));
        assert_eq!(LogRecord::decode(&bytes).ok(), Some(erasure));
    }
    let opt_out = LogRecord::OptOut(crate::erasure::OptOut {
        org_id: OrgId::generate(),
        app_id: AppId::generate(),
        identifiers: vec!["idfv:v".to_owned()],
        received_ms: 9,
    });
    let bytes = opt_out.encode().unwrap_or_default();
    assert_eq!(bytes.first(), Some(&4));
    assert_eq!(LogRecord::decode(&bytes).ok(), Some(opt_out));
}

#[test]
fn an_opted_out_event_keeps_only_what_an_anonymous_count_needs() {
    let checked = check_all(serde_json::json!({
        "id": "e-1", "type": "event", "name": "purchase", "timestamp": at(context().now_ms),
        "click_id": "c-1", "opt_out": true, "revenue": {"amount": 2.0, "currency": "EUR"},
        "properties": {"email": "someone@example.com"},
        "device": {"gaid": "g-1", "idfv": "v-1", "install_id": "i-1", "ip": "203.0.113.5",
                   "user_agent": "Mozilla/5.0", "model": "Pixel 8", "locale": "de_DE",
                   "os": "Android", "os_version": "14", "country": "de"}
    }))
    .unwrap_or_else(|r| unreachable!("{r:?}"));
    assert!(checked.opt_out);
    let mut event = checked.event;
    event.anonymize();
    assert_eq!(event.device.identifiers(), Vec::<String>::new());
    assert_eq!((event.device.ip.as_deref(), event.device.user_agent.as_deref()), (None, None));
    assert_eq!((event.device.model.as_deref(), event.device.locale.as_deref()), (None, None));
    assert_eq!((event.click_id.as_deref(), event.properties.as_deref()), (None, None));
    assert_eq!(event.device.os.as_deref(), Some("Android"));
    assert_eq!(event.device.country.as_deref(), Some("DE"));
    assert_eq!(
        (event.name.as_deref(), event.revenue.map(|r| r.amount)),
        (Some("purchase"), Some(2.0))
    );
}

#[test]
fn event_types_read_back_from_their_one_text() {
    for kind in EventType::ALL {
        assert_eq!(EventType::parse(kind.as_str()), Some(kind));
        let json = serde_json::to_string(&kind).expect("serializes");
        assert_eq!(json, format!("\"{}\"", kind.as_str()), "serde and as_str agree");
    }
    assert_eq!(EventType::parse("Install"), None);
}
