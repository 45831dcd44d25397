//! Postback URL templates: the macros they may use, checking a template, filling one.

/// The macros a postback URL template may use, each written `{name}` in the template and
/// replaced by [`fill`] with its URL-encoded value: the click id, the ad network's own click
/// id, the event's name (`install` or an in-app event name), its revenue and ISO 4217
/// currency, the device id, the install time (RFC 3339, UTC) and the campaign.
pub const MACROS: [&str; 8] = [
    "click_id",
    "network_click_id",
    "event_name",
    "revenue",
    "currency",
    "device_id",
    "install_time",
    "campaign",
];

/// Checks that a template is an http(s) URL whose `{…}` macros are all known.
pub fn validate_template(template: &str) -> Result<(), String> {
    let mut errors = crate::validate::FieldErrors::new();
    crate::app::validate_http_url("url_template", template, &mut errors);
    if !errors.is_empty() {
        return Err("must be an absolute http(s) URL".to_owned());
    }
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else {
            return Err("has a `{` without its `}`".to_owned());
        };
        let name = &rest[open + 1..open + close];
        if !MACROS.contains(&name) {
            return Err(format!(
                "unknown macro `{{{name}}}`; known: {}",
                MACROS.map(|m| format!("{{{m}}}")).join(" ")
            ));
        }
        rest = &rest[open + close + 1..];
    }
    Ok(())
}

/// `value` as [`fill`] puts it in a URL: unreserved characters (RFC 3986) kept, every other
/// byte percent-encoded.
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char)
            }
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

/// Replaces each macro by its URL-encoded value (empty when unknown for this event).
pub fn fill(template: &str, values: &[(&str, Option<String>)]) -> String {
    let mut out = template.to_owned();
    for name in MACROS {
        let value = values
            .iter()
            .find(|(key, _)| *key == name)
            .and_then(|(_, v)| v.as_deref())
            .unwrap_or("");
        out = out.replace(&format!("{{{name}}}"), &encode(value));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_are_checked() {
        assert!(validate_template("https://net.example/pb?c={click_id}&e={event_name}").is_ok());
        assert!(validate_template("ftp://net.example/{click_id}").is_err());
        let unknown =
            validate_template("https://net.example/?x={secret}").expect_err("unknown macro");
        assert!(unknown.contains("{secret}"), "{unknown}");
        assert!(validate_template("https://net.example/?x={click_id").is_err());
    }

    #[test]
    fn values_are_url_encoded() {
        let url = fill(
            "https://net.example/pb?c={click_id}&r={revenue}&n={event_name}&d={device_id}",
            &[
                ("click_id", Some("a b&c".to_owned())),
                ("revenue", Some("9.99".to_owned())),
                ("event_name", Some("purchase".to_owned())),
            ],
        );
        assert_eq!(url, "https://net.example/pb?c=a%20b%26c&r=9.99&n=purchase&d=");
    }
}
