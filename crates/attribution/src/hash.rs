//! Stable 64-bit hashes for index keys (the index stores hashes, not strings, to stay small).

/// The index's key hash (see [`unmogrowp_domain::hash::stable_hash`]).
pub fn id_hash(text: &str) -> u64 {
    unmogrowp_domain::hash::stable_hash(text)
}

/// Index keys for a device's identifiers (`("gaid", value)`, …): same kind matches same kind,
/// values are compared in lower case, placeholders (all zeros, `unknown`, empty) are left out.
pub fn device_keys(ids: &[(&str, Option<&str>)]) -> Vec<u64> {
    ids.iter()
        .filter_map(|(kind, value)| {
            let value = (*value)?;
            if unmogrowp_domain::event::is_placeholder_id(value) {
                return None;
            }
            Some(id_hash(&format!("{kind}:{}", value.trim().to_ascii_lowercase())))
        })
        .collect()
}

/// The probabilistic fingerprint of a device: its IP and its user agent reduced to what an
/// in-app web view and the store share (lower case, the part before any app-specific suffix,
/// whitespace collapsed). `None` without both.
pub fn fingerprint(ip: Option<&str>, user_agent: Option<&str>) -> Option<u64> {
    let ip = ip.map(str::trim).filter(|ip| !ip.is_empty())?;
    let user_agent = user_agent.map(str::trim).filter(|ua| !ua.is_empty())?;
    let normalised = normalise_user_agent(user_agent);
    if normalised.is_empty() {
        return None;
    }
    Some(id_hash(&format!("fp:{ip}|{normalised}")))
}

/// Keeps the platform part of a user agent: the content of the first parenthesised group
/// (`Linux; Android 14; Pixel 8`, `iPhone; CPU iPhone OS 17_0 like Mac OS X`), lower case,
/// without build ids.
pub fn normalise_user_agent(user_agent: &str) -> String {
    let lower = user_agent.to_ascii_lowercase();
    let platform = match (lower.find('('), lower.find(')')) {
        (Some(open), Some(close)) if close > open => &lower[open + 1..close],
        _ => lower.as_str(),
    };
    platform
        .split(';')
        .map(|part| {
            // `Pixel 8 Build/UD1A…`: the build id is not in every user agent of the phone.
            let part = part.trim();
            part.find(" build/").map_or(part, |cut| &part[..cut]).trim()
        })
        .filter(|part| {
            !part.is_empty() && !part.starts_with("build/") && *part != "wv" && *part != "u"
        })
        .collect::<Vec<_>>()
        .join(";")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_browser_and_an_sdk_user_agent_of_one_phone_match() {
        let browser = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/120.0 Mobile Safari/537.36";
        let sdk = "Dalvik/2.1.0 (Linux; U; Android 14; Pixel 8 Build/UD1A.230803.041)";
        assert_eq!(normalise_user_agent(browser), normalise_user_agent(sdk));
        assert_eq!(
            fingerprint(Some("203.0.113.9"), Some(browser)),
            fingerprint(Some("203.0.113.9"), Some(sdk))
        );
        assert_ne!(
            fingerprint(Some("203.0.113.9"), Some(browser)),
            fingerprint(Some("203.0.113.10"), Some(browser))
        );
        assert_eq!(fingerprint(None, Some(browser)), None);
        assert_eq!(fingerprint(Some("1.2.3.4"), Some("  ")), None);
    }
}
