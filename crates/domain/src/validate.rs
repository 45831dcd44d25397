//! Field-level validation errors shared by every layer: a list of `(field, message)` pairs
//! that the HTTP layer turns into the `errors` member of a problem document.

use serde::Serialize;

/// One invalid input field and what is wrong with it; serialized as an object with `field`
/// and `message` in the `errors` member of a problem document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// The field's path in the request, dotted for nested fields, e.g. `email` or
    /// `attribution.click_window_hours`.
    pub field: String,
    /// What is wrong, phrased to follow the field's name, e.g. `is required` or
    /// `must be between 1 and 720`.
    pub message: String,
}

impl FieldError {
    /// An error for `field` with `message`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}

/// Collects field errors so that one response names every bad field at once.
#[derive(Debug, Default)]
pub struct FieldErrors(Vec<FieldError>);

impl FieldErrors {
    /// An empty collection.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `field` is invalid, with `message` saying why. Errors keep the order
    /// they were pushed in; a field may be named more than once.
    pub fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message));
    }

    /// Whether no error has been recorded, i.e. every checked field is valid.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(())` when no error was recorded, otherwise `Err` with every error in the order
    /// they were pushed.
    pub fn into_result(self) -> Result<(), Vec<FieldError>> {
        if self.0.is_empty() { Ok(()) } else { Err(self.0) }
    }

    /// Every recorded error, in the order they were pushed (empty when all was valid).
    pub fn into_vec(self) -> Vec<FieldError> {
        self.0
    }
}

/// An email address as stored: trimmed and lower-cased, `local@domain`, at most 254 bytes.
/// Deliberately permissive beyond that: the only real check of an address is a mail to it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// Trims and lower-cases `raw` and checks its shape: non-empty, at most 254 bytes, a
    /// local part of 1 to 64 bytes without whitespace or control characters, `@`, and a
    /// domain of letters, digits, dots and hyphens that neither starts nor ends with a dot
    /// nor has two in a row.
    ///
    /// # Errors
    ///
    /// A message to put after the field's name (for a [`FieldError`]): `is required`,
    /// `must be at most 254 characters`, or `must be an email address (name@example.com)`.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let email = raw.trim().to_lowercase();
        if email.is_empty() {
            return Err("is required");
        }
        if email.len() > 254 {
            return Err("must be at most 254 characters");
        }
        let Some((local, domain)) = email.rsplit_once('@') else {
            return Err("must be an email address (name@example.com)");
        };
        let domain_ok = !domain.is_empty()
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && domain.chars().all(|c| c.is_alphanumeric() || c == '.' || c == '-');
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.chars().any(|c| c.is_whitespace() || c.is_control() || c == '@');
        if !domain_ok || !local_ok {
            return Err("must be an email address (name@example.com)");
        }
        Ok(Self(email))
    }

    /// The address as stored: trimmed and lower-cased.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The address as stored (trimmed and lower-cased), as an owned string.
    pub fn into_string(self) -> String {
        self.0
    }
}

/// Checks a name a person gives (a user's, an organization's, an app's, a network's):
/// surrounding whitespace is trimmed; it must then be non-empty, at most `max_chars`
/// characters (Unicode scalar values), and free of control characters (NUL, line breaks,
/// escapes), which no name needs and some backends refuse. Problems are pushed onto `errors`
/// under `field`; the trimmed text is returned either way.
pub fn name(field: &str, raw: &str, max_chars: usize, errors: &mut FieldErrors) -> String {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        errors.push(field, "is required");
    } else if trimmed.chars().count() > max_chars {
        errors.push(field, format!("must be at most {max_chars} characters"));
    } else if trimmed.chars().any(char::is_control) {
        errors.push(field, "must not contain control characters");
    }
    trimmed.to_owned()
}

/// The longest scheme of a deferred deep link, in characters.
pub const MAX_DEEP_LINK_SCHEME_CHARS: usize = 32;
/// The most characters of a deferred deep link after its scheme's colon.
pub const MAX_DEEP_LINK_REST_CHARS: usize = 2000;

/// Schemes a deep link may not use: a web page or web view following one would run code or
/// open local files.
const UNSAFE_SCHEMES: [&str; 4] = ["javascript", "data", "vbscript", "file"];

