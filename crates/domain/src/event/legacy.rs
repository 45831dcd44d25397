//! Record layouts of earlier releases, read only.

use super::{LinkRef, LoggedEvent, Money, Source};
use crate::event::{Device, EventType};
use crate::ids::{AppId, OrgId};
use serde::{Deserialize, Serialize};

/// [`LoggedEventV0`], borrowed from a current event, for writing.
#[derive(Serialize)]
pub(super) struct LoggedEventV0Ref<'a> {
    id: &'a str,
    org_id: &'a OrgId,
    app_id: &'a AppId,
    kind: EventType,
    name: &'a Option<String>,
    timestamp_ms: i64,
    received_ms: i64,
    source: Source,
    device: DeviceV0Ref<'a>,
    click_id: &'a Option<String>,
    link: &'a Option<LinkRef>,
    network_click_id: &'a Option<String>,
    subs: &'a Vec<Option<String>>,
    revenue: &'a Option<Money>,
    properties: &'a Option<String>,
}

#[derive(Serialize)]
struct DeviceV0Ref<'a> {
    gaid: &'a Option<String>,
    idfa: &'a Option<String>,
    idfv: &'a Option<String>,
    ip: &'a Option<String>,
    user_agent: &'a Option<String>,
    os: &'a Option<String>,
    os_version: &'a Option<String>,
    model: &'a Option<String>,
    locale: &'a Option<String>,
    country: &'a Option<String>,
}

/// The 1.0 layout of `event`, when it has nothing that layout lacks.
pub(super) fn as_v0(event: &LoggedEvent) -> Option<LoggedEventV0Ref<'_>> {
    let d = &event.device;
    d.install_id.is_none().then_some(LoggedEventV0Ref {
        id: &event.id,
        org_id: &event.org_id,
        app_id: &event.app_id,
        kind: event.kind,
        name: &event.name,
        timestamp_ms: event.timestamp_ms,
        received_ms: event.received_ms,
        source: event.source,
        device: DeviceV0Ref {
            gaid: &d.gaid,
            idfa: &d.idfa,
            idfv: &d.idfv,
            ip: &d.ip,
            user_agent: &d.user_agent,
            os: &d.os,
            os_version: &d.os_version,
            model: &d.model,
            locale: &d.locale,
            country: &d.country,
        },
        click_id: &event.click_id,
        link: &event.link,
        network_click_id: &event.network_click_id,
        subs: &event.subs,
        revenue: &event.revenue,
        properties: &event.properties,
    })
}

#[derive(Deserialize)]
pub(super) struct DeviceV0 {
    gaid: Option<String>,
    idfa: Option<String>,
    idfv: Option<String>,
    ip: Option<String>,
    user_agent: Option<String>,
    os: Option<String>,
    os_version: Option<String>,
    model: Option<String>,
    locale: Option<String>,
    country: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct LoggedEventV0 {
    id: String,
    org_id: OrgId,
    app_id: AppId,
    kind: EventType,
    name: Option<String>,
    timestamp_ms: i64,
    received_ms: i64,
    source: Source,
    device: DeviceV0,
    click_id: Option<String>,
    link: Option<LinkRef>,
    network_click_id: Option<String>,
    subs: Vec<Option<String>>,
    revenue: Option<Money>,
    properties: Option<String>,
}

impl From<LoggedEventV0> for LoggedEvent {
    fn from(old: LoggedEventV0) -> Self {
        let d = old.device;
        LoggedEvent {
            id: old.id,
            org_id: old.org_id,
            app_id: old.app_id,
            kind: old.kind,
            name: old.name,
            timestamp_ms: old.timestamp_ms,
            received_ms: old.received_ms,
            source: old.source,
            device: Device {
                gaid: d.gaid,
                idfa: d.idfa,
                idfv: d.idfv,
                ip: d.ip,
                user_agent: d.user_agent,
                os: d.os,
                os_version: d.os_version,
                model: d.model,
                locale: d.locale,
                country: d.country,
                install_id: None,
            },
            click_id: old.click_id,
            link: old.link,
            network_click_id: old.network_click_id,
            subs: old.subs,
            revenue: old.revenue,
            properties: old.properties,
            trace: None,
        }
    }
}
