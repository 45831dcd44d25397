#![allow(clippy::unwrap_used)]

use super::*;

fn sample(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/skadnetwork")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// The sample with one field replaced (or removed, for `Value::Null`).
fn altered(name: &str, field: &str, value: Value) -> Vec<u8> {
    let mut object: Map<String, Value> = serde_json::from_slice(&sample(name)).unwrap();
    if value.is_null() {
        object.remove(field);
    } else {
        object.insert(field.to_owned(), value);
    }
    serde_json::to_vec(&object).unwrap()
}

#[test]
fn apples_samples_verify_in_every_supported_version() {
    let fine = verify(&sample("v4.0-fine.json")).unwrap();
    assert_eq!(fine.version, "4.0");
    assert_eq!(fine.ad_network_id, "com.example");
    assert_eq!(fine.campaign, "5239");
    assert_eq!(fine.app_store_id, 525_463_029);
    assert_eq!(fine.source_domain.as_deref(), Some("example.com"));
    assert_eq!((fine.conversion_value, fine.coarse_value), (Some(63), None));
    assert_eq!((fine.did_win, fine.sequence_index, fine.redownload), (Some(true), 0, false));
    assert!(fine.counts_as_install());

    let coarse = verify(&sample("v4.0-coarse.json")).unwrap();
    assert_eq!(coarse.campaign, "39");
    assert_eq!((coarse.conversion_value, coarse.coarse_value), (None, Some(CoarseValue::High)));

    let won = verify(&sample("v3.0-won.json")).unwrap();
    assert_eq!((won.campaign.as_str(), won.conversion_value), ("42", Some(20)));
    assert_eq!(
        (won.source_app_id, won.redownload, won.did_win),
        (Some(1_234_567_891), true, Some(true))
    );
    assert!(won.counts_as_install());

    let lost = verify(&sample("v3.0-lost.json")).unwrap();
    assert_eq!((lost.did_win, lost.conversion_value), (Some(false), None));
    assert!(!lost.counts_as_install());

    let old = verify(&sample("v2.2.json")).unwrap();
    assert_eq!((old.version.as_str(), old.fidelity_type, old.did_win), ("2.2", Some(1), None));
    assert!(old.counts_as_install());
}

#[test]
fn a_changed_signed_field_fails_the_signature() {
    for (name, field, value) in [
        ("v4.0-fine.json", "source-identifier", Value::from("5240")),
        ("v4.0-fine.json", "postback-sequence-index", Value::from(1)),
        ("v4.0-coarse.json", "did-win", Value::from(false)),
        ("v3.0-won.json", "campaign-id", Value::from(43)),
        ("v3.0-won.json", "source-app-id", Value::Null),
        ("v3.0-lost.json", "transaction-id", Value::from("f9ac267a-a889-44ce-b5f7-0166d11461f1")),
        ("v2.2.json", "app-id", Value::from(525_463_030_u64)),
        ("v2.2.json", "redownload", Value::from(false)),
        ("v4.0-fine.json", "source-domain", Value::Null),
    ] {
        assert_eq!(
            verify(&altered(name, field, value)),
            Err(SkanError::BadSignature),
            "{name} {field}"
        );
    }
    // A signature from another message.
    let other = serde_json::from_slice::<Value>(&sample("v3.0-lost.json")).unwrap()
        ["attribution-signature"]
        .clone();
    assert_eq!(
        verify(&altered("v3.0-won.json", "attribution-signature", other)),
        Err(SkanError::BadSignature)
    );
}

#[test]
fn values_cannot_move_between_signed_fields() {
    // The losing 3.0 postback with its last three signed values folded into the transaction
    // id and those fields removed: the signed text is the same, the meaning (a win, not a
    // re-download) is not.
    let mut object: Map<String, Value> = serde_json::from_slice(&sample("v3.0-lost.json")).unwrap();
    let folded =
        format!("{}\u{2063}true\u{2063}1\u{2063}false", object["transaction-id"].as_str().unwrap());
    object.insert("transaction-id".into(), Value::from(folded));
    for field in ["redownload", "fidelity-type", "did-win"] {
        object.remove(field);
    }
    let body = serde_json::to_vec(&object).unwrap();
    assert!(matches!(verify(&body), Err(SkanError::Malformed { .. })), "{:?}", verify(&body));
    // With those fields kept, the separator alone is refused.
    let folded = altered(
        "v3.0-lost.json",
        "transaction-id",
        Value::from("f9ac267a-a889-44ce-b5f7-0166d11461f0\u{2063}true"),
    );
    assert!(
        matches!(verify(&folded), Err(SkanError::Malformed { field, .. }) if field == "transaction-id")
    );
    // Left out, a field every postback of the version carries is refused.
    for (name, field) in [
        ("v3.0-lost.json", "did-win"),
        ("v3.0-won.json", "fidelity-type"),
        ("v2.2.json", "redownload"),
        ("v4.0-fine.json", "did-win"),
    ] {
        let reply = verify(&altered(name, field, Value::Null));
        assert!(
            matches!(&reply, Err(SkanError::Malformed { field: f, .. }) if f == field),
            "{name} {field}: {reply:?}"
        );
    }
    // The separator in a 4.0 source domain, and odd network or transaction ids.
    let domain = altered("v4.0-fine.json", "source-domain", Value::from("1\u{2063}false"));
    assert!(matches!(verify(&domain), Err(SkanError::Malformed { .. })));
    let network = altered("v4.0-fine.json", "ad-network-id", Value::from("com example"));
    assert!(
        matches!(verify(&network), Err(SkanError::Malformed { field, .. }) if field == "ad-network-id")
    );
    let transaction = altered("v4.0-fine.json", "transaction-id", Value::from("t-1"));
    assert!(
        matches!(verify(&transaction), Err(SkanError::Malformed { field, .. }) if field == "transaction-id")
    );
}

#[test]
fn numbers_sent_as_text_still_verify() {
    // Some networks forward ids as strings: the signed text is the same.
    let text = altered("v3.0-won.json", "campaign-id", Value::from("42"));
    let text = String::from_utf8(text).unwrap().replace("525463029", "\"525463029\"");
    assert_eq!(verify(text.as_bytes()).unwrap().app_store_id, 525_463_029);
}

#[test]
fn malformed_postbacks_name_the_field() {
    let field_of = |body: &[u8]| match verify(body) {
        Err(SkanError::Malformed { field, .. }) => field,
        other => panic!("{other:?}"),
    };
    assert_eq!(field_of(b"[1]"), ".");
    assert_eq!(field_of(b"{\"version\": \"4.0\""), ".");
    assert_eq!(field_of(&altered("v4.0-fine.json", "version", Value::Null)), "version");
    assert_eq!(
        field_of(&altered("v4.0-fine.json", "transaction-id", Value::Null)),
        "transaction-id"
    );
    assert_eq!(
        field_of(&altered("v4.0-fine.json", "source-identifier", Value::from("ab"))),
        "source-identifier"
    );
    assert_eq!(
        field_of(&altered("v4.0-fine.json", "conversion-value", Value::from(64))),
        "conversion-value"
    );
    assert_eq!(
        field_of(&altered("v4.0-coarse.json", "coarse-conversion-value", Value::from("top"))),
        "coarse-conversion-value"
    );
    assert_eq!(
        field_of(&altered("v4.0-fine.json", "postback-sequence-index", Value::Null)),
        "postback-sequence-index"
    );
    assert_eq!(
        field_of(&altered("v3.0-won.json", "attribution-signature", Value::from("**"))),
        "attribution-signature"
    );
    assert_eq!(field_of(&altered("v3.0-won.json", "did-win", Value::from("yes"))), "did-win");
    assert_eq!(
        verify(&altered("v2.2.json", "version", Value::from("2.0"))),
        Err(SkanError::UnsupportedVersion("2.0".into()))
    );
}
