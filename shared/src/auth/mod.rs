//! Sign-in: bearer JWT verification and, for dev mode and tests, HS256 token minting.
//!
//! [`Verifier`] accepts HS256 tokens signed with the API's secret and RS256/ES256 tokens
//! signed by a key of the configured JWKS (Clerk-compatible), then applies one set of claim
//! rules (see `claims`). `sub` identifies the user; the admin flag comes from the configured
//! claim (`admin=true` by default). This module knows nothing of HTTP responses or the
//! database: the API maps [`AuthError`] to 401, or to 503 when
//! [`AuthError::is_unavailable`].

mod claims;
mod config;
mod error;
mod jwks;
mod verifier;

#[cfg(test)]
mod tests;

pub use claims::{Identity, SUB_MAX_CHARS};
pub use config::{
    AdminClaim, AuthConfig, ADMIN_CLAIM_DEFAULT, JWKS_MAX_AGE_SECS_DEFAULT,
    JWKS_MIN_REFETCH_SECS_DEFAULT, JWKS_TIMEOUT_SECS_DEFAULT, LEEWAY_SECS_DEFAULT,
};
pub use error::AuthError;
pub use jwks::{JWKS_MAX_BYTES, JWKS_MAX_KEYS};
pub use verifier::{Verifier, TOKEN_MAX_BYTES};

use jsonwebtoken::{encode, Algorithm, DecodingKey, EncodingKey, Header};
use serde::{Deserialize, Serialize};

/// The claims of a dev token (what [`issue_hs256`] writes and [`verify_hs256`] returns).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Claims {
    /// The user.
    pub sub: String,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// Issued at (0 when the token has none).
    #[serde(default)]
    pub iat: i64,
    /// Admin rights.
    #[serde(default)]
    pub admin: bool,
}

/// Verifies an HS256 token with `secret` under the default claim rules (30 s leeway, `exp`
/// required, `nbf`/`iat` checked when present, a valid `sub`, admin from `admin: true`) and
/// returns its claims. Only HS256: any other `alg` is refused.
pub fn verify_hs256(token: &str, secret: &str) -> Result<Claims, AuthError> {
    if secret.is_empty() {
        return Err(AuthError::config(config::SECRET_ENV, "the secret is empty"));
    }
    let header = verifier::parse_header(token)?;
    if header.alg != Algorithm::HS256 {
        return Err(AuthError::UnsupportedAlgorithm);
    }
    let key = DecodingKey::from_secret(secret.as_bytes());
    let claims = verifier::verify_signature(token, Algorithm::HS256, &key)?;
    let identity = claims::ClaimRules::default().check(&claims, chrono::Utc::now().timestamp())?;
    let seconds = |name: &str| claims.get(name).and_then(serde_json::Value::as_f64);
    Ok(Claims {
        sub: identity.sub,
        exp: seconds("exp").map_or(0, |v| v as i64),
        iat: seconds("iat").map_or(0, |v| v as i64),
        admin: identity.admin,
    })
}

/// Mints an HS256 token for `sub`, valid for `ttl_secs`, with `admin: true` when `admin`.
pub fn issue_hs256(
    sub: &str,
    admin: bool,
    ttl_secs: i64,
    secret: &str,
) -> Result<String, AuthError> {
    let now = chrono::Utc::now().timestamp();
    let claims = Claims {
        sub: sub.to_owned(),
        exp: now.saturating_add(ttl_secs),
        iat: now,
        admin,
    };
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .map_err(|_| AuthError::Signing)
}
