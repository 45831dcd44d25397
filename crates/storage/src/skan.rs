//! SKAdNetwork postbacks and conversion-value schemas as the OLTP store keeps them.
//!
//! Postbacks live here rather than in the event store: there are at most three per
//! ad-driven iOS install, they arrive days late and carry no device, so they are counted on
//! their own (by network, campaign and conversion value) and never join the event log's
//! attribution.

use crate::backend::StoreBackend;
use crate::tenant::{Level, ManagesApps, Tenant};
use crate::{Credentials, Result};
use unmogrowp_domain::skan::{CoarseValue, ConversionSchema, SkanPostback};
use unmogrowp_domain::time::UnixMillis;
use unmogrowp_domain::{AppId, Day, OrgId};

/// A stored postback.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkanRecord {
    /// The row's id.
    pub id: String,
    /// The verified postback.
    pub postback: SkanPostback,
    /// The report day it was received on (the app's time zone).
    pub day: Day,
    /// When it was received, in milliseconds since the Unix epoch.
    pub received_at: UnixMillis,
}

/// How many postbacks of the app share one day, network, campaign and outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkanCount {
    /// The report day they were received on.
    pub day: Day,
    /// The ad network's SKAdNetwork id.
    pub ad_network_id: String,
    /// The campaign (source identifier or campaign id).
    pub campaign: String,
    /// The fine conversion value, when present.
    pub conversion_value: Option<u8>,
    /// The coarse conversion value, when present.
    pub coarse_value: Option<CoarseValue>,
    /// Whether the ad won (`None` before 3.0: every postback won).
    pub did_win: Option<bool>,
    /// Whether the user had installed the app before.
    pub redownload: bool,
    /// Which 4.0 postback (0, 1, 2); 0 before 4.0.
    pub sequence_index: u8,
    /// How many postbacks.
    pub postbacks: u64,
}

/// An app's conversion-value schema as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredSchema {
    /// The schema.
    pub schema: ConversionSchema,
    /// When it was last set, in milliseconds since the Unix epoch.
    pub updated_at: UnixMillis,
}

/// A row of `skan_postbacks` as read.
pub(crate) type SkanRow = (
    String,
    String,
    i64,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<String>,
    i64,
    String,
    i64,
);

fn small(value: i64) -> u8 {
    u8::try_from(value.clamp(0, 255)).unwrap_or(u8::MAX)
}

fn day_of(text: &str) -> Result<Day> {
    text.parse()
        .map_err(|_| crate::StorageError::Unexpected(anyhow::anyhow!("bad stored day `{text}`")))
}

pub(crate) fn record_of(row: SkanRow) -> Result<SkanRecord> {
    let (id, transaction_id, sequence_index, version, ad_network_id, campaign, app_store_id) =
        (row.0, row.1, row.2, row.3, row.4, row.5, row.6);
    Ok(SkanRecord {
        id,
        postback: SkanPostback {
            version,
            ad_network_id,
            campaign,
            app_store_id: app_store_id.parse().unwrap_or_default(),
            transaction_id,
            redownload: row.13 != 0,
            source_app_id: row.7.and_then(|id| id.parse().ok()),
            source_domain: row.8,
            fidelity_type: row.9.map(small),
            did_win: row.10.map(|flag| flag != 0),
            conversion_value: row.11.map(small),
            coarse_value: row.12.as_deref().and_then(CoarseValue::parse),
            sequence_index: small(sequence_index),
        },
        day: day_of(&row.14)?,
        received_at: row.15,
    })
}

/// A row of the grouped counts as read.
pub(crate) type SkanCountRow =
    (String, String, String, Option<i64>, Option<String>, Option<i64>, i64, i64, i64);

pub(crate) fn count_of(row: SkanCountRow) -> Result<SkanCount> {
    Ok(SkanCount {
        day: day_of(&row.0)?,
        ad_network_id: row.1,
        campaign: row.2,
        conversion_value: row.3.map(small),
        coarse_value: row.4.as_deref().and_then(CoarseValue::parse),
        did_win: row.5.map(|flag| flag != 0),
        redownload: row.6 != 0,
        sequence_index: small(row.7),
        postbacks: u64::try_from(row.8).unwrap_or(0),
    })
}

