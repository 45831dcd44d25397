//! Versioned migrations, embedded in the binary, one list per backend. Each migration runs in
//! its own transaction and is recorded with a checksum; a changed migration that was already
//! applied, or a database newer than this binary, stops start-up with a clear message.

use crate::store::{Backend, StoreOptions};
use crate::{Result, StorageError, postgres, sqlite};
use sha2::{Digest, Sha256};
use sqlx::Connection;

/// One schema migration, embedded in the binary.
pub struct Migration {
    /// Its place in the sequence (1, 2, …); recorded in the `schema_migrations` table once applied.
    pub version: i64,
    /// Short name, also the end of its file name (e.g. `accounts`).
    pub name: &'static str,
    /// The SQL text, run as one batch. Its SHA-256 is recorded with the version, so a later edit of
    /// an applied migration is detected.
    pub sql: &'static str,
}

/// `(version, file prefix, name)`; the file is `migrations/<backend>/<NNNN>_<name>.sql`.
macro_rules! migrations {
    ($dir:literal: $(($version:literal, $file:literal, $name:literal)),* $(,)?) => {
        &[$(Migration {
            version: $version,
            name: $name,
            sql: include_str!(concat!("../migrations/", $dir, "/", $file, "_", $name, ".sql")),
        }),*]
    };
}

const SQLITE: &[Migration] = migrations!("sqlite":
    (1, "0001", "accounts"),
    (2, "0002", "sessions_apps_audit"),
    (3, "0003", "links"),
    (4, "0004", "blocked_ips"),
    (5, "0005", "postbacks"),
    (6, "0006", "erasures"),
    (7, "0007", "key_names"),
    (8, "0008", "annotations"),
    (9, "0009", "delivery_trace"),
    (10, "0010", "api_tokens"),
    (11, "0011", "link_deep_links"),
    (12, "0012", "data_keys"),
    (13, "0013", "skadnetwork"),
);
const POSTGRES: &[Migration] = migrations!("postgres":
    (1, "0001", "accounts"),
    (2, "0002", "sessions_apps_audit"),
    (3, "0003", "links"),
    (4, "0004", "blocked_ips"),
    (5, "0005", "postbacks"),
    (6, "0006", "erasures"),
    (7, "0007", "key_names"),
    (8, "0008", "annotations"),
    (9, "0009", "delivery_trace"),
    (10, "0010", "api_tokens"),
    (11, "0011", "link_deep_links"),
    (12, "0012", "data_keys"),
    (13, "0013", "skadnetwork"),
);

/// The migrations this binary carries for `backend`, in increasing version order. Both backends
/// have the same versions and names; only the SQL differs.
pub fn migrations_for(backend: Backend) -> &'static [Migration] {
    match backend {
        Backend::Sqlite => SQLITE,
        Backend::Postgres => POSTGRES,
    }
}

/// What a migration run did, as returned by [`Store::migrate`](crate::Store::migrate).
#[derive(Debug, Default)]
pub struct MigrationReport {
    /// The backend that was migrated; `None` only in a default value no run has filled in.
    pub backend: Option<Backend>,
    /// `(version, name)` of each migration applied by this run.
    pub applied: Vec<(i64, &'static str)>,
    /// The schema version the database is at after the run: the newest version this binary knows (0
    /// if it carries none).
    pub current_version: i64,
}

fn checksum(sql: &str) -> String {
    hex::encode(Sha256::digest(sql.as_bytes()))
}

const CREATE_LEDGER: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version     BIGINT PRIMARY KEY,
    name        TEXT NOT NULL,
    checksum    TEXT NOT NULL,
    applied_at  BIGINT NOT NULL
)";

/// What is recorded as applied, checked against what this binary carries.
fn plan(
    migrations: &'static [Migration],
    applied: &[(i64, String)],
) -> Result<Vec<&'static Migration>> {
    let known_max = migrations.last().map_or(0, |m| m.version);
    for (version, recorded_checksum) in applied {
        if *version > known_max {
            return Err(StorageError::Migration(format!(
                "the database is at schema version {version}, newer than this binary knows \
                 ({known_max}); run a newer unmogrowp"
            )));
        }
        if let Some(migration) = migrations.iter().find(|m| m.version == *version)
            && checksum(migration.sql) != *recorded_checksum
        {
            return Err(StorageError::Migration(format!(
                "migration {version} ({}) was changed after it was applied",
                migration.name
            )));
        }
    }
    Ok(migrations.iter().filter(|m| !applied.iter().any(|(v, _)| *v == m.version)).collect())
}

