//! Rows as the database returns them (plain strings and integers, decoded the same way by
//! both drivers), and their conversion into the crate's records.

use crate::Annotation;
use crate::model::*;
use crate::{Result, StorageError};
use unmogrowp_domain::{
    AppId, AuditId, InvitationId, KeyId, LinkId, OrgId, Role, SessionId, UserId,
};

fn corrupt(what: &str, value: &str) -> StorageError {
    StorageError::Unexpected(anyhow::anyhow!("stored {what} `{value}` is not valid"))
}

pub(crate) fn parse_role(raw: &str) -> Result<Role> {
    raw.parse().map_err(|_| corrupt("role", raw))
}

#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    pub id: String,
    pub email: String,
    pub name: String,
    pub created_at: i64,
}

impl From<UserRow> for User {
    fn from(row: UserRow) -> Self {
        User {
            id: UserId::from_stored(row.id),
            email: row.email,
            name: row.name,
            created_at: row.created_at,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct CredentialsRow {
    pub id: String,
    pub email: String,
    pub name: String,
    pub created_at: i64,
    pub password_hash: String,
    pub password_changed_at: i64,
}

impl From<CredentialsRow> for UserCredentials {
    fn from(row: CredentialsRow) -> Self {
        UserCredentials {
            user: User {
                id: UserId::from_stored(row.id),
                email: row.email,
                name: row.name,
                created_at: row.created_at,
            },
            password_hash: row.password_hash,
            password_changed_at: row.password_changed_at,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct OrganizationRow {
    pub id: String,
    pub name: String,
    pub created_at: i64,
}

impl From<OrganizationRow> for Organization {
    fn from(row: OrganizationRow) -> Self {
        Organization { id: OrgId::from_stored(row.id), name: row.name, created_at: row.created_at }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct MembershipRow {
    pub org_id: String,
    pub org_name: String,
    pub org_created_at: i64,
    pub role: String,
}

impl MembershipRow {
    pub fn into_record(self, user_id: &UserId) -> Result<OrganizationMembership> {
        let org_id = OrgId::from_stored(self.org_id);
        Ok(OrganizationMembership {
            organization: Organization {
                id: org_id.clone(),
                name: self.org_name,
                created_at: self.org_created_at,
            },
            membership: Membership {
                org_id,
                user_id: user_id.clone(),
                role: parse_role(&self.role)?,
            },
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct MemberRow {
    pub id: String,
    pub email: String,
    pub name: String,
    pub created_at: i64,
    pub role: String,
    pub joined_at: i64,
}

impl TryFrom<MemberRow> for Member {
    type Error = StorageError;
    fn try_from(row: MemberRow) -> Result<Self> {
        Ok(Member {
            role: parse_role(&row.role)?,
            joined_at: row.joined_at,
            user: User {
                id: UserId::from_stored(row.id),
                email: row.email,
                name: row.name,
                created_at: row.created_at,
            },
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct SessionRow {
    pub id: String,
    pub user_id: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    pub remember_me: bool,
    pub ip: String,
    pub user_agent: String,
}

impl From<SessionRow> for Session {
    fn from(row: SessionRow) -> Self {
        Session {
            id: SessionId::from_stored(row.id),
            user_id: UserId::from_stored(row.user_id),
            created_at: row.created_at,
            expires_at: row.expires_at,
            revoked_at: row.revoked_at,
            remember_me: row.remember_me,
            ip: row.ip,
            user_agent: row.user_agent,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct InvitationRow {
    pub id: String,
    pub org_id: String,
    pub email: String,
    pub role: String,
    pub invited_by: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub accepted_at: Option<i64>,
}

impl TryFrom<InvitationRow> for Invitation {
    type Error = StorageError;
    fn try_from(row: InvitationRow) -> Result<Self> {
        Ok(Invitation {
            id: InvitationId::from_stored(row.id),
            org_id: OrgId::from_stored(row.org_id),
            email: row.email,
            role: parse_role(&row.role)?,
            invited_by: row.invited_by.map(UserId::from_stored),
            created_at: row.created_at,
            expires_at: row.expires_at,
            accepted_at: row.accepted_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct AppRow {
    pub id: String,
    pub org_id: String,
    pub name: String,
    pub platform: String,
    pub bundle_id: String,
    pub store_url: String,
    pub app_token: String,
    pub attribution: String,
    pub time_zone: String,
    pub currency: String,
    pub created_at: i64,
    pub updated_at: i64,
}

pub(crate) const APP_COLUMNS: &str = "id, org_id, name, platform, bundle_id, store_url, app_token, \
    attribution, time_zone, currency, created_at, updated_at";

impl TryFrom<AppRow> for App {
    type Error = StorageError;
    fn try_from(row: AppRow) -> Result<Self> {
        Ok(App {
            platform: unmogrowp_domain::app::Platform::parse(&row.platform)
                .ok_or_else(|| corrupt("platform", &row.platform))?,
            attribution: serde_json::from_str(&row.attribution)
                .map_err(|_| corrupt("attribution settings", &row.attribution))?,
            id: AppId::from_stored(row.id),
            org_id: OrgId::from_stored(row.org_id),
            name: row.name,
            bundle_id: row.bundle_id,
            store_url: row.store_url,
            app_token: row.app_token,
            time_zone: row.time_zone,
            currency: row.currency,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct KeyRow {
    pub id: String,
    pub org_id: String,
    pub app_id: String,
    pub nonce: String,
    pub name: String,
    pub created_at: i64,
    pub created_by: Option<String>,
    pub revoked_at: Option<i64>,
}

impl From<KeyRow> for AppKey {
    fn from(row: KeyRow) -> Self {
        AppKey {
            id: KeyId::from_stored(row.id),
            org_id: OrgId::from_stored(row.org_id),
            app_id: AppId::from_stored(row.app_id),
            nonce: row.nonce,
            name: row.name,
            created_at: row.created_at,
            created_by: row.created_by.map(UserId::from_stored),
            revoked_at: row.revoked_at,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct AuditRow {
    pub id: String,
    pub org_id: Option<String>,
    pub at: i64,
    pub actor_id: Option<String>,
    pub actor: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub outcome: String,
    pub details: Option<String>,
}

impl TryFrom<AuditRow> for AuditEntry {
    type Error = StorageError;
    fn try_from(row: AuditRow) -> Result<Self> {
        Ok(AuditEntry {
            outcome: Outcome::parse(&row.outcome)
                .ok_or_else(|| corrupt("outcome", &row.outcome))?,
            id: AuditId::from_stored(row.id),
            org_id: row.org_id.map(OrgId::from_stored),
            at: row.at,
            actor_id: row.actor_id.map(UserId::from_stored),
            actor: row.actor,
            action: row.action,
            target: row.target,
            ip: row.ip,
            user_agent: row.user_agent,
            details: row.details,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct LinkRow {
    pub id: String,
    pub org_id: String,
    pub app_id: String,
    pub network: String,
    pub campaign: String,
    pub adgroup: String,
    pub creative: String,
    pub retargeting: bool,
    pub deep_link: Option<String>,
    pub created_at: i64,
}

impl From<LinkRow> for Link {
    fn from(row: LinkRow) -> Self {
        Link {
            id: LinkId::from_stored(row.id),
            org_id: OrgId::from_stored(row.org_id),
            app_id: AppId::from_stored(row.app_id),
            network: row.network,
            campaign: row.campaign,
            adgroup: row.adgroup,
            creative: row.creative,
            retargeting: row.retargeting,
            deep_link: row.deep_link,
            created_at: row.created_at,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct PostbackRow {
    pub id: String,
    pub org_id: String,
    pub app_id: String,
    pub network: String,
    pub url_template: String,
    pub events: String,
    pub created_at: i64,
}

impl From<PostbackRow> for Postback {
    fn from(row: PostbackRow) -> Self {
        Postback {
            id: row.id,
            org_id: OrgId::from_stored(row.org_id),
            app_id: AppId::from_stored(row.app_id),
            network: row.network,
            url_template: row.url_template,
            events: serde_json::from_str(&row.events).unwrap_or_default(),
            created_at: row.created_at,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct DeliveryRow {
    pub id: String,
    pub org_id: String,
    pub app_id: String,
    pub postback_id: String,
    pub url: String,
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub next_attempt_at: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub traceparent: Option<String>,
}

impl From<DeliveryRow> for Delivery {
    fn from(row: DeliveryRow) -> Self {
        Delivery {
            id: row.id,
            org_id: OrgId::from_stored(row.org_id),
            app_id: AppId::from_stored(row.app_id),
            postback_id: row.postback_id,
            url: row.url,
            status: row.status,
            attempts: row.attempts,
            last_error: row.last_error,
            next_attempt_at: row.next_attempt_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
            traceparent: row.traceparent,
        }
    }
}

pub(crate) const DELIVERY_COLUMNS: &str = "id, org_id, app_id, postback_id, url, status, attempts, last_error, next_attempt_at, created_at, updated_at, traceparent";

/// An annotation as selected: id, app id, day, text, author id, author name, created at.
pub(crate) type AnnotationRow =
    (String, String, String, String, Option<String>, Option<String>, i64);

/// An annotation of `org_id` from its row; a stored day that does not parse is corrupt data.
pub(crate) fn annotation_of(
    org_id: &OrgId,
    (id, app_id, day, text, created_by, author_name, created_at): AnnotationRow,
) -> Result<Annotation> {
    let day = day.parse().map_err(|_| corrupt("annotation day", &day))?;
    Ok(Annotation {
        id: unmogrowp_domain::AnnotationId::from_stored(id),
        org_id: org_id.clone(),
        app_id: AppId::from_stored(app_id),
        day,
        text,
        created_by: created_by.map(UserId::from_stored),
        author_name,
        created_at,
    })
}
