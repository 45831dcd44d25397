use crate::Harness;
use crate::new_user;
use unmogrowp_domain::{OrgId, Role, UserId};
use unmogrowp_storage::tenant::AsOwner;
use unmogrowp_storage::{StorageError, Store, migrations_for};

pub use crate::sealing::*;

pub async fn registering_creates_user_organization_and_owner_membership(harness: &Harness) {
    let store = &harness.store;
    let (user, organization, membership) = store
        .accounts()
        .register_owner(new_user("ada@example.com"), "Analytical Engines")
        .await
        .unwrap();
    assert_eq!(user.email, "ada@example.com");
    assert_eq!(organization.name, "Analytical Engines");
    assert_eq!(membership.role(), Role::Owner);
    assert_eq!(membership.org_id(), &organization.id);

    let memberships = store.accounts().memberships(&user.id).await.unwrap();
    assert_eq!(memberships.len(), 1);
    assert_eq!(memberships[0].organization, organization);
    assert_eq!(memberships[0].membership, membership);

    let tenant = store.tenant::<AsOwner>(&membership).unwrap();
    assert_eq!(tenant.organization().await.unwrap(), organization);
    let members = tenant.members().await.unwrap();
    assert_eq!(members.len(), 1);
    assert_eq!(members[0].user, user);
    assert_eq!(members[0].role, Role::Owner);
}

pub async fn a_second_account_with_the_same_email_conflicts(harness: &Harness) {
    let store = &harness.store;
    store.accounts().register_owner(new_user("dup@example.com"), "First").await.unwrap();
    let error = store.accounts().register_owner(new_user("dup@example.com"), "Second").await;
    assert!(matches!(error, Err(StorageError::Conflict("email"))), "{error:?}");
}

pub async fn credentials_are_found_by_email_only(harness: &Harness) {
    let store = &harness.store;
    let (user, _, _) =
        store.accounts().register_owner(new_user("grace@example.com"), "Navy").await.unwrap();
    let found = store.accounts().credentials_by_email("grace@example.com").await.unwrap().unwrap();
    assert_eq!(found.user, user);
    assert_eq!(found.password_hash, "$argon2id$not-a-real-hash");
    assert!(store.accounts().credentials_by_email("nobody@example.com").await.unwrap().is_none());
    assert_eq!(store.accounts().user(&user.id).await.unwrap(), Some(user));
    assert_eq!(store.accounts().user(&UserId::generate()).await.unwrap(), None);
}

pub async fn memberships_are_per_user(harness: &Harness) {
    let store = &harness.store;
    let (alice, alice_org, _) =
        store.accounts().register_owner(new_user("alice@example.com"), "A").await.unwrap();
    let (bob, bob_org, _) =
        store.accounts().register_owner(new_user("bob@example.com"), "B").await.unwrap();
    assert!(store.accounts().membership(&alice.id, &bob_org.id).await.unwrap().is_none());
    assert!(store.accounts().membership(&bob.id, &alice_org.id).await.unwrap().is_none());
    assert!(store.accounts().membership(&alice.id, &OrgId::generate()).await.unwrap().is_none());
    let own = store.accounts().membership(&alice.id, &alice_org.id).await.unwrap().unwrap();
    assert_eq!(own.role(), Role::Owner);
    let listed = store.accounts().memberships(&bob.id).await.unwrap();
    assert_eq!(
        listed.iter().map(|m| m.organization.id.clone()).collect::<Vec<_>>(),
        vec![bob_org.id]
    );
}

pub async fn a_tenant_handle_sees_only_its_own_members(harness: &Harness) {
    let store = &harness.store;
    let (_, _, alice_membership) =
        store.accounts().register_owner(new_user("a@one.example"), "One").await.unwrap();
    let (bob, _, bob_membership) =
        store.accounts().register_owner(new_user("b@two.example"), "Two").await.unwrap();
    let members = store.reader(&alice_membership).members().await.unwrap();
    assert!(members.iter().all(|m| m.user.id != bob.id));
    let members = store.reader(&bob_membership).members().await.unwrap();
    assert_eq!(members.len(), 1);
    assert_eq!(members[0].user.id, bob.id);
}

