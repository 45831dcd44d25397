//! One throw-away database per test on the PostgreSQL server named by `TEST_POSTGRES_URL`.

use sqlx::Connection;

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

pub struct TempDatabase {
    pub url: String,
    pub name: String,
    admin_url: String,
}

impl TempDatabase {
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
