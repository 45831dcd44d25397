//! The master key and what is derived from it, random tokens, hashes of tokens.
//!
//! One master key (configured, or generated once into `<data_dir>/secret.key`) yields a key
//! per purpose by HMAC-SHA256 with a fixed label, so a key used for one purpose can never
//! be confused with another's.

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use rand::RngCore;
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use std::path::Path;

type HmacSha256 = Hmac<Sha256>;

/// The file in the data dir that holds the generated master key: 32 random bytes in base64, created
/// with mode 0600 on Unix.
pub const KEY_FILE: &str = "secret.key";

/// The keys derived from the master key, one per purpose. Its `Debug` output hides them.
pub struct Keyring {
    /// Signs access tokens.
    pub token_signing: [u8; 32],
    /// Derives the secrets of S2S keys.
    pub s2s: [u8; 32],
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keyring(..)")
    }
}

impl Keyring {
    /// Derives each purpose's key as HMAC-SHA256 of a fixed, versioned label under the master key.
    pub fn from_master(master: &[u8]) -> Self {
        Self {
            token_signing: derive(master, b"unmogrowp/access-token/v1"),
            s2s: derive(master, b"unmogrowp/s2s-key/v1"),
        }
    }

    /// From `auth.secret_key`, or from the data dir's key file (created on first start).
    pub fn load(
        configured: Option<&secrecy::SecretString>,
        data_dir: &Path,
    ) -> anyhow::Result<Self> {
        if let Some(secret) = configured {
            let master = decode_key(secret.expose_secret().trim())
                .context("auth.secret_key must be base64 or hex")?;
            anyhow::ensure!(master.len() >= 32, "auth.secret_key must hold at least 32 bytes");
            return Ok(Self::from_master(&master));
        }
        let path = data_dir.join(KEY_FILE);
        let master = match std::fs::read_to_string(&path) {
            Ok(text) => decode_key(text.trim())
                .with_context(|| format!("{} is not a base64 key", path.display()))?,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => create_key_file(&path)?,
            Err(error) => return Err(error).with_context(|| format!("reading {}", path.display())),
        };
        anyhow::ensure!(master.len() >= 32, "{} holds fewer than 32 bytes", path.display());
        Ok(Self::from_master(&master))
    }
}

fn decode_key(text: &str) -> anyhow::Result<Vec<u8>> {
    let hex_digits = text.chars().all(|c| c.is_ascii_hexdigit());
    if text.len() >= 64 && hex_digits {
        return Ok(hex::decode(text)?);
    }
    // 32 to 63 hex digits would also read as base64 (a different, longer key): refused rather
    // than guessed.
    anyhow::ensure!(
        !(hex_digits && text.len() >= 32),
        "the key looks like hex but has {} digits; a hex key needs at least 64 (32 bytes)",
        text.len()
    );
    STANDARD
        .decode(text)
        .or_else(|_| URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')))
        .map_err(Into::into)
}

/// Generates the key file. It is written under a temporary name and then linked into place,
/// so a process that starts at the same moment either creates it or finds it complete, never
/// empty or half written; the loser of that race uses the winner's key.
fn create_key_file(path: &Path) -> anyhow::Result<Vec<u8>> {
    use std::io::Write;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut master = vec![0u8; 32];
    rand::rng().fill_bytes(&mut master);
    let temporary = path.with_extension(format!("key.{}.{}", std::process::id(), random_token(16)));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let written = options.open(&temporary).and_then(|mut file| {
        file.write_all(STANDARD.encode(&master).as_bytes())?;
        file.sync_all()
    });
    if let Err(error) = written {
        let _ = std::fs::remove_file(&temporary);
        return Err(error).with_context(|| format!("writing {}", temporary.display()));
    }
    let linked = std::fs::hard_link(&temporary, path);
    let _ = std::fs::remove_file(&temporary);
    match linked {
        Ok(()) => {
            tracing::info!(path = %path.display(), "generated a new master key");
            Ok(master)
        }
        // Another process linked its key first: use theirs (complete, it was linked whole).
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
            let text = std::fs::read_to_string(path)?;
            decode_key(text.trim())
        }
        Err(error) => Err(error).with_context(|| format!("creating {}", path.display())),
    }
}

fn derive(master: &[u8], label: &[u8]) -> [u8; 32] {
    hmac_sha256(master, label)
}

