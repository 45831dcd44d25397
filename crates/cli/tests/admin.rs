//! `unmogrowp admin`: rotating the master key and deleting an organization, on a data dir.

#![allow(clippy::unwrap_used)]

use std::process::Command;
use unmogrowp_storage::{NewUser, Store, StoreOptions};

const BINARY: &str = env!("CARGO_BIN_EXE_unmogrowp");

fn admin(dir: &std::path::Path, args: &[&str]) -> (bool, String) {
    let output = Command::new(BINARY)
        .arg("admin")
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .env_remove("UNMOGROWP_ENCRYPTION__MASTER_KEYS")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[tokio::test]
async fn keys_rotate_and_a_deleted_organization_cannot_be_read() {
    let dir = tempfile::tempdir().unwrap();
    let options = StoreOptions::embedded(dir.path());
    let store = Store::open(&options).await.unwrap();
    let (_, organization, _) = store
        .accounts()
        .register_owner(
            NewUser {
                email: "owner@admin.example".into(),
                name: "Owner".into(),
                password_hash: "$argon2id$not-a-real-hash".into(),
            },
            "Doomed",
        )
        .await
        .unwrap();
    let key = store.vault().org_key(&organization.id).await.unwrap().unwrap();
    let sealed = key.seal("events.ip", "203.0.113.9");
    store.close().await;

    let (ok, out) = admin(dir.path(), &["rotate-keys"]);
    assert!(ok, "{out}");
    assert!(
        out.contains("re-wrapped 0 data keys under master key version 1 (2 already were)"),
        "{out}"
    );
    let (ok, out) = admin(dir.path(), &["rotate-keys", "--add-master-key"]);
    assert!(ok, "{out}");
    assert!(out.contains("added master key version 2"), "{out}");
    assert!(
        out.contains("re-wrapped 2 data keys under master key version 2 (0 already were)"),
        "{out}"
    );
    let (ok, out) = admin(dir.path(), &["rotate-keys", "--print-new-key"]);
    assert!(ok && out.trim().starts_with("3:"), "{out}");

    // Still readable after the rotation, through the new version.
    let store = Store::open(&options).await.unwrap();
    let key = store.vault().org_key(&organization.id).await.unwrap().unwrap();
    assert_eq!(key.open("events.ip", &sealed).unwrap(), "203.0.113.9");
    store.close().await;

    let org = organization.id.as_str();
    let (ok, out) = admin(dir.path(), &["delete-org", "--org", org]);
    assert!(!ok && out.contains("--yes"), "{out}");
    let (ok, out) = admin(dir.path(), &["delete-org", "--org", "not-an-id", "--yes"]);
    assert!(!ok && out.contains("--org"), "{out}");
    let (ok, out) = admin(dir.path(), &["delete-org", "--org", org, "--yes"]);
    assert!(ok, "{out}");
    assert!(out.contains("destroyed its data key"), "{out}");
    let (ok, out) = admin(dir.path(), &["delete-org", "--org", org, "--yes"]);
    assert!(!ok && out.contains("there is no organization"), "{out}");

    let store = Store::open(&options).await.unwrap();
    assert!(store.vault().org_key(&organization.id).await.unwrap().is_none());
    assert!(store.accounts().credentials_by_email("owner@admin.example").await.unwrap().is_some());
    store.close().await;
}