pub(crate) async fn run(options: &StoreOptions) -> Result<MigrationReport> {
    match options.backend()? {
        Backend::Sqlite => run_sqlite(options).await,
        Backend::Postgres => run_postgres(options).await,
    }
}

fn failed(step: &str) -> impl Fn(sqlx::Error) -> StorageError + '_ {
    move |error| StorageError::Migration(format!("{step}: {error}"))
}

async fn run_sqlite(options: &StoreOptions) -> Result<MigrationReport> {
    let connect = sqlite::connect_options(&options.data_dir)?;
    let mut connection = sqlx::SqliteConnection::connect_with(&connect)
        .await
        .map_err(|error| StorageError::Unavailable(error.to_string()))?;
    sqlx::raw_sql(CREATE_LEDGER).execute(&mut connection).await.map_err(failed("ledger"))?;
    // BEGIN IMMEDIATE takes the write lock first, so two processes migrating at once queue.
    sqlx::raw_sql("BEGIN IMMEDIATE").execute(&mut connection).await.map_err(failed("lock"))?;
    let outcome = apply_all_sqlite(&mut connection).await;
    let end = if outcome.is_ok() { "COMMIT" } else { "ROLLBACK" };
    sqlx::raw_sql(end).execute(&mut connection).await.map_err(failed("commit"))?;
    let _ = connection.close().await;
    let mut report = outcome?;
    report.backend = Some(Backend::Sqlite);
    Ok(report)
}

async fn apply_all_sqlite(connection: &mut sqlx::SqliteConnection) -> Result<MigrationReport> {
    let applied: Vec<(i64, String)> =
        sqlx::query_as("SELECT version, checksum FROM schema_migrations ORDER BY version")
            .fetch_all(&mut *connection)
            .await
            .map_err(failed("read ledger"))?;
    let pending = plan(SQLITE, &applied)?;
    let mut report = MigrationReport::default();
    for migration in pending {
        sqlx::raw_sql(migration.sql)
            .execute(&mut *connection)
            .await
            .map_err(|error| apply_error(migration, &error))?;
        record(&mut *connection, migration).await?;
        report.applied.push((migration.version, migration.name));
    }
    report.current_version = SQLITE.last().map_or(0, |m| m.version);
    Ok(report)
}

fn apply_error(migration: &Migration, error: &sqlx::Error) -> StorageError {
    StorageError::Migration(format!(
        "migration {} ({}): {error}",
        migration.version, migration.name
    ))
}

