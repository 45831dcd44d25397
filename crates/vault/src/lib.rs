//! Envelope encryption of personal data at rest.
//!
//! Three layers, as in the usual envelope scheme (NIST SP 800-57 part 1 §6.1 calls the upper
//! ones key-wrapping keys):
//!
//! - **Master keys** ([`MasterKeys`]): a versioned ring of 256-bit keys from the configuration
//!   or a key file; the highest version is active. They only ever encrypt data keys.
//! - **Data keys** ([`DataKey`]): one random 256-bit key per organization (and one for the
//!   platform's own rows, the accounts), stored *wrapped* by the active master key in the OLTP
//!   store. Rotating the master key re-wraps them; the data they protect is untouched.
//!   Deleting an organization deletes its data key, and with it every copy of its encrypted
//!   fields, wherever they were stored (crypto-shredding).
//! - **Sealed fields**: a text field encrypted with AES-256-GCM under a key derived from the
//!   data key, with the scope (organization) and the field's name as associated data, so a
//!   value copied into another organization's row or another column does not open.
//!
//! Two kinds of sealing. [`DataKey::seal`] draws a random 96-bit nonce: the same text seals
//! differently each time. [`DataKey::seal_lookup`] derives the nonce from the text with
//! HMAC-SHA256 (the synthetic-IV construction of RFC 5297 §2.6, with GCM as the cipher): the
//! same text seals the same way under one data key, so equality lookups, unique indexes and
//! `GROUP BY` keep working on the sealed column; it reveals which rows share a value and
//! nothing else. Device identifiers are sealed this way ([`DataKey::seal_identifier`]) in a
//! lower-case hex form, so the event store can still compare, group and erase by them.
//!
//! Text forms: `ev1.` + base64url(nonce ‖ ciphertext ‖ tag) for fields, `v1-` + hex of the same
//! for identifier values. Reading passes text without the prefix through unchanged (rows
//! written before encryption was introduced).

mod data_key;
mod master;

pub use data_key::{DataKey, is_sealed};
pub use master::{KEY_FILE, MasterKeys};

use std::sync::Arc;
use unmogrowp_domain::{AppId, OrgId};

/// What sealing and key handling can fail with.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// The master key ring (configuration or file) cannot be used; says why, for an operator.
    #[error("master key ring: {0}")]
    KeyRing(String),
    /// A data key was wrapped by a master key version the ring does not hold (add that version
    /// to `encryption.master_keys`, or run `unmogrowp admin rotate-keys` where it is known).
    #[error(
        "the data key of {scope} is wrapped by master key version {version}, which the key ring does not hold"
    )]
    UnknownMasterVersion {
        /// The data key's scope (an organization id, or `platform`).
        scope: String,
        /// The master key version it names.
        version: u32,
    },
    /// A sealed value or a wrapped key does not open: altered, truncated, copied from another
    /// row or organization, or sealed by another key. Names the field.
    #[error("the sealed value of {0} cannot be opened (altered, or sealed under another key)")]
    Corrupt(String),
    /// The store holding the data keys did not answer.
    #[error("key store unavailable: {0}")]
    Unavailable(String),
}

/// Where sealing code gets data keys from: the OLTP store's `data_keys` table, cached
/// (implemented by the storage crate).
#[async_trait::async_trait]
pub trait KeySource: Send + Sync {
    /// The organization's data key, created on first use. `None` when the organization does
    /// not exist (any more): a deleted organization's key is gone and is never made again.
    async fn org_key(&self, org_id: &OrgId) -> Result<Option<Arc<DataKey>>, VaultError>;

    /// The data key of the organization that owns the app; `None` when the app or its
    /// organization does not exist.
    async fn app_key(&self, app_id: &AppId) -> Result<Option<Arc<DataKey>>, VaultError>;

    /// The data key of every app whose organization exists, for readers that go through
    /// many apps at once (the attribution engine's rebuild).
    async fn app_keys(&self) -> Result<std::collections::HashMap<AppId, Arc<DataKey>>, VaultError>;
}
