use crate::Harness;
use crate::new_user;
use unmogrowp_domain::{OrgId, Role, UserId};
use unmogrowp_storage::{StorageError, Store, migrations_for};

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

    let tenant = store.tenant(&membership);
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
    let members = store.tenant(&alice_membership).members().await.unwrap();
    assert!(members.iter().all(|m| m.user.id != bob.id));
    let members = store.tenant(&bob_membership).members().await.unwrap();
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
