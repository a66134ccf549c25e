//! The [`Verifier`]: reads a token's header, picks the one key its algorithm may use (the
//! HS256 secret, or a JWKS key of the matching type), checks the signature with
//! `jsonwebtoken`, then applies the claim rules. HS256 is never checked with a JWKS key, so
//! a token "signed" with a public key as HMAC secret (algorithm confusion) cannot pass.

use super::claims::{ClaimRules, Identity};
use super::config::{clean_opt, parse_jwks_url, AuthConfig, ISSUER_ENV, JWKS_URL_ENV, SECRET_ENV};
use super::jwks::{JwksCache, JwksSettings, KID_MAX_CHARS};
use super::AuthError;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use std::fmt;
use std::sync::Arc;

/// Longest token accepted, in bytes (Clerk's are ~1 KiB).
pub const TOKEN_MAX_BYTES: usize = 16 * 1024;

/// Verifies bearer tokens. Cheap to clone (one `Arc`); share one per process so the JWKS
/// cache is shared.
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

struct Inner {
    rules: ClaimRules,
    hs256: Option<Arc<DecodingKey>>,
    jwks: Option<JwksCache>,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("hs256", &self.inner.hs256.is_some())
            .field("jwks", &self.inner.jwks.is_some())
            .field("rules", &self.inner.rules)
            .finish()
    }
}

impl Verifier {
    /// Builds a verifier: HS256 with `hs256_secret` when given, RS256/ES256 with the JWKS
    /// when `SIGMASIGHT_JWKS_URL` is set (then `SIGMASIGHT_JWT_ISSUER` is required). Errors
    /// name the variable at fault. No network access here: the JWKS is fetched on first use
    /// (or by [`Verifier::refresh_keys`]).
    pub fn new(config: &AuthConfig, hs256_secret: Option<&str>) -> Result<Self, AuthError> {
        let rules = ClaimRules::from_config(config)?;
        let hs256 = match hs256_secret {
            Some("") => return Err(AuthError::config(SECRET_ENV, "the secret is empty")),
            Some(secret) => Some(Arc::new(DecodingKey::from_secret(secret.as_bytes()))),
            None => None,
        };
        let jwks = match clean_opt(config.jwks_url.as_deref()) {
            Some(raw) => {
                if rules.issuer.is_none() {
                    return Err(AuthError::config(
                        ISSUER_ENV,
                        "required when SIGMASIGHT_JWKS_URL is set",
                    ));
                }
                let settings = JwksSettings {
                    url: parse_jwks_url(&raw)?,
                    timeout: config.jwks_timeout,
                    min_refetch: config.jwks_min_refetch,
                    max_age: config.jwks_max_age,
                };
                Some(JwksCache::new(settings).map_err(|e| AuthError::config(JWKS_URL_ENV, e))?)
            }
            None => None,
        };
        if hs256.is_none() && jwks.is_none() {
            return Err(AuthError::config(
                JWKS_URL_ENV,
                "no way to verify tokens: set it or SIGMASIGHT_JWT_SECRET",
            ));
        }
        Ok(Self {
            inner: Arc::new(Inner { rules, hs256, jwks }),
        })
    }

    /// Verifies a token (signature, then claims) and returns who it names.
    /// [`AuthError::KeysUnavailable`] means "cannot verify now"; every other error is a bad
    /// token.
    pub async fn verify(&self, token: &str) -> Result<Identity, AuthError> {
        let header = parse_header(token)?;
        let key = match header.alg {
            Algorithm::HS256 => self.hs256_key()?,
            _ => {
                let jwks = self
                    .inner
                    .jwks
                    .as_ref()
                    .ok_or(AuthError::UnsupportedAlgorithm)?;
                jwks.key_for(header.alg, header.kid.as_deref()).await?
            }
        };
        let claims = verify_signature(token, header.alg, &key)?;
        self.inner
            .rules
            .check(&claims, chrono::Utc::now().timestamp())
    }

    /// Fetches the JWKS now (e.g. at startup, to fail early or warm the cache), within the
    /// same refetch interval as any other fetch. A no-op without a JWKS URL.
    pub async fn refresh_keys(&self) -> Result<(), AuthError> {
        match &self.inner.jwks {
            Some(jwks) => jwks.refresh_now().await,
            None => Ok(()),
        }
    }

    fn hs256_key(&self) -> Result<Arc<DecodingKey>, AuthError> {
        self.inner
            .hs256
            .clone()
            .ok_or(AuthError::UnsupportedAlgorithm)
    }
}

/// The header members we act on.
pub(crate) struct TokenHeader {
    pub(crate) alg: Algorithm,
    pub(crate) kid: Option<String>,
}

#[derive(Deserialize)]
struct RawHeader {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    crit: Option<serde_json::Value>,
}

/// Reads the header: HS256, RS256 or ES256 only (`none` and everything else refused), no
/// `crit` extensions, a bounded `kid`.
pub(crate) fn parse_header(token: &str) -> Result<TokenHeader, AuthError> {
    use base64::Engine as _;
    if token.is_empty() {
        return Err(AuthError::Missing);
    }
    if token.len() > TOKEN_MAX_BYTES {
        return Err(AuthError::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(header), Some(_), Some(sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AuthError::Malformed);
    };
    if sig.is_empty() {
        return Err(AuthError::Malformed);
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| AuthError::Malformed)?;
    let raw: RawHeader = serde_json::from_slice(&bytes).map_err(|_| AuthError::Malformed)?;
    if raw.crit.is_some() {
        return Err(AuthError::UnsupportedAlgorithm);
    }
    let alg = match raw.alg.as_str() {
        "HS256" => Algorithm::HS256,
        "RS256" => Algorithm::RS256,
        "ES256" => Algorithm::ES256,
        _ => return Err(AuthError::UnsupportedAlgorithm),
    };
    if raw
        .kid
        .as_deref()
        .is_some_and(|k| k.chars().count() > KID_MAX_CHARS)
    {
        return Err(AuthError::Malformed);
    }
    Ok(TokenHeader { alg, kid: raw.kid })
}

/// Checks the signature with exactly `alg` and returns the claims (a JSON object). Claim
/// checks are ours ([`ClaimRules`]), so jsonwebtoken's are all off here.
pub(crate) fn verify_signature(
    token: &str,
    alg: Algorithm,
    key: &DecodingKey,
) -> Result<serde_json::Value, AuthError> {
    use jsonwebtoken::errors::ErrorKind;
    let mut validation = Validation::new(alg);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    let data =
        jsonwebtoken::decode::<serde_json::Value>(token, key, &validation).map_err(|e| match e
            .kind()
        {
            ErrorKind::InvalidSignature
            | ErrorKind::InvalidEcdsaKey
            | ErrorKind::InvalidRsaKey(_)
            | ErrorKind::InvalidKeyFormat => AuthError::BadSignature,
            ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => {
                AuthError::UnsupportedAlgorithm
            }
            _ => AuthError::Malformed,
        })?;
    if !data.claims.is_object() {
        return Err(AuthError::Malformed);
    }
    Ok(data.claims)
}
