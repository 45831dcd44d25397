//! Building and recording audit entries. Recording never fails a request: an entry that
//! cannot be written is logged as an error instead.

use crate::auth::{Auth, ClientInfo};
use unmogrowp_domain::{OrgId, UserId};
use unmogrowp_storage::{NewAuditEntry, Outcome, Store};

/// An audit entry being built: start with [`Audit::new`], name the actor, the target, the outcome
/// and details, then record it with one of the `record*` methods.
pub struct Audit(NewAuditEntry);

impl Audit {
    /// Starts an entry for `action` (a dotted name such as `auth.login` or `app.created`) with the
    /// client's IP and user agent (none when the header was empty) and the outcome `Success`.
    pub fn new(action: &str, client: &ClientInfo) -> Self {
        Self(NewAuditEntry {
            action: action.to_owned(),
            ip: Some(client.ip.to_string()),
            user_agent: Some(client.user_agent.clone()).filter(|ua| !ua.is_empty()),
            outcome: Some(Outcome::Success),
            ..NewAuditEntry::default()
        })
    }

    /// Sets the actor to the signed-in caller (user id and email).
    pub fn by(mut self, auth: &Auth) -> Self {
        self.0.actor_id = Some(auth.user_id.clone());
        self.0.actor = Some(auth.email.clone());
        self
    }

    /// Sets the actor for requests without a session (login, registration, password reset): the
    /// email as given, and the user id when the account exists.
    pub fn actor(mut self, user_id: Option<&UserId>, email: &str) -> Self {
        self.0.actor_id = user_id.cloned();
        self.0.actor = Some(email.to_owned());
        self
    }

    /// Names what the action touched, as `kind:id` (e.g. `app:<id>`).
    pub fn target(mut self, target: impl Into<String>) -> Self {
        self.0.target = Some(target.into());
        self
    }

    /// Replaces the outcome (`Success` unless set), e.g. with `Denied` or `Failure`.
    pub fn outcome(mut self, outcome: Outcome) -> Self {
        self.0.outcome = Some(outcome);
        self
    }

    /// Attaches structured details, stored as JSON text. Admins of the organization read them in
    /// the audit log: never put passwords, tokens or other secrets in them.
    pub fn details(mut self, details: &serde_json::Value) -> Self {
        self.0.details = Some(details.to_string());
        self
    }

    /// Records in the caller's organization.
    pub async fn record(self, store: &Store, auth: &Auth) {
        let action = self.0.action.clone();
        if let Err(error) = store.reader(&auth.membership).audit(self.0).await {
            tracing::error!(action, error = %error, "could not write an audit entry");
        }
    }

    /// Records in the named organization, or in none.
    pub async fn record_for(self, store: &Store, org_id: Option<&OrgId>) {
        let action = self.0.action.clone();
        if let Err(error) = store.accounts().audit(org_id, self.0).await {
            tracing::error!(action, error = %error, "could not write an audit entry");
        }
    }

    /// Records in every organization the user belongs to (events about an account, such as
    /// failed logins, concern each of them), or in none when the user belongs to none.
    pub async fn record_for_user(self, store: &Store, user_id: &UserId) {
        let memberships = store.accounts().memberships(user_id).await.unwrap_or_default();
        if memberships.is_empty() {
            return self.record_for(store, None).await;
        }
        for membership in memberships {
            Audit(self.0.clone()).record_for(store, Some(&membership.organization.id)).await;
        }
    }
}