/// HMAC-SHA256 of `message` under `key` (any length). To check a tag, use [`verify_hmac_sha256`],
/// which compares in constant time.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// Checks an HMAC-SHA256 tag in constant time.
pub fn verify_hmac_sha256(key: &[u8], message: &[u8], tag: &[u8]) -> bool {
    let mut mac = HmacSha256::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(message);
    mac.verify_slice(tag).is_ok()
}

/// A random token of `bytes` bytes (at least 16, i.e. 128 bits), base64url without padding.
pub fn random_token(bytes: usize) -> String {
    debug_assert!(bytes >= 16);
    let mut buffer = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buffer);
    URL_SAFE_NO_PAD.encode(buffer)
}

/// A new app token (SDK key): 192 random bits, base64url, never starting with `-` (command-line
/// tools would read such a token as an option, e.g. `loadgen --app-token -x…`). Drawing again
/// on a leading `-` keeps every allowed token equally likely.
pub fn app_token() -> String {
    loop {
        let token = random_token(24);
        if !token.starts_with('-') {
            return token;
        }
    }
}

/// How tokens are stored: the hex SHA-256 of the token text.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Base64url without padding (RFC 4648, section 5), as JWTs and tokens use.
pub fn base64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes base64url without padding; `None` for invalid text, including text with `=` padding.
pub fn base64url_decode(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_keys_differ_by_purpose_and_are_stable() {
        let a = Keyring::from_master(&[7u8; 32]);
        let b = Keyring::from_master(&[7u8; 32]);
        assert_eq!(a.token_signing, b.token_signing);
        assert_ne!(a.token_signing, a.s2s);
        assert_ne!(Keyring::from_master(&[8u8; 32]).s2s, a.s2s);
    }

    #[test]
    fn the_key_file_is_created_once_and_reused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let first = Keyring::load(None, dir.path()).expect("created");
        let second = Keyring::load(None, dir.path()).expect("reused");
        assert_eq!(first.token_signing, second.token_signing);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode =
                std::fs::metadata(dir.path().join(KEY_FILE)).expect("exists").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn processes_starting_together_share_one_complete_key() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().to_owned();
        let keys: Vec<[u8; 32]> = std::thread::scope(|scope| {
            let started: Vec<_> = (0..8)
                .map(|_| scope.spawn(|| Keyring::load(None, &path).expect("loaded").token_signing))
                .collect();
            started.into_iter().map(|thread| thread.join().expect("joined")).collect()
        });
        assert!(keys.windows(2).all(|pair| pair[0] == pair[1]), "every starter has the same key");
        let left: Vec<_> = std::fs::read_dir(dir.path()).expect("listed").collect();
        assert_eq!(left.len(), 1, "no temporary file is left behind");
    }

    #[test]
    fn short_hex_keys_are_refused_not_read_as_base64() {
        let error = decode_key(&"ab".repeat(24)).expect_err("48 hex digits");
        assert!(error.to_string().contains("64"), "{error}");
        assert_eq!(decode_key(&"ab".repeat(32)).expect("64 hex digits").len(), 32);
        assert_eq!(decode_key(&STANDARD.encode([9u8; 32])).expect("base64").len(), 32);
    }

    #[test]
    fn a_configured_key_must_be_long_enough() {
        let dir = tempfile::tempdir().expect("temp dir");
        let short = secrecy::SecretString::from(STANDARD.encode([1u8; 16]));
        assert!(Keyring::load(Some(&short), dir.path()).is_err());
        let good = secrecy::SecretString::from(hex::encode([1u8; 32]));
        assert!(Keyring::load(Some(&good), dir.path()).is_ok());
        assert!(!dir.path().join(KEY_FILE).exists());
    }

    #[test]
    fn tokens_are_random_and_long() {
        assert!((0..2_000).all(|_| !app_token().starts_with('-')), "no app token starts with '-'");
        let a = random_token(32);
        assert_eq!(a.len(), 43);
        assert_ne!(a, random_token(32));
        assert_eq!(token_hash("x").len(), 64);
    }

    #[test]
    fn hmac_verification() {
        let tag = hmac_sha256(b"key", b"body");
        assert!(verify_hmac_sha256(b"key", b"body", &tag));
        assert!(!verify_hmac_sha256(b"key", b"body!", &tag));
        assert!(!verify_hmac_sha256(b"key", b"body", &tag[..31]));
    }
}
