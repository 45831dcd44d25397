//! SKAdNetwork postbacks and conversion-value schemas.

macro_rules! implement_skan {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::skan::SkanBackend for $store {
            async fn record_skan_postback(
                &self,
                org_id: &unmogrowp_domain::OrgId,
                app_id: &unmogrowp_domain::AppId,
                postback: &unmogrowp_domain::skan::SkanPostback,
                day: unmogrowp_domain::Day,
                received_at: unmogrowp_domain::time::UnixMillis,
            ) -> $crate::Result<bool> {
                use $crate::backend::{Mode, Scope};
                let mut tx = self.begin(Scope::Tenant(org_id), Mode::Write).await?;
                self.ensure_app(&mut tx, org_id, app_id).await?;
                let done = sqlx::query(
                    "INSERT INTO skan_postbacks (id, org_id, app_id, transaction_id, sequence_index, version,
                        ad_network_id, campaign, app_store_id, source_app_id, source_domain, fidelity_type,
                        did_win, conversion_value, coarse_value, redownload, day, received_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
                     ON CONFLICT (app_id, ad_network_id, transaction_id, sequence_index) DO NOTHING",
                )
                .bind(uuid::Uuid::now_v7().to_string())
                .bind(org_id.as_str())
                .bind(app_id.as_str())
                .bind(&postback.transaction_id)
                .bind(i64::from(postback.sequence_index))
                .bind(&postback.version)
                .bind(&postback.ad_network_id)
                .bind(&postback.campaign)
                .bind(postback.app_store_id.to_string())
                .bind(postback.source_app_id.map(|id| id.to_string()))
                .bind(postback.source_domain.as_deref())
                .bind(postback.fidelity_type.map(i64::from))
                .bind(postback.did_win.map(i64::from))
                .bind(postback.conversion_value.map(i64::from))
                .bind(postback.coarse_value.map(|value| value.as_str()))
                .bind(i64::from(postback.redownload))
                .bind(day.to_string())
                .bind(received_at)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(done.rows_affected() == 1)
            }

            async fn skan_counts(
                &self,
                org_id: &unmogrowp_domain::OrgId,
                app_id: &unmogrowp_domain::AppId,
                from: unmogrowp_domain::Day,
                to: unmogrowp_domain::Day,
            ) -> $crate::Result<Vec<$crate::SkanCount>> {
                use $crate::backend::{Mode, Scope};
                let mut tx = self.begin(Scope::Tenant(org_id), Mode::Read).await?;
                self.ensure_app(&mut tx, org_id, app_id).await?;
                let rows: Vec<$crate::skan::SkanCountRow> = sqlx::query_as(
                    "SELECT day, ad_network_id, campaign, conversion_value, coarse_value, did_win,
                            redownload, sequence_index, COUNT(*)
                     FROM skan_postbacks
                     WHERE org_id = $1 AND app_id = $2 AND day >= $3 AND day <= $4
                     GROUP BY day, ad_network_id, campaign, conversion_value, coarse_value, did_win,
                              redownload, sequence_index
                     ORDER BY day, ad_network_id, campaign",
                )
                .bind(org_id.as_str())
                .bind(app_id.as_str())
                .bind(from.to_string())
                .bind(to.to_string())
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                rows.into_iter().map($crate::skan::count_of).collect()
            }

            async fn skan_postbacks(
                &self,
                org_id: &unmogrowp_domain::OrgId,
                app_id: &unmogrowp_domain::AppId,
                from: unmogrowp_domain::Day,
                to: unmogrowp_domain::Day,
                after: Option<(unmogrowp_domain::time::UnixMillis, String)>,
                limit: u32,
            ) -> $crate::Result<Vec<$crate::SkanRecord>> {
                use $crate::backend::{Mode, Scope};
                let mut tx = self.begin(Scope::Tenant(org_id), Mode::Read).await?;
                self.ensure_app(&mut tx, org_id, app_id).await?;
                let (after_at, after_id) = after.unwrap_or((i64::MIN, String::new()));
                let rows: Vec<$crate::skan::SkanRow> = sqlx::query_as(
                    "SELECT id, transaction_id, sequence_index, version, ad_network_id, campaign,
                            app_store_id, source_app_id, source_domain, fidelity_type, did_win,
                            conversion_value, coarse_value, redownload, day, received_at
                     FROM skan_postbacks
                     WHERE org_id = $1 AND app_id = $2 AND day >= $3 AND day <= $4
                       AND (received_at > $5 OR (received_at = $5 AND id > $6))
                     ORDER BY received_at, id LIMIT $7",
                )
                    .bind(org_id.as_str())
                    .bind(app_id.as_str())
                    .bind(from.to_string())
                    .bind(to.to_string())
                    .bind(after_at)
                    .bind(after_id)
                    .bind(i64::from(limit))
                    .fetch_all(&mut *tx)
                    .await?;
                tx.commit().await?;
                rows.into_iter().map($crate::skan::record_of).collect()
            }

            async fn skan_schema(
                &self,
                org_id: &unmogrowp_domain::OrgId,
                app_id: &unmogrowp_domain::AppId,
            ) -> $crate::Result<Option<(String, i64)>> {
                use $crate::backend::{Mode, Scope};
                let mut tx = self.begin(Scope::Tenant(org_id), Mode::ReadFresh).await?;
                self.ensure_app(&mut tx, org_id, app_id).await?;
                let row: Option<(String, i64)> = sqlx::query_as(
                    "SELECT body, updated_at FROM skan_schemas WHERE org_id = $1 AND app_id = $2",
                )
                .bind(org_id.as_str())
                .bind(app_id.as_str())
                .fetch_optional(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(row)
            }

            async fn set_skan_schema(
                &self,
                org_id: &unmogrowp_domain::OrgId,
                app_id: &unmogrowp_domain::AppId,
                body: &str,
                updated_at: unmogrowp_domain::time::UnixMillis,
            ) -> $crate::Result<()> {
                use $crate::backend::{Mode, Scope};
                let mut tx = self.begin(Scope::Tenant(org_id), Mode::Write).await?;
                self.ensure_app(&mut tx, org_id, app_id).await?;
                sqlx::query(
                    "INSERT INTO skan_schemas (app_id, org_id, body, updated_at) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (app_id) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at",
                )
                .bind(app_id.as_str())
                .bind(org_id.as_str())
                .bind(body)
                .bind(updated_at)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }
        }
    };
}

pub(crate) use implement_skan;
