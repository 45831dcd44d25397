//! Verifying SKAdNetwork install-validation postbacks (what `POST /v1/skadnetwork/postbacks`
//! receives from an ad network or a device).
//!
//! Apple signs each postback with ECDSA over SHA-256 (DER signature, base64 in
//! `attribution-signature`), over the values of a version-specific list of fields joined by
//! U+2063 (invisible separator); fields absent from the postback are left out, booleans are
//! `true`/`false` and numbers decimal. Versions 2.1 to 4.0 are signed with Apple's NIST P-256
//! key, shipped here as [`APPLE_P256_PUBLIC_KEY`]. Versions 1.0 and 2.0 used a P-192 key no
//! longer issued (iOS 14.5 and later send 2.1 or newer); they are refused as unsupported.
//!
//! Source: Apple, "Verifying an install-validation postback" and "Combining parameters for
//! SKAdNetwork 4 postbacks" (and the 3.0, 2.2 and 2.1 pages), developer.apple.com.

use base64::Engine as _;
use serde_json::{Map, Value};
use unmogrowp_domain::skan::{CoarseValue, SkanPostback};

/// Apple's NIST P-256 public key for SKAdNetwork 2.1 and later, as Apple publishes it
/// (base64 of the X.509 SubjectPublicKeyInfo).
pub const APPLE_P256_PUBLIC_KEY: &str = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEWdp8GPcGqmhgzEFj9Z2nSpQVddayaPe4FMzqM9wib1+aHaaIzoHoLN9zW4K8y4SPykE3YVK3sVqW6Af0lfx3gg==";

/// The separator between signed values: U+2063 INVISIBLE SEPARATOR.
const SEPARATOR: char = '\u{2063}';

/// The versions whose signature can be verified.
pub const SUPPORTED_VERSIONS: [&str; 4] = ["2.1", "2.2", "3.0", "4.0"];

/// Why a postback was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SkanError {
    /// Not a JSON object, or a field is missing or of the wrong type. `field` names it.
    #[error("`{field}` {message}")]
    Malformed {
        /// The postback field, e.g. `transaction-id` (`.` for the body as a whole).
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// A version this receiver cannot verify.
    #[error("version `{0}` cannot be verified: versions 2.1, 2.2, 3.0 and 4.0 are supported")]
    UnsupportedVersion(String),
    /// The signature does not verify with Apple's key: forged, altered, or not from Apple.
    #[error("`attribution-signature` does not verify with Apple's key")]
    BadSignature,
}

fn malformed(field: &str, message: &str) -> SkanError {
    SkanError::Malformed { field: field.to_owned(), message: message.to_owned() }
}

/// The fields Apple signs, in order, for `version`; `None` for an unsupported version.
/// In 4.0 `source-app-id` and `source-domain` exclude each other and share one position.
fn signed_fields(version: &str) -> Option<&'static [&'static str]> {
    // 2.1 to 3.0 grow one list field by field; 4.0 names the campaign `source-identifier`
    // and adds the web source and the postback's sequence.
    const V30: &[&str] = &[
        "version",
        "ad-network-id",
        "campaign-id",
        "app-id",
        "transaction-id",
        "redownload",
        "source-app-id",
        "fidelity-type",
        "did-win",
    ];
    const V40: &[&str] = &[
        "version",
        "ad-network-id",
        "source-identifier",
        "app-id",
        "transaction-id",
        "redownload",
        "source-app-id",
        "source-domain",
        "fidelity-type",
        "did-win",
        "postback-sequence-index",
    ];
    match version {
        "2.1" => V30.get(..7),
        "2.2" => V30.get(..8),
        "3.0" => Some(V30),
        "4.0" => Some(V40),
        _ => None,
    }
}

/// A signed value as text: strings as they are, booleans `true`/`false`, integers decimal.
/// A string holding the separator is refused: it could stand for several fields, so a
/// postback could move signed values between fields (turn a losing postback into a win)
/// without changing the signed text.
fn signed_text(field: &str, value: &Value) -> Result<String, SkanError> {
    match value {
        Value::String(text) if text.contains(SEPARATOR) => {
            Err(malformed(field, "must not contain U+2063 (the signature's separator)"))
        }
        Value::String(text) => Ok(text.clone()),
        Value::Bool(flag) => Ok(flag.to_string()),
        Value::Number(number) if number.is_u64() || number.is_i64() => Ok(number.to_string()),
        _ => Err(malformed(field, "must be a string, an integer or a boolean")),
    }
}

/// The exact text Apple signed for this postback.
fn signed_message(object: &Map<String, Value>, fields: &[&str]) -> Result<String, SkanError> {
    let mut message = String::new();
    for field in fields {
        let Some(value) = object.get(*field).filter(|value| !value.is_null()) else { continue };
        if !message.is_empty() {
            message.push(SEPARATOR);
        }
        message.push_str(&signed_text(field, value)?);
    }
    Ok(message)
}

fn apple_key() -> Vec<u8> {
    let spki =
        base64::engine::general_purpose::STANDARD.decode(APPLE_P256_PUBLIC_KEY).unwrap_or_default();
    // The SubjectPublicKeyInfo ends with the 65-byte uncompressed point ring verifies with.
    spki.get(spki.len().saturating_sub(65)..).unwrap_or_default().to_vec()
}

