//! The Segment HTTP tracking API (which RudderStack also speaks), read into the product's own
//! events so that they take the one collection path (`Ingest::ingest`): the same checks,
//! dedup, quarantine, limits and durability as `/v1/events`.
//!
//! Mapping (the source of the field names: Segment's spec, <https://segment.com/docs/connections/spec/>):
//!
//! | Segment | event |
//! | --- | --- |
//! | `messageId` | `id` (so a re-sent message counts once) |
//! | `track` `Application Installed` / `Application Opened` | `install` / `open` |
//! | other `track` | `event` named by `event` |
//! | `screen`, `page`, `identify`, `group`, `alias` | `event` named `screen`, `page`, … |
//! | `timestamp`; else `originalTimestamp` corrected by `receivedAt − sentAt` (clock skew); else the receipt time | `timestamp` |
//! | `context.device.advertisingId` | `device.idfa` on iOS (`context.os.name`), else `device.gaid` |
//! | `context.device.id` | `device.idfv` on iOS, else `device.install_id` |
//! | `anonymousId` (when no device id is sent) | `device.install_id` |
//! | `context.os.name` / `.version`, `context.device.model`, `context.locale` | `device.os`, `os_version`, `model`, `locale` |
//! | `properties.revenue` (or `total` for `Order Completed`) with `properties.currency` (default `USD`) | `revenue` |
//! | `properties`, `traits`, `userId`, `anonymousId`, `groupId`, `previousId`, `name`, the rest of `context` | `properties` (unmapped fields are kept there) |
//!
//! `context.ip` and `context.userAgent` are kept in `properties.context` but not used as the
//! device's: the write key is public, so, as on `/v1/events`, the address and user agent are
//! the connection's (a trusted proxy's `X-Forwarded-For`). Servers that report for devices use
//! `/v1/s2s/events`.

use serde_json::{Map, Value, json};
use unmogrowp_domain::json::JsonError;

/// Which endpoint the body came to: `/v1/batch` carries `{"batch": [...]}`, the others one
/// message of their type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// `/v1/batch`.
    Batch,
    /// `/v1/track`, `/v1/identify`, `/v1/page`, `/v1/screen`, `/v1/alias`, `/v1/group`: the
    /// message's type when it names none.
    Single(&'static str),
}

/// A body read: the product's own events (`{"events": [...]}`) and the write key it named.
#[derive(Debug)]
pub struct Translated {
    /// `{"events": [...]}`, one event per message, in order (a message that is not an object
    /// is passed on as it is, to be rejected with its index).
    pub body: Vec<u8>,
    /// `writeKey` from the body, if any (the app token; HTTP Basic auth may carry it instead).
    pub write_key: Option<String>,
}

fn field(message: impl Into<String>, name: &str) -> JsonError {
    JsonError::Field { field: name.to_owned(), message: message.into() }
}

fn text<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut current = value;
    for key in path {
        current = current.get(key)?;
    }
    current.as_str().map(str::trim).filter(|text| !text.is_empty())
}

fn millis(text: &str) -> Option<i64> {
    text.parse::<jiff::Timestamp>().ok().map(|at| at.as_millisecond())
}

/// Reads a Segment body. Fails (naming the field) when it is not a JSON object, or a batch
/// without a `batch` array; each message's own faults are left to the event checks.
pub fn translate(
    body: &[u8],
    endpoint: Endpoint,
    received_ms: i64,
) -> Result<Translated, JsonError> {
    let document: Value = unmogrowp_domain::json::parse(body)?;
    let Value::Object(mut top) = document else {
        return Err(field("must be a JSON object", "body"));
    };
    let write_key = top.get("writeKey").and_then(Value::as_str).map(str::to_owned);
    let sent_at = top.get("sentAt").and_then(Value::as_str).and_then(millis);
    let top_context = top.get("context").cloned();
    let messages = match endpoint {
        Endpoint::Batch => match top.remove("batch") {
            Some(Value::Array(messages)) => messages,
            Some(_) => return Err(field("must be an array of messages", "batch")),
            None => return Err(field("is required", "batch")),
        },
        Endpoint::Single(kind) => {
            top.entry("type").or_insert_with(|| Value::String(kind.to_owned()));
            vec![Value::Object(top)]
        }
    };
    let events: Vec<Value> = messages
        .into_iter()
        .map(|message| match message {
            Value::Object(mut message) => {
                // A batch's shared context fills in what a message leaves out.
                if let (Some(Value::Object(shared)), Some(Value::Object(own))) =
                    (&top_context, message.get_mut("context"))
                {
                    for (key, value) in shared {
                        own.entry(key.clone()).or_insert_with(|| value.clone());
                    }
                } else if let Some(shared) = &top_context {
                    message.entry("context").or_insert_with(|| shared.clone());
                }
                event(&Value::Object(message), sent_at, received_ms)
            }
            other => other,
        })
        .collect();
    let body = serde_json::to_vec(&json!({ "events": events }))
        .map_err(|error| field(error.to_string(), "body"))?;
    Ok(Translated { body, write_key })
}

