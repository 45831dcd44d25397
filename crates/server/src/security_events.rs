//! Anomaly detection on security events. Three are watched:
//!
//! - **credential stuffing**: the distinct accounts failing to sign in from one address (IPv4,
//!   or IPv6 /64) reach `auth.lockout_ip_threshold` within the window;
//! - **an account under attack**: the account's own failures reach
//!   `auth.lockout_account_threshold` (from anywhere: a distributed guess);
//! - **unusual export volume**: an organization's exported rows in one UTC day exceed
//!   `security.export_anomaly_factor` times its average of the 7 days before, and
//!   `security.export_anomaly_min_rows` (counted per day through Redis when set).
//!
//! Each is recorded in the audit log (`security.credential_stuffing` with no organization,
//! `security.account_attacked` for the user, `security.unusual_export` for the organization),
//! counted in `security_events_total{kind}`, logged, and raised as a notification by email: to
//! `security.alert_emails` for credential stuffing, to the account's owner, and to the
//! organization's owners and admins. Each fires once, when its count crosses the threshold.
//! (A sign-in from a new country or network needs GeoIP data, which this build does not
//! ship.)

use crate::audit::Audit;
use crate::auth::{Auth, ClientInfo};
use crate::state::AppState;
use unmogrowp_jobs::mail::{send_in_background, templates};
use unmogrowp_storage::Outcome;

fn count(kind: &'static str) {
    metrics::counter!(crate::metric_names::SECURITY_EVENTS_TOTAL, "kind" => kind).increment(1);
}

/// Many distinct accounts failed to sign in from `address` (an address key, see
/// [`crate::limits::address_key`]).
pub(crate) async fn credential_stuffing(
    state: &AppState,
    client: &ClientInfo,
    address: &str,
    accounts: u32,
) {
    count("credential_stuffing");
    let window_minutes = state.config.auth.lockout_window_seconds / 60;
    tracing::warn!(
        address,
        accounts,
        "credential stuffing: many accounts failing from one address"
    );
    Audit::new("security.credential_stuffing", client)
        .outcome(Outcome::Denied)
        .target(format!("address:{address}"))
        .details(&serde_json::json!({ "address": address, "accounts": accounts, "window_minutes": window_minutes }))
        .record_for(&state.store, None)
        .await;
    let facts = [
        format!("{accounts} different accounts failed to sign in from {address} within {window_minutes} minutes."),
        "Further attempts from that address are held back; the audit log has the details (security.credential_stuffing).".to_owned(),
    ];
    for to in &state.config.security.alert_emails {
        send_in_background(
            state.mailer.clone(),
            templates::security_alert(to, "credential stuffing", &facts),
        );
    }
}

/// The sign-ins of the account with this email failed `failures` times within the window.
pub(crate) async fn account_attacked(
    state: &AppState,
    client: &ClientInfo,
    email: &str,
    failures: u32,
) {
    let Ok(Some(account)) = state.store.accounts().credentials_by_email(email).await else {
        // No such account: nothing to warn anyone about (the guesses cannot succeed).
        return;
    };
    count("account_attacked");
    let window_minutes = state.config.auth.lockout_window_seconds / 60;
    tracing::warn!(user_id = %account.user.id, failures, "many failed sign-ins on one account");
    Audit::new("security.account_attacked", client)
        .actor(Some(&account.user.id), &account.user.email)
        .outcome(Outcome::Denied)
        .details(&serde_json::json!({ "failures": failures, "window_minutes": window_minutes }))
        .record_for_user(&state.store, &account.user.id)
        .await;
    send_in_background(
        state.mailer.clone(),
        templates::failed_sign_ins(
            &account.user.email,
            &account.user.name,
            failures,
            window_minutes,
        ),
    );
}

/// Records a finished export (`export.completed`, with its rows) and checks the organization's
/// exported rows today against its own baseline.
pub(crate) async fn export_completed(
    state: &AppState,
    auth: &Auth,
    client: &ClientInfo,
    details: serde_json::Value,
    rows: u64,
) {
    Audit::new("export.completed", client)
        .by(auth)
        .details(&details)
        .record(&state.store, auth)
        .await;
    let org = auth.membership.org_id();
    let today = unmogrowp_domain::time::now_millis().div_euclid(86_400_000);
    let counts = state.shared.add_daily(&format!("export_rows:{org}"), today, rows, 7).await;
    let Some((&today_rows, before)) = counts.split_last() else { return };
    let baseline = before.iter().sum::<u64>() / 7;
    let factor = state.config.security.export_anomaly_factor.unwrap_or(10).max(1);
    let floor = state.config.security.export_anomaly_min_rows.unwrap_or(1_000_000);
    let threshold = baseline.saturating_mul(factor).max(floor);
    // Once a day: when this export takes the day's total over the threshold.
    if !(today_rows > threshold && today_rows.saturating_sub(rows) <= threshold) {
        return;
    }
    count("unusual_export");
    tracing::warn!(org_id = %org, today_rows, baseline, "unusual export volume");
    Audit::new("security.unusual_export", client)
        .by(auth)
        .outcome(Outcome::Success)
        .details(&serde_json::json!({ "rows_today": today_rows, "daily_average_7d": baseline, "threshold": threshold }))
        .record(&state.store, auth)
        .await;
    let Some(tenant) = state.store.tenant::<unmogrowp_storage::tenant::AsViewer>(&auth.membership)
    else {
        return;
    };
    let Ok(members) = tenant.members().await else { return };
    let facts = [
        format!(
            "{today_rows} rows were exported from your organization today (UTC); the daily average of the 7 days before was {baseline}."
        ),
        format!("The last export was made by {}.", auth.email),
        "If this was not expected, review the audit log (export.completed) and the members' roles."
            .to_owned(),
    ];
    for member in members.iter().filter(|m| m.role >= unmogrowp_domain::Role::Admin) {
        send_in_background(
            state.mailer.clone(),
            templates::security_alert(&member.user.email, "unusual export volume", &facts),
        );
    }
}
