//! Rows in and out: what a stored row is keyed by for de-duplication, the insert shapes
//! written as `JSONEachRow`, and the JSON rows ClickHouse answers read back into the store's
//! types (64-bit integers may come back quoted: both forms are read).

use super::Row;
use crate::model::{install_name, parse_install};
use crate::{AttributionRow, Dims, EventRow, Result, StoreError};
use serde::Serialize;
use serde_json::Value;
use unmogrowp_domain::attribution::FraudReason;
use unmogrowp_domain::event::EventType;
use unmogrowp_domain::{AppId, Day, OrgId};

/// What makes a stored row the same as another: app, id and — except for installs, which
/// are one per id whatever their time — the event time.
pub(super) type StoredKey = (String, String, i64);

pub(super) fn stored_key(app_id: &str, id: &str, kind: EventType, ts: i64) -> StoredKey {
    let ts = if kind == EventType::Install { i64::MIN } else { ts };
    (app_id.to_owned(), id.to_owned(), ts)
}

pub(super) fn key_of(row: &Row) -> Result<StoredKey> {
    let kind = stored_kind(text(row, "kind").as_deref())?;
    Ok(stored_key(
        &text(row, "app_id").unwrap_or_default(),
        &text(row, "id").unwrap_or_default(),
        kind,
        int(row, "ts").unwrap_or_default(),
    ))
}

