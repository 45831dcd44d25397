//! The password policy: 8 to 128 characters, not one of the most common passwords, and no
//! composition rules (length and rarity matter; forced symbols do not).

use std::collections::HashSet;
use std::sync::LazyLock;

/// The fewest characters (Unicode scalar values, not bytes) a password may have.
pub const MIN_CHARS: usize = 8;
/// The most characters (Unicode scalar values, not bytes) a password may have.
pub const MAX_CHARS: usize = 128;

static COMMON: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("../data/common-passwords.txt").lines().filter(|line| !line.is_empty()).collect()
});

/// How many passwords the shipped list holds.
pub fn common_password_count() -> usize {
    COMMON.len()
}

/// A password that meets the policy. Its `Debug` does not show it.
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(..)")
    }
}

impl Password {
    /// Checks `raw` against the policy and keeps it exactly as given (not trimmed).
    ///
    /// # Errors
    ///
    /// A message to put after the field's name: fewer than [`MIN_CHARS`] or more than
    /// [`MAX_CHARS`] characters, or a password on the shipped list of common passwords
    /// (compared in lower case, so `PASSWORD1` is refused too).
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let chars = raw.chars().count();
        if chars < MIN_CHARS {
            return Err("must be at least 8 characters");
        }
        if chars > MAX_CHARS {
            return Err("must be at most 128 characters");
        }
        if COMMON.contains(raw.to_lowercase().as_str()) {
            return Err("is one of the most common passwords; choose another");
        }
        Ok(Self(raw.to_owned()))
    }

    /// The password in clear text, for hashing. Never log or store what this returns.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_list_is_large() {
        assert!(common_password_count() >= 10_000, "{}", common_password_count());
    }

    #[test]
    fn length_limits() {
        assert!(Password::parse("short").is_err());
        assert!(Password::parse(&"x".repeat(129)).is_err());
        assert!(Password::parse("correct horse battery staple").is_ok());
        // Characters, not bytes: eight multi-byte characters are enough.
        assert!(Password::parse("ünïcödé!").is_ok());
    }

    #[test]
    fn common_passwords_are_refused_whatever_their_case() {
        assert!(Password::parse("password").is_err());
        assert!(Password::parse("PASSWORD1").is_err());
        assert!(Password::parse("12345678").is_err());
        assert!(Password::parse("qwertyuiop").is_err());
    }

    #[test]
    fn debug_hides_the_password() {
        let password = Password::parse("a very private phrase")
            .map_err(|_| ())
            .unwrap_or_else(|()| unreachable!());
        assert!(!format!("{password:?}").contains("private"));
    }
}
