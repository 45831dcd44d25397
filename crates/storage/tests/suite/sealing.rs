//! Envelope encryption: personal columns are sealed at rest, read back plain, destroyed with
//! their organization, and survive a master key rotation.

use crate::cases::app_record;
use crate::{Harness, new_user};
use std::sync::Arc;
use unmogrowp_domain::Role;
use unmogrowp_storage::tenant::AsOwner;
use unmogrowp_storage::vault::MasterKeys;
use unmogrowp_storage::{NewDelivery, NewInvitation, NewPostback, StorageError, Store};

const SECRETS: [&str; 6] = [
    "ada@seal.example",
    "Ada Lovelace",
    "nonce-secret-1",
    "tok-123",
    "bob@seal.example",
    "tok-456",
];

async fn all_personal_values(harness: &Harness) -> Vec<String> {
    let mut values = Vec::new();
    for sql in [
        "SELECT email FROM users",
        "SELECT name FROM users",
        "SELECT email FROM invitations",
        "SELECT url_template FROM postbacks",
        "SELECT url FROM postback_deliveries",
        "SELECT nonce FROM app_keys",
        "SELECT ip FROM sessions",
        "SELECT user_agent FROM sessions",
        "SELECT actor FROM audit_log",
        "SELECT target FROM audit_log",
        "SELECT ip FROM audit_log",
        "SELECT user_agent FROM audit_log",
        "SELECT details FROM audit_log",
    ] {
        values.extend(harness.raw_texts(sql).await.into_iter().flatten());
    }
    values
}