/// One message as the product's event.
fn event(message: &Value, batch_sent_at: Option<i64>, received_ms: i64) -> Value {
    let kind = text(message, &["type"]).unwrap_or("").to_ascii_lowercase();
    let mut event = Map::new();
    if let Some(id) = message.get("messageId") {
        event.insert("id".into(), id.clone());
    }
    let track_name = text(message, &["event"]);
    let (event_type, name) = match (kind.as_str(), track_name) {
        ("track", Some("Application Installed")) => ("install", None),
        ("track", Some("Application Opened")) => ("open", None),
        ("track", name) => ("event", name.map(str::to_owned)),
        (other, _) => ("event", Some(other.to_owned()).filter(|name| !name.is_empty())),
    };
    event.insert("type".into(), event_type.into());
    if let Some(name) = name {
        event.insert("name".into(), name.into());
    }
    event.insert("timestamp".into(), timestamp(message, batch_sent_at, received_ms).into());

    let ios = text(message, &["context", "os", "name"])
        .is_some_and(|os| os.to_ascii_lowercase().contains("ios"))
        || text(message, &["context", "device", "type"])
            .is_some_and(|t| t.eq_ignore_ascii_case("ios"));
    let mut device = Map::new();
    if let Some(advertising) = text(message, &["context", "device", "advertisingId"]) {
        device.insert(if ios { "idfa" } else { "gaid" }.into(), advertising.into());
    }
    if let Some(id) = text(message, &["context", "device", "id"]) {
        device.insert(if ios { "idfv" } else { "install_id" }.into(), id.into());
    }
    if !device.contains_key("install_id")
        && let Some(anonymous) = text(message, &["anonymousId"])
    {
        device.insert("install_id".into(), anonymous.into());
    }
    for (path, key) in [
        (&["context", "os", "name"][..], "os"),
        (&["context", "os", "version"][..], "os_version"),
        (&["context", "device", "model"][..], "model"),
        (&["context", "locale"][..], "locale"),
    ] {
        if let Some(value) = text(message, path) {
            device.insert(key.into(), value.into());
        }
    }
    if !device.is_empty() {
        event.insert("device".into(), Value::Object(device));
    }

    let properties = message.get("properties").and_then(Value::as_object);
    let amount = properties.and_then(|p| p.get("revenue")).and_then(Value::as_f64).or_else(|| {
        (track_name == Some("Order Completed"))
            .then(|| properties.and_then(|p| p.get("total")).and_then(Value::as_f64))
            .flatten()
    });
    if let Some(amount) = amount {
        let currency = properties
            .and_then(|p| p.get("currency"))
            .and_then(Value::as_str)
            .map(|c| c.trim().to_ascii_uppercase())
            .unwrap_or_else(|| "USD".to_owned());
        event.insert("revenue".into(), json!({ "amount": amount, "currency": currency }));
    }

    // Everything else is kept in properties.
    let mut kept = properties.cloned().unwrap_or_default();
    for key in ["userId", "anonymousId", "traits", "groupId", "previousId", "name", "category"] {
        if let Some(value) = message.get(key).filter(|value| !value.is_null()) {
            kept.entry(key.to_owned()).or_insert_with(|| value.clone());
        }
    }
    if let Some(Value::Object(context)) = message.get("context") {
        let mut context = context.clone();
        if let Some(Value::Object(device)) = context.get_mut("device") {
            device.remove("advertisingId");
            device.remove("id");
        }
        context.remove("os");
        context.remove("locale");
        if !context.is_empty() {
            kept.entry("context".to_owned()).or_insert(Value::Object(context));
        }
    }
    if !kept.is_empty() {
        event.insert("properties".into(), Value::Object(kept));
    }
    Value::Object(event)
}

