//! Row-level security: the second wall between tenants on PostgreSQL.

use crate::new_user;
use sqlx::Connection;
use unmogrowp_testkit::TempDatabase;

/// A connection as the application role with no organization set sees no tenant rows, even
/// though the rows exist (the superuser sees them).
#[tokio::test]
async fn a_query_without_an_organization_returns_no_tenant_rows() {
    let database = TempDatabase::create().await;
    let data_dir = tempfile::tempdir().unwrap();
    let options = unmogrowp_storage::StoreOptions {
        database_url: Some(database.url.clone()),
        ..unmogrowp_storage::StoreOptions::embedded(data_dir.path())
    };
    let store = unmogrowp_storage::Store::open(&options).await.unwrap();
    store.accounts().register_owner(new_user("rls@example.com"), "Walled").await.unwrap();

    let mut superuser = database.superuser_connection().await;
    let (organizations,): (i64,) = sqlx::query_as("SELECT count(*) FROM organizations")
        .fetch_one(&mut superuser)
        .await
        .unwrap();
    assert_eq!(organizations, 1, "the row exists");

    let mut app = sqlx::PgConnection::connect(&database.url).await.unwrap();
    sqlx::raw_sql("SET ROLE unmogrowp_app").execute(&mut app).await.unwrap();
    for table in ["organizations", "memberships"] {
        let (visible,): (i64,) =
            sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
                .fetch_one(&mut app)
                .await
                .unwrap();
        assert_eq!(visible, 0, "{table} rows visible without an organization");
    }
    // Setting another organization does not reveal them either.
    sqlx::query("SELECT set_config('unmogrowp.org_id', $1, false)")
        .bind(uuid_like())
        .execute(&mut app)
        .await
        .unwrap();
    let (visible,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM organizations").fetch_one(&mut app).await.unwrap();
    assert_eq!(visible, 0);
    // And the application role cannot switch the wall off.
    let disabled = sqlx::raw_sql("ALTER TABLE organizations DISABLE ROW LEVEL SECURITY")
        .execute(&mut app)
        .await;
    assert!(disabled.is_err());

    let _ = app.close().await;
    let _ = superuser.close().await;
    store.close().await;
    database.drop_database().await;
}

fn uuid_like() -> String {
    unmogrowp_domain::OrgId::generate().into_string()
}
