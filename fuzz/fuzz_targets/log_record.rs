//! Event-log records as a worker reads them (a damaged or hostile log): decoding never
//! panics, and whatever decodes is stable through the log's encoding (compared as bytes, so
//! that a NaN amount, which only a damaged log can hold, compares equal to itself).
#![no_main]

use libfuzzer_sys::fuzz_target;
use unmogrowp_domain::event::LogRecord;

fuzz_target!(|data: &[u8]| {
    let Ok(record) = LogRecord::decode(data) else { return };
    let bytes = record.encode().expect("a decoded record encodes");
    let again = LogRecord::decode(&bytes).expect("an encoded record decodes");
    assert_eq!(again.encode().expect("and encodes again"), bytes);
});
