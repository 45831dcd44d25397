//! The master key ring: versioned key-wrapping keys.

use crate::{DataKey, VaultError};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rand::RngCore;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use secrecy::ExposeSecret;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The file in the data dir that holds the generated key ring when none is configured: one
/// `VERSION:BASE64` line per key, created with mode 0600 on Unix.
pub const KEY_FILE: &str = "master.keys";

/// The versioned master keys (256-bit each); the highest version wraps new and re-wrapped
/// data keys, every version unwraps. Its `Debug` output shows only the versions.
pub struct MasterKeys {
    keys: BTreeMap<u32, LessSafeKey>,
    file: Option<PathBuf>,
}

impl std::fmt::Debug for MasterKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MasterKeys").field("versions", &self.versions()).finish()
    }
}

fn ring_error(message: impl Into<String>) -> VaultError {
    VaultError::KeyRing(message.into())
}

fn decode_key(text: &str) -> Option<[u8; 32]> {
    let bytes = if text.len() == 64 && text.chars().all(|c| c.is_ascii_hexdigit()) {
        hex::decode(text).ok()?
    } else {
        STANDARD
            .decode(text)
            .or_else(|_| URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')))
            .ok()?
    };
    bytes.try_into().ok()
}

fn wrap_aad(scope: &str, version: u32) -> Vec<u8> {
    format!("unmogrowp/data-key/v1|{scope}|{version}").into_bytes()
}

impl MasterKeys {
    /// Reads a ring: entries `VERSION:KEY` separated by commas or line breaks (blank lines and
    /// lines starting with `#` skipped), VERSION a whole number from 1, KEY 32 bytes in base64 or 64 hex
    /// digits.
    ///
    /// Fails with [`VaultError::KeyRing`] naming the entry that is malformed, a repeated
    /// version, or an empty ring.
    pub fn parse(text: &str) -> Result<Self, VaultError> {
        let mut keys = BTreeMap::new();
        for (index, entry) in text
            .lines()
            .filter(|line| !line.trim_start().starts_with('#'))
            .flat_map(|line| line.split(','))
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .enumerate()
        {
            let number = index + 1;
            let (version, key) = entry.split_once(':').ok_or_else(|| {
                ring_error(format!(
                    "entry {number} is not VERSION:KEY (e.g. 1:<base64 of 32 bytes>)"
                ))
            })?;
            let version: u32 =
                version.trim().parse().ok().filter(|version| *version > 0).ok_or_else(|| {
                    ring_error(format!("entry {number}: the version must be a whole number from 1"))
                })?;
            let key = decode_key(key.trim()).ok_or_else(|| {
                ring_error(format!("entry {number} (version {version}): the key must be 32 bytes in base64 or 64 hex digits"))
            })?;
            let unbound = UnboundKey::new(&AES_256_GCM, &key)
                .map_err(|_| ring_error("a master key must be 32 bytes"))?;
            if keys.insert(version, LessSafeKey::new(unbound)).is_some() {
                return Err(ring_error(format!("version {version} appears twice")));
            }
        }
        if keys.is_empty() {
            return Err(ring_error("no key given"));
        }
        Ok(Self { keys, file: None })
    }

    /// The configured ring (`encryption.master_keys`), or the key file at `file`, which is
    /// created with one fresh key (version 1) when missing. A ring read from the file can be
    /// [reloaded](MasterKeys::reload) and [extended](MasterKeys::add_to_file).
    pub fn load(
        configured: Option<&secrecy::SecretString>,
        file: &Path,
    ) -> Result<Self, VaultError> {
        if let Some(configured) = configured {
            return Self::parse(configured.expose_secret());
        }
        let text = match std::fs::read_to_string(file) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => create_file(file)?,
            Err(error) => return Err(ring_error(format!("reading {}: {error}", file.display()))),
        };
        let mut keys = Self::parse(&text)
            .map_err(|error| ring_error(format!("{}: {error}", file.display())))?;
        keys.file = Some(file.to_owned());
        Ok(keys)
    }

    /// Reads the key file again (a ring from the configuration stays as it is): how a running
    /// server learns a version added by `unmogrowp admin rotate-keys --add-master-key`.
    pub fn reload(&self) -> Result<Option<Self>, VaultError> {
        let Some(file) = &self.file else { return Ok(None) };
        let text = std::fs::read_to_string(file)
            .map_err(|error| ring_error(format!("reading {}: {error}", file.display())))?;
        let mut keys = Self::parse(&text)?;
        keys.file = Some(file.clone());
        Ok(Some(keys))
    }

    /// Appends a fresh key as the next version to the key file and returns the new ring.
    ///
    /// Fails with [`VaultError::KeyRing`] when the ring came from the configuration (add the
    /// key there: `unmogrowp admin rotate-keys` prints one) or the file cannot be written.
    pub fn add_to_file(&self) -> Result<Self, VaultError> {
        use std::io::Write;
        let Some(file) = &self.file else {
            return Err(ring_error(
                "the ring comes from encryption.master_keys: add the new version there",
            ));
        };
        let line = Self::new_entry(self.active_version() + 1);
        let handle = std::fs::OpenOptions::new()
            .append(true)
            .open(file)
            .and_then(|mut handle| {
                handle.write_all(format!("\n{line}\n").as_bytes()).map(|()| handle)
            })
            .map_err(|error| ring_error(format!("writing {}: {error}", file.display())))?;
        handle
            .sync_all()
            .map_err(|error| ring_error(format!("syncing {}: {error}", file.display())))?;
        drop(handle);
        self.reload()?.ok_or_else(|| ring_error("the key file vanished"))
    }

    /// A new ring entry `VERSION:BASE64` with a fresh random key.
    pub fn new_entry(version: u32) -> String {
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        format!("{version}:{}", STANDARD.encode(key))
    }

    /// The versions held, ascending.
    pub fn versions(&self) -> Vec<u32> {
        self.keys.keys().copied().collect()
    }

    /// The version that wraps: the highest.
    pub fn active_version(&self) -> u32 {
        self.keys.keys().next_back().copied().unwrap_or(0)
    }

    /// Wraps `key` with the active master key: `(version, base64url(nonce ‖ ciphertext ‖ tag))`,
    /// bound to the key's scope and the version.
    pub fn wrap(&self, key: &DataKey) -> (u32, String) {
        let version = self.active_version();
        let master = &self.keys[&version];
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let mut out = nonce.to_vec();
        out.extend_from_slice(key.material());
        let tag = master
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(wrap_aad(key.scope(), version)),
                &mut out[NONCE_LEN..],
            )
            .unwrap_or_else(|_| unreachable!("32 bytes are far below GCM's length limit"));
        out.extend_from_slice(tag.as_ref());
        (version, URL_SAFE_NO_PAD.encode(out))
    }

    /// Unwraps what [`MasterKeys::wrap`] made for `scope` under master key `version`.
    ///
    /// Fails with [`VaultError::UnknownMasterVersion`] when the ring lacks the version, and with
    /// [`VaultError::Corrupt`] when the wrapped key does not open under it.
    pub fn unwrap(&self, scope: &str, version: u32, wrapped: &str) -> Result<DataKey, VaultError> {
        let master = self
            .keys
            .get(&version)
            .ok_or_else(|| VaultError::UnknownMasterVersion { scope: scope.to_owned(), version })?;
        let corrupt = || VaultError::Corrupt(format!("the data key of {scope}"));
        let mut bytes = URL_SAFE_NO_PAD.decode(wrapped).map_err(|_| corrupt())?;
        if bytes.len() != NONCE_LEN + 32 + 16 {
            return Err(corrupt());
        }
        let nonce: [u8; NONCE_LEN] = bytes[..NONCE_LEN].try_into().map_err(|_| corrupt())?;
        let material = master
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(wrap_aad(scope, version)),
                &mut bytes[NONCE_LEN..],
            )
            .map_err(|_| corrupt())?;
        let material: [u8; 32] = material.try_into().map_err(|_| corrupt())?;
        Ok(DataKey::from_material(scope, material))
    }
}