pub async fn migrations_are_idempotent(harness: &Harness) {
    let store = &harness.store;
    // Opening the store migrated it; migrating again applies nothing and reports the
    // latest version this binary knows.
    let report = Store::migrate(&harness.options).await.unwrap();
    assert!(report.applied.is_empty(), "{:?}", report.applied);
    let latest = migrations_for(store.backend()).last().map(|m| m.version).unwrap();
    assert_eq!(report.current_version, latest);
}

pub(crate) fn app_record(token: &str) -> unmogrowp_storage::NewApp {
    unmogrowp_storage::NewApp {
        name: "Game".to_owned(),
        platform: unmogrowp_domain::app::Platform::Android,
        bundle_id: "com.example.game".to_owned(),
        store_url: "https://play.google.com/store/apps/details?id=com.example.game".to_owned(),
        app_token: token.to_owned(),
        attribution: unmogrowp_domain::app::AttributionSettings::default(),
        time_zone: "UTC".to_owned(),
        currency: "USD".to_owned(),
    }
}

pub async fn sessions_and_refresh_tokens(harness: &Harness) {
    use unmogrowp_storage::{NewSession, RefreshOutcome};
    let store = &harness.store;
    let (user, org, _) =
        store.accounts().register_owner(new_user("s@example.com"), "S").await.unwrap();
    let now = unmogrowp_domain::time::now_millis();
    let session = store
        .accounts()
        .create_session(NewSession {
            user_id: user.id.clone(),
            expires_at: now + 60_000,
            remember_me: false,
            ip: "127.0.0.1".into(),
            user_agent: "test".into(),
        })
        .await
        .unwrap();
    assert!(store.accounts().session(&session.id).await.unwrap().unwrap().is_active(now));
    store.accounts().add_refresh_token("hash-1", &session.id, &org.id).await.unwrap();
    assert_eq!(
        store.accounts().use_refresh_token("hash-1").await.unwrap(),
        RefreshOutcome::Rotated { session_id: session.id.clone(), org_id: org.id.clone() }
    );
    assert_eq!(
        store.accounts().use_refresh_token("hash-1").await.unwrap(),
        RefreshOutcome::Reused { session_id: session.id.clone() }
    );
    assert!(
        !store.accounts().session(&session.id).await.unwrap().unwrap().is_active(now),
        "reuse revokes the session"
    );
    assert_eq!(
        store.accounts().use_refresh_token("unknown").await.unwrap(),
        RefreshOutcome::Unknown
    );

    let second = store
        .accounts()
        .create_session(NewSession {
            user_id: user.id.clone(),
            expires_at: now + 60_000,
            remember_me: true,
            ip: "::1".into(),
            user_agent: String::new(),
        })
        .await
        .unwrap();
    let ended = store.accounts().revoke_user_sessions(&user.id, "test").await.unwrap();
    assert_eq!(ended, vec![second.id.clone()], "only sessions still active are reported");
}

pub async fn one_time_tokens_work_once_and_expire(harness: &Harness) {
    let store = &harness.store;
    let (user, _, _) =
        store.accounts().register_owner(new_user("t@example.com"), "T").await.unwrap();
    let now = unmogrowp_domain::time::now_millis();
    store
        .accounts()
        .add_one_time_token("fresh", "password_reset", &user.id, now + 60_000)
        .await
        .unwrap();
    store
        .accounts()
        .add_one_time_token("stale", "password_reset", &user.id, now - 1)
        .await
        .unwrap();
    assert!(store.accounts().use_one_time_token("fresh", "other_purpose").await.unwrap().is_none());
    assert_eq!(
        store.accounts().use_one_time_token("fresh", "password_reset").await.unwrap(),
        Some(user.id.clone())
    );
    assert!(
        store.accounts().use_one_time_token("fresh", "password_reset").await.unwrap().is_none(),
        "single use"
    );
    assert!(
        store.accounts().use_one_time_token("stale", "password_reset").await.unwrap().is_none(),
        "expired"
    );
    assert_eq!(
        store
            .accounts()
            .count_one_time_tokens(&user.id, "password_reset", now - 1000)
            .await
            .unwrap(),
        2
    );
}

