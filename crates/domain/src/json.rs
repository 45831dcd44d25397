//! JSON bodies read with errors that name the field: what every API body and the collection
//! endpoints answer when a body does not parse.

/// Why a JSON body was not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonError {
    /// Not JSON at all (or cut short), at this 1-based line and column.
    #[error("the body is not valid JSON (line {line}, column {column})")]
    Malformed {
        /// 1-based line of the first byte that is not JSON.
        line: usize,
        /// 1-based column of that byte.
        column: usize,
    },
    /// JSON of the wrong shape: `field` is the dotted path (`device.ip`, `events[2].type`;
    /// `body` for the whole document), `message` what is wrong (`is required`, serde's
    /// "invalid type" text without its position).
    #[error("{field}: {message}")]
    Field {
        /// The dotted path of the field at fault.
        field: String,
        /// What is wrong with it.
        message: String,
    },
}

/// Reads `bytes` as one JSON document of type `T`, borrowing strings where `T` does.
///
/// # Errors
///
/// [`JsonError::Malformed`] for bytes that are not JSON or trail the document;
/// [`JsonError::Field`] for a document of the wrong shape, naming the field.
pub fn parse<'de, T: serde::Deserialize<'de>>(bytes: &'de [u8]) -> Result<T, JsonError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize::<_, T>(&mut deserializer)
        .map_err(|error| json_error(&error.path().to_string(), error.inner()))?;
    deserializer.end().map_err(|error| json_error(".", &error))?;
    Ok(value)
}

fn json_error(path: &str, inner: &serde_json::Error) -> JsonError {
    match inner.classify() {
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
            JsonError::Malformed { line: inner.line(), column: inner.column() }
        }
        serde_json::error::Category::Io | serde_json::error::Category::Data => {
            let (field, message) = field_and_message(path, &inner.to_string());
            JsonError::Field { field, message }
        }
    }
}

/// serde reports a missing field at its parent's path with the name in the message; put
/// the name into the path. Strips serde's " at line X column Y" suffix.
fn field_and_message(path: &str, message: &str) -> (String, String) {
    let message = match message.rfind(" at line ") {
        Some(index) => &message[..index],
        None => message,
    };
    let parent = if path == "." { "" } else { path };
    if let Some(rest) = message.strip_prefix("missing field `")
        && let Some(name) = rest.strip_suffix('`')
    {
        let field = if parent.is_empty() { name.to_owned() } else { format!("{parent}.{name}") };
        return (field, "is required".to_owned());
    }
    // For an unknown field the path already ends with its name.
    if let Some(rest) = message.strip_prefix("unknown field `")
        && let Some((name, _)) = rest.split_once('`')
    {
        let field = if parent.is_empty() { name.to_owned() } else { parent.to_owned() };
        return (field, message.to_owned());
    }
    let field = if parent.is_empty() { "body".to_owned() } else { parent.to_owned() };
    (field, message.to_owned())
}

#[cfg(test)]
mod tests {
    use super::{JsonError, parse};

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        inner: Option<Inner>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        count: u32,
    }

    #[test]
    fn errors_name_the_field() {
        let field = |raw: &str| match parse::<Body>(raw.as_bytes()) {
            Err(JsonError::Field { field, message }) => (field, message),
            other => panic!("{raw}: {other:?}"),
        };
        assert_eq!(field("{}"), ("name".to_owned(), "is required".to_owned()));
        assert_eq!(field(r#"{"name":"a","inner":{}}"#).0, "inner.count");
        assert_eq!(field(r#"{"name":"a","inner":{"count":-1}}"#).0, "inner.count");
        assert_eq!(field(r#"{"name":"a","extra":1}"#).0, "extra");
        assert!(matches!(
            parse::<Body>(b"{\n  \"name\": "),
            Err(JsonError::Malformed { line: 2, .. })
        ));
        assert!(matches!(parse::<Body>(br#"{"name":"a"} x"#), Err(JsonError::Malformed { .. })));
    }
}
