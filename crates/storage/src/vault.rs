//! Envelope encryption in the OLTP store: the data keys (wrapped in `data_keys`), cached,
//! and the sealing of personal columns by the handles (see `unmogrowp_vault` for the scheme).
//!
//! Sealed columns: `users.email` (for lookup), `users.name`, `sessions.ip` and
//! `sessions.user_agent` under the platform's key (an account is not one organization's);
//! `invitations.email` (for lookup), `postbacks.url_template`, `postback_deliveries.url`,
//! `app_keys.nonce` and the audit log's `actor` (for lookup), `target`, `ip`, `user_agent` and
//! `details` under the organization's key (the platform's for entries of no organization).

use crate::backend::StoreBackend;
use crate::queries::keys::SealedColumn;
use crate::{Result, StorageError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use unmogrowp_domain::{AppId, OrgId};
pub use unmogrowp_vault::{DataKey, KEY_FILE, KeySource, MasterKeys, VaultError};

/// The scope of the platform's own data key (accounts).
pub const PLATFORM: &str = "platform";

/// How long an unwrapped key (or an app's organization) is kept in memory. After an
/// organization is deleted, other nodes stop opening its data within this time.
const CACHE_TTL: Duration = Duration::from_secs(60);

pub(crate) const USER_EMAIL: SealedColumn = ("users", "email", None);
pub(crate) const USER_NAME: SealedColumn = ("users", "name", None);
pub(crate) const INVITATION_EMAIL: SealedColumn = ("invitations", "email", Some("org_id"));
pub(crate) const POSTBACK_URL: SealedColumn = ("postbacks", "url_template", Some("org_id"));
pub(crate) const DELIVERY_URL: SealedColumn = ("postback_deliveries", "url", Some("org_id"));
pub(crate) const KEY_NONCE: SealedColumn = ("app_keys", "nonce", Some("org_id"));
pub(crate) const SESSION_IP: SealedColumn = ("sessions", "ip", None);
pub(crate) const SESSION_USER_AGENT: SealedColumn = ("sessions", "user_agent", None);
// Audit entries of no organization (`org_id` NULL) are sealed under the platform's key.
pub(crate) const AUDIT_ACTOR: SealedColumn = ("audit_log", "actor", Some("org_id"));
pub(crate) const AUDIT_TARGET: SealedColumn = ("audit_log", "target", Some("org_id"));
pub(crate) const AUDIT_IP: SealedColumn = ("audit_log", "ip", Some("org_id"));
pub(crate) const AUDIT_USER_AGENT: SealedColumn = ("audit_log", "user_agent", Some("org_id"));
pub(crate) const AUDIT_DETAILS: SealedColumn = ("audit_log", "details", Some("org_id"));

/// Columns sealed for equality lookups (the rest with random nonces).
const LOOKUP_COLUMNS: [SealedColumn; 3] = [USER_EMAIL, INVITATION_EMAIL, AUDIT_ACTOR];
const ALL_COLUMNS: [SealedColumn; 13] = [
    USER_EMAIL,
    USER_NAME,
    INVITATION_EMAIL,
    POSTBACK_URL,
    DELIVERY_URL,
    KEY_NONCE,
    SESSION_IP,
    SESSION_USER_AGENT,
    AUDIT_ACTOR,
    AUDIT_TARGET,
    AUDIT_IP,
    AUDIT_USER_AGENT,
    AUDIT_DETAILS,
];

/// The associated-data name of a sealed column: `table.column`.
pub(crate) fn field(column: SealedColumn) -> String {
    format!("{}.{}", column.0, column.1)
}

/// What [`Vault::rotate`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rotation {
    /// The master key version every data key is now wrapped by.
    pub active_version: u32,
    /// Data keys re-wrapped by this run.
    pub rewrapped: u64,
    /// Data keys that were already under the active version.
    pub current: u64,
}

fn vault_error(error: VaultError) -> StorageError {
    match error {
        VaultError::Unavailable(reason) => StorageError::Unavailable(reason),
        other => StorageError::Unexpected(anyhow::Error::new(other)),
    }
}

fn storage_error(error: StorageError) -> VaultError {
    match error {
        StorageError::Unavailable(reason) => VaultError::Unavailable(reason),
        other => VaultError::Unavailable(other.to_string()),
    }
}

