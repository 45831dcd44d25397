//! The event store behind [`SealedEventStore`]: the whole suite runs through it (see
//! `main.rs`), and these cases check what reaches the backend and what a destroyed key leaves.

use crate::cases::{APP, OTHER_APP, app_id, row};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use unmogrowp_domain::event::EventType;
use unmogrowp_domain::{AppId, OrgId};
use unmogrowp_eventstore::{Batch, EventStore, ExportQuery, SealedEventStore};
use unmogrowp_vault::{DataKey, KeySource, VaultError};

/// Data keys held in memory, one per organization, made on first use; the suite's apps
/// belong to the organization `org`. A destroyed organization's key is gone for good.
#[derive(Default)]
pub struct TestKeys {
    keys: Mutex<HashMap<OrgId, Arc<DataKey>>>,
    destroyed: Mutex<HashSet<OrgId>>,
}

impl TestKeys {
    pub fn destroy(&self, org_id: &OrgId) {
        self.keys.lock().unwrap().remove(org_id);
        self.destroyed.lock().unwrap().insert(org_id.clone());
    }

    fn org_of(app_id: &AppId) -> Option<OrgId> {
        [APP, OTHER_APP].contains(&app_id.as_str()).then(|| OrgId::from_stored("org".to_owned()))
    }
}

#[async_trait::async_trait]
impl KeySource for TestKeys {
    async fn org_key(&self, org_id: &OrgId) -> Result<Option<Arc<DataKey>>, VaultError> {
        if self.destroyed.lock().unwrap().contains(org_id) {
            return Ok(None);
        }
        let mut keys = self.keys.lock().unwrap();
        let key = keys
            .entry(org_id.clone())
            .or_insert_with(|| Arc::new(DataKey::generate(org_id.as_str())));
        Ok(Some(key.clone()))
    }

    async fn app_key(&self, app_id: &AppId) -> Result<Option<Arc<DataKey>>, VaultError> {
        match Self::org_of(app_id) {
            Some(org) => self.org_key(&org).await,
            None => Ok(None),
        }
    }

    async fn app_keys(&self) -> Result<HashMap<AppId, Arc<DataKey>>, VaultError> {
        let mut keys = HashMap::new();
        for app in [APP, OTHER_APP] {
            if let Some(key) = self.app_key(&app_id(app)).await? {
                keys.insert(app_id(app), key);
            }
        }
        Ok(keys)
    }
}

/// A store opened by `open`, behind sealing with fresh [`TestKeys`].
pub async fn sealed<G>(
    open: impl std::future::Future<Output = (Box<dyn EventStore>, G)>,
) -> (Box<dyn EventStore>, G) {
    let (inner, guard) = open.await;
    let keys = Arc::new(TestKeys::default());
    (Box::new(SealedEventStore::new(Arc::from(inner), keys)), guard)
}

async fn exported(store: &dyn EventStore) -> Vec<unmogrowp_eventstore::EventRow> {
    let rows = Arc::new(Mutex::new(Vec::new()));
    let sink = rows.clone();
    store
        .export(
            ExportQuery {
                app_id: app_id(APP),
                kinds: vec![EventType::Install, EventType::Click],
                from_day: crate::cases::day("2026-11-19"),
                to_day: crate::cases::day("2026-11-22"),
            },
            Box::new(move |row| {
                sink.lock().unwrap().push(row);
                true
            }),
        )
        .await
        .unwrap();
    Arc::try_unwrap(rows).unwrap().into_inner().unwrap()
}

/// What the backend holds is sealed; what the sealed store answers is plain; once the
/// organization's key is destroyed nothing of it can be opened.
pub async fn identifiers_and_ips_are_sealed_at_rest_and_shredded_with_the_key(
    inner: Arc<dyn EventStore>,
) {
    let keys = Arc::new(TestKeys::default());
    let store = SealedEventStore::new(inner.clone(), keys.clone());
    let install = row(APP, "inst-1", EventType::Install, "organic", crate::cases::T0);
    let mut batch = Batch { rows: vec![install.clone()], last_offset: 1, ..Batch::default() };
    batch.quarantined.push(unmogrowp_eventstore::QuarantinedRow {
        app_id: app_id(APP),
        received_ms: crate::cases::T0,
        index: 0,
        event_id: Some("bad-1".into()),
        code: "invalid_timestamp".into(),
        message: "timestamp is not RFC 3339".into(),
        raw: r#"{"device":{"gaid":"quarantined-gaid","ip":"192.0.2.44"}}"#.into(),
    });
    store.apply(batch).await.unwrap();

    let plain = exported(&store).await;
    assert_eq!(plain.len(), 1);
    assert_eq!(plain[0].device_id, install.device_id);
    assert_eq!(plain[0].gaid, install.gaid);
    assert_eq!(plain[0].ip, install.ip);

    let at_rest = exported(inner.as_ref()).await;
    let gaid = install.gaid.clone().unwrap();
    let ip = install.ip.clone().unwrap();
    let stored = &at_rest[0];
    assert!(stored.device_id.as_deref().unwrap().starts_with("gaid:v1-"), "{stored:?}");
    for value in [&stored.device_id, &stored.gaid, &stored.ip] {
        let value = value.as_deref().unwrap();
        assert!(!value.contains(&gaid) && !value.contains(&ip), "readable at rest: {value}");
    }
    let raw = inner.quarantined(&app_id(APP), 10, None).await.unwrap();
    assert!(!raw[0].raw.contains("quarantined-gaid") && !raw[0].raw.contains("192.0.2.44"));
    let opened = store.quarantined(&app_id(APP), 10, None).await.unwrap();
    assert!(opened[0].raw.contains("quarantined-gaid"));

    // Crypto-shredding: the key goes, the rows stay sealed and nothing opens them.
    keys.destroy(&OrgId::from_stored("org".to_owned()));
    assert!(exported(&store).await.is_empty());
    assert!(store.quarantined(&app_id(APP), 10, None).await.unwrap().is_empty());
    let left = exported(inner.as_ref()).await;
    assert_eq!(left[0].ip, stored.ip, "the sealed rows are still there, unreadable");
    // New rows of the deleted organization are not stored.
    let late = row(APP, "inst-2", EventType::Install, "organic", crate::cases::T0 + 1);
    let outcome =
        store.apply(Batch { rows: vec![late], last_offset: 2, ..Batch::default() }).await.unwrap();
    assert_eq!((outcome.stored, outcome.duplicates), (0, 1));
}
