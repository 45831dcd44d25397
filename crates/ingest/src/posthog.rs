//! PostHog's capture API (`/batch`, `/capture`, `/e`, `/i/v0/e`), read into the product's own
//! events so that they take the one collection path, like the Segment format
//! ([`crate::segment`]). The body has been decoded already (gzip, base64, form `data=`).
//!
//! Mapping (field names: PostHog's capture API, <https://posthog.com/docs/api/capture>):
//!
//! | PostHog | event |
//! | --- | --- |
//! | `uuid`, else `properties.$insert_id` | `id` (a re-sent event counts once) |
//! | `Application Installed` / `Application Opened` | `install` / `open` |
//! | any other `event` (`$screen`, `$pageview`, `purchase`, …) | `event` of that name |
//! | `timestamp` moved by the sender's clock error (`now − sent_at`); else now − `offset` ms; else the receipt time | `timestamp` |
//! | `properties.$gaid` / `$idfa` / `$idfv` | `device.gaid` / `idfa` / `idfv` |
//! | `properties.$device_id`, else `distinct_id` | `device.install_id` |
//! | `properties.$os`, `$os_version`, `$device_model`, `$locale` | `device.os`, `os_version`, `model`, `locale` |
//! | `properties.revenue` (or `$revenue`) with `properties.currency` (default `USD`) | `revenue` |
//! | `properties` (`$set`, `$lib`, `$ip`, … included) and `distinct_id` | `properties` |
//!
//! The project API key (`api_key`, or `token` as posthog-js sends it) is the app token.
//! `$ip` is kept in properties but, as on `/v1/events`, the device's address is the
//! connection's.

pub mod lz_string;
use serde_json::{Map, Value, json};
use unmogrowp_domain::json::JsonError;

/// A body read: the product's events (`{"events": [...]}`) and the API key it named.
#[derive(Debug)]
pub struct Translated {
    /// `{"events": [...]}`, one per PostHog event, in order.
    pub body: Vec<u8>,
    /// `api_key` (or `token`) from the body, at the top or on the first event.
    pub api_key: Option<String>,
}

fn field(message: impl Into<String>, name: &str) -> JsonError {
    JsonError::Field { field: name.to_owned(), message: message.into() }
}

fn text<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str).map(str::trim).filter(|text| !text.is_empty())
}

fn millis(text: &str) -> Option<i64> {
    text.parse::<jiff::Timestamp>().ok().map(|at| at.as_millisecond())
}

/// Reads a capture body: one event (`{"event": …}`), a list of events, or a batch
/// (`{"batch": [...]}`). Fails, naming the field, for anything else.
pub fn translate(body: &[u8], received_ms: i64) -> Result<Translated, JsonError> {
    let document: Value = unmogrowp_domain::json::parse(body)?;
    let (events, top) = match document {
        Value::Array(events) => (events, Value::Null),
        Value::Object(mut top) => match top.remove("batch") {
            Some(Value::Array(events)) => (events, Value::Object(top)),
            Some(_) => return Err(field("must be an array of events", "batch")),
            None if top.contains_key("event") => (vec![Value::Object(top)], Value::Null),
            None => return Err(field("is required (or send one event with `event`)", "batch")),
        },
        _ => return Err(field("must be a JSON object or an array of events", "body")),
    };
    let key_of = |value: &Value| {
        text(value, "api_key")
            .or_else(|| text(value, "token"))
            .or_else(|| value.get("properties").and_then(|p| text(p, "token")))
            .map(str::to_owned)
    };
    let api_key = key_of(&top).or_else(|| events.first().and_then(key_of));
    let sent_at = text(&top, "sent_at").and_then(millis);
    let events: Vec<Value> = events
        .into_iter()
        .map(|item| match item {
            Value::Object(_) => event(&item, sent_at, received_ms),
            other => other,
        })
        .collect();
    let body = serde_json::to_vec(&json!({ "events": events }))
        .map_err(|error| field(error.to_string(), "body"))?;
    Ok(Translated { body, api_key })
}

