//! An organization's API tokens.

/// The columns of an API token, in [`ApiTokenRow`]'s order.
pub(crate) const API_TOKEN_COLUMNS: &str = "id, org_id, name, role, prefix, token_hash, created_by, created_at, expires_at, last_used_at, revoked_at";

#[derive(sqlx::FromRow)]
pub(crate) struct ApiTokenRow {
    pub id: String,
    pub org_id: String,
    pub name: String,
    pub role: String,
    pub prefix: String,
    pub token_hash: String,
    pub created_by: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

impl TryFrom<ApiTokenRow> for crate::ApiToken {
    type Error = crate::StorageError;

    fn try_from(row: ApiTokenRow) -> Result<Self, Self::Error> {
        let role: unmogrowp_domain::Role = row.role.parse().map_err(|_| {
            crate::StorageError::Unexpected(anyhow::anyhow!(
                "api token {} has an unknown role {:?}",
                row.id,
                row.role
            ))
        })?;
        Ok(crate::ApiToken {
            id: unmogrowp_domain::ApiTokenId::from_stored(row.id),
            org_id: unmogrowp_domain::OrgId::from_stored(row.org_id),
            name: row.name,
            role,
            prefix: row.prefix,
            token_hash: row.token_hash,
            created_by: unmogrowp_domain::UserId::from_stored(row.created_by),
            created_at: row.created_at,
            expires_at: row.expires_at,
            last_used_at: row.last_used_at,
            revoked_at: row.revoked_at,
        })
    }
}

macro_rules! implement_api_tokens {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::backend::ApiTokensBackend for $store {
            async fn create_api_token(
                &self,
                org_id: &unmogrowp_domain::OrgId,
                token: &$crate::NewApiToken,
                created_by: &unmogrowp_domain::UserId,
            ) -> $crate::Result<$crate::ApiToken> {
                use $crate::backend::{Mode, Scope};
                let record = $crate::ApiToken {
                    id: unmogrowp_domain::ApiTokenId::generate(),
                    org_id: org_id.clone(),
                    name: token.name.clone(),
                    role: token.role,
                    prefix: token.prefix.clone(),
                    token_hash: token.token_hash.clone(),
                    created_by: created_by.clone(),
                    created_at: unmogrowp_domain::time::now_millis(),
                    expires_at: token.expires_at,
                    last_used_at: None,
                    revoked_at: None,
                };
                let mut tx = self.begin(Scope::Tenant(org_id), Mode::Write).await?;
                sqlx::query(
                    "INSERT INTO api_tokens (id, org_id, name, role, prefix, token_hash, created_by, created_at, expires_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(record.id.as_str())
                .bind(org_id.as_str())
                .bind(&record.name)
                .bind(record.role.as_str())
                .bind(&record.prefix)
                .bind(&record.token_hash)
                .bind(created_by.as_str())
                .bind(record.created_at)
                .bind(record.expires_at)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(record)
            }

            async fn api_tokens(
                &self,
                org_id: &unmogrowp_domain::OrgId,
            ) -> $crate::Result<Vec<$crate::ApiToken>> {
                use $crate::backend::{Mode, Scope};
                let mut tx = self.begin(Scope::Tenant(org_id), Mode::Read).await?;
                let sql = format!(
                    "SELECT {} FROM api_tokens WHERE org_id = $1 ORDER BY created_at, id",
                    $crate::queries::API_TOKEN_COLUMNS
                );
                let rows: Vec<$crate::queries::ApiTokenRow> =
                    sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(org_id.as_str()).fetch_all(&mut *tx).await?;
                tx.commit().await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            async fn revoke_api_token(
                &self,
                org_id: &unmogrowp_domain::OrgId,
                id: &unmogrowp_domain::ApiTokenId,
            ) -> $crate::Result<$crate::ApiToken> {
                use $crate::backend::{Mode, Scope};
                let mut tx = self.begin(Scope::Tenant(org_id), Mode::Write).await?;
                sqlx::query(
                    "UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, $1) WHERE org_id = $2 AND id = $3",
                )
                .bind(unmogrowp_domain::time::now_millis())
                .bind(org_id.as_str())
                .bind(id.as_str())
                .execute(&mut *tx)
                .await?;
                let sql = format!(
                    "SELECT {} FROM api_tokens WHERE org_id = $1 AND id = $2",
                    $crate::queries::API_TOKEN_COLUMNS
                );
                let row: Option<$crate::queries::ApiTokenRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(org_id.as_str())
                    .bind(id.as_str())
                    .fetch_optional(&mut *tx)
                    .await?;
                tx.commit().await?;
                row.ok_or($crate::error::StorageError::NotFound)?.try_into()
            }

            async fn api_token_by_hash(
                &self,
                token_hash: &str,
            ) -> $crate::Result<Option<$crate::ApiToken>> {
                use $crate::backend::{Mode, Scope};
                let mut tx = self.begin(Scope::System, Mode::ReadFresh).await?;
                let sql = format!(
                    "SELECT {} FROM api_tokens WHERE token_hash = $1",
                    $crate::queries::API_TOKEN_COLUMNS
                );
                let row: Option<$crate::queries::ApiTokenRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(token_hash)
                    .fetch_optional(&mut *tx)
                    .await?;
                tx.commit().await?;
                row.map(TryInto::try_into).transpose()
            }

            async fn touch_api_token(
                &self,
                id: &unmogrowp_domain::ApiTokenId,
                at: unmogrowp_domain::time::UnixMillis,
            ) -> $crate::Result<()> {
                use $crate::backend::{Mode, Scope};
                let mut tx = self.begin(Scope::System, Mode::Write).await?;
                sqlx::query(
                    "UPDATE api_tokens SET last_used_at = $1 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $1)",
                )
                .bind(at)
                .bind(id.as_str())
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }
        }
    };
}

pub(crate) use implement_api_tokens;
