#![allow(clippy::unwrap_used)]

use super::*;
use proptest::prelude::*;

fn roundtrip(text: &str) -> Result<String, LzError> {
    let compressed = lz_str::compress_to_base64(text);
    decompress_base64(compressed.as_bytes(), 1 << 20)
}

#[test]
fn known_texts_come_back() {
    for text in [
        "",
        "a",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        r#"[{"event":"$pageview","properties":{"token":"app_x","$current_url":"https://example.com/"}}]"#,
        "hélló wörld — 日本語 🚀 and back again, hélló wörld",
    ] {
        assert_eq!(roundtrip(text).unwrap(), text);
    }
}

#[test]
fn a_known_lz_string_output_decodes() {
    // `LZString.compressToBase64("hello world")` as lz-string 1.4.4 prints it.
    assert_eq!(decompress_base64(b"BYUwNmD2AEDukCcwBMg=", 100).unwrap(), "hello world");
}

#[test]
fn output_is_bounded() {
    let text = "x".repeat(100_000);
    let compressed = lz_str::compress_to_base64(text.as_str());
    assert!(compressed.len() < 2_000, "{}", compressed.len());
    assert_eq!(decompress_base64(compressed.as_bytes(), 10_000), Err(LzError::TooLarge(10_000)));
    assert_eq!(decompress_base64(compressed.as_bytes(), 100_000).unwrap().len(), 100_000);
}

#[test]
fn garbage_is_refused() {
    // Not every garbage input can be told apart (such text then fails as JSON), but a
    // character outside the alphabet, a code naming no entry or a cut stream is.
    assert_eq!(decompress_base64(b"!!!!", 1000), Err(LzError::Malformed));
    let compressed = lz_str::compress_to_base64("some text that is long enough to cut");
    assert_eq!(
        decompress_base64(&compressed.as_bytes()[..compressed.len() / 2], 1000),
        Err(LzError::Malformed)
    );
    // One character: zero bits past it must not decode as an endless run of literals.
    assert_eq!(decompress_base64(b"A", 1 << 20), Err(LzError::Malformed));
    assert_eq!(decompress_base64(b"AAAA", 1 << 20), Err(LzError::Malformed));
}

proptest! {
    #[test]
    fn what_lz_string_compresses_comes_back(text in "\\PC{0,400}") {
        prop_assert_eq!(roundtrip(&text).unwrap(), text);
    }

    #[test]
    fn repetitive_json_comes_back(names in proptest::collection::vec("[a-z$_]{1,12}", 1..40)) {
        let text = serde_json::to_string(&names.iter().map(|name| serde_json::json!({ "event": name, "properties": { "name": name } })).collect::<Vec<_>>()).unwrap();
        prop_assert_eq!(roundtrip(&text).unwrap(), text);
    }
}
