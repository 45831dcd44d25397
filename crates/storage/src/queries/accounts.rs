//! Users, sessions, tokens, invitation acceptance, audit writes.

macro_rules! implement_accounts {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::backend::AccountsBackend for $store {
            async fn register_owner(
                &self,
                new_user: $crate::model::NewUser,
                organization_name: &str,
            ) -> $crate::Result<($crate::model::User, $crate::model::Organization, $crate::model::Membership)> {
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
                sqlx::query("INSERT INTO memberships (org_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)")
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

            async fn user_credentials_by_email(&self, email: &str) -> $crate::Result<Option<$crate::model::UserCredentials>> {
                use $crate::backend::{Mode, Scope};
                let mut tx = self.begin(Scope::System, Mode::ReadFresh).await?;
                let row: Option<$crate::queries::CredentialsRow> = sqlx::query_as(
                    "SELECT id, email, name, created_at, password_hash, password_changed_at FROM users WHERE email = $1",
                )
                .bind(email)
                .fetch_optional(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(row.map(Into::into))
            }

            async fn user_credentials_by_id(&self, user_id: &unmogrowp_domain::UserId) -> $crate::Result<Option<$crate::model::UserCredentials>> {
                use $crate::backend::{Mode, Scope};
                let mut tx = self.begin(Scope::User(user_id), Mode::ReadFresh).await?;
                let row: Option<$crate::queries::CredentialsRow> = sqlx::query_as(
                    "SELECT id, email, name, created_at, password_hash, password_changed_at FROM users WHERE id = $1",
                )
                .bind(user_id.as_str())
                .fetch_optional(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(row.map(Into::into))
            }

            async fn user_by_id(&self, user_id: &unmogrowp_domain::UserId) -> $crate::Result<Option<$crate::model::User>> {
                use $crate::backend::{Mode, Scope};
                let mut tx = self.begin(Scope::User(user_id), Mode::Read).await?;
                let row: Option<$crate::queries::UserRow> =
                    sqlx::query_as("SELECT id, email, name, created_at FROM users WHERE id = $1")
                        .bind(user_id.as_str())
                        .fetch_optional(&mut *tx)
                        .await?;
                tx.commit().await?;
                Ok(row.map(Into::into))
            }

            async fn memberships_of(&self, user_id: &unmogrowp_domain::UserId) -> $crate::Result<Vec<$crate::model::OrganizationMembership>> {
                use $crate::backend::{Mode, Scope};
                let mut tx = self.begin(Scope::User(user_id), Mode::ReadFresh).await?;
                let rows: Vec<$crate::queries::MembershipRow> = sqlx::query_as(
                    "SELECT o.id AS org_id, o.name AS org_name, o.created_at AS org_created_at, m.role
                     FROM memberships m JOIN organizations o ON o.id = m.org_id
                     WHERE m.user_id = $1
                     ORDER BY m.created_at, o.id",
                )
                .bind(user_id.as_str())
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                rows.into_iter().map(|row| row.into_record(user_id)).collect()
            }

            async fn membership(
                &self,
                user_id: &unmogrowp_domain::UserId,
                org_id: &unmogrowp_domain::OrgId,
            ) -> $crate::Result<Option<$crate::model::Membership>> {
                use $crate::backend::{Mode, Scope};
                let mut tx = self.begin(Scope::User(user_id), Mode::ReadFresh).await?;
                let role: Option<(String,)> =
                    sqlx::query_as("SELECT role FROM memberships WHERE user_id = $1 AND org_id = $2")
                        .bind(user_id.as_str())
                        .bind(org_id.as_str())
                        .fetch_optional(&mut *tx)
                        .await?;
                tx.commit().await?;
                let Some((role,)) = role else { return Ok(None) };
                Ok(Some($crate::model::Membership {
                    org_id: org_id.clone(),
                    user_id: user_id.clone(),
                    role: $crate::queries::parse_role(&role)?,
                }))
            }

            async fn set_password(&self, user_id: &unmogrowp_domain::UserId, password_hash: &str) -> $crate::Result<()> {
                use $crate::backend::{Mode, Scope};
                let mut tx = self.begin(Scope::User(user_id), Mode::Write).await?;
                let done = sqlx::query("UPDATE users SET password_hash = $1, password_changed_at = $2 WHERE id = $3")
                    .bind(password_hash)
                    .bind(unmogrowp_domain::time::now_millis())
                    .bind(user_id.as_str())
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                if done.rows_affected() == 0 {
                    return Err($crate::error::StorageError::NotFound);
                }
                Ok(())
            }

            async fn create_organization(
                &self,
                user_id: &unmogrowp_domain::UserId,
                name: &str,
            ) -> $crate::Result<($crate::model::Organization, $crate::model::Membership)> {
                use $crate::backend::{Mode, Scope};
                let now = unmogrowp_domain::time::now_millis();
                let organization = $crate::model::Organization {
                    id: unmogrowp_domain::OrgId::generate(),
                    name: name.to_owned(),
                    created_at: now,
                };
                // A new tenant: no organization's wall applies yet.
                let mut tx = self.begin(Scope::System, Mode::Write).await?;
                sqlx::query("INSERT INTO organizations (id, name, created_at) VALUES ($1, $2, $3)")
                    .bind(organization.id.as_str())
                    .bind(&organization.name)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("INSERT INTO memberships (org_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)")
                    .bind(organization.id.as_str())
                    .bind(user_id.as_str())
                    .bind(unmogrowp_domain::Role::Owner.as_str())
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                let membership = $crate::model::Membership {
                    org_id: organization.id.clone(),
                    user_id: user_id.clone(),
                    role: unmogrowp_domain::Role::Owner,
                };
                Ok((organization, membership))
            }

            async fn set_name(&self, user_id: &unmogrowp_domain::UserId, name: &str) -> $crate::Result<()> {
                use $crate::backend::{Mode, Scope};
                let mut tx = self.begin(Scope::User(user_id), Mode::Write).await?;
                let done = sqlx::query("UPDATE users SET name = $1 WHERE id = $2")
                    .bind(name)
                    .bind(user_id.as_str())
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                if done.rows_affected() == 0 {
                    return Err($crate::error::StorageError::NotFound);
                }
                Ok(())
            }

            async fn create_session(&self, session: $crate::model::NewSession) -> $crate::Result<$crate::model::Session> {
                use $crate::backend::{Mode, Scope};
                let record = $crate::model::Session {
                    id: unmogrowp_domain::SessionId::generate(),
                    user_id: session.user_id,
                    created_at: unmogrowp_domain::time::now_millis(),
                    expires_at: session.expires_at,
                    revoked_at: None,
                    remember_me: session.remember_me,
                    ip: session.ip,
                    user_agent: session.user_agent,
                };
                let mut tx = self.begin(Scope::User(&record.user_id), Mode::Write).await?;
                sqlx::query(
                    "INSERT INTO sessions (id, user_id, created_at, expires_at, remember_me, ip, user_agent)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(record.id.as_str())
                .bind(record.user_id.as_str())
                .bind(record.created_at)
                .bind(record.expires_at)
                .bind(record.remember_me)
                .bind(&record.ip)
                .bind(&record.user_agent)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(record)
            }

            async fn session(&self, session_id: &unmogrowp_domain::SessionId) -> $crate::Result<Option<$crate::model::Session>> {
                use $crate::backend::{Mode, Scope};
                let mut tx = self.begin(Scope::System, Mode::ReadFresh).await?;
                let row: Option<$crate::queries::SessionRow> = sqlx::query_as(
                    "SELECT id, user_id, created_at, expires_at, revoked_at, remember_me, ip, user_agent
                     FROM sessions WHERE id = $1",
                )
                .bind(session_id.as_str())
                .fetch_optional(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(row.map(Into::into))
            }

            async fn revoke_session(&self, session_id: &unmogrowp_domain::SessionId, reason: &str) -> $crate::Result<()> {
                use $crate::backend::{Mode, Scope};
                let mut tx = self.begin(Scope::System, Mode::Write).await?;
                sqlx::query(
                    "UPDATE sessions SET revoked_at = $1, revoked_reason = $2 WHERE id = $3 AND revoked_at IS NULL",
                )
                .bind(unmogrowp_domain::time::now_millis())
                .bind(reason)
                .bind(session_id.as_str())
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn revoke_user_sessions(
                &self,
                user_id: &unmogrowp_domain::UserId,
                reason: &str,
            ) -> $crate::Result<Vec<unmogrowp_domain::SessionId>> {
                use $crate::backend::{Mode, Scope};
                let mut tx = self.begin(Scope::User(user_id), Mode::Write).await?;
                let ids: Vec<(String,)> = sqlx::query_as(
                    "UPDATE sessions SET revoked_at = $1, revoked_reason = $2
                     WHERE user_id = $3 AND revoked_at IS NULL RETURNING id",
                )
                .bind(unmogrowp_domain::time::now_millis())
                .bind(reason)
                .bind(user_id.as_str())
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(ids.into_iter().map(|(id,)| unmogrowp_domain::SessionId::from_stored(id)).collect())
            }

            async fn revoke_other_sessions(
                &self,
                user_id: &unmogrowp_domain::UserId,
                keep: &unmogrowp_domain::SessionId,
                reason: &str,
            ) -> $crate::Result<Vec<unmogrowp_domain::SessionId>> {
                use $crate::backend::{Mode, Scope};
                let mut tx = self.begin(Scope::User(user_id), Mode::Write).await?;
                let ids: Vec<(String,)> = sqlx::query_as(
                    "UPDATE sessions SET revoked_at = $1, revoked_reason = $2
                     WHERE user_id = $3 AND id <> $4 AND revoked_at IS NULL RETURNING id",
                )
                .bind(unmogrowp_domain::time::now_millis())
                .bind(reason)
                .bind(user_id.as_str())
                .bind(keep.as_str())
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(ids.into_iter().map(|(id,)| unmogrowp_domain::SessionId::from_stored(id)).collect())
            }

            async fn add_refresh_token(
                &self,
                token_hash: &str,
                session_id: &unmogrowp_domain::SessionId,
                org_id: &unmogrowp_domain::OrgId,
            ) -> $crate::Result<()> {
                use $crate::backend::{Mode, Scope};
                let mut tx = self.begin(Scope::System, Mode::Write).await?;
                sqlx::query(
                    "INSERT INTO refresh_tokens (token_hash, session_id, org_id, created_at) VALUES ($1, $2, $3, $4)",
                )
                .bind(token_hash)
                .bind(session_id.as_str())
                .bind(org_id.as_str())
                .bind(unmogrowp_domain::time::now_millis())
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn use_refresh_token(&self, token_hash: &str) -> $crate::Result<$crate::model::RefreshOutcome> {
                use $crate::backend::{Mode, Scope};
                use $crate::model::RefreshOutcome;
                let now = unmogrowp_domain::time::now_millis();
                let mut tx = self.begin(Scope::System, Mode::Write).await?;
                // Marking the token used and reading it back is one statement, so two
                // concurrent refreshes with the same token cannot both succeed.
                let fresh: Option<(String, String)> = sqlx::query_as(
                    "UPDATE refresh_tokens SET used_at = $1
                     WHERE token_hash = $2 AND used_at IS NULL
                     RETURNING session_id, org_id",
                )
                .bind(now)
                .bind(token_hash)
                .fetch_optional(&mut *tx)
                .await?;
                let outcome = match fresh {
                    Some((session_id, org_id)) => RefreshOutcome::Rotated {
                        session_id: unmogrowp_domain::SessionId::from_stored(session_id),
                        org_id: unmogrowp_domain::OrgId::from_stored(org_id),
                    },
                    None => {
                        let used: Option<(String,)> =
                            sqlx::query_as("SELECT session_id FROM refresh_tokens WHERE token_hash = $1")
                                .bind(token_hash)
                                .fetch_optional(&mut *tx)
                                .await?;
                        match used {
                            Some((session_id,)) => {
                                sqlx::query(
                                    "UPDATE sessions SET revoked_at = $1, revoked_reason = 'refresh_token_reused'
                                     WHERE id = $2 AND revoked_at IS NULL",
                                )
                                .bind(now)
                                .bind(&session_id)
                                .execute(&mut *tx)
                                .await?;
                                RefreshOutcome::Reused {
                                    session_id: unmogrowp_domain::SessionId::from_stored(session_id),
                                }
                            }
                            None => RefreshOutcome::Unknown,
                        }
                    }
                };
                tx.commit().await?;
                Ok(outcome)
            }

            async fn add_one_time_token(
                &self,
                token_hash: &str,
                purpose: &str,
                user_id: &unmogrowp_domain::UserId,
                expires_at: unmogrowp_domain::time::UnixMillis,
            ) -> $crate::Result<()> {
                use $crate::backend::{Mode, Scope};
                let mut tx = self.begin(Scope::User(user_id), Mode::Write).await?;
                sqlx::query(
                    "INSERT INTO one_time_tokens (token_hash, purpose, user_id, created_at, expires_at)
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(token_hash)
                .bind(purpose)
                .bind(user_id.as_str())
                .bind(unmogrowp_domain::time::now_millis())
                .bind(expires_at)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn count_one_time_tokens(
                &self,
                user_id: &unmogrowp_domain::UserId,
                purpose: &str,
                since: unmogrowp_domain::time::UnixMillis,
            ) -> $crate::Result<u64> {
                use $crate::backend::{Mode, Scope};
                let mut tx = self.begin(Scope::User(user_id), Mode::ReadFresh).await?;
                let (count,): (i64,) = sqlx::query_as(
                    "SELECT count(*) FROM one_time_tokens WHERE user_id = $1 AND purpose = $2 AND created_at >= $3",
                )
                .bind(user_id.as_str())
                .bind(purpose)
                .bind(since)
                .fetch_one(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(u64::try_from(count).unwrap_or(0))
            }

            async fn one_time_token_user(&self, token_hash: &str, purpose: &str) -> $crate::Result<Option<unmogrowp_domain::UserId>> {
                use $crate::backend::{Mode, Scope};
                let now = unmogrowp_domain::time::now_millis();
                let mut tx = self.begin(Scope::System, Mode::ReadFresh).await?;
                let user: Option<(String,)> = sqlx::query_as(
                    "SELECT user_id FROM one_time_tokens
                     WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3",
                )
                .bind(token_hash)
                .bind(purpose)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(user.map(|(id,)| unmogrowp_domain::UserId::from_stored(id)))
            }

            async fn use_one_time_token(&self, token_hash: &str, purpose: &str) -> $crate::Result<Option<unmogrowp_domain::UserId>> {
                use $crate::backend::{Mode, Scope};
                let now = unmogrowp_domain::time::now_millis();
                let mut tx = self.begin(Scope::System, Mode::Write).await?;
                let user: Option<(String,)> = sqlx::query_as(
                    "UPDATE one_time_tokens SET used_at = $1
                     WHERE token_hash = $2 AND purpose = $3 AND used_at IS NULL AND expires_at > $1
                     RETURNING user_id",
                )
                .bind(now)
                .bind(token_hash)
                .bind(purpose)
                .fetch_optional(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(user.map(|(id,)| unmogrowp_domain::UserId::from_stored(id)))
            }

            async fn invitation_by_token(&self, token_hash: &str) -> $crate::Result<Option<$crate::model::Invitation>> {
                use $crate::backend::{Mode, Scope};
                let mut tx = self.begin(Scope::System, Mode::ReadFresh).await?;
                let row: Option<$crate::queries::InvitationRow> = sqlx::query_as(
                    "SELECT id, org_id, email, role, invited_by, created_at, expires_at, accepted_at
                     FROM invitations WHERE token_hash = $1",
                )
                .bind(token_hash)
                .fetch_optional(&mut *tx)
                .await?;
                tx.commit().await?;
                row.map(TryInto::try_into).transpose()
            }

            async fn accept_invitation(
                &self,
                invitation_id: &unmogrowp_domain::InvitationId,
                acceptor: $crate::model::Acceptor,
            ) -> $crate::Result<($crate::model::User, $crate::model::Membership)> {
                use $crate::backend::{Mode, Scope};
                use $crate::error::StorageError;
                let now = unmogrowp_domain::time::now_millis();
                let mut tx = self.begin(Scope::System, Mode::Write).await?;
                let user = match acceptor {
                    $crate::model::Acceptor::Existing(user_id) => {
                        let row: Option<$crate::queries::UserRow> =
                            sqlx::query_as("SELECT id, email, name, created_at FROM users WHERE id = $1")
                                .bind(user_id.as_str())
                                .fetch_optional(&mut *tx)
                                .await?;
                        $crate::model::User::from(row.ok_or(StorageError::NotFound)?)
                    }
                    $crate::model::Acceptor::New(new_user) => {
                        let user = $crate::model::User {
                            id: unmogrowp_domain::UserId::generate(),
                            email: new_user.email,
                            name: new_user.name,
                            created_at: now,
                        };
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
                        user
                    }
                };
                let accepted: Option<(String, String)> = sqlx::query_as(
                    "UPDATE invitations SET accepted_at = $1, accepted_by = $2
                     WHERE id = $3 AND accepted_at IS NULL AND expires_at > $1
                     RETURNING org_id, role",
                )
                .bind(now)
                .bind(user.id.as_str())
                .bind(invitation_id.as_str())
                .fetch_optional(&mut *tx)
                .await?;
                let Some((org_id, role)) = accepted else {
                    return Err(StorageError::Refused("the invitation was already used or has expired"));
                };
                sqlx::query(
                    "INSERT INTO memberships (org_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (org_id, user_id) DO NOTHING",
                )
                .bind(&org_id)
                .bind(user.id.as_str())
                .bind(&role)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                let (role,): (String,) =
                    sqlx::query_as("SELECT role FROM memberships WHERE org_id = $1 AND user_id = $2")
                        .bind(&org_id)
                        .bind(user.id.as_str())
                        .fetch_one(&mut *tx)
                        .await?;
                tx.commit().await?;
                let membership = $crate::model::Membership {
                    org_id: unmogrowp_domain::OrgId::from_stored(org_id),
                    user_id: user.id.clone(),
                    role: $crate::queries::parse_role(&role)?,
                };
                Ok((user, membership))
            }

            async fn audit(
                &self,
                org_id: Option<&unmogrowp_domain::OrgId>,
                entry: $crate::model::NewAuditEntry,
            ) -> $crate::Result<()> {
                use $crate::backend::{Mode, Scope};
                let scope = match org_id {
                    Some(org) => Scope::Tenant(org),
                    None => Scope::System,
                };
                let mut tx = self.begin(scope, Mode::Write).await?;
                sqlx::query(
                    "INSERT INTO audit_log (id, org_id, at, actor_id, actor, action, target, ip, user_agent, outcome, details)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                )
                .bind(unmogrowp_domain::AuditId::generate().as_str())
                .bind(org_id.map(unmogrowp_domain::OrgId::as_str))
                .bind(unmogrowp_domain::time::now_millis())
                .bind(entry.actor_id.as_ref().map(unmogrowp_domain::UserId::as_str))
                .bind(entry.actor.as_deref())
                .bind(&entry.action)
                .bind(entry.target.as_deref())
                .bind(entry.ip.as_deref())
                .bind(entry.user_agent.as_deref())
                .bind(entry.outcome.unwrap_or($crate::model::Outcome::Success).as_str())
                .bind(entry.details.as_deref())
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }
        }
    };
}

pub(crate) use implement_accounts;