/// The event time, as Segment documents it: `timestamp` when the sender set it; otherwise
/// `originalTimestamp` moved by the sender's clock error (`receivedAt − sentAt`); otherwise
/// the receipt time.
fn timestamp(message: &Value, batch_sent_at: Option<i64>, received_ms: i64) -> String {
    if let Some(given) = text(message, &["timestamp"]) {
        return given.to_owned();
    }
    let sent_at = text(message, &["sentAt"]).and_then(millis).or(batch_sent_at);
    let at = match (text(message, &["originalTimestamp"]).and_then(millis), sent_at) {
        (Some(original), Some(sent)) => original.saturating_add(received_ms.saturating_sub(sent)),
        (Some(original), None) => original,
        (None, _) => received_ms,
    };
    unmogrowp_domain::time::rfc3339(at)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn events(body: &str, endpoint: Endpoint) -> Vec<Value> {
        let translated = translate(body.as_bytes(), endpoint, 1_764_500_000_000).unwrap();
        let value: Value = serde_json::from_slice(&translated.body).unwrap();
        value["events"].as_array().unwrap().clone()
    }

    #[test]
    fn a_batch_maps_installs_opens_purchases_and_devices() {
        let body = r#"{"writeKey": "tok", "sentAt": "2025-11-30T10:00:10Z", "batch": [
          {"type": "track", "event": "Application Installed", "messageId": "m1", "timestamp": "2025-11-30T09:00:00Z",
           "anonymousId": "anon-1", "context": {"os": {"name": "Android", "version": "14"},
           "device": {"advertisingId": "38400000-8cf0-11bd-b23e-10b96e40000d", "id": "android-id", "model": "Pixel 8"},
           "ip": "203.0.113.9", "locale": "de-DE"}},
          {"type": "track", "event": "Order Completed", "messageId": "m2", "originalTimestamp": "2025-11-30T10:00:00Z",
           "properties": {"total": 19.5, "currency": "eur", "order_id": "o-1"}, "context": {"os": {"name": "iOS"},
           "device": {"advertisingId": "idfa-1", "id": "idfv-1"}}},
          {"type": "screen", "name": "Home", "messageId": "m3", "userId": "u-1"},
          "not a message"
        ]}"#;
        let translated = translate(body.as_bytes(), Endpoint::Batch, 1_764_500_000_000).unwrap();
        assert_eq!(translated.write_key.as_deref(), Some("tok"));
        let all = events(body, Endpoint::Batch);
        assert_eq!(all[0]["type"], "install");
        assert_eq!(all[0]["id"], "m1");
        assert_eq!(all[0]["timestamp"], "2025-11-30T09:00:00Z");
        assert_eq!(all[0]["device"]["gaid"], "38400000-8cf0-11bd-b23e-10b96e40000d");
        assert_eq!(all[0]["device"]["install_id"], "android-id");
        assert_eq!(all[0]["device"]["os_version"], "14");
        assert_eq!(all[0]["device"]["model"], "Pixel 8");
        assert!(all[0]["device"].get("ip").is_none(), "the connection's address is used");
        assert_eq!(all[0]["properties"]["context"]["ip"], "203.0.113.9");
        assert_eq!(all[0]["properties"]["anonymousId"], "anon-1");
        // iOS ids, revenue from `total`, currency upper-cased, clock skew corrected by
        // receivedAt − sentAt (the receipt is 2025-11-30T10:53:20Z, sent at 10:00:10).
        assert_eq!(all[1]["type"], "event");
        assert_eq!(all[1]["name"], "Order Completed");
        assert_eq!(all[1]["device"]["idfa"], "idfa-1");
        assert_eq!(all[1]["device"]["idfv"], "idfv-1");
        assert_eq!(all[1]["revenue"], json!({"amount": 19.5, "currency": "EUR"}));
        assert_eq!(all[1]["properties"]["order_id"], "o-1");
        assert_eq!(all[1]["timestamp"], "2025-11-30T10:53:10Z");
        assert_eq!(all[2]["name"], "screen");
        assert_eq!(all[2]["properties"]["name"], "Home");
        assert_eq!(all[2]["properties"]["userId"], "u-1");
        assert_eq!(all[3], "not a message", "left for the checks to reject by index");
    }

    #[test]
    fn single_endpoints_take_their_type_and_bad_bodies_name_the_field() {
        let one = events(
            r#"{"event": "level_up", "messageId": "x", "properties": {"revenue": 2, "level": 3}}"#,
            Endpoint::Single("track"),
        );
        assert_eq!(
            (one[0]["type"].as_str(), one[0]["name"].as_str()),
            (Some("event"), Some("level_up"))
        );
        assert_eq!(one[0]["revenue"], json!({"amount": 2.0, "currency": "USD"}));
        let identify =
            events(r#"{"userId": "u", "traits": {"plan": "pro"}}"#, Endpoint::Single("identify"));
        assert_eq!(identify[0]["name"], "identify");
        assert_eq!(identify[0]["properties"]["traits"]["plan"], "pro");
        assert!(identify[0].get("id").is_none(), "no messageId: the checks ask for an id");
        let error =
            |body: &str| translate(body.as_bytes(), Endpoint::Batch, 0).unwrap_err().to_string();
        assert_eq!(error(r#"{"sentAt": "x"}"#), "batch: is required");
        assert_eq!(error(r#"{"batch": {}}"#), "batch: must be an array of messages");
        assert_eq!(error("[1]"), "body: must be a JSON object");
        assert!(error("{").contains("not valid JSON"));
    }
}