pub(super) fn text(row: &Row, key: &str) -> Option<String> {
    match row.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

pub(super) fn int(row: &Row, key: &str) -> Option<i64> {
    match row.get(key)? {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

pub(super) fn count(row: &Row, key: &str) -> u64 {
    int(row, key).and_then(|n| u64::try_from(n).ok()).unwrap_or(0)
}

pub(super) fn float(row: &Row, key: &str) -> Option<f64> {
    match row.get(key)? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

pub(super) fn flag(row: &Row, key: &str) -> bool {
    int(row, key).unwrap_or(0) != 0
}

#[derive(Serialize)]
pub(super) struct EventInsert<'a> {
    app_id: &'a str,
    org_id: &'a str,
    id: &'a str,
    kind: &'static str,
    name: Option<&'a str>,
    ts: i64,
    received: i64,
    utc_day: Day,
    day: Day,
    device_id: Option<&'a str>,
    gaid: Option<&'a str>,
    idfa: Option<&'a str>,
    idfv: Option<&'a str>,
    ip: Option<&'a str>,
    user_agent: Option<&'a str>,
    os: Option<&'a str>,
    os_version: Option<&'a str>,
    model: Option<&'a str>,
    locale: Option<&'a str>,
    country: &'a str,
    click_id: Option<&'a str>,
    link_id: Option<&'a str>,
    network_click_id: Option<&'a str>,
    subs: Option<String>,
    network: &'a str,
    campaign: &'a str,
    adgroup: &'a str,
    creative: &'a str,
    revenue_amount: Option<f64>,
    revenue_currency: Option<&'a str>,
    revenue: f64,
    properties: Option<&'a str>,
    install: Option<&'static str>,
    reattribution: u8,
    reengagement: u8,
    reinstall: u8,
    fraud_reason: Option<FraudReason>,
    log_offset: u64,
}

impl<'a> EventInsert<'a> {
    pub(super) fn of(row: &'a EventRow, log_offset: u64) -> Self {
        Self {
            app_id: row.app_id.as_str(),
            org_id: row.org_id.as_str(),
            id: &row.id,
            kind: row.kind.as_str(),
            name: row.name.as_deref(),
            ts: row.timestamp_ms,
            received: row.received_ms,
            utc_day: Day::of_utc_millis(row.timestamp_ms),
            day: row.day,
            device_id: row.device_id.as_deref(),
            gaid: row.gaid.as_deref(),
            idfa: row.idfa.as_deref(),
            idfv: row.idfv.as_deref(),
            ip: row.ip.as_deref(),
            user_agent: row.user_agent.as_deref(),
            os: row.os.as_deref(),
            os_version: row.os_version.as_deref(),
            model: row.device_model.as_deref(),
            locale: row.locale.as_deref(),
            country: &row.dims.country,
            click_id: row.click_id.as_deref(),
            link_id: row.link_id.as_deref(),
            network_click_id: row.network_click_id.as_deref(),
            subs: if row.subs.is_empty() { None } else { serde_json::to_string(&row.subs).ok() },
            network: &row.dims.network,
            campaign: &row.dims.campaign,
            adgroup: &row.dims.adgroup,
            creative: &row.dims.creative,
            revenue_amount: row.revenue_amount,
            revenue_currency: row.revenue_currency.as_deref(),
            revenue: row.revenue,
            properties: row.properties.as_deref(),
            install: install_name(row.install),
            reattribution: u8::from(row.reattribution),
            reengagement: u8::from(row.reengagement),
            reinstall: u8::from(row.reinstall),
            fraud_reason: row.fraud_reason,
            log_offset,
        }
    }
}

/// The stored kind as an [`EventType`]; an unknown one is an error, never a guess.
pub(super) fn stored_kind(text: Option<&str>) -> Result<EventType> {
    let text = text.unwrap_or_default();
    EventType::parse(text)
        .ok_or_else(|| StoreError::Query(format!("a stored row has an unknown kind {text:?}")))
}

pub(super) fn event_from_row(row: &Row) -> Result<EventRow> {
    let kind = stored_kind(text(row, "kind").as_deref())?;
    Ok(EventRow {
        app_id: AppId::from_stored(required(row, "app_id")?),
        org_id: OrgId::from_stored(required(row, "org_id")?),
        id: text(row, "id").unwrap_or_default(),
        kind,
        name: text(row, "name"),
        timestamp_ms: int(row, "ts").unwrap_or(0),
        received_ms: int(row, "received").unwrap_or(0),
        day: day(row, "day")?,
        device_id: text(row, "device_id"),
        gaid: text(row, "gaid"),
        idfa: text(row, "idfa"),
        idfv: text(row, "idfv"),
        ip: text(row, "ip"),
        user_agent: text(row, "user_agent"),
        os: text(row, "os"),
        os_version: text(row, "os_version"),
        device_model: text(row, "model"),
        locale: text(row, "locale"),
        click_id: text(row, "click_id"),
        link_id: text(row, "link_id"),
        network_click_id: text(row, "network_click_id"),
        subs: text(row, "subs")
            .and_then(|raw| serde_json::from_str::<Vec<Option<String>>>(&raw).ok())
            .unwrap_or_default(),
        dims: Dims {
            network: text(row, "network").unwrap_or_default(),
            campaign: text(row, "campaign").unwrap_or_default(),
            adgroup: text(row, "adgroup").unwrap_or_default(),
            creative: text(row, "creative").unwrap_or_default(),
            country: text(row, "country").unwrap_or_default(),
        },
        revenue_amount: float(row, "revenue_amount"),
        revenue_currency: text(row, "revenue_currency"),
        revenue: float(row, "revenue").unwrap_or(0.0),
        properties: text(row, "properties"),
        install: parse_install(text(row, "install").as_deref()),
        reattribution: flag(row, "reattribution"),
        reengagement: flag(row, "reengagement"),
        reinstall: flag(row, "reinstall"),
        fraud_reason: term(row, "fraud_reason")?,
    })
}

#[derive(Serialize)]
pub(super) struct AttributionInsert<'a> {
    pub(super) app_id: &'a str,
    pub(super) event_id: &'a str,
    pub(super) device_id: Option<&'a str>,
    pub(super) status: &'a str,
    pub(super) match_type: Option<&'a str>,
    pub(super) touch_id: Option<&'a str>,
    pub(super) touch_kind: Option<&'a str>,
    pub(super) touch_at: Option<i64>,
    pub(super) link_id: Option<&'a str>,
    pub(super) network: &'a str,
    pub(super) campaign: &'a str,
    pub(super) adgroup: &'a str,
    pub(super) creative: &'a str,
    pub(super) country: &'a str,
    pub(super) rejection_reason: Option<&'a str>,
    pub(super) reattribution: u8,
    pub(super) reinstall: u8,
    pub(super) install_at: i64,
    pub(super) decided_at: i64,
    pub(super) day: Day,
    /// The first decision stored wins, as in the embedded store.
    pub(super) keep: u64,
}

/// A stored term read back into its type; unknown text is an error naming the column.
pub(super) fn term<T>(row: &Row, column: &str) -> Result<Option<T>>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    text(row, column)
        .map(|text| {
            text.parse().map_err(|error: T::Err| StoreError::Query(format!("{column}: {error}")))
        })
        .transpose()
}

/// A text column that every stored row has; absent is an error naming the column.
pub(super) fn required(row: &Row, column: &str) -> Result<String> {
    text(row, column).ok_or_else(|| StoreError::Query(format!("{column}: missing")))
}

/// A day column read back; absent or malformed is an error naming the column.
pub(super) fn day(row: &Row, column: &str) -> Result<Day> {
    term(row, column)?.ok_or_else(|| StoreError::Query(format!("{column}: missing day")))
}

pub(super) fn attribution_from_row(row: &Row) -> Result<AttributionRow> {
    Ok(AttributionRow {
        app_id: AppId::from_stored(required(row, "app_id")?),
        event_id: text(row, "event_id").unwrap_or_default(),
        day: day(row, "day")?,
        device_id: text(row, "device_id"),
        status: term(row, "status")?
            .ok_or_else(|| StoreError::Query("status: missing".to_owned()))?,
        match_type: term(row, "match_type")?,
        touch_id: text(row, "touch_id"),
        touch_kind: term(row, "touch_kind")?,
        touch_at_ms: int(row, "touch_at"),
        link_id: text(row, "link_id"),
        dims: Dims {
            network: text(row, "network").unwrap_or_default(),
            campaign: text(row, "campaign").unwrap_or_default(),
            adgroup: text(row, "adgroup").unwrap_or_default(),
            creative: text(row, "creative").unwrap_or_default(),
            country: text(row, "country").unwrap_or_default(),
        },
        rejection_reason: term(row, "rejection_reason")?,
        reattribution: flag(row, "reattribution"),
        reinstall: flag(row, "reinstall"),
        install_at_ms: int(row, "install_at").unwrap_or(0),
        decided_at_ms: int(row, "decided_at").unwrap_or(0),
    })
}

#[derive(Serialize)]
pub(super) struct CreditInsert<'a> {
    pub(super) app_id: &'a str,
    pub(super) model: &'static str,
    pub(super) day: Day,
    pub(super) event_id: &'a str,
    pub(super) network: &'a str,
    pub(super) campaign: &'a str,
    pub(super) adgroup: &'a str,
    pub(super) creative: &'a str,
    pub(super) country: &'a str,
    pub(super) installs: f64,
}

#[derive(Serialize)]
pub(super) struct FraudInsert<'a> {
    pub(super) app_id: &'a str,
    pub(super) day: Day,
    pub(super) fraud_kind: &'static str,
    pub(super) reason: FraudReason,
    pub(super) network: &'a str,
    pub(super) hits: u64,
}

#[derive(Serialize)]
pub(super) struct QuarantineInsert<'a> {
    pub(super) app_id: &'a str,
    pub(super) received_ms: i64,
    pub(super) idx: u32,
    pub(super) event_id: Option<&'a str>,
    pub(super) code: &'a str,
    pub(super) message: &'a str,
    pub(super) raw: &'a str,
}

/// Newline-separated JSON objects, as `FORMAT JSONEachRow` reads them.
pub(super) fn json_lines<T: Serialize>(items: impl IntoIterator<Item = T>) -> Result<String> {
    let mut body = String::new();
    for item in items {
        let line = serde_json::to_string(&item)
            .map_err(|error| StoreError::Query(format!("encoding a row: {error}")))?;
        body.push_str(&line);
        body.push('\n');
    }
    Ok(body)
}