pub async fn invitations_are_accepted_once_and_not_after_expiry(harness: &Harness) {
    use unmogrowp_storage::{Acceptor, NewInvitation};
    let store = &harness.store;
    let (owner, _, membership) =
        store.accounts().register_owner(new_user("o@inv.example"), "Inv").await.unwrap();
    let tenant = store.tenant::<AsOwner>(&membership).unwrap();
    let now = unmogrowp_domain::time::now_millis();
    let invitation = tenant
        .create_invitation(NewInvitation {
            email: "n@inv.example".into(),
            role: Role::Viewer,
            token_hash: "inv-1".into(),
            invited_by: owner.id.clone(),
            expires_at: now + 60_000,
        })
        .await
        .unwrap();
    let found = store.accounts().invitation_by_token("inv-1").await.unwrap().unwrap();
    assert_eq!(found.id, invitation.id);
    let (user, joined) = store
        .accounts()
        .accept_invitation(&invitation.id, Acceptor::New(new_user("n@inv.example")))
        .await
        .unwrap();
    assert_eq!(joined.role(), Role::Viewer);
    assert_eq!(user.email, "n@inv.example");
    let again = store
        .accounts()
        .accept_invitation(&invitation.id, Acceptor::Existing(user.id.clone()))
        .await;
    assert!(matches!(again, Err(StorageError::Refused(_))), "{again:?}");

    let expired = tenant
        .create_invitation(NewInvitation {
            email: "late@inv.example".into(),
            role: Role::Member,
            token_hash: "inv-2".into(),
            invited_by: owner.id.clone(),
            expires_at: now - 1,
        })
        .await
        .unwrap();
    let late = store
        .accounts()
        .accept_invitation(&expired.id, Acceptor::New(new_user("late@inv.example")))
        .await;
    assert!(matches!(late, Err(StorageError::Refused(_))), "{late:?}");
    assert!(
        store.accounts().credentials_by_email("late@inv.example").await.unwrap().is_none(),
        "nothing half-done"
    );
    assert_eq!(tenant.invitations().await.unwrap().len(), 2);
    assert_eq!(tenant.members().await.unwrap().len(), 2);
}

pub async fn the_last_owner_stays(harness: &Harness) {
    let store = &harness.store;
    let (owner, _, membership) =
        store.accounts().register_owner(new_user("only@owner.example"), "Solo").await.unwrap();
    let tenant = store.tenant::<AsOwner>(&membership).unwrap();
    assert!(matches!(
        tenant.set_member_role(&owner.id, Role::Admin).await,
        Err(StorageError::Refused(_))
    ));
    assert!(matches!(tenant.remove_member(&owner.id).await, Err(StorageError::Refused(_))));
    assert!(matches!(tenant.remove_member(&UserId::generate()).await, Err(StorageError::NotFound)));
    assert_eq!(tenant.member(&owner.id).await.unwrap().unwrap().role, Role::Owner);
}