/// The data keys of every organization and of the platform, unwrapped on first use and kept
/// for a minute. Cheap to share (`Arc`).
pub struct Vault {
    backend: Arc<dyn StoreBackend>,
    master: RwLock<Arc<MasterKeys>>,
    keys: Mutex<HashMap<String, (Arc<DataKey>, Instant)>>,
    apps: Mutex<HashMap<AppId, (Option<OrgId>, Instant)>>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault").finish_non_exhaustive()
    }
}

impl Vault {
    pub(crate) fn new(backend: Arc<dyn StoreBackend>, master: Arc<MasterKeys>) -> Self {
        Self {
            backend,
            master: RwLock::new(master),
            keys: Mutex::new(HashMap::new()),
            apps: Mutex::new(HashMap::new()),
        }
    }

    fn master(&self) -> Arc<MasterKeys> {
        self.master
            .read()
            .map(|master| master.clone())
            .unwrap_or_else(|poisoned| poisoned.into_inner().clone())
    }

    fn cached(&self, scope: &str) -> Option<Arc<DataKey>> {
        let keys = self.keys.lock().ok()?;
        let (key, at) = keys.get(scope)?;
        (at.elapsed() < CACHE_TTL).then(|| key.clone())
    }

    fn remember(&self, key: Arc<DataKey>) {
        if let Ok(mut keys) = self.keys.lock() {
            keys.insert(key.scope().to_owned(), (key, Instant::now()));
        }
    }

    /// Unwraps with the ring, reading the key file again once if the version is unknown (a
    /// version added by `rotate-keys` while this process runs).
    fn unwrap(&self, scope: &str, version: u32, wrapped: &str) -> Result<DataKey, VaultError> {
        match self.master().unwrap(scope, version, wrapped) {
            Err(VaultError::UnknownMasterVersion { .. }) => {
                if let Some(reloaded) = self.master().reload()? {
                    let reloaded = Arc::new(reloaded);
                    if let Ok(mut master) = self.master.write() {
                        *master = reloaded.clone();
                    }
                    return reloaded.unwrap(scope, version, wrapped);
                }
                self.master().unwrap(scope, version, wrapped)
            }
            other => other,
        }
    }

    async fn key(&self, scope: &str, org: Option<&OrgId>) -> Result<Option<Arc<DataKey>>> {
        if let Some(key) = self.cached(scope) {
            return Ok(Some(key));
        }
        for _ in 0..2 {
            if let Some((version, wrapped)) = self.backend.data_key(scope).await? {
                let key = Arc::new(self.unwrap(scope, version, &wrapped).map_err(vault_error)?);
                self.remember(key.clone());
                return Ok(Some(key));
            }
            let key = Arc::new(DataKey::generate(scope));
            let (version, wrapped) = self.master().wrap(&key);
            if self.backend.insert_data_key(scope, org, version, &wrapped).await? {
                self.remember(key.clone());
                return Ok(Some(key));
            }
            // Another process made it first (read it back), or the organization is gone.
        }
        Ok(None)
    }

    /// The platform's data key (accounts), made on first use.
    pub async fn platform_key(&self) -> Result<Arc<DataKey>> {
        self.key(PLATFORM, None).await?.ok_or_else(|| {
            StorageError::Unexpected(anyhow::anyhow!("the platform data key could not be made"))
        })
    }

    /// The organization's data key, made on first use; `None` when the organization does not
    /// exist (a deleted organization's key is gone for good).
    pub async fn org_key(&self, org_id: &OrgId) -> Result<Option<Arc<DataKey>>> {
        self.key(org_id.as_str(), Some(org_id)).await
    }

    /// [`Vault::org_key`], with [`StorageError::NotFound`] for a missing organization.
    pub(crate) async fn org_key_required(&self, org_id: &OrgId) -> Result<Arc<DataKey>> {
        self.org_key(org_id).await?.ok_or(StorageError::NotFound)
    }

    /// Drops the organization's key from this process's memory (after the organization was
    /// deleted; other processes drop it within a minute).
    pub fn forget(&self, org_id: &OrgId) {
        if let Ok(mut keys) = self.keys.lock() {
            keys.remove(org_id.as_str());
        }
        if let Ok(mut apps) = self.apps.lock() {
            apps.retain(|_, (org, _)| org.as_ref() != Some(org_id));
        }
    }

