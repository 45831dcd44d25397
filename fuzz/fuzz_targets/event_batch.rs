//! A `/v1/events` body as a client sends it: the envelope, each event's JSON, and the checks
//! that turn it into a log record. No input may panic; every accepted event must survive the
//! log's encoding unchanged, and stripping an opted-out event twice changes nothing more.
#![no_main]

use libfuzzer_sys::fuzz_target;
use unmogrowp_domain::event::{CheckContext, IncomingEvent, LogRecord, Source, check_event};
use unmogrowp_domain::{AppId, OrgId};

#[derive(serde::Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    events: Vec<&'a serde_json::value::RawValue>,
}

fuzz_target!(|data: &[u8]| {
    let Ok(envelope) = unmogrowp_domain::json::parse::<Envelope<'_>>(data) else { return };
    let org = OrgId::from_stored("0193a000-0000-7000-8000-00000000000a".to_owned());
    let app = AppId::from_stored("0193a000-0000-7000-8000-00000000000b".to_owned());
    let context = CheckContext {
        now_ms: 1_795_168_800_000,
        max_age_ms: 30 * 86_400_000,
        max_future_ms: 5 * 60_000,
        allow_touches: true,
    };
    for raw in envelope.events.iter().take(64) {
        let Ok(incoming) = unmogrowp_domain::json::parse::<IncomingEvent>(raw.get().as_bytes())
        else {
            continue;
        };
        let Ok(checked) = check_event(incoming, &org, &app, Source::S2s, &context) else {
            continue;
        };
        let record = LogRecord::Event(checked.event.clone());
        let bytes = record.encode().expect("an accepted event encodes");
        assert_eq!(LogRecord::decode(&bytes).ok(), Some(record), "the log changed an event");
        let mut stripped = checked.event;
        stripped.anonymize();
        assert!(stripped.device.identifiers().is_empty());
        let once = stripped.clone();
        stripped.anonymize();
        assert_eq!(stripped, once);
    }
});
