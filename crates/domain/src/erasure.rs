//! Erasure: removing what the platform holds about a device (the right to erasure, GDPR
//! article 17) or about a deleted app. A request travels through the event log like an event,
//! so the worker that owns the app carries it out in log order: everything accepted before
//! the request is erased, and the attribution index forgets the device at the same point.

use crate::event::is_placeholder_id;
use crate::ids::{AppId, ErasureId, OrgId};
use serde::{Deserialize, Serialize};

/// The identifier kinds a device is known by, strongest first (as in
/// [`crate::event::Device::identifiers`]).
pub const IDENTIFIER_KINDS: [&str; 4] = ["gaid", "idfa", "idfv", "install_id"];

/// What an erasure removes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErasureScope {
    /// One device of the app: every stored row carrying one of these identifiers (`kind:value`,
    /// lower case, as [`device_identifiers`] gives them) or an identifier seen together with
    /// one of them on a row, the decisions of its installs, the touchpoints those installs
    /// were credited to, and its activity days (cohorts).
    Device {
        /// The identifiers asked for, as `kind:value`.
        identifiers: Vec<String>,
    },
    /// The whole app (it was deleted): every row, decision, rollup and quarantined event.
    App,
}

/// A request to erase, as the event log carries it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Erasure {
    /// The request's id (for a deleted app, a fresh id nobody polls).
    pub id: ErasureId,
    /// The organization that owns the app.
    pub org_id: OrgId,
    /// The app whose data is erased.
    pub app_id: AppId,
    /// What is erased.
    pub scope: ErasureScope,
    /// When the request was accepted (server clock, ms since the epoch). What is erased is
    /// decided by log order, not by this time: every row before the request in the log goes,
    /// rows after it are new data.
    pub requested_ms: i64,
}

/// A device's opt-out of tracking, as the event log carries it: from this point of the log on,
/// the app's events from any of these identifiers are kept only as anonymous counts (see
/// [`crate::event::LoggedEvent::anonymize`]). Opt-outs are kept for good (an erasure does not
/// lift them).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OptOut {
    /// The organization that owns the app.
    pub org_id: OrgId,
    /// The app the device opted out of.
    pub app_id: AppId,
    /// The device's identifiers, as `kind:value` ([`crate::event::Device::identifiers`]).
    pub identifiers: Vec<String>,
    /// When it was accepted (server clock, ms since the epoch).
    pub received_ms: i64,
}

/// Why a device identifier given for erasure cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IdentifierError {
    /// Empty, or a placeholder such as all zeros or `unknown`, which identifies nobody.
    #[error(
        "device_id is empty or a placeholder (all zeros, `unknown`, …) that identifies no device"
    )]
    Placeholder,
    /// Longer than [`crate::event::MAX_ID_CHARS`].
    #[error("device_id is longer than {max} characters", max = crate::event::MAX_ID_CHARS)]
    TooLong,
    /// `kind:value` with a kind other than `gaid`, `idfa`, `idfv` or `install_id`.
    #[error(
        "device_id names the identifier kind `{0}`; use gaid, idfa, idfv or install_id, or the bare value"
    )]
    UnknownKind(String),
}

/// The identifiers to erase for a `device_id` as a user gives it: `kind:value` (`gaid:…`,
/// `idfa:…`, `idfv:…`, `install_id:…`) names one identifier; a bare value (an advertising id
/// as the device reports it) is looked for under every kind. Values are trimmed and compared
/// in lower case, as the attribution index compares them.
pub fn device_identifiers(device_id: &str) -> Result<Vec<String>, IdentifierError> {
    let trimmed = device_id.trim();
    if trimmed.chars().count() > crate::event::MAX_ID_CHARS {
        return Err(IdentifierError::TooLong);
    }
    if let Some((kind, value)) = trimmed.split_once(':') {
        let kind = kind.trim().to_ascii_lowercase();
        if IDENTIFIER_KINDS.contains(&kind.as_str()) {
            if is_placeholder_id(value) {
                return Err(IdentifierError::Placeholder);
            }
            return Ok(vec![format!("{kind}:{}", value.trim().to_ascii_lowercase())]);
        }
        if kind.chars().all(|c| c.is_ascii_alphabetic() || c == '_') && !kind.is_empty() {
            return Err(IdentifierError::UnknownKind(kind));
        }
    }
    if is_placeholder_id(trimmed) {
        return Err(IdentifierError::Placeholder);
    }
    let value = trimmed.to_ascii_lowercase();
    Ok(IDENTIFIER_KINDS.iter().map(|kind| format!("{kind}:{value}")).collect())
}

/// A row's identifiers as `kind:value` (placeholders left out): what an erasure matches.
pub fn row_identifiers(
    gaid: Option<&str>,
    idfa: Option<&str>,
    idfv: Option<&str>,
    device_id: Option<&str>,
) -> Vec<String> {
    let mut ids: Vec<String> = [("gaid", gaid), ("idfa", idfa), ("idfv", idfv)]
        .into_iter()
        .filter_map(|(kind, value)| {
            let value = value?;
            (!is_placeholder_id(value))
                .then(|| format!("{kind}:{}", value.trim().to_ascii_lowercase()))
        })
        .collect();
    if let Some(device_id) = device_id
        && !ids.iter().any(|id| id == device_id)
    {
        ids.push(device_id.to_owned());
    }
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_named_kind_is_one_identifier_and_a_bare_value_is_every_kind() {
        assert_eq!(device_identifiers(" GAID:AbC-1 "), Ok(vec!["gaid:abc-1".to_owned()]));
        assert_eq!(
            device_identifiers("AbC-1"),
            Ok(vec![
                "gaid:abc-1".to_owned(),
                "idfa:abc-1".to_owned(),
                "idfv:abc-1".to_owned(),
                "install_id:abc-1".to_owned()
            ])
        );
    }

    #[test]
    fn placeholders_unknown_kinds_and_long_values_are_refused() {
        assert_eq!(device_identifiers(""), Err(IdentifierError::Placeholder));
        assert_eq!(
            device_identifiers("00000000-0000-0000-0000-000000000000"),
            Err(IdentifierError::Placeholder)
        );
        assert_eq!(device_identifiers("idfa:unknown"), Err(IdentifierError::Placeholder));
        assert_eq!(
            device_identifiers("imei:123"),
            Err(IdentifierError::UnknownKind("imei".to_owned()))
        );
        assert_eq!(device_identifiers(&"a".repeat(300)), Err(IdentifierError::TooLong));
    }

    #[test]
    fn row_identifiers_add_the_primary_id_once() {
        assert_eq!(
            row_identifiers(Some("AB"), None, Some("0000"), Some("gaid:ab")),
            vec!["gaid:ab".to_owned()]
        );
        assert_eq!(
            row_identifiers(None, None, None, Some("install_id:x")),
            vec!["install_id:x".to_owned()]
        );
    }
}