    /// The organization that owns the app (cached); `None` for an unknown app.
    pub async fn app_org(&self, app_id: &AppId) -> Result<Option<OrgId>> {
        if let Ok(apps) = self.apps.lock()
            && let Some((org, at)) = apps.get(app_id)
            && at.elapsed() < CACHE_TTL
        {
            return Ok(org.clone());
        }
        let org = self.backend.app_by_id_unscoped(app_id).await?.map(|app| app.org_id);
        if let Ok(mut apps) = self.apps.lock() {
            apps.insert(app_id.clone(), (org.clone(), Instant::now()));
        }
        Ok(org)
    }

    /// Re-wraps every data key that is not under the ring's active master key (the data it
    /// protects is untouched, so this runs beside live servers: each re-wrap is one row
    /// update, and a server that meets the new version reads the key file again). Servers
    /// must know the new version before it is used: add it to every node's ring first.
    pub async fn rotate(&self) -> Result<Rotation> {
        let master = self.master();
        let active = master.active_version();
        let mut rotation = Rotation { active_version: active, ..Rotation::default() };
        for (scope, version, wrapped) in self.backend.data_keys().await? {
            if version == active {
                rotation.current += 1;
                continue;
            }
            let key = master.unwrap(&scope, version, &wrapped).map_err(vault_error)?;
            let (new_version, rewrapped) = master.wrap(&key);
            if self.backend.rewrap_data_key(&scope, version, new_version, &rewrapped).await? {
                rotation.rewrapped += 1;
            } else {
                rotation.current += 1;
            }
        }
        Ok(rotation)
    }

    /// Seals values written before encryption was introduced (any column listed above whose
    /// value is not sealed yet); returns how many. Run at start, before serving.
    pub(crate) async fn seal_legacy_rows(&self) -> Result<u64> {
        let mut sealed = 0;
        for column in ALL_COLUMNS {
            let name = field(column);
            loop {
                let rows = self.backend.unsealed(column, 500).await?;
                if rows.is_empty() {
                    break;
                }
                let mut progressed = false;
                for (id, org, plain) in rows {
                    let key = match org {
                        Some(org) => match self.org_key(&OrgId::from_stored(org)).await? {
                            Some(key) => key,
                            None => continue,
                        },
                        None => self.platform_key().await?,
                    };
                    let value = if LOOKUP_COLUMNS.contains(&column) {
                        key.seal_lookup(&name, &plain)
                    } else {
                        key.seal(&name, &plain)
                    };
                    self.backend.seal_row(column, &id, &plain, &value).await?;
                    sealed += 1;
                    progressed = true;
                }
                if !progressed {
                    break;
                }
            }
        }
        if sealed > 0 {
            tracing::info!(rows = sealed, "sealed personal columns written before encryption");
        }
        Ok(sealed)
    }
}

/// Opens a sealed column's value, naming the column when it does not open.
pub(crate) fn open(key: &DataKey, column: SealedColumn, value: &str) -> Result<String> {
    key.open(&field(column), value).map_err(vault_error)
}

/// Seals a value for a column (for lookup where the column is looked up).
pub(crate) fn seal(key: &DataKey, column: SealedColumn, value: &str) -> String {
    if LOOKUP_COLUMNS.contains(&column) {
        key.seal_lookup(&field(column), value)
    } else {
        key.seal(&field(column), value)
    }
}

#[async_trait::async_trait]
impl KeySource for Vault {
    async fn org_key(&self, org_id: &OrgId) -> Result<Option<Arc<DataKey>>, VaultError> {
        Vault::org_key(self, org_id).await.map_err(storage_error)
    }

    async fn app_key(&self, app_id: &AppId) -> Result<Option<Arc<DataKey>>, VaultError> {
        match self.app_org(app_id).await.map_err(storage_error)? {
            Some(org) => Vault::org_key(self, &org).await.map_err(storage_error),
            None => Ok(None),
        }
    }

    async fn app_keys(&self) -> Result<HashMap<AppId, Arc<DataKey>>, VaultError> {
        let apps = self.backend.all_apps().await.map_err(storage_error)?;
        let mut keys = HashMap::with_capacity(apps.len());
        for app in apps {
            if let Some(key) = Vault::org_key(self, &app.org_id).await.map_err(storage_error)? {
                keys.insert(app.id, key);
            }
        }
        Ok(keys)
    }
}
