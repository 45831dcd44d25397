//! The queries, written once. `$N` placeholders, `BIGINT`/`INTEGER` millisecond times and
//! `TEXT` ids behave the same in SQLite and PostgreSQL, so one text serves both; the macros
//! in this module's files stamp the implementations out for each driver's concrete types.
//! Each store type provides `begin(scope, mode)` (which on PostgreSQL also sets the
//! row-level-security settings), `lock_clause()` and its pool housekeeping.

mod accounts;
mod annotations;
mod api_tokens;
mod apps;
mod changes;
mod erasures;
pub(crate) mod keys;
mod rows;
mod skan;
mod tenant;

pub(crate) use accounts::implement_accounts;
pub(crate) use annotations::implement_annotations;
pub(crate) use api_tokens::{API_TOKEN_COLUMNS, ApiTokenRow, implement_api_tokens};
pub(crate) use apps::implement_apps;
pub(crate) use changes::implement_changes;
pub(crate) use erasures::implement_erasures;
pub(crate) use keys::implement_keys;
pub(crate) use rows::*;
pub(crate) use skan::implement_skan;
pub(crate) use tenant::implement_tenant;

macro_rules! implement_store_backend {
    ($store:ty, $kind:expr) => {
        #[async_trait::async_trait]
        impl $crate::backend::StoreBackend for $store {
            fn kind(&self) -> $crate::store::Backend {
                $kind
            }
            async fn ping(&self) -> $crate::Result<()> {
                self.ping_pools().await
            }
            async fn close(&self) {
                self.close_pools().await
            }
        }
        $crate::queries::implement_accounts!($store);
        $crate::queries::implement_tenant!($store);
        $crate::queries::implement_apps!($store);
        $crate::queries::implement_erasures!($store);
        $crate::queries::implement_changes!($store);
        $crate::queries::implement_annotations!($store);
        $crate::queries::implement_api_tokens!($store);
        $crate::queries::implement_keys!($store);
        $crate::queries::implement_skan!($store);
    };
}

pub(crate) use implement_store_backend;

/// Names a store's sqlx database type, for helper signatures inside the macros.
pub(crate) trait HasDb {
    type Db: sqlx::Database;
}
