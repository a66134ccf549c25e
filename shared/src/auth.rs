//! Bearer JWT verification (HS256 with a shared secret for now) and token minting for dev
//! mode and tests. `sub` identifies the user; an `admin: true` claim marks an admin.

use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// Claims we read.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Claims {
    /// The user.
    pub sub: String,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// Issued at.
    #[serde(default)]
    pub iat: i64,
    /// Admin rights.
    #[serde(default)]
    pub admin: bool,
}

/// Why a token was refused.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("missing bearer token")]
    Missing,
    #[error("invalid token: {0}")]
    Invalid(String),
}

/// Verifies an HS256 token and returns its claims (expiry checked, no leeway beyond 30 s).
pub fn verify_hs256(token: &str, secret: &str) -> Result<Claims, AuthError> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = 30;
    validation.set_required_spec_claims(&["exp", "sub"]);
    decode::<Claims>(
        token,
        &DecodingKey::from_secret(secret.as_bytes()),
        &validation,
    )
    .map(|d| d.claims)
    .map_err(|e| AuthError::Invalid(e.to_string()))
}

/// Mints an HS256 token for `sub`, valid for `ttl_secs`.
pub fn issue_hs256(
    sub: &str,
    admin: bool,
    ttl_secs: i64,
    secret: &str,
) -> Result<String, AuthError> {
    let now = chrono::Utc::now().timestamp();
    let claims = Claims {
        sub: sub.to_owned(),
        exp: now + ttl_secs,
        iat: now,
        admin,
    };
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .map_err(|e| AuthError::Invalid(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_token_verifies_with_the_same_secret_only() {
        let token = issue_hs256("user-1", false, 60, "s3cret").unwrap_or_default();
        let claims = verify_hs256(&token, "s3cret").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(claims.sub, "user-1");
        assert!(!claims.admin);
        assert!(verify_hs256(&token, "other").is_err());
    }

    #[test]
    fn expired_and_garbage_tokens_are_refused() {
        let token = issue_hs256("user-1", false, -3600, "s").unwrap_or_default();
        assert!(verify_hs256(&token, "s").is_err());
        assert!(verify_hs256("not.a.jwt", "s").is_err());
    }
}
