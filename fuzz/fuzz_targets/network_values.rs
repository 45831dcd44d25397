//! The small parsers of client-sent text: IP addresses in every spelling, CIDR ranges, user
//! agents (the probabilistic fingerprint), device ids for erasure, email addresses and days.
//! None may panic; the canonical form of an address must read back as itself, and a day
//! must print as it was read.
#![no_main]

use libfuzzer_sys::fuzz_target;
use unmogrowp_domain::net::{IpNet, canonical_ip, parse_ip};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Some(canonical) = canonical_ip(text) {
        let again = parse_ip(&canonical).expect("a canonical address reads back");
        assert_eq!(again.to_canonical().to_string(), canonical);
    }
    if let Ok(range) = IpNet::parse(text)
        && let Some(ip) = parse_ip(text.split('/').next().unwrap_or_default())
    {
        let _ = range.contains(ip);
    }
    let (ip, user_agent) = text.split_once('\n').unwrap_or((text, text));
    let _ = unmogrowp_attribution::fingerprint(Some(ip), Some(user_agent));
    let _ = unmogrowp_attribution::normalise_user_agent(user_agent);
    if let Ok(ids) = unmogrowp_domain::erasure::device_identifiers(text) {
        assert!(!ids.is_empty() && ids.iter().all(|id| id.contains(':')));
    }
    let _ = unmogrowp_domain::validate::Email::parse(text);
    if let Ok(day) = text.parse::<unmogrowp_domain::Day>() {
        assert_eq!(day.to_string(), text);
    }
});