/// Checks a deferred deep link: a URI with a scheme, such as `myapp://product/42` or an https
/// universal link, of visible ASCII only (no spaces: percent-encode them), with a scheme of at
/// most [`MAX_DEEP_LINK_SCHEME_CHARS`] and at most [`MAX_DEEP_LINK_REST_CHARS`] after it, and
/// not of a scheme that runs code or opens files. Surrounding spaces are dropped; empty gives
/// `None` (no deep link).
pub fn deep_link(field: &str, raw: &str, errors: &mut FieldErrors) -> Option<String> {
    let value = raw.trim();
    if value.is_empty() {
        return None;
    }
    let (scheme, rest) = value.split_once(':').unwrap_or_default();
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !value.bytes().all(|b| b.is_ascii_graphic()) {
        errors.push(field, "must be visible ASCII without spaces (percent-encode the rest)");
    } else if scheme.len() > MAX_DEEP_LINK_SCHEME_CHARS || rest.len() > MAX_DEEP_LINK_REST_CHARS {
        errors.push(
            field,
            format!(
                "must have a scheme of at most {MAX_DEEP_LINK_SCHEME_CHARS} characters and at \
                 most {MAX_DEEP_LINK_REST_CHARS} characters after it"
            ),
        );
    } else if !scheme_ok || rest.is_empty() {
        errors.push(
            field,
            "must be a URI with a scheme, e.g. myapp://product/42 or https://example.com/p/42",
        );
    } else if UNSAFE_SCHEMES.iter().any(|unsafe_scheme| scheme.eq_ignore_ascii_case(unsafe_scheme))
    {
        errors.push(field, format!("must not use the {} scheme", scheme.to_ascii_lowercase()));
    }
    Some(value.to_owned())
}

#[cfg(test)]
mod tests {
    #[test]
    fn deep_links_are_uris_of_safe_schemes() {
        let check = |raw: &str| {
            let mut errors = super::FieldErrors::new();
            let value = super::deep_link("deep_link", raw, &mut errors);
            (value, errors.into_vec().into_iter().map(|e| e.message).collect::<Vec<_>>())
        };
        assert_eq!(check(" myapp://product/42 "), (Some("myapp://product/42".to_owned()), vec![]));
        assert_eq!(check("https://example.com/p?id=42&x=%20").1, Vec::<String>::new());
        assert_eq!(check("  "), (None, vec![]));
        for bad in
            ["product/42", "://x", "42app://x", "myapp:", "my app://x", "myapp://a b", "myapp://é"]
        {
            assert_eq!(check(bad).1.len(), 1, "{bad}");
        }
        for unsafe_link in
            ["javascript:alert(1)", "JavaScript:alert(1)", "data:text/html,x", "file:///etc/passwd"]
        {
            assert!(check(unsafe_link).1[0].contains("scheme"), "{unsafe_link}");
        }
        assert!(check(&format!("myapp://{}", "a".repeat(1998))).1.is_empty());
        assert!(check(&format!("myapp://{}", "a".repeat(1999))).1[0].contains("2000"));
        assert!(check(&format!("{}:x", "a".repeat(33))).1[0].contains("32"));
    }

    #[test]
    fn names_are_trimmed_bounded_and_free_of_control_characters() {
        let check = |raw: &str| {
            let mut errors = super::FieldErrors::new();
            let value = super::name("name", raw, 5, &mut errors);
            (value, errors.into_vec().into_iter().map(|e| e.message).collect::<Vec<_>>())
        };
        assert_eq!(check("  Ada "), ("Ada".to_owned(), vec![]));
        assert_eq!(check("   ").1, vec!["is required".to_owned()]);
        assert_eq!(check("Ada Lovelace").1, vec!["must be at most 5 characters".to_owned()]);
        for bad in ["A\u{0}b", "A\nb", "A\u{1b}b", "A\u{7f}b", "A\u{85}b"] {
            assert_eq!(
                check(bad).1,
                vec!["must not contain control characters".to_owned()],
                "{bad:?}"
            );
        }
    }

    use super::*;

    #[test]
    fn emails_are_normalised() {
        assert_eq!(
            Email::parse("  Ada@Example.COM ").map(Email::into_string),
            Ok("ada@example.com".to_owned())
        );
        assert!(Email::parse("ops@localhost").is_ok());
    }

    #[test]
    fn bad_emails_are_refused() {
        for bad in
            ["", "no-at-sign", "@example.com", "a@", "a@.com", "a@b..c", "a b@c.d", "a@b c.d"]
        {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
        assert!(Email::parse(&format!("{}@x.io", "a".repeat(65))).is_err());
    }

    #[test]
    fn field_errors_collect() {
        let mut errors = FieldErrors::new();
        assert!(errors.is_empty());
        errors.push("email", "is required");
        errors.push("password", "is too short");
        assert_eq!(errors.into_result().map_err(|e| e.len()), Err(2));
    }
}