pub async fn apps_and_keys_belong_to_their_organization(harness: &Harness) {
    use unmogrowp_storage::AppPatch;
    let store = &harness.store;
    let (_, _, mine) =
        store.accounts().register_owner(new_user("a@apps.example"), "Mine").await.unwrap();
    let (_, _, theirs) =
        store.accounts().register_owner(new_user("b@apps.example"), "Theirs").await.unwrap();
    let app =
        store.tenant::<AsOwner>(&mine).unwrap().create_app(app_record("token-1")).await.unwrap();
    assert!(matches!(
        store.tenant::<AsOwner>(&theirs).unwrap().create_app(app_record("token-1")).await,
        Err(StorageError::Conflict(_))
    ));
    assert_eq!(store.tenant::<AsOwner>(&mine).unwrap().apps().await.unwrap(), vec![app.clone()]);
    assert!(store.tenant::<AsOwner>(&theirs).unwrap().apps().await.unwrap().is_empty());
    assert!(store.tenant::<AsOwner>(&theirs).unwrap().app(&app.id).await.unwrap().is_none());
    assert!(matches!(
        store.tenant::<AsOwner>(&theirs).unwrap().update_app(&app.id, AppPatch::default()).await,
        Err(StorageError::NotFound)
    ));
    assert!(matches!(
        store.tenant::<AsOwner>(&theirs).unwrap().delete_app(&app.id).await,
        Err(StorageError::NotFound)
    ));
    assert!(matches!(
        store.tenant::<AsOwner>(&theirs).unwrap().create_key(&app.id, "n", "").await,
        Err(StorageError::NotFound)
    ));
    assert_eq!(
        store.credentials().app_by_token("token-1").await.unwrap().map(|a| a.id),
        Some(app.id.clone())
    );

    let mut settings = app.attribution;
    settings.click_window_hours = 12;
    let updated = store
        .tenant::<AsOwner>(&mine)
        .unwrap()
        .update_app(
            &app.id,
            AppPatch {
                attribution: Some(settings),
                currency: Some("EUR".into()),
                ..AppPatch::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.attribution.click_window_hours, 12);
    assert_eq!(updated.currency, "EUR");
    assert_eq!(updated.name, "Game");

    let key = store
        .tenant::<AsOwner>(&mine)
        .unwrap()
        .create_key(&app.id, "nonce-1", "billing")
        .await
        .unwrap();
    let stored = store.credentials().key(&key.id).await.unwrap().unwrap();
    assert_eq!((stored.nonce.as_str(), stored.name.as_str()), ("nonce-1", "billing"));
    assert!(matches!(
        store.tenant::<AsOwner>(&theirs).unwrap().revoke_key(&app.id, &key.id).await,
        Err(StorageError::NotFound)
    ));
    store.tenant::<AsOwner>(&mine).unwrap().revoke_key(&app.id, &key.id).await.unwrap();
    assert!(store.credentials().key(&key.id).await.unwrap().unwrap().revoked_at.is_some());

    store.tenant::<AsOwner>(&mine).unwrap().delete_app(&app.id).await.unwrap();
    assert!(store.credentials().app_by_token("token-1").await.unwrap().is_none());
    assert!(store.credentials().key(&key.id).await.unwrap().is_none(), "keys go with their app");
}

pub async fn the_audit_log_is_per_organization_newest_first(harness: &Harness) {
    use unmogrowp_storage::{AuditFilter, NewAuditEntry, Outcome};
    let store = &harness.store;
    let (_, org, mine) =
        store.accounts().register_owner(new_user("a@audit.example"), "Mine").await.unwrap();
    let (_, _, theirs) =
        store.accounts().register_owner(new_user("b@audit.example"), "Theirs").await.unwrap();
    for index in 0..3 {
        let entry = NewAuditEntry {
            action: format!("test.{index}"),
            actor: Some("a@audit.example".into()),
            ..NewAuditEntry::default()
        };
        store.tenant::<AsOwner>(&mine).unwrap().audit(entry).await.unwrap();
    }
    let failure = NewAuditEntry {
        action: "auth.login".into(),
        outcome: Some(Outcome::Failure),
        ..NewAuditEntry::default()
    };
    store.accounts().audit(Some(&org.id), failure).await.unwrap();
    store
        .accounts()
        .audit(None, NewAuditEntry { action: "auth.login".into(), ..NewAuditEntry::default() })
        .await
        .unwrap();

    let all = store
        .tenant::<AsOwner>(&mine)
        .unwrap()
        .audit_log(&AuditFilter { limit: 10, ..AuditFilter::default() })
        .await
        .unwrap();
    let actions: Vec<&str> = all.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, vec!["auth.login", "test.2", "test.1", "test.0"]);
    assert!(
        store
            .tenant::<AsOwner>(&theirs)
            .unwrap()
            .audit_log(&AuditFilter { limit: 10, ..AuditFilter::default() })
            .await
            .unwrap()
            .is_empty()
    );
    let page = store
        .tenant::<AsOwner>(&mine)
        .unwrap()
        .audit_log(&AuditFilter {
            limit: 2,
            before: Some(all[1].id.clone()),
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(
        page.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(),
        vec!["test.1", "test.0"]
    );
    let failures = store
        .tenant::<AsOwner>(&mine)
        .unwrap()
        .audit_log(&AuditFilter {
            limit: 10,
            outcome: Some(Outcome::Failure),
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(failures.len(), 1);
}
