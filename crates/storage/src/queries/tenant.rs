//! One organization's members, invitations and audit log.

macro_rules! implement_tenant {
    ($store:ty) => {
        impl $store {
            /// Serialises member changes within one organization (PostgreSQL locks the
            /// organization row; SQLite's single writer already serialises), then reads the
            /// member's role and how many owners there are.
            async fn lock_and_read_member<'c>(
                &self,
                tx: &mut sqlx::Transaction<'c, <$store as $crate::queries::HasDb>::Db>,
                org_id: &unmogrowp_domain::OrgId,
                user_id: &unmogrowp_domain::UserId,
            ) -> $crate::Result<(i64, String)> {
                let lock = format!("SELECT id FROM organizations WHERE id = $1{}", self.lock_clause());
                sqlx::query(sqlx::AssertSqlSafe(lock)).bind(org_id.as_str()).execute(&mut **tx).await?;
                let (owners,): (i64,) =
                    sqlx::query_as("SELECT count(*) FROM memberships WHERE org_id = $1 AND role = 'owner'")
                        .bind(org_id.as_str())
                        .fetch_one(&mut **tx)
                        .await?;
                let current: Option<(String,)> =
                    sqlx::query_as("SELECT role FROM memberships WHERE org_id = $1 AND user_id = $2")
                        .bind(org_id.as_str())
                        .bind(user_id.as_str())
                        .fetch_optional(&mut **tx)
                        .await?;
                let (current,) = current.ok_or($crate::error::StorageError::NotFound)?;
                Ok((owners, current))
            }
        }

        #[async_trait::async_trait]
        impl $crate::backend::TenantBackend for $store {
            async fn organization(&self, org_id: &unmogrowp_domain::OrgId) -> $crate::Result<Option<$crate::model::Organization>> {
                use $crate::backend::{Mode, Scope};
                let mut tx = self.begin(Scope::Tenant(org_id), Mode::Read).await?;
                let row: Option<$crate::queries::OrganizationRow> =
                    sqlx::query_as("SELECT id, name, created_at FROM organizations WHERE id = $1")
                        .bind(org_id.as_str())
                        .fetch_optional(&mut *tx)
                        .await?;
                tx.commit().await?;
                Ok(row.map(Into::into))
            }

            async fn members(&self, org_id: &unmogrowp_domain::OrgId) -> $crate::Result<Vec<$crate::model::Member>> {
                use $crate::backend::{Mode, Scope};
                let mut tx = self.begin(Scope::Tenant(org_id), Mode::Read).await?;
                let rows: Vec<$crate::queries::MemberRow> = sqlx::query_as(
                    "SELECT u.id, u.email, u.name, u.created_at, m.role, m.created_at AS joined_at
                     FROM memberships m JOIN users u ON u.id = m.user_id
                     WHERE m.org_id = $1
                     ORDER BY m.created_at, u.id",
                )
                .bind(org_id.as_str())
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            async fn member(
                &self,
                org_id: &unmogrowp_domain::OrgId,
                user_id: &unmogrowp_domain::UserId,
            ) -> $crate::Result<Option<$crate::model::Member>> {
                use $crate::backend::{Mode, Scope};
                let mut tx = self.begin(Scope::Tenant(org_id), Mode::ReadFresh).await?;
                let row: Option<$crate::queries::MemberRow> = sqlx::query_as(
                    "SELECT u.id, u.email, u.name, u.created_at, m.role, m.created_at AS joined_at
                     FROM memberships m JOIN users u ON u.id = m.user_id
                     WHERE m.org_id = $1 AND m.user_id = $2",
                )
                .bind(org_id.as_str())
                .bind(user_id.as_str())
                .fetch_optional(&mut *tx)
                .await?;
                tx.commit().await?;
                row.map(TryInto::try_into).transpose()
            }

            async fn set_member_role(
                &self,
                org_id: &unmogrowp_domain::OrgId,
                user_id: &unmogrowp_domain::UserId,
                role: unmogrowp_domain::Role,
            ) -> $crate::Result<()> {
                use $crate::backend::{Mode, Scope};
                use $crate::error::StorageError;
                let mut tx = self.begin(Scope::Tenant(org_id), Mode::Write).await?;
                let (owners, current) = self.lock_and_read_member(&mut tx, org_id, user_id).await?;
                if current == "owner" && role != unmogrowp_domain::Role::Owner && owners <= 1 {
                    return Err(StorageError::Refused("an organization must keep at least one owner"));
                }
                sqlx::query("UPDATE memberships SET role = $1 WHERE org_id = $2 AND user_id = $3")
                    .bind(role.as_str())
                    .bind(org_id.as_str())
                    .bind(user_id.as_str())
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn remove_member(
                &self,
                org_id: &unmogrowp_domain::OrgId,
                user_id: &unmogrowp_domain::UserId,
            ) -> $crate::Result<()> {
                use $crate::backend::{Mode, Scope};
                use $crate::error::StorageError;
                let mut tx = self.begin(Scope::Tenant(org_id), Mode::Write).await?;
                let (owners, current) = self.lock_and_read_member(&mut tx, org_id, user_id).await?;
                if current == "owner" && owners <= 1 {
                    return Err(StorageError::Refused("an organization must keep at least one owner"));
                }
                sqlx::query("DELETE FROM memberships WHERE org_id = $1 AND user_id = $2")
                    .bind(org_id.as_str())
                    .bind(user_id.as_str())
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn create_invitation(
                &self,
                org_id: &unmogrowp_domain::OrgId,
                invitation: $crate::model::NewInvitation,
            ) -> $crate::Result<$crate::model::Invitation> {
                use $crate::backend::{Mode, Scope};
                let record = $crate::model::Invitation {
                    id: unmogrowp_domain::InvitationId::generate(),
                    org_id: org_id.clone(),
                    email: invitation.email,
                    role: invitation.role,
                    invited_by: Some(invitation.invited_by),
                    created_at: unmogrowp_domain::time::now_millis(),
                    expires_at: invitation.expires_at,
                    accepted_at: None,
                };
                let mut tx = self.begin(Scope::Tenant(org_id), Mode::Write).await?;
                sqlx::query(
                    "INSERT INTO invitations (id, org_id, email, role, token_hash, invited_by, created_at, expires_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(record.id.as_str())
                .bind(org_id.as_str())
                .bind(&record.email)
                .bind(record.role.as_str())
                .bind(&invitation.token_hash)
                .bind(record.invited_by.as_ref().map(unmogrowp_domain::UserId::as_str))
                .bind(record.created_at)
                .bind(record.expires_at)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(record)
            }

            async fn invitations(&self, org_id: &unmogrowp_domain::OrgId) -> $crate::Result<Vec<$crate::model::Invitation>> {
                use $crate::backend::{Mode, Scope};
                let mut tx = self.begin(Scope::Tenant(org_id), Mode::Read).await?;
                let rows: Vec<$crate::queries::InvitationRow> = sqlx::query_as(
                    "SELECT id, org_id, email, role, invited_by, created_at, expires_at, accepted_at
                     FROM invitations WHERE org_id = $1 ORDER BY created_at DESC, id DESC",
                )
                .bind(org_id.as_str())
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            async fn audit_log(
                &self,
                org_id: &unmogrowp_domain::OrgId,
                filter: &$crate::model::AuditFilter,
                sealed_actor: Option<&str>,
            ) -> $crate::Result<Vec<$crate::model::AuditEntry>> {
                use $crate::backend::{Mode, Scope};
                let mut tx = self.begin(Scope::Tenant(org_id), Mode::Read).await?;
                let rows: Vec<$crate::queries::AuditRow> = sqlx::query_as(
                    "SELECT id, org_id, at, actor_id, actor, action, target, ip, user_agent, outcome, details
                     FROM audit_log
                     WHERE org_id = $1
                       AND ($2 IS NULL OR id < $2)
                       AND ($3 IS NULL OR action = $3)
                       AND ($4 IS NULL OR actor = $9 OR actor_id = $4)
                       AND ($5 IS NULL OR outcome = $5)
                       AND ($6 IS NULL OR at >= $6)
                       AND ($7 IS NULL OR at < $7)
                     ORDER BY id DESC
                     LIMIT $8",
                )
                .bind(org_id.as_str())
                .bind(filter.before.as_ref().map(unmogrowp_domain::AuditId::as_str))
                .bind(filter.action.as_deref())
                .bind(filter.actor.as_deref())
                .bind(filter.outcome.map($crate::model::Outcome::as_str))
                .bind(filter.from)
                .bind(filter.to)
                .bind(i64::from(filter.limit))
                .bind(sealed_actor)
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }
        }
    };
}

pub(crate) use implement_tenant;
