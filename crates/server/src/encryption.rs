//! The `[encryption]` settings: where the master key ring comes from, and whether the event
//! store's personal fields are sealed. The scheme is described in `unmogrowp_vault`; the
//! OLTP columns it seals in `unmogrowp_storage::vault`, the event store's fields in
//! `unmogrowp_eventstore::SealedEventStore`.

use anyhow::Context;
use serde::Deserialize;
use std::path::PathBuf;
use std::sync::Arc;
use unmogrowp_storage::vault::MasterKeys;

/// The `[encryption]` section (`UNMOGROWP_ENCRYPTION__*`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EncryptionConfig {
    /// The master key ring, a secret: `VERSION:KEY` entries separated by commas or lines, each
    /// KEY 32 bytes in base64 (e.g. `2:…,1:…`; `unmogrowp admin rotate-keys --print-new-key`
    /// prints one); the highest version wraps. Every node of a cluster needs the same ring.
    /// Unset: the key file (`master_keys_file`) is used, made on first start.
    pub master_keys: Option<secrecy::SecretString>,
    /// The key file used when `master_keys` is unset (default `<data_dir>/master.keys`). Back
    /// it up: without it, encrypted fields cannot be read.
    pub master_keys_file: Option<PathBuf>,
    /// Seal device identifiers, IP addresses and quarantined payloads in the event store
    /// (default `true`). `false` stores new rows in the clear (rows sealed before stay
    /// readable); it exists to measure what sealing costs.
    pub event_store: bool,
}

impl Default for EncryptionConfig {
    fn default() -> Self {
        Self { master_keys: None, master_keys_file: None, event_store: true }
    }
}

impl EncryptionConfig {
    /// The key file in use when no ring is configured.
    pub fn key_file(&self, data_dir: &std::path::Path) -> PathBuf {
        self.master_keys_file
            .clone()
            .unwrap_or_else(|| data_dir.join(unmogrowp_storage::vault::KEY_FILE))
    }

    /// Loads the ring (creating the key file when it is used and missing).
    pub fn master_keys(&self, data_dir: &std::path::Path) -> anyhow::Result<Arc<MasterKeys>> {
        let file = self.key_file(data_dir);
        Ok(Arc::new(
            MasterKeys::load(self.master_keys.as_ref(), &file)
                .context("loading the master key ring (encryption.master_keys)")?,
        ))
    }
}