/// SKAdNetwork rows of one organization's apps. Each answers
/// [`crate::StorageError::NotFound`] for an app not of this organization.
#[async_trait::async_trait]
pub(crate) trait SkanBackend: Send + Sync {
    /// Stores a verified postback received at `received_at` on report day `day`; `false`
    /// when the app already has this network's postback of this transaction and sequence
    /// index.
    async fn record_skan_postback(
        &self,
        org_id: &OrgId,
        app_id: &AppId,
        postback: &SkanPostback,
        day: Day,
        received_at: UnixMillis,
    ) -> Result<bool>;
    /// The app's postbacks received on days `from..=to`, counted by day, network, campaign
    /// and outcome.
    async fn skan_counts(
        &self,
        org_id: &OrgId,
        app_id: &AppId,
        from: Day,
        to: Day,
    ) -> Result<Vec<SkanCount>>;
    /// Up to `limit` of the app's postbacks received on days `from..=to`, in the order they
    /// were received, after the one with id `after`'s position (`(received_at, id)`).
    async fn skan_postbacks(
        &self,
        org_id: &OrgId,
        app_id: &AppId,
        from: Day,
        to: Day,
        after: Option<(UnixMillis, String)>,
        limit: u32,
    ) -> Result<Vec<SkanRecord>>;
    /// The app's schema as stored (JSON) with its update time.
    async fn skan_schema(&self, org_id: &OrgId, app_id: &AppId) -> Result<Option<(String, i64)>>;
    async fn set_skan_schema(
        &self,
        org_id: &OrgId,
        app_id: &AppId,
        body: &str,
        updated_at: UnixMillis,
    ) -> Result<()>;
}

fn parse_schema(stored: Option<(String, i64)>) -> Result<Option<StoredSchema>> {
    stored
        .map(|(body, updated_at)| {
            let schema = serde_json::from_str(&body).map_err(|error| {
                crate::StorageError::Unexpected(anyhow::anyhow!(
                    "stored SKAdNetwork schema: {error}"
                ))
            })?;
            Ok(StoredSchema { schema, updated_at })
        })
        .transpose()
}

async fn schema_of(
    backend: &dyn StoreBackend,
    org_id: &OrgId,
    app_id: &AppId,
) -> Result<Option<StoredSchema>> {
    parse_schema(backend.skan_schema(org_id, app_id).await?)
}

impl Credentials<'_> {
    /// Stores a verified postback for the app (found by its token), received now on report
    /// day `day`; `false` when it is a duplicate (same network, transaction and sequence
    /// index).
    pub async fn record_skan_postback(
        &self,
        org_id: &OrgId,
        app_id: &AppId,
        postback: &SkanPostback,
        day: Day,
        received_at: UnixMillis,
    ) -> Result<bool> {
        self.backend.record_skan_postback(org_id, app_id, postback, day, received_at).await
    }

    /// The app's conversion-value schema, for its SDK; `None` when none was set.
    pub async fn skan_schema(
        &self,
        org_id: &OrgId,
        app_id: &AppId,
    ) -> Result<Option<StoredSchema>> {
        schema_of(self.backend, org_id, app_id).await
    }
}

impl<L: Level> Tenant<'_, L> {
    /// The app's postbacks received on days `from..=to`, counted by day, network, campaign
    /// and outcome.
    pub async fn skan_counts(&self, app_id: &AppId, from: Day, to: Day) -> Result<Vec<SkanCount>> {
        self.backend().skan_counts(self.org_id(), app_id, from, to).await
    }

    /// A page of the app's postbacks received on days `from..=to` (see
    /// [`SkanRecord`]), after `after` (`(received_at, id)` of the last row seen).
    pub async fn skan_postbacks(
        &self,
        app_id: &AppId,
        from: Day,
        to: Day,
        after: Option<(UnixMillis, String)>,
        limit: u32,
    ) -> Result<Vec<SkanRecord>> {
        self.backend().skan_postbacks(self.org_id(), app_id, from, to, after, limit).await
    }

    /// The app's conversion-value schema; `None` when none was set.
    pub async fn skan_schema(&self, app_id: &AppId) -> Result<Option<StoredSchema>> {
        schema_of(self.backend(), self.org_id(), app_id).await
    }
}

impl<L: ManagesApps> Tenant<'_, L> {
    /// Replaces the app's conversion-value schema (validated by the caller).
    pub async fn set_skan_schema(
        &self,
        app_id: &AppId,
        schema: &ConversionSchema,
        updated_at: UnixMillis,
    ) -> Result<()> {
        let body = serde_json::to_string(schema)
            .map_err(|error| crate::StorageError::Unexpected(error.into()))?;
        self.backend().set_skan_schema(self.org_id(), app_id, &body, updated_at).await
    }
}
