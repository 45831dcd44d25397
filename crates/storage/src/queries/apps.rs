//! Apps and their server-to-server keys.

macro_rules! implement_apps {
    ($store:ty) => {
        impl $store {
            /// `NotFound` unless the organization has the app (checked inside the caller's
            /// transaction, before rows that refer to the app are written).
            async fn ensure_app<'c>(
                &self,
                tx: &mut sqlx::Transaction<'c, <$store as $crate::queries::HasDb>::Db>,
                org_id: &unmogrowp_domain::OrgId,
                app_id: &unmogrowp_domain::AppId,
            ) -> $crate::Result<()> {
                let exists: Option<(String,)> =
                    sqlx::query_as("SELECT id FROM apps WHERE org_id = $1 AND id = $2")
                        .bind(org_id.as_str())
                        .bind(app_id.as_str())
                        .fetch_optional(&mut **tx)
                        .await?;
                exists.map(|_| ()).ok_or($crate::error::StorageError::NotFound)
            }
        }

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
                name: &str,
                created_by: &unmogrowp_domain::UserId,
            ) -> $crate::Result<$crate::model::AppKey> {
                use $crate::backend::{Mode, Scope};
                let record = $crate::model::AppKey {
                    id: unmogrowp_domain::KeyId::generate(),
                    org_id: org_id.clone(),
                    app_id: app_id.clone(),
                    nonce: nonce.to_owned(),
                    name: name.to_owned(),
                    created_at: unmogrowp_domain::time::now_millis(),
                    created_by: Some(created_by.clone()),
                    revoked_at: None,
                };
                let mut tx = self.begin(Scope::Tenant(org_id), Mode::Write).await?;
                self.ensure_app(&mut tx, org_id, app_id).await?;
                sqlx::query(
                    "INSERT INTO app_keys (id, org_id, app_id, nonce, created_at, created_by, name) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(record.id.as_str())
                .bind(org_id.as_str())
                .bind(app_id.as_str())
                .bind(&record.nonce)
                .bind(record.created_at)
                .bind(created_by.as_str())
                .bind(name)
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
                    "SELECT id, org_id, app_id, nonce, name, created_at, created_by, revoked_at
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
                    "SELECT id, org_id, app_id, nonce, name, created_at, created_by, revoked_at FROM app_keys WHERE id = $1",
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
                let record = $crate::model::Link {
                    id: unmogrowp_domain::LinkId::generate(),
                    org_id: org_id.clone(),
                    app_id: app_id.clone(),
                    network: link.network,
                    campaign: link.campaign,
                    adgroup: link.adgroup,
                    creative: link.creative,
                    retargeting: link.retargeting,
                    deep_link: link.deep_link,
                    created_at: unmogrowp_domain::time::now_millis(),
                };
                let mut tx = self.begin(Scope::Tenant(org_id), Mode::Write).await?;
                self.ensure_app(&mut tx, org_id, app_id).await?;
                sqlx::query(
                    "INSERT INTO links (id, org_id, app_id, network, campaign, adgroup, creative, retargeting, created_at, created_by, deep_link)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
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
                .bind(record.deep_link.as_deref())
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
                    "SELECT id, org_id, app_id, network, campaign, adgroup, creative, retargeting, deep_link, created_at
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
                    "SELECT id, org_id, app_id, network, campaign, adgroup, creative, retargeting, deep_link, created_at
                     FROM links WHERE id = $1",
                )
                .bind(link_id.as_str())
                .fetch_optional(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(row.map(Into::into))
            }

            async fn create_postback(
                &self,
                org_id: &unmogrowp_domain::OrgId,
                app_id: &unmogrowp_domain::AppId,
                postback: $crate::model::NewPostback,
                created_by: &unmogrowp_domain::UserId,
            ) -> $crate::Result<$crate::model::Postback> {
                use $crate::backend::{Mode, Scope};
                use $crate::error::StorageError;
                let record = $crate::model::Postback {
                    id: uuid::Uuid::now_v7().to_string(),
                    org_id: org_id.clone(),
                    app_id: app_id.clone(),
                    network: postback.network,
                    url_template: postback.url_template,
                    events: postback.events,
                    created_at: unmogrowp_domain::time::now_millis(),
                };
                let events = serde_json::to_string(&record.events).map_err(|e| StorageError::Unexpected(e.into()))?;
                let mut tx = self.begin(Scope::Tenant(org_id), Mode::Write).await?;
                self.ensure_app(&mut tx, org_id, app_id).await?;
                sqlx::query(
                    "INSERT INTO postbacks (id, org_id, app_id, network, url_template, events, created_at, created_by)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(&record.id)
                .bind(org_id.as_str())
                .bind(app_id.as_str())
                .bind(&record.network)
                .bind(&record.url_template)
                .bind(&events)
                .bind(record.created_at)
                .bind(created_by.as_str())
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(record)
            }

            async fn postbacks(
                &self,
                org_id: &unmogrowp_domain::OrgId,
                app_id: &unmogrowp_domain::AppId,
            ) -> $crate::Result<Vec<$crate::model::Postback>> {
                use $crate::backend::{Mode, Scope};
                let mut tx = self.begin(Scope::Tenant(org_id), Mode::Read).await?;
                let rows: Vec<$crate::queries::PostbackRow> = sqlx::query_as(
                    "SELECT id, org_id, app_id, network, url_template, events, created_at FROM postbacks
                     WHERE org_id = $1 AND app_id = $2 ORDER BY created_at, id",
                )
                .bind(org_id.as_str())
                .bind(app_id.as_str())
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn deliveries(
                &self,
                org_id: &unmogrowp_domain::OrgId,
                app_id: &unmogrowp_domain::AppId,
                limit: u32,
            ) -> $crate::Result<Vec<$crate::model::Delivery>> {
                use $crate::backend::{Mode, Scope};
                let mut tx = self.begin(Scope::Tenant(org_id), Mode::Read).await?;
                let sql = format!(
                    "SELECT {} FROM postback_deliveries WHERE org_id = $1 AND app_id = $2 ORDER BY created_at DESC, id DESC LIMIT $3",
                    $crate::queries::DELIVERY_COLUMNS
                );
                let rows: Vec<$crate::queries::DeliveryRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(org_id.as_str())
                    .bind(app_id.as_str())
                    .bind(i64::from(limit))
                    .fetch_all(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn postbacks_unscoped(&self, app_id: &unmogrowp_domain::AppId) -> $crate::Result<Vec<$crate::model::Postback>> {
                use $crate::backend::{Mode, Scope};
                let mut tx = self.begin(Scope::System, Mode::ReadFresh).await?;
                let rows: Vec<$crate::queries::PostbackRow> = sqlx::query_as(
                    "SELECT id, org_id, app_id, network, url_template, events, created_at FROM postbacks WHERE app_id = $1 ORDER BY created_at, id",
                )
                .bind(app_id.as_str())
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn enqueue_deliveries(&self, deliveries: &[$crate::model::NewDelivery]) -> $crate::Result<u64> {
                use $crate::backend::{Mode, Scope};
                if deliveries.is_empty() {
                    return Ok(0);
                }
                let now = unmogrowp_domain::time::now_millis();
                let mut tx = self.begin(Scope::System, Mode::Write).await?;
                let mut added = 0;
                for delivery in deliveries {
                    let done = sqlx::query(
                        "INSERT INTO postback_deliveries (id, org_id, app_id, postback_id, dedup_key, url, status, attempts,
                            next_attempt_at, created_at, updated_at, traceparent)
                         VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, $7, $7, $8)
                         ON CONFLICT (dedup_key) DO NOTHING",
                    )
                    .bind(uuid::Uuid::now_v7().to_string())
                    .bind(delivery.org_id.as_str())
                    .bind(delivery.app_id.as_str())
                    .bind(&delivery.postback_id)
                    .bind(&delivery.dedup_key)
                    .bind(&delivery.url)
                    .bind(now)
                    .bind(delivery.traceparent.as_deref())
                    .execute(&mut *tx)
                    .await?;
                    added += done.rows_affected();
                }
                tx.commit().await?;
                Ok(added)
            }

            async fn claim_deliveries(
                &self,
                now: unmogrowp_domain::time::UnixMillis,
                lease_until: unmogrowp_domain::time::UnixMillis,
                limit: u32,
            ) -> $crate::Result<Vec<$crate::model::Delivery>> {
                use $crate::backend::{Mode, Scope};
                let mut tx = self.begin(Scope::System, Mode::Write).await?;
                // Claiming pushes the next attempt time forward (a lease): another sender
                // does not see the rows until the lease ends. The outer condition is checked
                // again under concurrent updates, so two senders never claim the same row.
                let sql = format!(
                    "UPDATE postback_deliveries SET next_attempt_at = $1
                     WHERE id IN (SELECT id FROM postback_deliveries WHERE status = 'pending' AND next_attempt_at <= $2
                                  ORDER BY next_attempt_at LIMIT $3)
                       AND status = 'pending' AND next_attempt_at <= $2
                     RETURNING {}",
                    $crate::queries::DELIVERY_COLUMNS
                );
                let rows: Vec<$crate::queries::DeliveryRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(lease_until)
                    .bind(now)
                    .bind(i64::from(limit))
                    .fetch_all(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn finish_delivery(&self, id: &str, outcome: &$crate::model::AttemptOutcome) -> $crate::Result<()> {
                use $crate::backend::{Mode, Scope};
                use $crate::model::AttemptOutcome;
                let now = unmogrowp_domain::time::now_millis();
                let (status, counted, error, next): (&str, i64, Option<&str>, i64) = match outcome {
                    AttemptOutcome::Delivered => ("delivered", 1, None, now),
                    AttemptOutcome::Retry { error, next_attempt_at } => ("pending", 1, Some(error.as_str()), *next_attempt_at),
                    AttemptOutcome::Failed { error } => ("failed", 1, Some(error.as_str()), now),
                    AttemptOutcome::Postponed { next_attempt_at } => ("pending", 0, None, *next_attempt_at),
                };
                let mut tx = self.begin(Scope::System, Mode::Write).await?;
                sqlx::query(
                    "UPDATE postback_deliveries SET status = $1, attempts = attempts + $2,
                        last_error = COALESCE($3, last_error), next_attempt_at = $4, updated_at = $5
                     WHERE id = $6",
                )
                .bind(status)
                .bind(counted)
                .bind(error)
                .bind(next)
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
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
