//! SQLite in the data dir: one writer connection (SQLite serialises writers anyway, and a
//! single writer never meets `SQLITE_BUSY`) and a pool of readers, all in WAL mode.

use crate::backend::{Mode, Scope};
use crate::store::{Backend, StoreOptions};
use crate::{Result, StorageError};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};
use std::path::Path;
use std::time::Duration;

pub(crate) struct SqliteStore {
    writer: SqlitePool,
    readers: SqlitePool,
}

pub(crate) fn database_path(data_dir: &Path) -> std::path::PathBuf {
    data_dir.join("unmogrowp.db")
}

pub(crate) fn connect_options(data_dir: &Path) -> Result<SqliteConnectOptions> {
    std::fs::create_dir_all(data_dir).map_err(|error| {
        StorageError::Unavailable(format!("cannot create data dir {}: {error}", data_dir.display()))
    })?;
    Ok(SqliteConnectOptions::new()
        .filename(database_path(data_dir))
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(5)))
}

impl SqliteStore {
    pub(crate) async fn open(options: &StoreOptions) -> Result<Self> {
        let slow = Duration::from_millis(options.slow_statement_ms);
        let connect = sqlx::ConnectOptions::log_slow_statements(
            connect_options(&options.data_dir)?,
            log::LevelFilter::Warn,
            slow,
        );
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(connect.clone())
            .await
            .map_err(|error| StorageError::Unavailable(error.to_string()))?;
        let readers = SqlitePoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(connect.pragma("query_only", "1"))
            .await
            .map_err(|error| StorageError::Unavailable(error.to_string()))?;
        Ok(Self { writer, readers })
    }

    pub(crate) async fn begin(
        &self,
        _scope: Scope<'_>,
        mode: Mode,
    ) -> Result<Transaction<'static, Sqlite>> {
        let pool = match mode {
            Mode::Read | Mode::ReadFresh => &self.readers,
            Mode::Write => &self.writer,
        };
        Ok(pool.begin().await?)
    }

    fn lock_clause(&self) -> &'static str {
        ""
    }

    async fn ping_pools(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.writer).await?;
        Ok(())
    }

    async fn close_pools(&self) {
        self.readers.close().await;
        self.writer.close().await;
    }
}

impl crate::queries::HasDb for SqliteStore {
    type Db = sqlx::Sqlite;
}

crate::queries::implement_store_backend!(SqliteStore, Backend::Sqlite);
