//! The queries, written once. `$N` placeholders, `BIGINT`/`INTEGER` millisecond times and
//! `TEXT` ids behave the same in SQLite and PostgreSQL, so one text serves both; the macro
//! stamps the implementation out for each driver's concrete types. Each store type provides
//! `begin(scope, mode)`, which on PostgreSQL also sets the row-level-security settings.

macro_rules! implement_store_backend {
    ($store:ty, $kind:expr) => {
        #[async_trait::async_trait]
        impl $crate::backend::StoreBackend for $store {
            fn kind(&self) -> $crate::store::Backend {
                $kind
            }

            async fn ping(&self) -> $crate::Result<()> {
                self.ping_pools().await
            }

            async fn close(&self) {
                self.close_pools().await
            }

            async fn register_owner(
                &self,
                new_user: $crate::model::NewUser,
                organization_name: &str,
            ) -> $crate::Result<(
                $crate::model::User,
                $crate::model::Organization,
                $crate::model::Membership,
            )> {
                use $crate::backend::{Mode, Scope};
                use $crate::error::StorageError;
                let now = unmogrowp_domain::time::now_millis();
                let user = $crate::model::User {
                    id: unmogrowp_domain::UserId::generate(),
                    email: new_user.email,
                    name: new_user.name,
                    created_at: now,
                };
                let organization = $crate::model::Organization {
                    id: unmogrowp_domain::OrgId::generate(),
                    name: organization_name.to_owned(),
                    created_at: now,
                };
                let mut tx = self.begin(Scope::System, Mode::Write).await?;
                sqlx::query(
                    "INSERT INTO users (id, email, name, password_hash, created_at, password_changed_at)
                     VALUES ($1, $2, $3, $4, $5, $5)",
                )
                .bind(user.id.as_str())
                .bind(&user.email)
                .bind(&user.name)
                .bind(&new_user.password_hash)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(|error| StorageError::from_sqlx(error, "email"))?;
                sqlx::query("INSERT INTO organizations (id, name, created_at) VALUES ($1, $2, $3)")
                    .bind(organization.id.as_str())
                    .bind(&organization.name)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "INSERT INTO memberships (org_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)",
                )
                .bind(organization.id.as_str())
                .bind(user.id.as_str())
                .bind(unmogrowp_domain::Role::Owner.as_str())
                .bind(now)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                let membership = $crate::model::Membership {
                    org_id: organization.id.clone(),
                    user_id: user.id.clone(),
                    role: unmogrowp_domain::Role::Owner,
                };
                Ok((user, organization, membership))
            }

            async fn user_credentials_by_email(
                &self,
                email: &str,
            ) -> $crate::Result<Option<$crate::model::UserCredentials>> {
                use $crate::backend::{Mode, Scope};
                use sqlx::Row;
                let mut tx = self.begin(Scope::System, Mode::Read).await?;
                let row = sqlx::query(
                    "SELECT id, email, name, created_at, password_hash, password_changed_at
                     FROM users WHERE email = $1",
                )
                .bind(email)
                .fetch_optional(&mut *tx)
                .await?;
                tx.commit().await?;
                let Some(row) = row else { return Ok(None) };
                Ok(Some($crate::model::UserCredentials {
                    user: $crate::model::User {
                        id: unmogrowp_domain::UserId::from_stored(row.try_get("id")?),
                        email: row.try_get("email")?,
                        name: row.try_get("name")?,
                        created_at: row.try_get("created_at")?,
                    },
                    password_hash: row.try_get("password_hash")?,
                    password_changed_at: row.try_get("password_changed_at")?,
                }))
            }

            async fn user_by_id(
                &self,
                user_id: &unmogrowp_domain::UserId,
            ) -> $crate::Result<Option<$crate::model::User>> {
                use $crate::backend::{Mode, Scope};
                use sqlx::Row;
                let mut tx = self.begin(Scope::User(user_id), Mode::Read).await?;
                let row = sqlx::query("SELECT id, email, name, created_at FROM users WHERE id = $1")
                    .bind(user_id.as_str())
                    .fetch_optional(&mut *tx)
                    .await?;
                tx.commit().await?;
                let Some(row) = row else { return Ok(None) };
                Ok(Some($crate::model::User {
                    id: unmogrowp_domain::UserId::from_stored(row.try_get("id")?),
                    email: row.try_get("email")?,
                    name: row.try_get("name")?,
                    created_at: row.try_get("created_at")?,
                }))
            }

            async fn memberships_of(
                &self,
                user_id: &unmogrowp_domain::UserId,
            ) -> $crate::Result<Vec<$crate::model::OrganizationMembership>> {
                use $crate::backend::{Mode, Scope};
                use sqlx::Row;
                let mut tx = self.begin(Scope::User(user_id), Mode::Read).await?;
                let rows = sqlx::query(
                    "SELECT o.id, o.name, o.created_at, m.role
                     FROM memberships m JOIN organizations o ON o.id = m.org_id
                     WHERE m.user_id = $1
                     ORDER BY m.created_at, o.id",
                )
                .bind(user_id.as_str())
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                rows.iter()
                    .map(|row| {
                        let org_id = unmogrowp_domain::OrgId::from_stored(row.try_get("id")?);
                        Ok($crate::model::OrganizationMembership {
                            organization: $crate::model::Organization {
                                id: org_id.clone(),
                                name: row.try_get("name")?,
                                created_at: row.try_get("created_at")?,
                            },
                            membership: $crate::model::Membership {
                                org_id,
                                user_id: user_id.clone(),
                                role: $crate::queries::parse_role(&row.try_get::<String, _>("role")?)?,
                            },
                        })
                    })
                    .collect()
            }

            async fn membership(
                &self,
                user_id: &unmogrowp_domain::UserId,
                org_id: &unmogrowp_domain::OrgId,
            ) -> $crate::Result<Option<$crate::model::Membership>> {
                use $crate::backend::{Mode, Scope};
                use sqlx::Row;
                let mut tx = self.begin(Scope::User(user_id), Mode::Read).await?;
                let row = sqlx::query(
                    "SELECT role FROM memberships WHERE user_id = $1 AND org_id = $2",
                )
                .bind(user_id.as_str())
                .bind(org_id.as_str())
                .fetch_optional(&mut *tx)
                .await?;
                tx.commit().await?;
                let Some(row) = row else { return Ok(None) };
                Ok(Some($crate::model::Membership {
                    org_id: org_id.clone(),
                    user_id: user_id.clone(),
                    role: $crate::queries::parse_role(&row.try_get::<String, _>("role")?)?,
                }))
            }

            async fn organization(
                &self,
                org_id: &unmogrowp_domain::OrgId,
            ) -> $crate::Result<Option<$crate::model::Organization>> {
                use $crate::backend::{Mode, Scope};
                use sqlx::Row;
                let mut tx = self.begin(Scope::Tenant(org_id), Mode::Read).await?;
                let row =
                    sqlx::query("SELECT id, name, created_at FROM organizations WHERE id = $1")
                        .bind(org_id.as_str())
                        .fetch_optional(&mut *tx)
                        .await?;
                tx.commit().await?;
                let Some(row) = row else { return Ok(None) };
                Ok(Some($crate::model::Organization {
                    id: unmogrowp_domain::OrgId::from_stored(row.try_get("id")?),
                    name: row.try_get("name")?,
                    created_at: row.try_get("created_at")?,
                }))
            }

            async fn members(
                &self,
                org_id: &unmogrowp_domain::OrgId,
            ) -> $crate::Result<Vec<$crate::model::Member>> {
                use $crate::backend::{Mode, Scope};
                use sqlx::Row;
                let mut tx = self.begin(Scope::Tenant(org_id), Mode::Read).await?;
                let rows = sqlx::query(
                    "SELECT u.id, u.email, u.name, u.created_at, m.role, m.created_at AS joined_at
                     FROM memberships m JOIN users u ON u.id = m.user_id
                     WHERE m.org_id = $1
                     ORDER BY m.created_at, u.id",
                )
                .bind(org_id.as_str())
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                rows.iter()
                    .map(|row| {
                        Ok($crate::model::Member {
                            user: $crate::model::User {
                                id: unmogrowp_domain::UserId::from_stored(row.try_get("id")?),
                                email: row.try_get("email")?,
                                name: row.try_get("name")?,
                                created_at: row.try_get("created_at")?,
                            },
                            role: $crate::queries::parse_role(&row.try_get::<String, _>("role")?)?,
                            joined_at: row.try_get("joined_at")?,
                        })
                    })
                    .collect()
            }
        }
    };
}

pub(crate) use implement_store_backend;

pub(crate) fn parse_role(raw: &str) -> crate::Result<unmogrowp_domain::Role> {
    raw.parse().map_err(|error| crate::StorageError::Unexpected(anyhow::Error::new(error)))
}
