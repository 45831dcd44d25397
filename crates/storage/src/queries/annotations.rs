//! Chart annotations.

macro_rules! implement_annotations {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::backend::AnnotationsBackend for $store {
            async fn create_annotation(
                &self,
                org_id: &unmogrowp_domain::OrgId,
                annotation: &$crate::Annotation,
            ) -> $crate::Result<$crate::Annotation> {
                use $crate::backend::{Mode, Scope};
                let mut tx = self.begin(Scope::Tenant(org_id), Mode::Write).await?;
                self.ensure_app(&mut tx, org_id, &annotation.app_id).await?;
                sqlx::query(
                    "INSERT INTO annotations (id, org_id, app_id, day, body, created_by, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(annotation.id.as_str())
                .bind(org_id.as_str())
                .bind(annotation.app_id.as_str())
                .bind(annotation.day.to_string())
                .bind(&annotation.text)
                .bind(annotation.created_by.as_ref().map(|user| user.as_str()))
                .bind(annotation.created_at)
                .execute(&mut *tx)
                .await?;
                let author: Option<(String,)> = match &annotation.created_by {
                    Some(user) => sqlx::query_as("SELECT name FROM users WHERE id = $1")
                        .bind(user.as_str())
                        .fetch_optional(&mut *tx)
                        .await?,
                    None => None,
                };
                tx.commit().await?;
                Ok($crate::Annotation {
                    org_id: org_id.clone(),
                    author_name: author.map(|(name,)| name),
                    ..annotation.clone()
                })
            }

            async fn annotations(
                &self,
                org_id: &unmogrowp_domain::OrgId,
                app_id: &unmogrowp_domain::AppId,
                from: Option<unmogrowp_domain::Day>,
                to: Option<unmogrowp_domain::Day>,
                limit: u32,
            ) -> $crate::Result<Vec<$crate::Annotation>> {
                use $crate::backend::{Mode, Scope};
                let mut tx = self.begin(Scope::Tenant(org_id), Mode::ReadFresh).await?;
                self.ensure_app(&mut tx, org_id, app_id).await?;
                // Days are stored as `YYYY-MM-DD`, so text order is date order.
                let rows: Vec<$crate::queries::AnnotationRow> = sqlx::query_as(
                    "SELECT a.id, a.app_id, a.day, a.body, a.created_by, u.name, a.created_at
                     FROM annotations a LEFT JOIN users u ON u.id = a.created_by
                     WHERE a.org_id = $1 AND a.app_id = $2 AND a.day >= $3 AND a.day <= $4
                     ORDER BY a.day, a.created_at, a.id LIMIT $5",
                )
                .bind(org_id.as_str())
                .bind(app_id.as_str())
                .bind(from.map_or_else(|| "0000-00-00".to_owned(), |day| day.to_string()))
                .bind(to.map_or_else(|| "9999-99-99".to_owned(), |day| day.to_string()))
                .bind(i64::from(limit))
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                rows.into_iter().map(|row| $crate::queries::annotation_of(org_id, row)).collect()
            }

            async fn annotation(
                &self,
                org_id: &unmogrowp_domain::OrgId,
                app_id: &unmogrowp_domain::AppId,
                id: &unmogrowp_domain::AnnotationId,
            ) -> $crate::Result<Option<$crate::Annotation>> {
                use $crate::backend::{Mode, Scope};
                let mut tx = self.begin(Scope::Tenant(org_id), Mode::ReadFresh).await?;
                let row: Option<$crate::queries::AnnotationRow> = sqlx::query_as(
                    "SELECT a.id, a.app_id, a.day, a.body, a.created_by, u.name, a.created_at
                     FROM annotations a LEFT JOIN users u ON u.id = a.created_by
                     WHERE a.org_id = $1 AND a.app_id = $2 AND a.id = $3",
                )
                .bind(org_id.as_str())
                .bind(app_id.as_str())
                .bind(id.as_str())
                .fetch_optional(&mut *tx)
                .await?;
                tx.commit().await?;
                row.map(|row| $crate::queries::annotation_of(org_id, row)).transpose()
            }

            async fn delete_annotation(
                &self,
                org_id: &unmogrowp_domain::OrgId,
                app_id: &unmogrowp_domain::AppId,
                id: &unmogrowp_domain::AnnotationId,
            ) -> $crate::Result<()> {
                use $crate::backend::{Mode, Scope};
                let mut tx = self.begin(Scope::Tenant(org_id), Mode::Write).await?;
                let done = sqlx::query(
                    "DELETE FROM annotations WHERE org_id = $1 AND app_id = $2 AND id = $3",
                )
                .bind(org_id.as_str())
                .bind(app_id.as_str())
                .bind(id.as_str())
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                if done.rows_affected() == 0 {
                    return Err($crate::error::StorageError::NotFound);
                }
                Ok(())
            }
        }
    };
}

pub(crate) use implement_annotations;
