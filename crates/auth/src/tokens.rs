//! Access tokens: JWTs signed with HMAC-SHA256 (HS256). Short-lived; every use is also
//! checked against the session, so ending a session ends its tokens at once.
//!
//! Only tokens this server issued are accepted: the header must be exactly the one it
//! writes, which rules out `alg: none` and algorithm confusion by construction.

use crate::secrets::{base64url, base64url_decode, hmac_sha256, verify_hmac_sha256};
use serde::{Deserialize, Serialize};

/// base64url of `{"alg":"HS256","typ":"JWT"}`.
const HEADER: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";
/// The `iss` claim of every access token; a token with another issuer is refused as malformed.
pub const ISSUER: &str = "unmogrowp";

/// The payload of an access token (times in seconds since the Unix epoch).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    /// The organization the token acts in.
    pub org: String,
    /// The user's role in `org` when the token was issued; informational, as requests check the
    /// live membership.
    pub role: String,
    /// The session id.
    pub sid: String,
    /// The user's email when the token was issued.
    pub email: String,
    /// The issuer, always [`ISSUER`].
    pub iss: String,
    /// Issued at (seconds since the epoch).
    pub iat: i64,
    /// Expires at (seconds since the epoch).
    pub exp: i64,
    /// A unique id, so that no two tokens are alike.
    pub jti: String,
}

/// Why an access token was refused. Each becomes a 401 whose detail is the message.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not three dot-separated parts, a header other than the one this server writes, invalid
    /// base64url or JSON, or another issuer.
    #[error("the access token is malformed")]
    Malformed,
    /// The HMAC-SHA256 signature does not match: another key, or an altered token.
    #[error("the access token's signature is not valid")]
    BadSignature,
    /// The token is past its `exp` (valid only strictly before it).
    #[error("the access token has expired")]
    Expired,
}

/// Signs `claims` as a compact JWT: the fixed HS256 header, the claims as base64url JSON, and the
/// base64url HMAC-SHA256 signature under `key` (the keyring's token-signing key).
pub fn encode(key: &[u8], claims: &Claims) -> String {
    let payload = base64url(&serde_json::to_vec(claims).unwrap_or_default());
    let signing_input = format!("{HEADER}.{payload}");
    let signature = base64url(&hmac_sha256(key, signing_input.as_bytes()));
    format!("{signing_input}.{signature}")
}

/// Verifies the signature (in constant time), then the expiry against `now_seconds`.
pub fn decode(key: &[u8], token: &str, now_seconds: i64) -> Result<Claims, TokenError> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed);
    };
    if header != HEADER {
        return Err(TokenError::Malformed);
    }
    let signature = base64url_decode(signature).ok_or(TokenError::Malformed)?;
    let signing_input = &token[..header.len() + 1 + payload.len()];
    if !verify_hmac_sha256(key, signing_input.as_bytes(), &signature) {
        return Err(TokenError::BadSignature);
    }
    let payload = base64url_decode(payload).ok_or(TokenError::Malformed)?;
    let claims: Claims = serde_json::from_slice(&payload).map_err(|_| TokenError::Malformed)?;
    if claims.iss != ISSUER {
        return Err(TokenError::Malformed);
    }
    if claims.exp <= now_seconds {
        return Err(TokenError::Expired);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> Claims {
        Claims {
            sub: "u".into(),
            org: "o".into(),
            role: "owner".into(),
            sid: "s".into(),
            email: "a@b.c".into(),
            iss: ISSUER.into(),
            iat: 0,
            exp,
            jti: "j".into(),
        }
    }

    #[test]
    fn round_trip() {
        let token = encode(b"key", &claims(100));
        assert_eq!(decode(b"key", &token, 99), Ok(claims(100)));
    }

    #[test]
    fn expired_tokens_are_refused() {
        let token = encode(b"key", &claims(100));
        assert_eq!(decode(b"key", &token, 100), Err(TokenError::Expired));
    }

    #[test]
    fn another_key_or_a_changed_payload_is_refused() {
        let token = encode(b"key", &claims(100));
        assert_eq!(decode(b"other", &token, 0), Err(TokenError::BadSignature));
        let mut forged = claims(100);
        forged.role = "viewer".into();
        let forged_payload = base64url(&serde_json::to_vec(&forged).unwrap_or_default());
        let parts: Vec<&str> = token.split('.').collect();
        let tampered = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
        assert_eq!(decode(b"key", &tampered, 0), Err(TokenError::BadSignature));
    }

    #[test]
    fn unsigned_and_malformed_tokens_are_refused() {
        let none_header = base64url(br#"{"alg":"none","typ":"JWT"}"#);
        let payload = base64url(&serde_json::to_vec(&claims(100)).unwrap_or_default());
        assert_eq!(
            decode(b"key", &format!("{none_header}.{payload}."), 0),
            Err(TokenError::Malformed)
        );
        assert_eq!(decode(b"key", "a.b", 0), Err(TokenError::Malformed));
        assert_eq!(decode(b"key", "", 0), Err(TokenError::Malformed));
    }
}
