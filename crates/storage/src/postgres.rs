//! PostgreSQL. Connections switch to the application role (which owns no table, so row-level
//! security binds it) and every transaction states the tenant it acts for.

use crate::backend::{Mode, Scope};
use crate::store::{Backend, StoreOptions};
use crate::{Result, StorageError};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres, Transaction};
use std::str::FromStr;
use std::time::Duration;

pub(crate) struct PgStore {
    primary: PgPool,
    replica: Option<PgPool>,
}

/// Checks a role name before it is spliced into `SET ROLE` (identifiers cannot be bound).
pub(crate) fn checked_role_name(role: &str) -> Result<&str> {
    let valid = !role.is_empty()
        && role.len() <= 63
        && role.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && role.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if valid {
        Ok(role)
    } else {
        Err(StorageError::Unavailable(format!(
            "database_app_role `{role}` must be a lower-case identifier ([a-z_][a-z0-9_]*)"
        )))
    }
}

pub(crate) fn connect_options(url: &str, statement_timeout_ms: u64) -> Result<PgConnectOptions> {
    let options = PgConnectOptions::from_str(url)
        .map_err(|error| StorageError::Unavailable(format!("invalid database_url: {error}")))?;
    let options = options.application_name("unmogrowp");
    Ok(if statement_timeout_ms > 0 {
        options.options([("statement_timeout", statement_timeout_ms.to_string())])
    } else {
        options
    })
}

async fn pool(url: &str, options: &StoreOptions) -> Result<PgPool> {
    let connect = sqlx::ConnectOptions::log_slow_statements(
        connect_options(url, options.statement_timeout_ms)?,
        log::LevelFilter::Warn,
        Duration::from_millis(options.slow_statement_ms),
    );
    let set_role = match &options.app_role {
        Some(role) => Some(format!("SET ROLE \"{}\"", checked_role_name(role)?)),
        None => None,
    };
    Ok(PgPoolOptions::new()
        .max_connections(options.max_connections.max(1))
        .acquire_timeout(Duration::from_secs(5))
        .idle_timeout(Duration::from_secs(300))
        .after_connect(move |connection, _meta| {
            let set_role = set_role.clone();
            Box::pin(async move {
                if let Some(statement) = set_role {
                    sqlx::raw_sql(sqlx::AssertSqlSafe(statement)).execute(connection).await?;
                }
                Ok(())
            })
        })
        .connect_lazy_with(connect))
}

impl PgStore {
    pub(crate) async fn open(options: &StoreOptions) -> Result<Self> {
        let url = options.database_url.as_deref().unwrap_or_default();
        let primary = pool(url, options).await?;
        let replica = match options.replica_url.as_deref() {
            Some(replica_url) if !replica_url.is_empty() => Some(pool(replica_url, options).await?),
            _ => None,
        };
        let store = Self { primary, replica };
        store.ping_pools().await?;
        Ok(store)
    }

    pub(crate) async fn begin(
        &self,
        scope: Scope<'_>,
        mode: Mode,
    ) -> Result<Transaction<'static, Postgres>> {
        let pool = match (mode, &self.replica) {
            (Mode::Read, Some(replica)) => replica,
            _ => &self.primary,
        };
        let mut tx = pool.begin().await?;
        let (org, user, system) = match scope {
            Scope::Tenant(org) => (org.as_str(), "", "off"),
            Scope::User(user) => ("", user.as_str(), "off"),
            Scope::System => ("", "", "on"),
        };
        sqlx::query(
            "SELECT set_config('unmogrowp.org_id', $1, true),
                    set_config('unmogrowp.user_id', $2, true),
                    set_config('unmogrowp.system', $3, true)",
        )
        .bind(org)
        .bind(user)
        .bind(system)
        .execute(&mut *tx)
        .await?;
        Ok(tx)
    }

    fn lock_clause(&self) -> &'static str {
        " FOR UPDATE"
    }

    async fn ping_pools(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.primary).await?;
        if let Some(replica) = &self.replica {
            sqlx::query("SELECT 1").execute(replica).await?;
        }
        Ok(())
    }

    async fn close_pools(&self) {
        self.primary.close().await;
        if let Some(replica) = &self.replica {
            replica.close().await;
        }
    }
}

impl crate::queries::HasDb for PgStore {
    type Db = sqlx::Postgres;
}

crate::queries::implement_store_backend!(PgStore, Backend::Postgres);
