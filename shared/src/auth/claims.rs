//! The claim rules every verified token passes, whatever signed it: times (`exp` required,
//! `nbf` and `iat` when present, with leeway), `iss`, `aud`, `azp` when configured, `sub`, and
//! the admin claim. Pure functions of the claims and "now": no I/O, no keys.

use super::config::{clean_list, clean_opt, AdminClaim, AuthConfig};
use super::AuthError;
use serde_json::Value;

/// Longest `sub` accepted, in characters (the `users.sub` column's bound).
pub const SUB_MAX_CHARS: usize = 255;

/// Who the token names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The user (`sub`).
    pub sub: String,
    /// Admin rights, from the configured admin claim.
    pub admin: bool,
}

/// The configured claim checks.
#[derive(Debug, Clone)]
pub(crate) struct ClaimRules {
    pub(crate) issuer: Option<String>,
    pub(crate) audiences: Vec<String>,
    pub(crate) authorized_parties: Vec<String>,
    pub(crate) leeway_secs: i64,
    pub(crate) admin: AdminClaim,
}

impl Default for ClaimRules {
    /// Dev rules (what `verify_hs256` applies): 30 s leeway, `admin=true`, nothing else.
    fn default() -> Self {
        Self {
            issuer: None,
            audiences: Vec::new(),
            authorized_parties: Vec::new(),
            leeway_secs: super::config::LEEWAY_SECS_DEFAULT as i64,
            admin: AdminClaim::default(),
        }
    }
}

impl ClaimRules {
    /// The rules of a configuration (the admin spec is parsed here: a bad one is an error
    /// naming its variable).
    pub(crate) fn from_config(config: &AuthConfig) -> Result<Self, AuthError> {
        Ok(Self {
            issuer: clean_opt(config.issuer.as_deref()),
            audiences: clean_list(&config.audiences),
            authorized_parties: clean_list(&config.authorized_parties),
            leeway_secs: i64::try_from(config.leeway_secs).unwrap_or(i64::MAX),
            admin: AdminClaim::parse(&config.admin_claim)?,
        })
    }

    /// Checks verified claims at `now` (seconds since the epoch) and returns who they name.
    pub(crate) fn check(&self, claims: &Value, now: i64) -> Result<Identity, AuthError> {
        if !claims.is_object() {
            return Err(AuthError::Malformed);
        }
        self.check_times(claims, now)?;
        self.check_parties(claims)?;
        let sub = check_sub(claims.get("sub"))?;
        Ok(Identity {
            sub,
            admin: self.admin.is_admin(claims),
        })
    }

    fn check_times(&self, claims: &Value, now: i64) -> Result<(), AuthError> {
        let now = now as f64;
        let leeway = self.leeway_secs as f64;
        let exp = numeric_date(claims, "exp")
            .ok()
            .flatten()
            .ok_or(AuthError::MissingExpiry)?;
        if exp + leeway < now {
            return Err(AuthError::Expired);
        }
        if numeric_date(claims, "nbf")?.is_some_and(|nbf| nbf > now + leeway) {
            return Err(AuthError::NotYetValid);
        }
        if numeric_date(claims, "iat")?.is_some_and(|iat| iat > now + leeway) {
            return Err(AuthError::IssuedInFuture);
        }
        Ok(())
    }

    fn check_parties(&self, claims: &Value) -> Result<(), AuthError> {
        if let Some(issuer) = &self.issuer {
            if claims.get("iss").and_then(Value::as_str) != Some(issuer.as_str()) {
                return Err(AuthError::WrongIssuer);
            }
        }
        if !self.audiences.is_empty() {
            let named = |a: &str| self.audiences.iter().any(|x| x == a);
            let ok = match claims.get("aud") {
                Some(Value::String(a)) => named(a),
                Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).any(named),
                _ => false,
            };
            if !ok {
                return Err(AuthError::WrongAudience);
            }
        }
        if !self.authorized_parties.is_empty() {
            let azp = claims.get("azp").and_then(Value::as_str);
            if !azp.is_some_and(|a| self.authorized_parties.iter().any(|x| x == a)) {
                return Err(AuthError::WrongAuthorizedParty);
            }
        }
        Ok(())
    }
}

/// A NumericDate claim (integer or fractional seconds), `None` when absent.
fn numeric_date(claims: &Value, name: &'static str) -> Result<Option<f64>, AuthError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => n
            .as_f64()
            .filter(|v| v.is_finite())
            .map(Some)
            .ok_or(AuthError::BadClaim(name)),
        Some(_) => Err(AuthError::BadClaim(name)),
    }
}

/// `sub`: a string of at most [`SUB_MAX_CHARS`] characters that is not blank (empty or
/// whitespace only: it would name a user nobody can tell apart), none a control character
/// (NUL included).
fn check_sub(sub: Option<&Value>) -> Result<String, AuthError> {
    let sub = sub
        .and_then(Value::as_str)
        .ok_or(AuthError::InvalidSubject)?;
    if sub.trim().is_empty()
        || sub.chars().count() > SUB_MAX_CHARS
        || sub.chars().any(char::is_control)
    {
        return Err(AuthError::InvalidSubject);
    }
    Ok(sub.to_owned())
}
