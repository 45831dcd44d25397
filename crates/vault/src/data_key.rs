//! Data keys and the sealed text forms.

use crate::VaultError;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use sha2::Sha256;

/// The prefix of a sealed field.
const FIELD_PREFIX: &str = "ev1.";
/// The prefix of a sealed identifier value (lower-case hex follows).
const ID_PREFIX: &str = "v1-";
/// The associated-data name of device identifiers (every kind shares it, so `gaid:x` and the
/// `gaid` column's `x` seal alike).
const ID_FIELD: &str = "device_identifier";
const TAG_LEN: usize = 16;

type HmacSha256 = Hmac<Sha256>;

/// Whether `text` has the form of a sealed field (`ev1.…`).
pub fn is_sealed(text: &str) -> bool {
    text.starts_with(FIELD_PREFIX)
}

/// One scope's data key (an organization's, or the platform's), unwrapped, with the two keys
/// derived from it: the AES-256-GCM key and the key that derives lookup nonces. Its `Debug`
/// output hides them.
pub struct DataKey {
    scope: String,
    material: [u8; 32],
    cipher: LessSafeKey,
    /// Keyed once (ring precomputes the inner and outer hash states).
    siv: ring::hmac::Key,
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataKey").field("scope", &self.scope).finish_non_exhaustive()
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends lower-case hex of `bytes` (the `hex` crate's encoder collects chars one by one,
/// which showed in profiles of the event store's write path).
fn push_hex(out: &mut String, bytes: &[u8]) {
    out.reserve(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(HEX[usize::from(byte >> 4)]));
        out.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
}

fn hex_digit(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

fn parse_hex(text: &str) -> Option<Vec<u8>> {
    let digits = text.as_bytes();
    if !digits.len().is_multiple_of(2) {
        return None;
    }
    let mut bytes = Vec::with_capacity(digits.len() / 2);
    for pair in digits.chunks_exact(2) {
        bytes.push(hex_digit(pair[0])? << 4 | hex_digit(pair[1])?);
    }
    Some(bytes)
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    for part in parts {
        mac.update(&(part.len() as u64).to_be_bytes());
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

impl DataKey {
    /// A fresh random key for `scope` (an organization id, or `platform`).
    pub fn generate(scope: &str) -> Self {
        let mut material = [0u8; 32];
        rand::rng().fill_bytes(&mut material);
        Self::from_material(scope, material)
    }

    /// The key for `scope` from its 32 bytes (as unwrapped from the store).
    pub fn from_material(scope: &str, material: [u8; 32]) -> Self {
        let cipher_key = hmac(&material, &[b"unmogrowp/field/aes-256-gcm/v1"]);
        let siv = ring::hmac::Key::new(
            ring::hmac::HMAC_SHA256,
            &hmac(&material, &[b"unmogrowp/field/synthetic-iv/v1"]),
        );
        let unbound = UnboundKey::new(&AES_256_GCM, &cipher_key)
            .unwrap_or_else(|_| unreachable!("an AES-256 key is 32 bytes"));
        Self { scope: scope.to_owned(), material, cipher: LessSafeKey::new(unbound), siv }
    }

    /// The scope the key belongs to.
    pub fn scope(&self) -> &str {
        &self.scope
    }

    /// The key's 32 bytes, for wrapping by a master key only.
    pub(crate) fn material(&self) -> &[u8; 32] {
        &self.material
    }

    /// `scope|field`, on the stack when it fits (it always does for the built-in fields).
    fn with_aad<T>(&self, field: &str, use_aad: impl FnOnce(&[u8]) -> T) -> T {
        let (scope, field) = (self.scope.as_bytes(), field.as_bytes());
        let length = scope.len() + 1 + field.len();
        let mut buffer = [0u8; 160];
        if length <= buffer.len() {
            buffer[..scope.len()].copy_from_slice(scope);
            buffer[scope.len()] = b'|';
            buffer[scope.len() + 1..length].copy_from_slice(field);
            use_aad(&buffer[..length])
        } else {
            let mut aad = Vec::with_capacity(length);
            aad.extend_from_slice(scope);
            aad.push(b'|');
            aad.extend_from_slice(field);
            use_aad(&aad)
        }
    }

    fn encrypt(&self, nonce: [u8; NONCE_LEN], field: &str, plaintext: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(NONCE_LEN + plaintext.len() + TAG_LEN);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(plaintext);
        let tag = self
            .with_aad(field, |aad| {
                self.cipher.seal_in_place_separate_tag(
                    Nonce::assume_unique_for_key(nonce),
                    Aad::from(aad),
                    &mut out[NONCE_LEN..],
                )
            })
            .unwrap_or_else(|_| unreachable!("a field is far below GCM's length limit"));
        out.extend_from_slice(tag.as_ref());
        out
    }

    /// Opens `nonce ‖ ciphertext ‖ tag` in place and returns the text without copying it.
    fn decrypt(&self, field: &str, mut sealed: Vec<u8>) -> Result<String, VaultError> {
        let corrupt = || VaultError::Corrupt(field.to_owned());
        if sealed.len() < NONCE_LEN + TAG_LEN {
            return Err(corrupt());
        }
        let nonce: [u8; NONCE_LEN] = sealed[..NONCE_LEN].try_into().map_err(|_| corrupt())?;
        let length = self
            .with_aad(field, |aad| {
                self.cipher
                    .open_in_place(
                        Nonce::assume_unique_for_key(nonce),
                        Aad::from(aad),
                        &mut sealed[NONCE_LEN..],
                    )
                    .map(|plain| plain.len())
            })
            .map_err(|_| corrupt())?;
        sealed.truncate(NONCE_LEN + length);
        sealed.drain(..NONCE_LEN);
        String::from_utf8(sealed).map_err(|_| corrupt())
    }

    fn field_text(sealed: &[u8]) -> String {
        let mut out = String::with_capacity(FIELD_PREFIX.len() + sealed.len().div_ceil(3) * 4);
        out.push_str(FIELD_PREFIX);
        URL_SAFE_NO_PAD.encode_string(sealed, &mut out);
        out
    }

    fn lookup_nonce(&self, field: &str, plaintext: &[u8]) -> [u8; NONCE_LEN] {
        let mut context = ring::hmac::Context::with_key(&self.siv);
        for part in [self.scope.as_bytes(), field.as_bytes(), plaintext] {
            context.update(&(part.len() as u64).to_be_bytes());
            context.update(part);
        }
        let digest = context.sign();
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&digest.as_ref()[..NONCE_LEN]);
        nonce
    }

    /// Seals `plaintext` for the column `field` with a random nonce: `ev1.` + base64url.
    pub fn seal(&self, field: &str, plaintext: &str) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        Self::field_text(&self.encrypt(nonce, field, plaintext.as_bytes()))
    }

    /// Seals `plaintext` for the column `field` so that the same text always gives the same
    /// result under this key (for columns that are looked up or unique, such as emails).
    pub fn seal_lookup(&self, field: &str, plaintext: &str) -> String {
        let nonce = self.lookup_nonce(field, plaintext.as_bytes());
        Self::field_text(&self.encrypt(nonce, field, plaintext.as_bytes()))
    }

    /// Opens what [`DataKey::seal`] or [`DataKey::seal_lookup`] made for `field`. Text that is
    /// not sealed (`ev1.…`) comes back unchanged: a row written before encryption.
    ///
    /// Fails with [`VaultError::Corrupt`] naming `field` when the value was altered or sealed
    /// under another key, scope or field.
    pub fn open(&self, field: &str, text: &str) -> Result<String, VaultError> {
        let Some(body) = text.strip_prefix(FIELD_PREFIX) else {
            return Ok(text.to_owned());
        };
        let sealed =
            URL_SAFE_NO_PAD.decode(body).map_err(|_| VaultError::Corrupt(field.to_owned()))?;
        self.decrypt(field, sealed)
    }

    /// Seals a device identifier's value for lookup, in lower-case hex (`v1-…`), so that the
    /// event store can compare, group and erase by it and a lower-casing comparison leaves it
    /// intact. The value is trimmed and lower-cased first, as identifiers are compared.
    pub fn seal_identifier_value(&self, value: &str) -> String {
        let mut out = String::new();
        self.push_identifier_value(&mut out, value);
        out
    }

    fn push_identifier_value(&self, out: &mut String, value: &str) {
        let trimmed = value.trim();
        let lowered;
        let normal = if trimmed.bytes().any(|byte| byte.is_ascii_uppercase()) {
            lowered = trimmed.to_ascii_lowercase();
            lowered.as_str()
        } else {
            trimmed
        };
        let nonce = self.lookup_nonce(ID_FIELD, normal.as_bytes());
        let sealed = self.encrypt(nonce, ID_FIELD, normal.as_bytes());
        out.reserve(ID_PREFIX.len() + sealed.len() * 2);
        out.push_str(ID_PREFIX);
        push_hex(out, &sealed);
    }

    /// Seals a device identifier `kind:value` as `kind:` + the sealed value; the kind stays
    /// readable (it is not personal, and erasures and reports match on it).
    pub fn seal_identifier(&self, identifier: &str) -> String {
        match identifier.split_once(':') {
            Some((kind, value)) => {
                let mut out = String::with_capacity(
                    kind.len() + 1 + ID_PREFIX.len() + 2 * (NONCE_LEN + value.len() + TAG_LEN),
                );
                out.push_str(kind);
                out.push(':');
                self.push_identifier_value(&mut out, value);
                out
            }
            None => self.seal_identifier_value(identifier),
        }
    }

    /// Opens what [`DataKey::seal_identifier_value`] made (values without the `v1-` form come
    /// back unchanged).
    pub fn open_identifier_value(&self, text: &str) -> Result<String, VaultError> {
        let Some(body) = text.strip_prefix(ID_PREFIX) else {
            return Ok(text.to_owned());
        };
        let Some(sealed) = parse_hex(body) else {
            return Ok(text.to_owned());
        };
        self.decrypt(ID_FIELD, sealed)
    }

    /// Opens what [`DataKey::seal_identifier`] made.
    pub fn open_identifier(&self, text: &str) -> Result<String, VaultError> {
        match text.split_once(':') {
            Some((kind, value)) => {
                let value = self.open_identifier_value(value)?;
                let mut out = String::with_capacity(kind.len() + 1 + value.len());
                out.push_str(kind);
                out.push(':');
                out.push_str(&value);
                Ok(out)
            }
            None => self.open_identifier_value(text),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_field_opens_only_with_its_key_scope_and_field() {
        let key = DataKey::generate("org_a");
        let sealed = key.seal("users.email", "ada@example.com");
        assert!(is_sealed(&sealed));
        assert!(!sealed.contains("ada"));
        assert_eq!(key.open("users.email", &sealed).unwrap(), "ada@example.com");
        // Random nonces: sealing twice differs.
        assert_ne!(sealed, key.seal("users.email", "ada@example.com"));
        // Another field, another scope with the same bytes, another key: refused.
        assert!(
            matches!(key.open("users.name", &sealed), Err(VaultError::Corrupt(f)) if f == "users.name")
        );
        let same_bytes_other_scope = DataKey::from_material("org_b", *key.material());
        assert!(same_bytes_other_scope.open("users.email", &sealed).is_err());
        assert!(DataKey::generate("org_a").open("users.email", &sealed).is_err());
        // One flipped character: refused.
        let mut altered = sealed.clone().into_bytes();
        let last = altered.len() - 1;
        altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
        assert!(key.open("users.email", &String::from_utf8(altered).unwrap()).is_err());
        // Text written before encryption passes through.
        assert_eq!(key.open("users.email", "old@example.com").unwrap(), "old@example.com");
    }

    #[test]
    fn lookup_sealing_is_stable_per_key_and_distinct_across_keys_and_values() {
        let key = DataKey::generate("platform");
        let a = key.seal_lookup("users.email", "ada@example.com");
        assert_eq!(a, key.seal_lookup("users.email", "ada@example.com"));
        assert_ne!(a, key.seal_lookup("users.email", "bob@example.com"));
        assert_ne!(a, DataKey::generate("platform").seal_lookup("users.email", "ada@example.com"));
        assert_eq!(key.open("users.email", &a).unwrap(), "ada@example.com");
        // A key rebuilt from the same bytes (unwrapped again) seals the same.
        let again = DataKey::from_material("platform", *key.material());
        assert_eq!(again.seal_lookup("users.email", "ada@example.com"), a);
    }

    #[test]
    fn identifiers_keep_their_kind_survive_lower_casing_and_match_their_columns() {
        let key = DataKey::generate("org_a");
        let sealed = key.seal_identifier("gaid:38400000-8cf0-11bd-b23e-10b96e40000d");
        let (kind, value) = sealed.split_once(':').unwrap();
        assert_eq!(kind, "gaid");
        assert_eq!(value, value.to_ascii_lowercase());
        assert!(!sealed.contains("38400000"));
        // The `gaid` column's value as sent (upper case, spaces) seals to the same value.
        assert_eq!(key.seal_identifier_value(" 38400000-8CF0-11BD-B23E-10B96E40000D "), value);
        assert_eq!(
            key.open_identifier(&sealed).unwrap(),
            "gaid:38400000-8cf0-11bd-b23e-10b96e40000d"
        );
        assert_eq!(key.open_identifier("install_id:plain").unwrap(), "install_id:plain");
        assert!(DataKey::generate("org_a").open_identifier(&sealed).is_err());
    }
}