fn event(item: &Value, batch_sent_at: Option<i64>, received_ms: i64) -> Value {
    let empty = Map::new();
    let properties = item.get("properties").and_then(Value::as_object).unwrap_or(&empty);
    let property = |key: &str| {
        properties.get(key).and_then(Value::as_str).map(str::trim).filter(|text| !text.is_empty())
    };
    let mut event = Map::new();
    if let Some(id) = item.get("uuid").or_else(|| properties.get("$insert_id")) {
        event.insert("id".into(), id.clone());
    }
    match text(item, "event") {
        Some("Application Installed") => {
            event.insert("type".into(), "install".into());
        }
        Some("Application Opened") => {
            event.insert("type".into(), "open".into());
        }
        name => {
            event.insert("type".into(), "event".into());
            if let Some(name) = name {
                event.insert("name".into(), name.into());
            }
        }
    }
    event.insert("timestamp".into(), timestamp(item, batch_sent_at, received_ms).into());

    let mut device = Map::new();
    for (key, target) in [
        ("$gaid", "gaid"),
        ("$idfa", "idfa"),
        ("$idfv", "idfv"),
        ("$device_id", "install_id"),
        ("$os", "os"),
        ("$os_version", "os_version"),
        ("$device_model", "model"),
        ("$locale", "locale"),
    ] {
        if let Some(value) = property(key) {
            device.insert(target.into(), value.into());
        }
    }
    if !device.contains_key("install_id")
        && let Some(distinct) = text(item, "distinct_id")
    {
        device.insert("install_id".into(), distinct.into());
    }
    if !device.is_empty() {
        event.insert("device".into(), Value::Object(device));
    }
    let amount = ["revenue", "$revenue"].iter().find_map(|key| properties.get(*key)?.as_f64());
    if let Some(amount) = amount {
        let currency =
            property("currency").map(str::to_ascii_uppercase).unwrap_or_else(|| "USD".to_owned());
        event.insert("revenue".into(), json!({ "amount": amount, "currency": currency }));
    }
    let mut kept = properties.clone();
    kept.remove("token");
    if let Some(distinct) = item.get("distinct_id").filter(|value| !value.is_null()) {
        kept.entry("distinct_id".to_owned()).or_insert_with(|| distinct.clone());
    }
    for key in ["$set", "$set_once"] {
        if let Some(value) = item.get(key) {
            kept.entry(key.to_owned()).or_insert_with(|| value.clone());
        }
    }
    if !kept.is_empty() {
        event.insert("properties".into(), Value::Object(kept));
    }
    Value::Object(event)
}

/// PostHog's clock-skew correction: the sender's `timestamp` moved by `now − sent_at`; an
/// `offset` (milliseconds before sending) counts back from the receipt.
fn timestamp(item: &Value, batch_sent_at: Option<i64>, received_ms: i64) -> String {
    let sent_at = text(item, "sent_at").and_then(millis).or(batch_sent_at);
    let at = match (text(item, "timestamp"), sent_at) {
        (Some(given), Some(sent)) => match millis(given) {
            Some(at) => at.saturating_add(received_ms.saturating_sub(sent)),
            None => return given.to_owned(),
        },
        (Some(given), None) => return given.to_owned(),
        (None, _) => match item.get("offset").and_then(Value::as_i64) {
            Some(offset) => received_ms.saturating_sub(offset),
            None => received_ms,
        },
    };
    unmogrowp_domain::time::rfc3339(at)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn events(body: &str) -> (Vec<Value>, Option<String>) {
        let translated = translate(body.as_bytes(), 1_764_500_000_000).unwrap();
        let value: Value = serde_json::from_slice(&translated.body).unwrap();
        (value["events"].as_array().unwrap().clone(), translated.api_key)
    }

    #[test]
    fn batches_lists_and_single_events_map_to_events() {
        let (all, key) = events(
            r#"{"api_key": "tok", "sent_at": "2025-11-30T10:00:10Z", "batch": [
              {"event": "Application Installed", "uuid": "u1", "distinct_id": "d1", "timestamp": "2025-11-30T10:00:00Z",
               "properties": {"$gaid": "g-1", "$os": "Android", "$lib": "posthog-python", "$ip": "203.0.113.9"}},
              {"event": "purchase", "distinct_id": "d1", "properties": {"$insert_id": "u2", "revenue": 3, "currency": "eur"}, "offset": 5000},
              {"event": "$screen", "uuid": "u3", "distinct_id": "d1", "$set": {"plan": "pro"}}
            ]}"#,
        );
        assert_eq!(key.as_deref(), Some("tok"));
        assert_eq!((all[0]["type"].as_str(), all[0]["id"].as_str()), (Some("install"), Some("u1")));
        assert_eq!(all[0]["device"]["gaid"], "g-1");
        assert_eq!(all[0]["device"]["install_id"], "d1");
        assert!(all[0]["device"].get("ip").is_none(), "the connection's address is used");
        assert_eq!(all[0]["properties"]["$lib"], "posthog-python");
        // Skew: received 10:53:20, sent 10:00:10 → +53:10.
        assert_eq!(all[0]["timestamp"], "2025-11-30T10:53:10Z");
        assert_eq!(all[1]["id"], "u2");
        assert_eq!(all[1]["revenue"], json!({"amount": 3.0, "currency": "EUR"}));
        assert_eq!(all[1]["timestamp"], "2025-11-30T10:53:15Z");
        assert_eq!(all[2]["name"], "$screen");
        assert_eq!(all[2]["properties"]["$set"]["plan"], "pro");

        let (list, key) = events(
            r#"[{"event": "e", "uuid": "x", "properties": {"token": "tok2", "distinct_id": "d"}}]"#,
        );
        assert_eq!(key.as_deref(), Some("tok2"));
        assert!(list[0]["properties"].get("token").is_none(), "the key is not kept");
        let (single, _) =
            events(r#"{"api_key": "k", "event": "signup", "uuid": "y", "distinct_id": "d"}"#);
        assert_eq!(single[0]["name"], "signup");
    }

    #[test]
    fn bodies_of_the_wrong_shape_name_the_field() {
        let error = |body: &str| translate(body.as_bytes(), 0).unwrap_err().to_string();
        assert_eq!(error(r#"{"batch": 1}"#), "batch: must be an array of events");
        assert!(error(r#"{"api_key": "k"}"#).starts_with("batch: is required"));
        assert_eq!(error("3"), "body: must be a JSON object or an array of events");
    }
}