/// Writes a new key file with one key, under a temporary name linked into place, so a second
/// process starting at the same moment uses the winner's key rather than making its own.
fn create_file(path: &Path) -> Result<String, VaultError> {
    use std::io::Write;
    let fail = |error: std::io::Error| ring_error(format!("creating {}: {error}", path.display()));
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(fail)?;
    }
    let text = format!(
        "# UnMoGrowP master keys: VERSION:BASE64, the highest version is active. Back this file up:\n# without it, encrypted data cannot be read.\n{}\n",
        MasterKeys::new_entry(1)
    );
    let mut nonce = [0u8; 8];
    rand::rng().fill_bytes(&mut nonce);
    let temporary = path.with_extension(format!("{}.{}", std::process::id(), hex::encode(nonce)));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let written = options.open(&temporary).and_then(|mut file| {
        file.write_all(text.as_bytes())?;
        file.sync_all()
    });
    if let Err(error) = written {
        let _ = std::fs::remove_file(&temporary);
        return Err(fail(error));
    }
    let linked = std::fs::hard_link(&temporary, path);
    let _ = std::fs::remove_file(&temporary);
    match linked {
        Ok(()) => {
            tracing::info!(path = %path.display(), "generated a new master key ring");
            Ok(text)
        }
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
            std::fs::read_to_string(path).map_err(fail)
        }
        Err(error) => Err(fail(error)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_ring_wraps_with_its_newest_version_and_unwraps_with_any() {
        let first_entry = MasterKeys::new_entry(1);
        let old = MasterKeys::parse(&first_entry).unwrap();
        let data = DataKey::generate("org_a");
        let (version, wrapped) = old.wrap(&data);
        assert_eq!(version, 1);
        // A ring with a second version wraps with it; the first still unwraps the old key.
        let ring = format!("{}\n# the new one\n{}", first_entry, MasterKeys::new_entry(2));
        let both = MasterKeys::parse(&ring).unwrap();
        assert_eq!((both.versions(), both.active_version()), (vec![1, 2], 2));
        let rewrapped = both.wrap(&both.unwrap("org_a", 1, &wrapped).unwrap());
        assert_eq!(rewrapped.0, 2);
        let sealed = data.seal("f", "secret");
        let unwrapped = old.unwrap("org_a", 1, &wrapped).unwrap();
        assert_eq!(unwrapped.open("f", &sealed).unwrap(), "secret");
        // Bound to scope and version.
        assert!(matches!(old.unwrap("org_b", 1, &wrapped), Err(VaultError::Corrupt(_))));
        assert!(matches!(
            old.unwrap("org_a", 2, &wrapped),
            Err(VaultError::UnknownMasterVersion { version: 2, .. })
        ));
    }

    #[test]
    fn the_key_file_is_made_once_extended_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(KEY_FILE);
        let first = MasterKeys::load(None, &path).unwrap();
        assert_eq!(first.versions(), vec![1]);
        let data = DataKey::generate("platform");
        let (v1, wrapped) = first.wrap(&data);
        let again = MasterKeys::load(None, &path).unwrap();
        assert!(again.unwrap("platform", v1, &wrapped).is_ok(), "the same key is read back");
        let extended = again.add_to_file().unwrap();
        assert_eq!(extended.versions(), vec![1, 2]);
        let (v2, rewrapped) = extended.wrap(&extended.unwrap("platform", v1, &wrapped).unwrap());
        assert_eq!(v2, 2);
        // The first handle learns version 2 by reloading.
        assert!(first.unwrap("platform", v2, &rewrapped).is_err());
        let reloaded = first.reload().unwrap().unwrap();
        let back = reloaded.unwrap("platform", v2, &rewrapped).unwrap();
        assert_eq!(back.open("f", &data.seal("f", "x")).unwrap(), "x");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "the key file is private");
        }
    }

    #[test]
    fn malformed_rings_name_the_entry() {
        let message = |text: &str| MasterKeys::parse(text).unwrap_err().to_string();
        assert!(message("").contains("no key"));
        assert!(message("abc").contains("entry 1"));
        assert!(message(&format!("{},0:{}", MasterKeys::new_entry(1), "x")).contains("entry 2"));
        assert!(message("1:c2hvcnQ=").contains("32 bytes"));
        let entry = MasterKeys::new_entry(3);
        assert!(message(&format!("{entry},{entry}")).contains("twice"));
        let hex_key = format!("7:{}", "ab".repeat(32));
        assert_eq!(MasterKeys::parse(&hex_key).unwrap().active_version(), 7);
    }
}
