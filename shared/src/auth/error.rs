//! Why a token was refused, or why the verifier could not be built. Every message is short and
//! fixed: none echoes any part of a token, so a `Display` can go into a response or a log.

/// Why a token was refused (or, for [`AuthError::Config`], why the verifier cannot start).
///
/// [`AuthError::is_unavailable`] tells "cannot verify now" (answer 503) from a bad token
/// (answer 401).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No token at all.
    #[error("missing bearer token")]
    Missing,
    /// Not three base64url segments with a JSON header and JSON-object claims, or too long.
    #[error("malformed token")]
    Malformed,
    /// `alg` is `none`, not one of HS256/RS256/ES256, or not enabled by the configuration;
    /// or the header has a `crit` we do not understand.
    #[error("unsupported token algorithm")]
    UnsupportedAlgorithm,
    /// No key of the token's algorithm with its `kid` (after a refetch where allowed), or no
    /// `kid` and not exactly one key of that type.
    #[error("no key for this token")]
    UnknownKey,
    /// The key with the token's `kid` is of another type or algorithm than the token's.
    #[error("token key does not match its algorithm")]
    KeyMismatch,
    /// The signature does not verify.
    #[error("invalid token signature")]
    BadSignature,
    /// `exp` is missing or not a number.
    #[error("token has no valid expiry")]
    MissingExpiry,
    /// `exp` is past (beyond the leeway).
    #[error("token expired")]
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    #[error("token not yet valid")]
    NotYetValid,
    /// `iat` is in the future (beyond the leeway).
    #[error("token issued in the future")]
    IssuedInFuture,
    /// A claim has the wrong JSON type (the name is ours, never the token's).
    #[error("token claim `{0}` is malformed")]
    BadClaim(&'static str),
    /// `iss` missing or not the configured issuer.
    #[error("token issuer not accepted")]
    WrongIssuer,
    /// `aud` missing or naming none of the configured audiences.
    #[error("token audience not accepted")]
    WrongAudience,
    /// `azp` missing or not among the configured authorized parties.
    #[error("token authorized party not accepted")]
    WrongAuthorizedParty,
    /// `sub` missing, empty, longer than 255 characters or with control characters.
    #[error("token subject invalid")]
    InvalidSubject,
    /// The JWKS could not be fetched or read (host down, timeout, bad answer): the token
    /// cannot be verified now. The API answers 503.
    #[error("cannot verify tokens now: signing keys unavailable")]
    KeysUnavailable,
    /// A token could not be signed (dev minting).
    #[error("cannot sign token")]
    Signing,
    /// A startup setting is wrong: names the environment variable.
    #[error("{var}: {reason}")]
    Config {
        /// The environment variable at fault.
        var: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

impl AuthError {
    /// True when the token could not be checked now (the key set is unavailable): a 503, not
    /// a 401.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::KeysUnavailable)
    }

    pub(crate) fn config(var: &'static str, reason: impl std::fmt::Display) -> Self {
        Self::Config {
            var,
            reason: reason.to_string(),
        }
    }
}
