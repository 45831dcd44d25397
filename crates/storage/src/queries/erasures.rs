//! Erasure requests.

macro_rules! implement_erasures {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::backend::ErasuresBackend for $store {
            async fn create_erasure(
                &self,
                org_id: &unmogrowp_domain::OrgId,
                app_id: &unmogrowp_domain::AppId,
                id: &unmogrowp_domain::ErasureId,
                requested_by: &unmogrowp_domain::UserId,
                requested_at: unmogrowp_domain::time::UnixMillis,
            ) -> $crate::Result<$crate::model::ErasureRequest> {
                use $crate::backend::{Mode, Scope};
                let record = $crate::model::ErasureRequest {
                    id: id.clone(),
                    org_id: org_id.clone(),
                    app_id: app_id.clone(),
                    requested_by: Some(requested_by.clone()),
                    requested_at,
                };
                let mut tx = self.begin(Scope::Tenant(org_id), Mode::Write).await?;
                self.ensure_app(&mut tx, org_id, app_id).await?;
                sqlx::query(
                    "INSERT INTO erasures (id, org_id, app_id, requested_by, requested_at)
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(record.id.as_str())
                .bind(org_id.as_str())
                .bind(app_id.as_str())
                .bind(requested_by.as_str())
                .bind(record.requested_at)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(record)
            }

            async fn erasure(
                &self,
                org_id: &unmogrowp_domain::OrgId,
                app_id: &unmogrowp_domain::AppId,
                id: &unmogrowp_domain::ErasureId,
            ) -> $crate::Result<Option<$crate::model::ErasureRequest>> {
                use $crate::backend::{Mode, Scope};
                let mut tx = self.begin(Scope::Tenant(org_id), Mode::ReadFresh).await?;
                let row: Option<(String, String, String, Option<String>, i64)> = sqlx::query_as(
                    "SELECT id, org_id, app_id, requested_by, requested_at FROM erasures
                     WHERE org_id = $1 AND app_id = $2 AND id = $3",
                )
                .bind(org_id.as_str())
                .bind(app_id.as_str())
                .bind(id.as_str())
                .fetch_optional(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(row.map(|(id, org_id, app_id, requested_by, requested_at)| {
                    $crate::model::ErasureRequest {
                        id: unmogrowp_domain::ErasureId::from_stored(id),
                        org_id: unmogrowp_domain::OrgId::from_stored(org_id),
                        app_id: unmogrowp_domain::AppId::from_stored(app_id),
                        requested_by: requested_by.map(unmogrowp_domain::UserId::from_stored),
                        requested_at,
                    }
                }))
            }
        }
    };
}

pub(crate) use implement_erasures;
