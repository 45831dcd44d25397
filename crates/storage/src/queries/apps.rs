//! Apps and their server-to-server keys.

macro_rules! implement_apps {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::backend::AppsBackend for $store {
            async fn create_app(
                &self,
                org_id: &unmogrowp_domain::OrgId,
                app: $crate::model::NewApp,
            ) -> $crate::Result<$crate::model::App> {
                use $crate::backend::{Mode, Scope};
                use $crate::error::StorageError;
                let now = unmogrowp_domain::time::now_millis();
                let record = $crate::model::App {
                    id: unmogrowp_domain::AppId::generate(),
                    org_id: org_id.clone(),
                    name: app.name,
                    platform: app.platform,
                    bundle_id: app.bundle_id,
                    store_url: app.store_url,
                    app_token: app.app_token,
                    attribution: app.attribution,
                    time_zone: app.time_zone,
                    currency: app.currency,
                    created_at: now,
                    updated_at: now,
                };
                let attribution = serde_json::to_string(&record.attribution)
                    .map_err(|error| StorageError::Unexpected(error.into()))?;
                let mut tx = self.begin(Scope::Tenant(org_id), Mode::Write).await?;
                sqlx::query(
                    "INSERT INTO apps (id, org_id, name, platform, bundle_id, store_url, app_token, attribution,
                                       time_zone, currency, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)",
                )
                .bind(record.id.as_str())
                .bind(org_id.as_str())
                .bind(&record.name)
                .bind(record.platform.as_str())
                .bind(&record.bundle_id)
                .bind(&record.store_url)
                .bind(&record.app_token)
                .bind(&attribution)
                .bind(&record.time_zone)
                .bind(&record.currency)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(|error| StorageError::from_sqlx(error, "app token"))?;
                tx.commit().await?;
                Ok(record)
            }

            async fn apps(&self, org_id: &unmogrowp_domain::OrgId) -> $crate::Result<Vec<$crate::model::App>> {
                use $crate::backend::{Mode, Scope};
                let mut tx = self.begin(Scope::Tenant(org_id), Mode::Read).await?;
                let sql = format!("SELECT {} FROM apps WHERE org_id = $1 ORDER BY created_at, id", $crate::queries::APP_COLUMNS);
                let rows: Vec<$crate::queries::AppRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(org_id.as_str())
                    .fetch_all(&mut *tx)
                    .await?;
                tx.commit().await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            async fn app(
                &self,
                org_id: &unmogrowp_domain::OrgId,
                app_id: &unmogrowp_domain::AppId,
            ) -> $crate::Result<Option<$crate::model::App>> {
                use $crate::backend::{Mode, Scope};
                let mut tx = self.begin(Scope::Tenant(org_id), Mode::ReadFresh).await?;
                let sql = format!("SELECT {} FROM apps WHERE org_id = $1 AND id = $2", $crate::queries::APP_COLUMNS);
                let row: Option<$crate::queries::AppRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(org_id.as_str())
                    .bind(app_id.as_str())
                    .fetch_optional(&mut *tx)
                    .await?;
                tx.commit().await?;
                row.map(TryInto::try_into).transpose()
            }

            async fn update_app(
                &self,
                org_id: &unmogrowp_domain::OrgId,
                app_id: &unmogrowp_domain::AppId,
                patch: $crate::model::AppPatch,
            ) -> $crate::Result<$crate::model::App> {
                use $crate::backend::{Mode, Scope};
                use $crate::error::StorageError;
                let attribution = patch
                    .attribution
                    .map(|settings| serde_json::to_string(&settings))
                    .transpose()
                    .map_err(|error| StorageError::Unexpected(error.into()))?;
                let mut tx = self.begin(Scope::Tenant(org_id), Mode::Write).await?;
                let done = sqlx::query(
                    "UPDATE apps SET
                        name = COALESCE($1, name),
                        store_url = COALESCE($2, store_url),
                        attribution = COALESCE($3, attribution),
                        time_zone = COALESCE($4, time_zone),
                        currency = COALESCE($5, currency),
                        updated_at = $6
                     WHERE org_id = $7 AND id = $8",
                )
                .bind(patch.name.as_deref())
                .bind(patch.store_url.as_deref())
                .bind(attribution.as_deref())
                .bind(patch.time_zone.as_deref())
                .bind(patch.currency.as_deref())
                .bind(unmogrowp_domain::time::now_millis())
                .bind(org_id.as_str())
                .bind(app_id.as_str())
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() == 0 {
                    return Err(StorageError::NotFound);
                }
                let sql = format!("SELECT {} FROM apps WHERE org_id = $1 AND id = $2", $crate::queries::APP_COLUMNS);
                let row: $crate::queries::AppRow = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(org_id.as_str())
                    .bind(app_id.as_str())
                    .fetch_one(&mut *tx)
                    .await?;
                tx.commit().await?;
                row.try_into()
            }

            async fn delete_app(&self, org_id: &unmogrowp_domain::OrgId, app_id: &unmogrowp_domain::AppId) -> $crate::Result<()> {
                use $crate::backend::{Mode, Scope};
                let mut tx = self.begin(Scope::Tenant(org_id), Mode::Write).await?;
                let done = sqlx::query("DELETE FROM apps WHERE org_id = $1 AND id = $2")
                    .bind(org_id.as_str())
                    .bind(app_id.as_str())
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                if done.rows_affected() == 0 {
                    return Err($crate::error::StorageError::NotFound);
                }
                Ok(())
            }

            async fn create_key(
                &self,
                org_id: &unmogrowp_domain::OrgId,
                app_id: &unmogrowp_domain::AppId,
                nonce: &str,
                created_by: &unmogrowp_domain::UserId,
            ) -> $crate::Result<$crate::model::AppKey> {
                use $crate::backend::{Mode, Scope};
                use $crate::error::StorageError;
                let record = $crate::model::AppKey {
                    id: unmogrowp_domain::KeyId::generate(),
                    org_id: org_id.clone(),
                    app_id: app_id.clone(),
                    nonce: nonce.to_owned(),
                    created_at: unmogrowp_domain::time::now_millis(),
                    created_by: Some(created_by.clone()),
                    revoked_at: None,
                };
                let mut tx = self.begin(Scope::Tenant(org_id), Mode::Write).await?;
                let exists: Option<(String,)> = sqlx::query_as("SELECT id FROM apps WHERE org_id = $1 AND id = $2")
                    .bind(org_id.as_str())
                    .bind(app_id.as_str())
                    .fetch_optional(&mut *tx)
                    .await?;
                if exists.is_none() {
                    return Err(StorageError::NotFound);
                }
                sqlx::query(
                    "INSERT INTO app_keys (id, org_id, app_id, nonce, created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(record.id.as_str())
                .bind(org_id.as_str())
                .bind(app_id.as_str())
                .bind(&record.nonce)
                .bind(record.created_at)
                .bind(created_by.as_str())
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(record)
            }

            async fn keys(
                &self,
                org_id: &unmogrowp_domain::OrgId,
                app_id: &unmogrowp_domain::AppId,
            ) -> $crate::Result<Vec<$crate::model::AppKey>> {
                use $crate::backend::{Mode, Scope};
                let mut tx = self.begin(Scope::Tenant(org_id), Mode::Read).await?;
                let rows: Vec<$crate::queries::KeyRow> = sqlx::query_as(
                    "SELECT id, org_id, app_id, nonce, created_at, created_by, revoked_at
                     FROM app_keys WHERE org_id = $1 AND app_id = $2 ORDER BY created_at, id",
                )
                .bind(org_id.as_str())
                .bind(app_id.as_str())
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn revoke_key(
                &self,
                org_id: &unmogrowp_domain::OrgId,
                app_id: &unmogrowp_domain::AppId,
                key_id: &unmogrowp_domain::KeyId,
            ) -> $crate::Result<()> {
                use $crate::backend::{Mode, Scope};
                let mut tx = self.begin(Scope::Tenant(org_id), Mode::Write).await?;
                let done = sqlx::query(
                    "UPDATE app_keys SET revoked_at = COALESCE(revoked_at, $1)
                     WHERE org_id = $2 AND app_id = $3 AND id = $4",
                )
                .bind(unmogrowp_domain::time::now_millis())
                .bind(org_id.as_str())
                .bind(app_id.as_str())
                .bind(key_id.as_str())
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                if done.rows_affected() == 0 {
                    return Err($crate::error::StorageError::NotFound);
                }
                Ok(())
            }

            async fn app_by_token(&self, app_token: &str) -> $crate::Result<Option<$crate::model::App>> {
                use $crate::backend::{Mode, Scope};
                let mut tx = self.begin(Scope::System, Mode::ReadFresh).await?;
                let sql = format!("SELECT {} FROM apps WHERE app_token = $1", $crate::queries::APP_COLUMNS);
                let row: Option<$crate::queries::AppRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(app_token)
                    .fetch_optional(&mut *tx)
                    .await?;
                tx.commit().await?;
                row.map(TryInto::try_into).transpose()
            }

            async fn app_by_id_unscoped(&self, app_id: &unmogrowp_domain::AppId) -> $crate::Result<Option<$crate::model::App>> {
                use $crate::backend::{Mode, Scope};
                let mut tx = self.begin(Scope::System, Mode::ReadFresh).await?;
                let sql = format!("SELECT {} FROM apps WHERE id = $1", $crate::queries::APP_COLUMNS);
                let row: Option<$crate::queries::AppRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(app_id.as_str())
                    .fetch_optional(&mut *tx)
                    .await?;
                tx.commit().await?;
                row.map(TryInto::try_into).transpose()
            }

            async fn key_by_id(&self, key_id: &unmogrowp_domain::KeyId) -> $crate::Result<Option<$crate::model::AppKey>> {
                use $crate::backend::{Mode, Scope};
                let mut tx = self.begin(Scope::System, Mode::ReadFresh).await?;
                let row: Option<$crate::queries::KeyRow> = sqlx::query_as(
                    "SELECT id, org_id, app_id, nonce, created_at, created_by, revoked_at FROM app_keys WHERE id = $1",
                )
                .bind(key_id.as_str())
                .fetch_optional(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(row.map(Into::into))
            }

            async fn create_link(
                &self,
                org_id: &unmogrowp_domain::OrgId,
                app_id: &unmogrowp_domain::AppId,
                link: $crate::model::NewLink,
                created_by: &unmogrowp_domain::UserId,
            ) -> $crate::Result<$crate::model::Link> {
                use $crate::backend::{Mode, Scope};
                use $crate::error::StorageError;
                let record = $crate::model::Link {
                    id: unmogrowp_domain::LinkId::generate(),
                    org_id: org_id.clone(),
                    app_id: app_id.clone(),
                    network: link.network,
                    campaign: link.campaign,
                    adgroup: link.adgroup,
                    creative: link.creative,
                    retargeting: link.retargeting,
                    created_at: unmogrowp_domain::time::now_millis(),
                };
                let mut tx = self.begin(Scope::Tenant(org_id), Mode::Write).await?;
                let exists: Option<(String,)> = sqlx::query_as("SELECT id FROM apps WHERE org_id = $1 AND id = $2")
                    .bind(org_id.as_str())
                    .bind(app_id.as_str())
                    .fetch_optional(&mut *tx)
                    .await?;
                if exists.is_none() {
                    return Err(StorageError::NotFound);
                }
                sqlx::query(
                    "INSERT INTO links (id, org_id, app_id, network, campaign, adgroup, creative, retargeting, created_at, created_by)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(record.id.as_str())
                .bind(org_id.as_str())
                .bind(app_id.as_str())
                .bind(&record.network)
                .bind(&record.campaign)
                .bind(&record.adgroup)
                .bind(&record.creative)
                .bind(record.retargeting)
                .bind(record.created_at)
                .bind(created_by.as_str())
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(record)
            }

            async fn links(
                &self,
                org_id: &unmogrowp_domain::OrgId,
                app_id: &unmogrowp_domain::AppId,
            ) -> $crate::Result<Vec<$crate::model::Link>> {
                use $crate::backend::{Mode, Scope};
                let mut tx = self.begin(Scope::Tenant(org_id), Mode::Read).await?;
                let rows: Vec<$crate::queries::LinkRow> = sqlx::query_as(
                    "SELECT id, org_id, app_id, network, campaign, adgroup, creative, retargeting, created_at
                     FROM links WHERE org_id = $1 AND app_id = $2 ORDER BY created_at, id",
                )
                .bind(org_id.as_str())
                .bind(app_id.as_str())
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn link_by_id(&self, link_id: &unmogrowp_domain::LinkId) -> $crate::Result<Option<$crate::model::Link>> {
                use $crate::backend::{Mode, Scope};
                let mut tx = self.begin(Scope::System, Mode::ReadFresh).await?;
                let row: Option<$crate::queries::LinkRow> = sqlx::query_as(
                    "SELECT id, org_id, app_id, network, campaign, adgroup, creative, retargeting, created_at
                     FROM links WHERE id = $1",
                )
                .bind(link_id.as_str())
                .fetch_optional(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(row.map(Into::into))
            }

            async fn blocked_ranges(&self, org_id: &unmogrowp_domain::OrgId) -> $crate::Result<Vec<String>> {
                use $crate::backend::{Mode, Scope};
                let mut tx = self.begin(Scope::Tenant(org_id), Mode::ReadFresh).await?;
                let rows: Vec<(String,)> = sqlx::query_as("SELECT cidr FROM blocked_ip_ranges WHERE org_id = $1 ORDER BY cidr")
                    .bind(org_id.as_str())
                    .fetch_all(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(rows.into_iter().map(|(cidr,)| cidr).collect())
            }

            async fn set_blocked_ranges(&self, org_id: &unmogrowp_domain::OrgId, ranges: &[String]) -> $crate::Result<()> {
                use $crate::backend::{Mode, Scope};
                let mut tx = self.begin(Scope::Tenant(org_id), Mode::Write).await?;
                sqlx::query("DELETE FROM blocked_ip_ranges WHERE org_id = $1").bind(org_id.as_str()).execute(&mut *tx).await?;
                let now = unmogrowp_domain::time::now_millis();
                for range in ranges {
                    sqlx::query("INSERT INTO blocked_ip_ranges (org_id, cidr, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
                        .bind(org_id.as_str())
                        .bind(range)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn blocked_ranges_unscoped(&self, org_id: &unmogrowp_domain::OrgId) -> $crate::Result<Vec<String>> {
                use $crate::backend::{Mode, Scope};
                let mut tx = self.begin(Scope::System, Mode::Read).await?;
                let rows: Vec<(String,)> = sqlx::query_as("SELECT cidr FROM blocked_ip_ranges WHERE org_id = $1 ORDER BY cidr")
                    .bind(org_id.as_str())
                    .fetch_all(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(rows.into_iter().map(|(cidr,)| cidr).collect())
            }

            async fn all_apps(&self) -> $crate::Result<Vec<$crate::model::App>> {
                use $crate::backend::{Mode, Scope};
                let mut tx = self.begin(Scope::System, Mode::Read).await?;
                let sql = format!("SELECT {} FROM apps ORDER BY created_at, id", $crate::queries::APP_COLUMNS);
                let rows: Vec<$crate::queries::AppRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(&mut *tx).await?;
                tx.commit().await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }
        }
    };
}

pub(crate) use implement_apps;
