//! Changing and deleting tracking links and postbacks, and retrying a failed delivery by hand.

macro_rules! implement_changes {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::backend::ChangesBackend for $store {
            async fn update_link(
                &self,
                org_id: &unmogrowp_domain::OrgId,
                app_id: &unmogrowp_domain::AppId,
                link_id: &unmogrowp_domain::LinkId,
                patch: $crate::model::LinkPatch,
            ) -> $crate::Result<$crate::model::Link> {
                use $crate::backend::{Mode, Scope};
                let mut tx = self.begin(Scope::Tenant(org_id), Mode::Write).await?;
                let done = sqlx::query(
                    "UPDATE links SET network = COALESCE($1, network), campaign = COALESCE($2, campaign),
                        adgroup = COALESCE($3, adgroup), creative = COALESCE($4, creative),
                        retargeting = COALESCE($5, retargeting),
                        deep_link = NULLIF(COALESCE($9, deep_link, ''), '')
                     WHERE org_id = $6 AND app_id = $7 AND id = $8",
                )
                .bind(patch.network)
                .bind(patch.campaign)
                .bind(patch.adgroup)
                .bind(patch.creative)
                .bind(patch.retargeting)
                .bind(org_id.as_str())
                .bind(app_id.as_str())
                .bind(link_id.as_str())
                .bind(patch.deep_link)
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() == 0 {
                    return Err($crate::error::StorageError::NotFound);
                }
                let row: $crate::queries::LinkRow = sqlx::query_as(
                    "SELECT id, org_id, app_id, network, campaign, adgroup, creative, retargeting, deep_link, created_at
                     FROM links WHERE org_id = $1 AND id = $2",
                )
                .bind(org_id.as_str())
                .bind(link_id.as_str())
                .fetch_one(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(row.into())
            }

            async fn delete_link(
                &self,
                org_id: &unmogrowp_domain::OrgId,
                app_id: &unmogrowp_domain::AppId,
                link_id: &unmogrowp_domain::LinkId,
            ) -> $crate::Result<()> {
                use $crate::backend::{Mode, Scope};
                let mut tx = self.begin(Scope::Tenant(org_id), Mode::Write).await?;
                let done = sqlx::query("DELETE FROM links WHERE org_id = $1 AND app_id = $2 AND id = $3")
                    .bind(org_id.as_str())
                    .bind(app_id.as_str())
                    .bind(link_id.as_str())
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                if done.rows_affected() == 0 {
                    return Err($crate::error::StorageError::NotFound);
                }
                Ok(())
            }

            async fn update_postback(
                &self,
                org_id: &unmogrowp_domain::OrgId,
                app_id: &unmogrowp_domain::AppId,
                postback_id: &str,
                patch: $crate::model::PostbackPatch,
            ) -> $crate::Result<$crate::model::Postback> {
                use $crate::backend::{Mode, Scope};
                use $crate::error::StorageError;
                let events = patch
                    .events
                    .map(|events| serde_json::to_string(&events))
                    .transpose()
                    .map_err(|e| StorageError::Unexpected(e.into()))?;
                let mut tx = self.begin(Scope::Tenant(org_id), Mode::Write).await?;
                let done = sqlx::query(
                    "UPDATE postbacks SET network = COALESCE($1, network),
                        url_template = COALESCE($2, url_template), events = COALESCE($3, events)
                     WHERE org_id = $4 AND app_id = $5 AND id = $6",
                )
                .bind(patch.network)
                .bind(patch.url_template)
                .bind(events)
                .bind(org_id.as_str())
                .bind(app_id.as_str())
                .bind(postback_id)
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() == 0 {
                    return Err(StorageError::NotFound);
                }
                let row: $crate::queries::PostbackRow = sqlx::query_as(
                    "SELECT id, org_id, app_id, network, url_template, events, created_at FROM postbacks
                     WHERE org_id = $1 AND id = $2",
                )
                .bind(org_id.as_str())
                .bind(postback_id)
                .fetch_one(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(row.into())
            }

            async fn delete_postback(
                &self,
                org_id: &unmogrowp_domain::OrgId,
                app_id: &unmogrowp_domain::AppId,
                postback_id: &str,
            ) -> $crate::Result<()> {
                use $crate::backend::{Mode, Scope};
                let mut tx = self.begin(Scope::Tenant(org_id), Mode::Write).await?;
                // Its deliveries go with it (the foreign key cascades; said here for SQLite
                // files whose foreign keys are off).
                sqlx::query("DELETE FROM postback_deliveries WHERE org_id = $1 AND postback_id = $2")
                    .bind(org_id.as_str())
                    .bind(postback_id)
                    .execute(&mut *tx)
                    .await?;
                let done = sqlx::query("DELETE FROM postbacks WHERE org_id = $1 AND app_id = $2 AND id = $3")
                    .bind(org_id.as_str())
                    .bind(app_id.as_str())
                    .bind(postback_id)
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() == 0 {
                    return Err($crate::error::StorageError::NotFound);
                }
                tx.commit().await?;
                Ok(())
            }

            async fn retry_delivery(
                &self,
                org_id: &unmogrowp_domain::OrgId,
                app_id: &unmogrowp_domain::AppId,
                delivery_id: &str,
            ) -> $crate::Result<$crate::model::Delivery> {
                use $crate::backend::{Mode, Scope};
                use $crate::error::StorageError;
                let now = unmogrowp_domain::time::now_millis();
                let mut tx = self.begin(Scope::Tenant(org_id), Mode::Write).await?;
                let status: Option<(String, String)> = sqlx::query_as(
                    "SELECT status, url FROM postback_deliveries WHERE org_id = $1 AND app_id = $2 AND id = $3",
                )
                .bind(org_id.as_str())
                .bind(app_id.as_str())
                .bind(delivery_id)
                .fetch_optional(&mut *tx)
                .await?;
                match status {
                    None => return Err(StorageError::NotFound),
                    Some((_, url)) if url == $crate::ERASED_URL => {
                        return Err(StorageError::Refused("the delivery's device was erased"));
                    }
                    Some((status, _)) if status != "failed" => {
                        return Err(StorageError::Refused("only a failed delivery can be retried"));
                    }
                    Some(_) => {}
                }
                sqlx::query(
                    "UPDATE postback_deliveries SET status = 'pending', next_attempt_at = $1, updated_at = $1
                     WHERE org_id = $2 AND id = $3",
                )
                .bind(now)
                .bind(org_id.as_str())
                .bind(delivery_id)
                .execute(&mut *tx)
                .await?;
                let sql = format!(
                    "SELECT {} FROM postback_deliveries WHERE org_id = $1 AND id = $2",
                    $crate::queries::DELIVERY_COLUMNS
                );
                let row: $crate::queries::DeliveryRow = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(org_id.as_str())
                    .bind(delivery_id)
                    .fetch_one(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(row.into())
            }

            async fn scrub_deliveries(
                &self,
                org_id: &unmogrowp_domain::OrgId,
                app_id: &unmogrowp_domain::AppId,
                ids: &[String],
            ) -> $crate::Result<u64> {
                use $crate::backend::{Mode, Scope};
                let now = unmogrowp_domain::time::now_millis();
                let mut tx = self.begin(Scope::System, Mode::Write).await?;
                let mut scrubbed = 0;
                for id in ids {
                    let done = sqlx::query(
                        "UPDATE postback_deliveries SET url = $1, updated_at = $2,
                             last_error = CASE WHEN status = 'pending' THEN 'the device was erased' ELSE last_error END,
                             status = CASE WHEN status = 'pending' THEN 'failed' ELSE status END
                         WHERE org_id = $3 AND app_id = $4 AND id = $5 AND url <> $1",
                    )
                    .bind($crate::ERASED_URL)
                    .bind(now)
                    .bind(org_id.as_str())
                    .bind(app_id.as_str())
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                    scrubbed += done.rows_affected();
                }
                tx.commit().await?;
                Ok(scrubbed)
            }

            async fn delivery_urls(
                &self,
                org_id: &unmogrowp_domain::OrgId,
                app_id: &unmogrowp_domain::AppId,
                after: &str,
                limit: u32,
            ) -> $crate::Result<Vec<(String, String)>> {
                use $crate::backend::{Mode, Scope};
                let mut tx = self.begin(Scope::System, Mode::ReadFresh).await?;
                let rows: Vec<(String, String)> = sqlx::query_as(
                    "SELECT id, url FROM postback_deliveries
                     WHERE org_id = $1 AND app_id = $2 AND id > $3 ORDER BY id LIMIT $4",
                )
                .bind(org_id.as_str())
                .bind(app_id.as_str())
                .bind(after)
                .bind(i64::from(limit))
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(rows)
            }
        }
    };
}

pub(crate) use implement_changes;
