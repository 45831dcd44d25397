//! The OLTP store: organizations, users, sessions, apps, keys, links, audit log.
//!
//! Two backends share one set of queries (written once in [`queries`] and stamped out for
//! each sqlx driver): SQLite in the data dir by default, PostgreSQL when a `postgres://` URL
//! is configured. Callers never hold a backend directly: they get narrow handles from
//! [`Store`] — [`Tenant`] for one organization's rows, [`Accounts`] for users and sessions —
//! so a request cannot reach another organization's rows by forgetting a `WHERE`.
#![warn(missing_docs)]

mod backend;
mod delivery;
mod error;
mod migrate;
mod model;
mod postgres;
mod queries;
mod sealing;
mod sqlite;
mod store;
pub mod tenant;
pub mod vault;

mod annotation;
pub use annotation::Annotation;
mod api_token;
mod skan;
pub use api_token::{ApiToken, NewApiToken};
pub use error::StorageError;
pub use skan::{SkanCount, SkanRecord, StoredSchema};

/// What a postback delivery's URL becomes once the device it named was erased.
pub const ERASED_URL: &str = "(erased)";
pub use migrate::{MigrationReport, migrations_for};
pub use model::*;
pub use store::{Accounts, Backend, Credentials, Store, StoreOptions};
pub use tenant::Tenant;

/// The crate's result type; the error defaults to [`StorageError`].
pub type Result<T, E = StorageError> = std::result::Result<T, E>;
