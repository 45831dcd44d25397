//! One throw-away database per test on the PostgreSQL server named by `TEST_POSTGRES_URL`.

use sqlx::Connection;

/// The environment variable holding the test server's superuser URL
/// (`postgres://USER@HOST:PORT/DB`); `make test` sets it.
pub const ENV: &str = "TEST_POSTGRES_URL";

/// The superuser URL of the test server. Panics with instructions when it is not set.
pub fn admin_url() -> String {
    match std::env::var(ENV) {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "{ENV} is not set: PostgreSQL tests need a server. Run them with `make test`, \
             which starts a private one, or set {ENV}=postgres://postgres@127.0.0.1:PORT/postgres"
        ),
    }
}

/// A database made for one test on the server named by [`ENV`], with a random name.
///
/// Not dropped automatically: call [`TempDatabase::drop_database`] when the test ends
/// ([`crate::TestApp::stop`] does it for the app's database).
pub struct TempDatabase {
    /// The database's connection URL: the superuser URL with this database as its path.
    pub url: String,
    /// The database's name, `umg_test_<uuid without dashes>`.
    pub name: String,
    admin_url: String,
}

impl TempDatabase {
    /// Creates a new, empty database on the test server. Panics when [`ENV`] is not set,
    /// the server cannot be reached, or `CREATE DATABASE` fails.
    pub async fn create() -> Self {
        let admin_url = admin_url();
        let name = format!("umg_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = sqlx::PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|error| panic!("cannot reach {ENV} ({admin_url}): {error}"));
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut admin)
            .await
            .unwrap();
        let _ = admin.close().await;
        let mut url = url::Url::parse(&admin_url).unwrap();
        url.set_path(&name);
        Self { url: url.to_string(), name, admin_url }
    }

    /// Drops the database (closing any connection still open to it).
    pub async fn drop_database(self) {
        if let Ok(mut admin) = sqlx::PgConnection::connect(&self.admin_url).await {
            let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                self.name
            )))
            .execute(&mut admin)
            .await;
            let _ = admin.close().await;
        }
    }

    /// A superuser connection to this database (bypasses row-level security).
    pub async fn superuser_connection(&self) -> sqlx::PgConnection {
        sqlx::PgConnection::connect(&self.url).await.unwrap()
    }
}
