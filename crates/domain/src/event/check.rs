//! Checking one incoming event: required fields, lengths, time bounds, identifiers and
//! revenue, with the reason for a refusal naming the field.

use super::*;

/// An event as the collection endpoints receive it.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IncomingEvent {
    /// Client-generated unique id (a UUID is best); a re-sent id is counted once.
    pub id: String,
    /// `install`, `open`, `session`, `event`, `click` or `impression`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The event's name (required for `event`), e.g. `purchase`.
    #[serde(default)]
    pub name: Option<String>,
    /// RFC 3339.
    pub timestamp: String,
    /// Facts about the device the event happened on, including its identifiers.
    #[serde(default)]
    pub device: Device,
    /// For installs and opens: the click id the app received through the install referrer
    /// or a deep link, which matches the install to that click. At most 128
    /// characters.
    #[serde(default)]
    pub click_id: Option<String>,
    /// The tracking link the event came through; required for clicks
    /// and impressions, and it must be a link of the same app.
    #[serde(default)]
    pub link_id: Option<String>,
    /// Revenue earned with the event, e.g. a purchase's price; the currency must be a known
    /// ISO 4217 code.
    #[serde(default)]
    pub revenue: Option<Money>,
    /// Free custom properties as a JSON object; string values (and keys) longer than
    /// 1 024 characters are cut. Stored as JSON text.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub properties: Option<serde_json::Map<String, serde_json::Value>>,
    /// `true` when the user opted out of tracking: from this event on, the device's events
    /// are kept only as anonymous counts (no identifiers, IP, user agent or properties; no
    /// attribution, no postbacks). Applies to the device's identifiers in `device`.
    #[serde(default)]
    pub opt_out: bool,
}

/// Why an event was refused: a stable code and a message naming the field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// A stable, machine-readable code in snake case, e.g. `invalid_id`, `invalid_type`,
    /// `timestamp_out_of_range` or `missing_link`; clients may branch on it.
    pub code: &'static str,
    /// A human-readable explanation, starting with the field's name when one field is at
    /// fault, e.g. `name: is required for events of type event`.
    pub message: String,
}

impl Rejection {
    /// A rejection with the given stable code and message.
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }
}

/// What checking an event needs to know besides the event.
pub struct CheckContext {
    /// The server's current time, in milliseconds since the Unix epoch; becomes the event's
    /// `received_ms` and anchors the accepted timestamp range.
    pub now_ms: i64,
    /// Oldest accepted timestamp, as an age.
    pub max_age_ms: i64,
    /// Latest accepted timestamp, ahead of now.
    pub max_future_ms: i64,
    /// Whether `click` and `impression` are accepted (server-to-server only).
    pub allow_touches: bool,
    /// The trace of the request, given to every event it accepts (see
    /// [`crate::trace::TraceContext::current`]).
    pub trace: Option<crate::trace::TraceContext>,
}

/// The most characters an identifier may have: the event's `id` (after trimming), the device
/// identifiers (`gaid`, `idfa`, `idfv`, `install_id`), `click_id` and `link_id`. Longer
/// values refuse the event.
pub const MAX_ID_CHARS: usize = 128;
/// The most characters an event's `name` may have (after trimming); a longer name refuses
/// the event.
pub const MAX_NAME_CHARS: usize = 128;
/// Descriptive text — `device.user_agent`, `device.os`, `device.os_version`, `device.model`,
/// `device.locale` and every string value inside `properties` — longer than this many
/// characters is cut to it and the field is named in the response's `truncated` list. Such
/// text never costs the event (in-app WebViews send user agents of 1 500+ characters).
pub const MAX_DESCRIPTIVE_CHARS: usize = 1024;

/// Cuts `value` to 1 024 characters; `true` when it was longer.
pub fn truncate_descriptive(value: &mut String) -> bool {
    match value.char_indices().nth(MAX_DESCRIPTIVE_CHARS) {
        Some((cut, _)) => {
            value.truncate(cut);
            true
        }
        None => false,
    }
}

/// Cuts every string inside a JSON value (object keys included); `true` if any was cut.
fn truncate_json(value: &mut serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(text) => truncate_descriptive(text),
        serde_json::Value::Array(items) => {
            items.iter_mut().fold(false, |cut, item| truncate_json(item) | cut)
        }
        serde_json::Value::Object(map) => {
            let long_key = map.keys().any(|k| k.chars().count() > MAX_DESCRIPTIVE_CHARS);
            if long_key {
                let entries = std::mem::take(map);
                for (mut key, item) in entries {
                    if truncate_descriptive(&mut key) && map.contains_key(&key) {
                        // Two long keys alike in their first characters: keep both, the later
                        // one with a number in place of its last characters.
                        let stem: String = key.chars().take(MAX_DESCRIPTIVE_CHARS - 8).collect();
                        let mut n = 2;
                        key = format!("{stem}~{n}");
                        while map.contains_key(&key) {
                            n += 1;
                            key = format!("{stem}~{n}");
                        }
                    }
                    map.insert(key, item);
                }
            }
            map.values_mut().fold(long_key, |cut, item| truncate_json(item) | cut)
        }
        _ => false,
    }
}

fn check_text(field: &str, value: &Option<String>, max: usize) -> Result<(), Rejection> {
    if let Some(value) = value
        && value.chars().count() > max
    {
        return Err(Rejection::new(
            "invalid_field",
            format!("{field}: must be at most {max} characters"),
        ));
    }
    Ok(())
}

