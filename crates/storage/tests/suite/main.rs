//! The repository test suite, run against every backend: each case below is stamped out once
//! for SQLite and once for PostgreSQL (a throw-away database per test).

#![allow(clippy::unwrap_used)]

use unmogrowp_storage::{NewUser, Store, StoreOptions};
use unmogrowp_testkit::TempDatabase;

pub struct Harness {
    pub store: Store,
    pub options: StoreOptions,
    _data_dir: tempfile::TempDir,
    database: Option<TempDatabase>,
}

impl Harness {
    pub async fn sqlite() -> Self {
        let data_dir = tempfile::tempdir().unwrap();
        let options = StoreOptions::embedded(data_dir.path());
        let store = Store::open(&options).await.unwrap();
        Self { store, options, _data_dir: data_dir, database: None }
    }

    pub async fn postgres() -> Self {
        let data_dir = tempfile::tempdir().unwrap();
        let database = TempDatabase::create().await;
        let options = StoreOptions {
            database_url: Some(database.url.clone()),
            ..StoreOptions::embedded(data_dir.path())
        };
        let store = Store::open(&options).await.unwrap();
        Self { store, options, _data_dir: data_dir, database: Some(database) }
    }

    /// A connection straight to the database, past the store and its sealing (on PostgreSQL
    /// with row-level security lifted).
    async fn raw_connection(&self) -> RawConnection {
        use sqlx::Connection;
        match &self.database {
            Some(database) => {
                let mut connection = sqlx::PgConnection::connect(&database.url).await.unwrap();
                sqlx::query("SELECT set_config('unmogrowp.system', 'on', false)")
                    .execute(&mut connection)
                    .await
                    .unwrap();
                RawConnection::Postgres(connection)
            }
            None => {
                let path = self.options.data_dir.join("unmogrowp.db");
                let url = format!("sqlite://{}", path.display());
                RawConnection::Sqlite(sqlx::SqliteConnection::connect(&url).await.unwrap())
            }
        }
    }

    /// The first text column of every row `sql` returns, read straight from the database.
    pub async fn raw_texts(&self, sql: &str) -> Vec<Option<String>> {
        use sqlx::Connection;
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        let rows: Vec<(Option<String>,)> = match self.raw_connection().await {
            RawConnection::Postgres(mut connection) => {
                let rows = sqlx::query_as(sql).fetch_all(&mut connection).await.unwrap();
                connection.close().await.unwrap();
                rows
            }
            RawConnection::Sqlite(mut connection) => {
                let rows = sqlx::query_as(sql).fetch_all(&mut connection).await.unwrap();
                connection.close().await.unwrap();
                rows
            }
        };
        rows.into_iter().map(|(text,)| text).collect()
    }

    /// Runs a statement straight on the database.
    pub async fn raw_execute(&self, sql: &str) {
        use sqlx::Connection;
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        match self.raw_connection().await {
            RawConnection::Postgres(mut connection) => {
                sqlx::query(sql).execute(&mut connection).await.unwrap();
                connection.close().await.unwrap();
            }
            RawConnection::Sqlite(mut connection) => {
                sqlx::query(sql).execute(&mut connection).await.unwrap();
                connection.close().await.unwrap();
            }
        }
    }

    pub async fn finish(self) {
        self.store.close().await;
        if let Some(database) = self.database {
            database.drop_database().await;
        }
    }
}

enum RawConnection {
    Postgres(sqlx::PgConnection),
    Sqlite(sqlx::SqliteConnection),
}

pub fn new_user(email: &str) -> NewUser {
    NewUser {
        email: email.to_owned(),
        name: "Test User".to_owned(),
        password_hash: "$argon2id$not-a-real-hash".to_owned(),
    }
}

macro_rules! suite {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $case() {
                    let harness = crate::Harness::sqlite().await;
                    crate::cases::$case(&harness).await;
                    harness.finish().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $case() {
                    let harness = crate::Harness::postgres().await;
                    crate::cases::$case(&harness).await;
                    harness.finish().await;
                }
            )*
        }
    };
}

mod cases;
mod sealing;

suite!(
    registering_creates_user_organization_and_owner_membership,
    a_second_account_with_the_same_email_conflicts,
    credentials_are_found_by_email_only,
    memberships_are_per_user,
    a_tenant_handle_sees_only_its_own_members,
    migrations_are_idempotent,
    sessions_and_refresh_tokens,
    one_time_tokens_work_once_and_expire,
    invitations_are_accepted_once_and_not_after_expiry,
    the_last_owner_stays,
    apps_and_keys_belong_to_their_organization,
    the_audit_log_is_per_organization_newest_first,
    personal_columns_are_sealed_at_rest_and_read_back_plain,
    deleting_an_organization_destroys_its_data_key,
    rotation_rewraps_data_keys_under_the_new_master_version,
    rows_written_before_encryption_are_sealed_on_open,
);

mod postgres_only;
