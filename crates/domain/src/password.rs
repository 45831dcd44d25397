//! The password policy, after NIST SP 800-63B §5.1.1.2 (memorized secrets): 8 to 128
//! characters of which at least 8 are not spaces, not one of the most common passwords, not
//! built from the account's own email, name or organization (or the product's name), and hard
//! enough to guess by zxcvbn's estimate (score 3 of 4: about 10¹⁰ guesses). No composition
//! rules: length and rarity matter, forced symbols do not.

use std::collections::HashSet;
use std::sync::LazyLock;

/// The fewest characters (Unicode scalar values, not bytes) a password may have.
pub const MIN_CHARS: usize = 8;
/// The most characters (Unicode scalar values, not bytes) a password may have.
pub const MAX_CHARS: usize = 128;

static COMMON: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("../data/common-passwords.txt").lines().filter(|line| !line.is_empty()).collect()
});

/// The least zxcvbn score (0 to 4) a password must reach: 3 means an estimated 10⁸ to 10¹⁰
/// guesses, "safely unguessable" with a slow hash such as ours (Wheeler, "zxcvbn: Low-Budget
/// Password Strength Estimation", USENIX Security 2016).
pub const MIN_SCORE: u8 = 3;

/// Words a password may not be built on whatever the account: the product's own name.
const PRODUCT_WORDS: [&str; 2] = ["unmogrowp", "mogrowp"];

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
    /// Checks `raw` against the policy, with no account facts (see [`Password::parse_for`]),
    /// and keeps it exactly as given (not trimmed).
    ///
    /// # Errors
    ///
    /// As [`Password::parse_for`].
    pub fn parse(raw: &str) -> Result<Self, String> {
        Self::parse_for(raw, &[])
    }

    /// Checks `raw` against the policy for an account described by `related` (its email,
    /// name, organization: whatever the person typed around the password) and keeps it
    /// exactly as given.
    ///
    /// # Errors
    ///
    /// A message to put after the field's name, saying why: fewer than [`MIN_CHARS`]
    /// characters other than spaces, more than [`MAX_CHARS`] characters, a password on the
    /// shipped list of common passwords (compared in lower case), one equal to a related value
    /// or containing one of 5 or more characters (an email, its local part, a name, the
    /// product's name), or
    /// a zxcvbn score below [`MIN_SCORE`] (with zxcvbn's warning when it has one).
    pub fn parse_for(raw: &str, related: &[&str]) -> Result<Self, String> {
        if raw.chars().filter(|c| !c.is_whitespace()).count() < MIN_CHARS {
            return Err("must have at least 8 characters other than spaces".to_owned());
        }
        if raw.chars().count() > MAX_CHARS {
            return Err("must be at most 128 characters".to_owned());
        }
        let lower = raw.to_lowercase();
        if COMMON.contains(lower.as_str()) {
            return Err("is one of the most common passwords; choose another".to_owned());
        }
        let mut words: Vec<String> = PRODUCT_WORDS.iter().map(|w| (*w).to_owned()).collect();
        for value in related {
            let value = value.trim().to_lowercase();
            if let Some((local, _)) = value.split_once('@') {
                words.push(local.to_owned());
            }
            words.push(value);
        }
        let personal = |word: &String| {
            lower == *word || (word.chars().count() >= 5 && lower.contains(word.as_str()))
        };
        if words.iter().any(personal) {
            return Err("must not contain your email, name or organization".to_owned());
        }
        let inputs: Vec<&str> = words.iter().map(String::as_str).collect();
        let estimate = zxcvbn::zxcvbn(raw, &inputs);
        if u8::from(estimate.score()) < MIN_SCORE {
            let warning = estimate.feedback().and_then(|feedback| feedback.warning());
            return Err(match warning {
                Some(warning) => format!("is too easy to guess ({warning}); try a few more words"),
                None => "is too easy to guess; try a few more words".to_owned(),
            });
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
        // Characters, not bytes: seven two-byte characters are too few.
        assert_eq!(
            Password::parse("ünïcödé").err().as_deref(),
            Some("must have at least 8 characters other than spaces")
        );
        assert!(Password::parse("        ").is_err(), "eight spaces");
        assert!(Password::parse("  a b c  ").is_err(), "spaces do not count");
    }

    #[test]
    fn guessable_and_personal_passwords_are_refused_with_a_reason() {
        for weak in ["Summer2024", "Password123!", "unmogrowp", "Unmogrowp2026!", "qwerty123456"] {
            let reason = Password::parse(weak).err();
            assert!(reason.is_some(), "{weak} was accepted");
        }
        let related = ["ada.lovelace@example.com", "Ada Lovelace", "Analytical Engines"];
        for personal in
            ["ada.lovelace@example.com", "my ada.lovelace password", "Analytical Engines rock 42"]
        {
            assert_eq!(
                Password::parse_for(personal, &related).err().as_deref(),
                Some("must not contain your email, name or organization"),
                "{personal}"
            );
        }
        let guessable = Password::parse("Summer2024").err().unwrap_or_default();
        assert!(guessable.starts_with("is too easy to guess"), "{guessable}");
        for strong in [
            "correct horse battery staple 7",
            "a long enough passphrase 42",
            "space rush demo 2026",
            "violet tram under the bridge",
            "Tz8#qLw2!vRm",
        ] {
            assert!(Password::parse_for(strong, &related).is_ok(), "{strong} was refused");
        }
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