/// A checked event, and the descriptive fields that were cut to
/// 1 024 (e.g. `device.user_agent`, `properties`).
#[derive(Clone, Debug, PartialEq)]
pub struct Checked {
    /// The log record, with `link` still `None` (the caller resolves the link).
    pub event: LoggedEvent,
    /// The paths of the fields that were cut, e.g. `device.user_agent` or `properties`, in
    /// the order they were checked; empty when nothing was cut.
    pub truncated: Vec<&'static str>,
    /// The event asked for the device to be opted out (see [`IncomingEvent::opt_out`]).
    pub opt_out: bool,
}

/// Checks an incoming event and turns it into a log record (without the link, which the
/// caller resolves). Only identity and type errors refuse an event, and every refusal names
/// the field; descriptive text that is too long is cut and reported in
/// [`Checked::truncated`]. An event without any usable device identifier (privacy-limited
/// devices send all-zero advertising ids) is accepted: it is counted, and simply cannot be
/// tied to a device.
pub fn check_event(
    event: IncomingEvent,
    org_id: &OrgId,
    app_id: &AppId,
    source: Source,
    context: &CheckContext,
) -> Result<Checked, Rejection> {
    let opt_out = event.opt_out;
    let id = event.id.trim();
    if id.is_empty() || id.chars().count() > MAX_ID_CHARS || id.chars().any(char::is_control) {
        return Err(Rejection::new("invalid_id", "id: must be 1 to 128 printable characters"));
    }
    let kind = EventType::parse(&event.kind).ok_or_else(|| {
        Rejection::new(
            "invalid_type",
            "type: must be install, open, session, event, click or impression",
        )
    })?;
    if kind.is_touch() && !context.allow_touches {
        return Err(Rejection::new(
            "type_not_allowed",
            "type: click and impression are accepted on /v1/s2s/events only",
        ));
    }
    let name = event.name.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
    if kind == EventType::Event && name.is_none() {
        return Err(Rejection::new("missing_name", "name: is required for events of type event"));
    }
    check_text("name", &name, MAX_NAME_CHARS)?;
    let timestamp = event
        .timestamp
        .parse::<jiff::Timestamp>()
        .map_err(|_| {
            Rejection::new(
                "invalid_timestamp",
                "timestamp: must be an RFC 3339 time such as 2026-11-20T10:00:00Z",
            )
        })?
        .as_millisecond();
    if timestamp < context.now_ms - context.max_age_ms
        || timestamp > context.now_ms + context.max_future_ms
    {
        return Err(Rejection::new(
            "timestamp_out_of_range",
            format!(
                "timestamp: must be between {} days ago and {} minutes from now",
                context.max_age_ms / 86_400_000,
                context.max_future_ms / 60_000
            ),
        ));
    }
    let mut device = event.device;
    for (field, value) in [
        ("device.gaid", &device.gaid),
        ("device.idfa", &device.idfa),
        ("device.idfv", &device.idfv),
        ("device.install_id", &device.install_id),
    ] {
        check_text(field, value, MAX_ID_CHARS)?;
    }
    let mut truncated = Vec::new();
    for (field, value) in [
        ("device.user_agent", &mut device.user_agent),
        ("device.os", &mut device.os),
        ("device.os_version", &mut device.os_version),
        ("device.model", &mut device.model),
        ("device.locale", &mut device.locale),
    ] {
        if let Some(value) = value
            && truncate_descriptive(value)
        {
            truncated.push(field);
        }
    }
    if let Some(ip) = &device.ip {
        // One text per address (see `net::canonical_ip`), before anything hashes it.
        match crate::net::canonical_ip(ip) {
            Some(canonical) => device.ip = Some(canonical),
            None => {
                return Err(Rejection::new(
                    "invalid_field",
                    "device.ip: must be an IPv4 or IPv6 address",
                ));
            }
        }
    }
    if let Some(country) = &device.country
        && (country.len() != 2 || !country.chars().all(|c| c.is_ascii_alphabetic()))
    {
        return Err(Rejection::new(
            "invalid_field",
            "device.country: must be a two-letter ISO 3166 code",
        ));
    }
    check_text("click_id", &event.click_id, MAX_ID_CHARS)?;
    check_text("link_id", &event.link_id, MAX_ID_CHARS)?;
    if kind.is_touch() && event.link_id.as_deref().is_none_or(str::is_empty) {
        return Err(Rejection::new(
            "missing_link",
            "link_id: is required for clicks and impressions",
        ));
    }
    let revenue = match event.revenue {
        None => None,
        Some(money) => {
            if !money.amount.is_finite() || money.amount.abs() > 1e12 {
                return Err(Rejection::new(
                    "invalid_revenue",
                    "revenue.amount: must be a finite number",
                ));
            }
            let currency = money.currency.trim().to_ascii_uppercase();
            if !crate::money::is_known_currency(&currency) {
                return Err(Rejection::new(
                    "invalid_revenue",
                    "revenue.currency: must be a known ISO 4217 code such as USD",
                ));
            }
            Some(Money { amount: money.amount, currency })
        }
    };
    let properties = event.properties.map(|map| {
        let mut value = serde_json::Value::Object(map);
        if truncate_json(&mut value) {
            truncated.push("properties");
        }
        value.to_string()
    });
    let country = device.country.as_ref().map(|c| c.to_ascii_uppercase());
    let event = LoggedEvent {
        id: id.to_owned(),
        org_id: org_id.clone(),
        app_id: app_id.clone(),
        kind,
        name,
        timestamp_ms: timestamp,
        received_ms: context.now_ms,
        source,
        device: Device { country, ..device },
        click_id: event.click_id.map(|c| c.trim().to_owned()).filter(|c| !c.is_empty()),
        link: None,
        network_click_id: None,
        subs: Vec::new(),
        revenue,
        properties,
        trace: context.trace,
    };
    Ok(Checked { event, truncated, opt_out })
}