async fn record<'c, E>(executor: E, migration: &Migration) -> Result<()>
where
    E: sqlx::Executor<'c>,
    for<'q> i64: sqlx::Encode<'q, E::Database> + sqlx::Type<E::Database>,
    for<'q> &'q str: sqlx::Encode<'q, E::Database> + sqlx::Type<E::Database>,
    for<'q> String: sqlx::Encode<'q, E::Database> + sqlx::Type<E::Database>,
    for<'q> <E::Database as sqlx::Database>::Arguments: sqlx::IntoArguments<E::Database>,
{
    sqlx::query(
        "INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(migration.version)
    .bind(migration.name)
    .bind(checksum(migration.sql))
    .bind(unmogrowp_domain::time::now_millis())
    .execute(executor)
    .await
    .map_err(failed("record"))?;
    Ok(())
}

/// Arbitrary but fixed key for the advisory lock that serialises concurrent migrators.
const MIGRATION_LOCK_KEY: i64 = 0x756e_6d6f_6772_6f77;

async fn run_postgres(options: &StoreOptions) -> Result<MigrationReport> {
    let url = options.database_url.as_deref().unwrap_or_default();
    let connect = postgres::connect_options(url, 0)?;
    let mut connection = sqlx::PgConnection::connect_with(&connect)
        .await
        .map_err(|error| StorageError::Unavailable(error.to_string()))?;
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(MIGRATION_LOCK_KEY)
        .execute(&mut connection)
        .await
        .map_err(failed("lock"))?;
    let outcome = apply_all_postgres(&mut connection, options).await;
    let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(MIGRATION_LOCK_KEY)
        .execute(&mut connection)
        .await;
    let _ = connection.close().await;
    let mut report = outcome?;
    report.backend = Some(Backend::Postgres);
    Ok(report)
}

async fn apply_all_postgres(
    connection: &mut sqlx::PgConnection,
    options: &StoreOptions,
) -> Result<MigrationReport> {
    sqlx::raw_sql(CREATE_LEDGER).execute(&mut *connection).await.map_err(failed("ledger"))?;
    let applied: Vec<(i64, String)> =
        sqlx::query_as("SELECT version, checksum FROM schema_migrations ORDER BY version")
            .fetch_all(&mut *connection)
            .await
            .map_err(failed("read ledger"))?;
    let pending = plan(POSTGRES, &applied)?;
    let mut report = MigrationReport::default();
    for migration in pending {
        let mut tx = connection.begin().await.map_err(failed("begin"))?;
        sqlx::raw_sql(migration.sql)
            .execute(&mut *tx)
            .await
            .map_err(|error| apply_error(migration, &error))?;
        record(&mut *tx, migration).await?;
        tx.commit().await.map_err(failed("commit"))?;
        report.applied.push((migration.version, migration.name));
    }
    if let Some(role) = &options.app_role {
        grant_app_role(connection, postgres::checked_role_name(role)?).await?;
    }
    report.current_version = POSTGRES.last().map_or(0, |m| m.version);
    Ok(report)
}

/// Creates the application role if needed and gives it data access (not ownership) to every
/// table, so that row-level security applies to it.
async fn grant_app_role(connection: &mut sqlx::PgConnection, role: &str) -> Result<()> {
    let create = format!(
        "DO $$ BEGIN
            IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN
                CREATE ROLE \"{role}\" NOLOGIN NOBYPASSRLS;
            END IF;
         EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
         END $$"
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(create))
        .execute(&mut *connection)
        .await
        .map_err(failed("create app role"))?;
    let grants = format!(
        "GRANT USAGE ON SCHEMA public TO \"{role}\";
         GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO \"{role}\";
         GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO \"{role}\";
         REVOKE INSERT, UPDATE, DELETE ON schema_migrations FROM \"{role}\";"
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(grants))
        .execute(&mut *connection)
        .await
        .map_err(failed("grant app role"))?;
    let (is_superuser, is_member): (bool, bool) = sqlx::query_as(
        "SELECT r.rolsuper, pg_has_role(current_user, $1, 'MEMBER')
         FROM pg_roles r WHERE r.rolname = current_user",
    )
    .bind(role)
    .fetch_one(&mut *connection)
    .await
    .map_err(failed("inspect login role"))?;
    if !is_superuser && !is_member {
        let grant = format!("GRANT \"{role}\" TO CURRENT_USER");
        sqlx::raw_sql(sqlx::AssertSqlSafe(grant)).execute(&mut *connection).await.map_err(
            |error| {
                StorageError::Migration(format!(
                    "the login role cannot switch to `{role}` ({error}); grant it with \
                 `GRANT {role} TO <login role>` or set database_app_role = \"\""
                ))
            },
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_increasing_and_match_between_backends() {
        for list in [SQLITE, POSTGRES] {
            assert!(list.windows(2).all(|w| w[0].version < w[1].version));
        }
        let sqlite: Vec<_> = SQLITE.iter().map(|m| (m.version, m.name)).collect();
        let postgres: Vec<_> = POSTGRES.iter().map(|m| (m.version, m.name)).collect();
        assert_eq!(sqlite, postgres);
    }

    #[test]
    fn a_changed_migration_is_refused() {
        let applied = vec![(1, "not the checksum".to_owned())];
        let error = plan(SQLITE, &applied).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(error.contains("changed after it was applied"), "{error}");
    }

    #[test]
    fn a_newer_database_is_refused() {
        let applied = vec![(9999, String::new())];
        let error = plan(SQLITE, &applied).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(error.contains("newer than this binary"), "{error}");
    }

    #[test]
    fn nothing_pending_once_everything_is_applied() {
        let applied: Vec<_> = SQLITE.iter().map(|m| (m.version, checksum(m.sql))).collect();
        assert!(plan(SQLITE, &applied).map(|p| p.is_empty()).unwrap_or(false));
    }
}