pub async fn personal_columns_are_sealed_at_rest_and_read_back_plain(harness: &Harness) {
    let store = &harness.store;
    let mut ada = new_user("ada@seal.example");
    ada.name = "Ada Lovelace".to_owned();
    let (owner, _, membership) = store.accounts().register_owner(ada, "Seal").await.unwrap();
    assert_eq!((owner.email.as_str(), owner.name.as_str()), ("ada@seal.example", "Ada Lovelace"));
    let tenant = store.tenant::<AsOwner>(&membership).unwrap();
    let app = tenant.create_app(app_record("seal-token")).await.unwrap();
    let key = tenant.create_key(&app.id, "nonce-secret-1", "billing").await.unwrap();
    assert_eq!(key.nonce, "nonce-secret-1");
    let postback = tenant
        .create_postback(
            &app.id,
            NewPostback {
                network: "net".into(),
                url_template: "https://net.example/cb?token=tok-123&c={click_id}".into(),
                events: vec!["install".into()],
            },
        )
        .await
        .unwrap();
    tenant
        .create_invitation(NewInvitation {
            email: "bob@seal.example".into(),
            role: Role::Viewer,
            token_hash: "seal-inv".into(),
            invited_by: owner.id.clone(),
            expires_at: unmogrowp_domain::time::now_millis() + 60_000,
        })
        .await
        .unwrap();
    store
        .credentials()
        .enqueue_deliveries(&[NewDelivery {
            org_id: membership.org_id().clone(),
            app_id: app.id.clone(),
            postback_id: postback.id.clone(),
            dedup_key: "seal-1".into(),
            url: "https://net.example/cb?token=tok-456&c=click-1".into(),
            traceparent: None,
        }])
        .await
        .unwrap();

    let session = store
        .accounts()
        .create_session(unmogrowp_storage::NewSession {
            user_id: owner.id.clone(),
            expires_at: unmogrowp_domain::time::now_millis() + 60_000,
            remember_me: false,
            ip: "198.51.100.23".into(),
            user_agent: "SealBrowser/1.0".into(),
        })
        .await
        .unwrap();
    assert_eq!(
        (session.ip.as_str(), session.user_agent.as_str()),
        ("198.51.100.23", "SealBrowser/1.0")
    );
    let read = store.accounts().session(&session.id).await.unwrap().unwrap();
    assert_eq!((read.ip.as_str(), read.user_agent.as_str()), ("198.51.100.23", "SealBrowser/1.0"));
    tenant
        .audit(unmogrowp_storage::NewAuditEntry {
            actor_id: Some(owner.id.clone()),
            actor: Some("ada@seal.example".into()),
            action: "member.invited".into(),
            target: Some("bob@seal.example".into()),
            ip: Some("198.51.100.23".into()),
            user_agent: Some("SealBrowser/1.0".into()),
            outcome: None,
            details: Some(r#"{"email":"bob@seal.example"}"#.into()),
        })
        .await
        .unwrap();
    let by_email = unmogrowp_storage::AuditFilter {
        actor: Some("ada@seal.example".into()),
        limit: 10,
        ..Default::default()
    };
    let entries = tenant.audit_log(&by_email).await.unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].target.as_deref(), Some("bob@seal.example"));
    assert_eq!(entries[0].ip.as_deref(), Some("198.51.100.23"));
    let by_id = unmogrowp_storage::AuditFilter {
        actor: Some(owner.id.as_str().to_owned()),
        limit: 10,
        ..Default::default()
    };
    assert_eq!(tenant.audit_log(&by_id).await.unwrap().len(), 1);
    let nobody = unmogrowp_storage::AuditFilter {
        actor: Some("eve@seal.example".into()),
        limit: 10,
        ..Default::default()
    };
    assert!(tenant.audit_log(&nobody).await.unwrap().is_empty());

    // At rest: every value sealed, none of the plain text anywhere.
    let stored = all_personal_values(harness).await;
    assert_eq!(stored.len(), 13, "{stored:?}");
    for value in &stored {
        assert!(value.starts_with("ev1."), "not sealed: {value}");
        for secret in SECRETS {
            assert!(!value.contains(secret), "{secret} is readable at rest");
        }
    }

    // Through the store: plain, and lookups by email still work.
    let found = store.accounts().credentials_by_email("ada@seal.example").await.unwrap().unwrap();
    assert_eq!(found.user, owner);
    assert!(store.accounts().credentials_by_email("eve@seal.example").await.unwrap().is_none());
    assert!(matches!(
        store.accounts().register_owner(new_user("ada@seal.example"), "Again").await,
        Err(StorageError::Conflict("email"))
    ));
    let members = tenant.members().await.unwrap();
    assert_eq!(
        (members[0].user.email.as_str(), members[0].user.name.as_str()),
        ("ada@seal.example", "Ada Lovelace")
    );
    assert_eq!(tenant.keys(&app.id).await.unwrap()[0].nonce, "nonce-secret-1");
    assert_eq!(store.credentials().key(&key.id).await.unwrap().unwrap().nonce, "nonce-secret-1");
    assert_eq!(
        tenant.postbacks(&app.id).await.unwrap()[0].url_template,
        "https://net.example/cb?token=tok-123&c={click_id}"
    );
    assert_eq!(
        store.credentials().postbacks(&app.id).await.unwrap()[0].url_template,
        postback.url_template
    );
    assert_eq!(tenant.invitations().await.unwrap()[0].email, "bob@seal.example");
    assert_eq!(
        store.accounts().invitation_by_token("seal-inv").await.unwrap().unwrap().email,
        "bob@seal.example"
    );
    let now = unmogrowp_domain::time::now_millis();
    let claimed = store.credentials().claim_deliveries(now + 1, now + 60_000, 10).await.unwrap();
    assert_eq!(claimed[0].url, "https://net.example/cb?token=tok-456&c=click-1");
    assert_eq!(tenant.deliveries(&app.id, 10).await.unwrap()[0].url, claimed[0].url);

    // An erasure still finds the delivery naming the device, although its URL is sealed.
    let scrubbed = store
        .credentials()
        .scrub_deliveries(membership.org_id(), &app.id, &["click-1".to_owned()])
        .await
        .unwrap();
    assert_eq!(scrubbed, 1);
    assert_eq!(tenant.deliveries(&app.id, 10).await.unwrap()[0].url, unmogrowp_storage::ERASED_URL);
}

