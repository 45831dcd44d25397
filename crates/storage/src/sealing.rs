//! Sealing and opening the personal fields of the store's records (the columns listed in
//! [`crate::vault`]), for the handles.

use crate::backend::StoreBackend;
use crate::model::*;
use crate::vault::{self, DataKey, open, seal};
use crate::{Delivery, Result};
use unmogrowp_domain::{AppId, OrgId};

pub(crate) fn seal_new_user(key: &DataKey, mut user: NewUser) -> NewUser {
    user.email = seal(key, vault::USER_EMAIL, &user.email);
    user.name = seal(key, vault::USER_NAME, &user.name);
    user
}

pub(crate) fn open_user(key: &DataKey, mut user: User) -> Result<User> {
    user.email = open(key, vault::USER_EMAIL, &user.email)?;
    user.name = open(key, vault::USER_NAME, &user.name)?;
    Ok(user)
}

pub(crate) fn open_credentials(
    key: &DataKey,
    mut credentials: UserCredentials,
) -> Result<UserCredentials> {
    credentials.user = open_user(key, credentials.user)?;
    Ok(credentials)
}

pub(crate) fn open_member(key: &DataKey, mut member: Member) -> Result<Member> {
    member.user = open_user(key, member.user)?;
    Ok(member)
}

pub(crate) fn open_annotation(
    key: &DataKey,
    mut annotation: crate::Annotation,
) -> Result<crate::Annotation> {
    annotation.author_name =
        annotation.author_name.map(|name| open(key, vault::USER_NAME, &name)).transpose()?;
    Ok(annotation)
}

pub(crate) fn open_invitation(key: &DataKey, mut invitation: Invitation) -> Result<Invitation> {
    invitation.email = open(key, vault::INVITATION_EMAIL, &invitation.email)?;
    Ok(invitation)
}

pub(crate) fn open_key(key: &DataKey, mut app_key: AppKey) -> Result<AppKey> {
    app_key.nonce = open(key, vault::KEY_NONCE, &app_key.nonce)?;
    Ok(app_key)
}

pub(crate) fn open_postback(key: &DataKey, mut postback: Postback) -> Result<Postback> {
    postback.url_template = open(key, vault::POSTBACK_URL, &postback.url_template)?;
    Ok(postback)
}

pub(crate) fn open_delivery(key: &DataKey, mut delivery: Delivery) -> Result<Delivery> {
    if delivery.url != crate::ERASED_URL {
        delivery.url = open(key, vault::DELIVERY_URL, &delivery.url)?;
    }
    Ok(delivery)
}

/// Scrubs the app's deliveries whose URL names one of the identifier `values` (see
/// [`crate::Credentials::scrub_deliveries`]): the URLs are sealed, so they are opened and
/// matched here, page by page, and the matches scrubbed by id.
pub(crate) async fn scrub_deliveries(
    backend: &dyn StoreBackend,
    key: &DataKey,
    org_id: &OrgId,
    app_id: &AppId,
    values: &[String],
) -> Result<u64> {
    // As it was put in the URL (percent-encoded), and as sent, compared in lower case.
    let mut forms: Vec<String> = Vec::new();
    for value in values {
        forms.push(unmogrowp_domain::postback::encode(value).to_lowercase());
        forms.push(value.to_lowercase());
    }
    forms.retain(|form| !form.is_empty());
    forms.sort();
    forms.dedup();
    if forms.is_empty() {
        return Ok(0);
    }
    let mut after = String::new();
    let mut scrubbed = 0;
    loop {
        let page = backend.delivery_urls(org_id, app_id, &after, 1000).await?;
        let Some((last, _)) = page.last() else { break };
        after = last.clone();
        let mut ids = Vec::new();
        for (id, url) in &page {
            if url == crate::ERASED_URL {
                continue;
            }
            let url = open(key, vault::DELIVERY_URL, url)?.to_lowercase();
            if forms.iter().any(|form| url.contains(form.as_str())) {
                ids.push(id.clone());
            }
        }
        if !ids.is_empty() {
            scrubbed += backend.scrub_deliveries(org_id, app_id, &ids).await?;
        }
    }
    Ok(scrubbed)
}

fn seal_option(
    key: &DataKey,
    column: crate::queries::keys::SealedColumn,
    value: &mut Option<String>,
) {
    if let Some(text) = value {
        *text = seal(key, column, text);
    }
}

fn open_option(
    key: &DataKey,
    column: crate::queries::keys::SealedColumn,
    value: &mut Option<String>,
) -> Result<()> {
    if let Some(text) = value {
        *text = open(key, column, text)?;
    }
    Ok(())
}

pub(crate) fn seal_audit(key: &DataKey, mut entry: NewAuditEntry) -> NewAuditEntry {
    seal_option(key, vault::AUDIT_ACTOR, &mut entry.actor);
    seal_option(key, vault::AUDIT_TARGET, &mut entry.target);
    seal_option(key, vault::AUDIT_IP, &mut entry.ip);
    seal_option(key, vault::AUDIT_USER_AGENT, &mut entry.user_agent);
    seal_option(key, vault::AUDIT_DETAILS, &mut entry.details);
    entry
}

pub(crate) fn open_audit(key: &DataKey, mut entry: AuditEntry) -> Result<AuditEntry> {
    open_option(key, vault::AUDIT_ACTOR, &mut entry.actor)?;
    open_option(key, vault::AUDIT_TARGET, &mut entry.target)?;
    open_option(key, vault::AUDIT_IP, &mut entry.ip)?;
    open_option(key, vault::AUDIT_USER_AGENT, &mut entry.user_agent)?;
    open_option(key, vault::AUDIT_DETAILS, &mut entry.details)?;
    Ok(entry)
}

pub(crate) fn seal_session(key: &DataKey, mut session: NewSession) -> NewSession {
    session.ip = seal(key, vault::SESSION_IP, &session.ip);
    session.user_agent = seal(key, vault::SESSION_USER_AGENT, &session.user_agent);
    session
}

pub(crate) fn open_session(key: &DataKey, mut session: Session) -> Result<Session> {
    session.ip = open(key, vault::SESSION_IP, &session.ip)?;
    session.user_agent = open(key, vault::SESSION_USER_AGENT, &session.user_agent)?;
    Ok(session)
}
