//! Data keys (wrapped) and the sealing of rows written before encryption.

/// A column sealed at rest, and how its rows are found: the table (every one has an `id`),
/// the column, and the column naming the row's organization (`None`: the platform's key).
pub(crate) type SealedColumn = (&'static str, &'static str, Option<&'static str>);

macro_rules! implement_keys {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::backend::KeysBackend for $store {
            async fn data_key(&self, scope: &str) -> $crate::Result<Option<(u32, String)>> {
                use $crate::backend::{Mode, Scope};
                let mut tx = self.begin(Scope::System, Mode::ReadFresh).await?;
                let row: Option<(i64, String)> =
                    sqlx::query_as("SELECT master_version, wrapped FROM data_keys WHERE scope = $1")
                        .bind(scope)
                        .fetch_optional(&mut *tx)
                        .await?;
                tx.commit().await?;
                row.map(|(version, wrapped)| {
                    u32::try_from(version)
                        .map(|version| (version, wrapped))
                        .map_err(|_| anyhow::anyhow!("data_keys.master_version {version} is out of range").into())
                })
                .transpose()
            }

            async fn insert_data_key(
                &self,
                scope: &str,
                org_id: Option<&unmogrowp_domain::OrgId>,
                master_version: u32,
                wrapped: &str,
            ) -> $crate::Result<bool> {
                use $crate::backend::{Mode, Scope};
                let now = unmogrowp_domain::time::now_millis();
                let mut tx = self.begin(Scope::System, Mode::Write).await?;
                // An organization's key is made only while the organization exists: a deleted
                // one's key is never made again.
                let done = sqlx::query(
                    "INSERT INTO data_keys (scope, org_id, master_version, wrapped, created_at)
                     SELECT CAST($1 AS TEXT), CAST($2 AS TEXT), CAST($3 AS BIGINT), CAST($4 AS TEXT), CAST($5 AS BIGINT)
                     WHERE CAST($2 AS TEXT) IS NULL OR EXISTS (SELECT 1 FROM organizations WHERE id = CAST($2 AS TEXT))
                     ON CONFLICT (scope) DO NOTHING",
                )
                .bind(scope)
                .bind(org_id.map(|org| org.as_str()))
                .bind(i64::from(master_version))
                .bind(wrapped)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(done.rows_affected() == 1)
            }

            async fn data_keys(&self) -> $crate::Result<Vec<(String, u32, String)>> {
                use $crate::backend::{Mode, Scope};
                let mut tx = self.begin(Scope::System, Mode::ReadFresh).await?;
                let rows: Vec<(String, i64, String)> = sqlx::query_as(
                    "SELECT scope, master_version, wrapped FROM data_keys ORDER BY scope",
                )
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                rows.into_iter()
                    .map(|(scope, version, wrapped)| {
                        u32::try_from(version).map(|version| (scope, version, wrapped)).map_err(|_| {
                            anyhow::anyhow!("data_keys.master_version {version} is out of range").into()
                        })
                    })
                    .collect()
            }

            async fn rewrap_data_key(
                &self,
                scope: &str,
                old_version: u32,
                new_version: u32,
                wrapped: &str,
            ) -> $crate::Result<bool> {
                use $crate::backend::{Mode, Scope};
                let now = unmogrowp_domain::time::now_millis();
                let mut tx = self.begin(Scope::System, Mode::Write).await?;
                let done = sqlx::query(
                    "UPDATE data_keys SET master_version = $1, wrapped = $2, rewrapped_at = $3
                     WHERE scope = $4 AND master_version = $5",
                )
                .bind(i64::from(new_version))
                .bind(wrapped)
                .bind(now)
                .bind(scope)
                .bind(i64::from(old_version))
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(done.rows_affected() == 1)
            }

            async fn delete_organization(&self, org_id: &unmogrowp_domain::OrgId) -> $crate::Result<()> {
                use $crate::backend::{Mode, Scope};
                let mut tx = self.begin(Scope::System, Mode::Write).await?;
                // The data key goes with the organization (ON DELETE CASCADE), deleted first
                // all the same so that no order of cascades can leave it.
                sqlx::query("DELETE FROM data_keys WHERE org_id = $1")
                    .bind(org_id.as_str())
                    .execute(&mut *tx)
                    .await?;
                let done = sqlx::query("DELETE FROM organizations WHERE id = $1")
                    .bind(org_id.as_str())
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() == 0 {
                    return Err($crate::StorageError::NotFound);
                }
                tx.commit().await?;
                Ok(())
            }

            async fn unsealed(
                &self,
                column: $crate::queries::keys::SealedColumn,
                limit: u32,
            ) -> $crate::Result<Vec<(String, Option<String>, String)>> {
                use $crate::backend::{Mode, Scope};
                let (table, field, org_column) = column;
                // Table and column names come from the fixed list in `vault.rs`, never from input.
                let org = org_column.unwrap_or("CAST(NULL AS TEXT)");
                let mut tx = self.begin(Scope::System, Mode::ReadFresh).await?;
                let rows: Vec<(String, Option<String>, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT id, {org}, {field} FROM {table}
                     WHERE {field} NOT LIKE 'ev1.%' AND {field} <> '' ORDER BY id LIMIT {limit}"
                )))
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(rows)
            }

            async fn seal_row(
                &self,
                column: $crate::queries::keys::SealedColumn,
                id: &str,
                plain: &str,
                sealed: &str,
            ) -> $crate::Result<()> {
                use $crate::backend::{Mode, Scope};
                let (table, field, _) = column;
                let mut tx = self.begin(Scope::System, Mode::Write).await?;
                // Table and column names come from the fixed list in `vault.rs`, never from input.
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "UPDATE {table} SET {field} = $1 WHERE id = $2 AND {field} = $3"
                )))
                    .bind(sealed)
                    .bind(id)
                    .bind(plain)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }
        }
    };
}

pub(crate) use implement_keys;