pub async fn deleting_an_organization_destroys_its_data_key(harness: &Harness) {
    let store = &harness.store;
    let (_, doomed, membership) =
        store.accounts().register_owner(new_user("gone@seal.example"), "Doomed").await.unwrap();
    let (_, kept, _) =
        store.accounts().register_owner(new_user("kept@seal.example"), "Kept").await.unwrap();
    let vault = store.vault();
    let key = vault.org_key(&doomed.id).await.unwrap().unwrap();
    let sealed_ip = key.seal("events.ip", "203.0.113.9");
    let kept_key = vault.org_key(&kept.id).await.unwrap().unwrap();
    let kept_ip = kept_key.seal("events.ip", "198.51.100.7");
    let tenant = store.tenant::<AsOwner>(&membership).unwrap();
    tenant.create_app(app_record("doomed-token")).await.unwrap();

    store.delete_organization(&doomed.id).await.unwrap();
    let scopes = harness.raw_texts("SELECT scope FROM data_keys").await;
    assert!(!scopes.contains(&Some(doomed.id.as_str().to_owned())), "{scopes:?}");
    assert!(scopes.contains(&Some(kept.id.as_str().to_owned())));
    assert!(harness.raw_texts("SELECT id FROM apps").await.is_empty());
    assert!(matches!(store.delete_organization(&doomed.id).await, Err(StorageError::NotFound)));

    // No process can get the key again (a fresh store has nothing cached), nor make a new
    // one for the deleted organization; the other organization's data still opens.
    let reopened = Store::open(&harness.options).await.unwrap();
    assert!(reopened.vault().org_key(&doomed.id).await.unwrap().is_none());
    assert!(store.vault().org_key(&doomed.id).await.unwrap().is_none());
    let kept_again = reopened.vault().org_key(&kept.id).await.unwrap().unwrap();
    assert_eq!(kept_again.open("events.ip", &kept_ip).unwrap(), "198.51.100.7");
    assert!(kept_again.open("events.ip", &sealed_ip).is_err());
    // The user account (platform key) is untouched.
    assert!(reopened.accounts().credentials_by_email("gone@seal.example").await.unwrap().is_some());
    reopened.close().await;
}

pub async fn rotation_rewraps_data_keys_under_the_new_master_version(harness: &Harness) {
    let store = &harness.store;
    let (_, org, _) =
        store.accounts().register_owner(new_user("rot@seal.example"), "Rotate").await.unwrap();
    // The organization's key is made on first use.
    store.vault().org_key(&org.id).await.unwrap().unwrap();
    let file = harness.options.data_dir.join(unmogrowp_storage::vault::KEY_FILE);
    let v1 = MasterKeys::load(None, &file).unwrap();
    assert_eq!(v1.versions(), vec![1]);
    let both = v1.add_to_file().unwrap();
    let options = unmogrowp_storage::StoreOptions {
        master_keys: Some(Arc::new(both)),
        ..harness.options.clone()
    };
    let rotating = Store::open(&options).await.unwrap();
    let rotation = rotating.vault().rotate().await.unwrap();
    assert_eq!((rotation.active_version, rotation.rewrapped, rotation.current), (2, 2, 0));
    let again = rotating.vault().rotate().await.unwrap();
    assert_eq!((again.rewrapped, again.current), (0, 2));
    rotating.close().await;
    let versions = harness.raw_texts("SELECT CAST(master_version AS TEXT) FROM data_keys").await;
    assert_eq!(versions, vec![Some("2".to_owned()); 2]);

    // A ring holding only version 2 reads everything; one holding only version 1 cannot.
    let text = std::fs::read_to_string(&file).unwrap();
    let only = |version: &str| {
        text.lines().filter(|line| line.starts_with(&format!("{version}:"))).collect::<String>()
    };
    let with_ring = |ring: String| unmogrowp_storage::StoreOptions {
        master_keys: Some(Arc::new(MasterKeys::parse(&ring).unwrap())),
        ..harness.options.clone()
    };
    let reader = Store::open(&with_ring(only("2"))).await.unwrap();
    assert!(reader.accounts().credentials_by_email("rot@seal.example").await.unwrap().is_some());
    assert!(reader.vault().org_key(&org.id).await.unwrap().is_some());
    reader.close().await;
    // A node still on the old ring refuses to start, naming the cause.
    let Err(error) = Store::open(&with_ring(only("1"))).await else {
        panic!("a ring without version 2 opened the store")
    };
    assert!(error.to_string().contains("master key version 2"), "{error}");
}

pub async fn rows_written_before_encryption_are_sealed_on_open(harness: &Harness) {
    harness
        .raw_execute(
            "INSERT INTO users (id, email, name, password_hash, created_at, password_changed_at)
             VALUES ('usr_legacy', 'old@seal.example', 'Old Timer', 'x', 1, 1)",
        )
        .await;
    let reopened = Store::open(&harness.options).await.unwrap();
    let emails = harness.raw_texts("SELECT email FROM users WHERE id = 'usr_legacy'").await;
    assert!(emails[0].as_deref().unwrap().starts_with("ev1."), "{emails:?}");
    let found =
        reopened.accounts().credentials_by_email("old@seal.example").await.unwrap().unwrap();
    assert_eq!(
        (found.user.email.as_str(), found.user.name.as_str()),
        ("old@seal.example", "Old Timer")
    );
    reopened.close().await;
}