fn text_field(object: &Map<String, Value>, field: &str) -> Result<Option<String>, SkanError> {
    match object.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) if !text.trim().is_empty() && text.len() <= 200 => {
            Ok(Some(text.trim().to_owned()))
        }
        Some(Value::String(_)) => Err(malformed(field, "must be 1 to 200 characters")),
        Some(_) => Err(malformed(field, "must be a string")),
    }
}

/// An integer field, given as a JSON number or as decimal text (networks forward both).
fn integer_field(
    object: &Map<String, Value>,
    field: &str,
    max: u64,
) -> Result<Option<u64>, SkanError> {
    let value = match object.get(field) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(number)) => number.as_u64(),
        Some(Value::String(text)) => text.trim().parse().ok(),
        Some(_) => None,
    };
    match value {
        Some(value) if value <= max => Ok(Some(value)),
        _ => Err(malformed(field, &format!("must be an integer between 0 and {max}"))),
    }
}

fn bool_field(object: &Map<String, Value>, field: &str) -> Result<Option<bool>, SkanError> {
    match object.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(flag)) => Ok(Some(*flag)),
        Some(Value::String(text)) if text == "true" || text == "false" => Ok(Some(text == "true")),
        Some(_) => Err(malformed(field, "must be true or false")),
    }
}

fn required<T>(value: Option<T>, field: &str) -> Result<T, SkanError> {
    value.ok_or_else(|| malformed(field, "is required"))
}

/// Reads and verifies one postback (the JSON body as received). Errors name the field.
pub fn verify(body: &[u8]) -> Result<SkanPostback, SkanError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|error| malformed(".", &format!("is not valid JSON: {error}")))?;
    let Value::Object(object) = value else {
        return Err(malformed(".", "must be a JSON object"));
    };
    let version = required(text_field(&object, "version")?, "version")?;
    let fields = signed_fields(&version).ok_or(SkanError::UnsupportedVersion(version.clone()))?;
    let signature =
        required(text_field(&object, "attribution-signature")?, "attribution-signature")?;
    let signature = base64::engine::general_purpose::STANDARD
        .decode(signature.as_bytes())
        .map_err(|_| malformed("attribution-signature", "must be base64"))?;

    let v4 = version == "4.0";
    let campaign_field = if v4 { "source-identifier" } else { "campaign-id" };
    let campaign = match object.get(campaign_field) {
        Some(Value::Number(number)) if number.is_u64() => number.to_string(),
        Some(Value::String(text))
            if !text.is_empty() && text.len() <= 20 && text.bytes().all(|b| b.is_ascii_digit()) =>
        {
            text.clone()
        }
        None | Some(Value::Null) => return Err(malformed(campaign_field, "is required")),
        Some(_) => return Err(malformed(campaign_field, "must be a decimal number")),
    };
    // Fields every postback of the version carries: one left out would let the signed text
    // be read with the values in other fields.
    let always: &[&str] = match version.as_str() {
        "2.1" => &["redownload"],
        "2.2" => &["redownload", "fidelity-type"],
        _ => &["redownload", "fidelity-type", "did-win"],
    };
    for field in always {
        if object.get(*field).is_none_or(Value::is_null) {
            return Err(malformed(field, "is required"));
        }
    }
    let ad_network_id = required(text_field(&object, "ad-network-id")?, "ad-network-id")?;
    if ad_network_id.len() > 100
        || !ad_network_id.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    {
        return Err(malformed(
            "ad-network-id",
            "must be an ad network id such as `example123.skadnetwork`",
        ));
    }
    let transaction_id = required(text_field(&object, "transaction-id")?, "transaction-id")?;
    if uuid::Uuid::try_parse(&transaction_id).is_err() {
        return Err(malformed("transaction-id", "must be a UUID"));
    }
    let postback = SkanPostback {
        ad_network_id,
        campaign,
        app_store_id: required(integer_field(&object, "app-id", u64::MAX)?, "app-id")?,
        transaction_id,
        redownload: bool_field(&object, "redownload")?.unwrap_or(false),
        source_app_id: integer_field(&object, "source-app-id", u64::MAX)?,
        source_domain: text_field(&object, "source-domain")?,
        fidelity_type: integer_field(&object, "fidelity-type", 1)?
            .map(|value| u8::try_from(value).unwrap_or(1)),
        did_win: bool_field(&object, "did-win")?,
        conversion_value: integer_field(&object, "conversion-value", 63)?
            .map(|value| u8::try_from(value).unwrap_or(63)),
        coarse_value: match text_field(&object, "coarse-conversion-value")? {
            None => None,
            Some(text) => Some(CoarseValue::parse(&text).ok_or_else(|| {
                malformed("coarse-conversion-value", "must be low, medium or high")
            })?),
        },
        sequence_index: if v4 {
            integer_field(&object, "postback-sequence-index", 2)?
                .map(|value| u8::try_from(value).unwrap_or(2))
                .ok_or_else(|| malformed("postback-sequence-index", "is required"))?
        } else {
            0
        },
        version,
    };
    let message = signed_message(&object, fields)?;
    let key = ring::signature::UnparsedPublicKey::new(
        &ring::signature::ECDSA_P256_SHA256_ASN1,
        apple_key(),
    );
    key.verify(message.as_bytes(), &signature).map_err(|_| SkanError::BadSignature)?;
    Ok(postback)
}

#[cfg(test)]
#[path = "skadnetwork_tests.rs"]
mod tests;
