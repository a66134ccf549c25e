//! Sign-in settings (`AuthConfig`, flattened into the API's config) and the parsed forms the
//! verifier uses: the admin-claim rule and the JWKS URL. Every startup error names its
//! environment variable. The HS256 secret is not here: it stays in the API's config and is
//! handed to [`super::Verifier::new`].

use super::AuthError;
use clap::Args;
use serde_json::Value;
use std::time::Duration;

/// Default leeway on `exp`, `nbf` and `iat`, in seconds.
pub const LEEWAY_SECS_DEFAULT: u64 = 30;
/// Default admin rule: a boolean `admin: true` claim (what dev tokens carry).
pub const ADMIN_CLAIM_DEFAULT: &str = "admin=true";
/// Default timeout of one JWKS fetch, in seconds.
pub const JWKS_TIMEOUT_SECS_DEFAULT: u64 = 5;
/// Default minimum interval between two JWKS fetches, in seconds.
pub const JWKS_MIN_REFETCH_SECS_DEFAULT: u64 = 30;
/// Default age after which cached keys are refetched (so a removed key stops working).
pub const JWKS_MAX_AGE_SECS_DEFAULT: u64 = 600;

pub(crate) const JWKS_URL_ENV: &str = "SIGMASIGHT_JWKS_URL";
pub(crate) const ISSUER_ENV: &str = "SIGMASIGHT_JWT_ISSUER";
pub(crate) const ADMIN_CLAIM_ENV: &str = "SIGMASIGHT_JWT_ADMIN_CLAIM";
pub(crate) const SECRET_ENV: &str = "SIGMASIGHT_JWT_SECRET";

/// How bearer tokens are verified: HS256 with the API's secret (dev, tests) and/or RS256 and
/// ES256 with the keys of a JWKS URL (Clerk and other OIDC providers).
#[derive(Debug, Clone, Args)]
pub struct AuthConfig {
    /// JWKS URL (e.g. `https://<app>.clerk.accounts.dev/.well-known/jwks.json`); when set,
    /// RS256 and ES256 tokens signed by its keys are accepted. `https`, or `http` on loopback.
    #[arg(long = "jwks-url", env = "SIGMASIGHT_JWKS_URL")]
    pub jwks_url: Option<String>,
    /// Required `iss` of every token (required when SIGMASIGHT_JWKS_URL is set).
    #[arg(long = "jwt-issuer", env = "SIGMASIGHT_JWT_ISSUER")]
    pub issuer: Option<String>,
    /// Accepted audiences, comma-separated; when set, a token's `aud` must name one of them.
    #[arg(
        long = "jwt-audience",
        env = "SIGMASIGHT_JWT_AUDIENCE",
        value_delimiter = ','
    )]
    pub audiences: Vec<String>,
    /// Accepted authorized parties (Clerk's `azp`, the frontend origins), comma-separated;
    /// when set, a token must carry an `azp` in the list.
    #[arg(
        long = "jwt-authorized-parties",
        env = "SIGMASIGHT_JWT_AUTHORIZED_PARTIES",
        value_delimiter = ','
    )]
    pub authorized_parties: Vec<String>,
    /// Clock skew allowed on `exp`, `nbf` and `iat`, in seconds.
    #[arg(
        long = "jwt-leeway-secs",
        env = "SIGMASIGHT_JWT_LEEWAY_SECS",
        default_value_t = LEEWAY_SECS_DEFAULT
    )]
    pub leeway_secs: u64,
    /// Which claim makes an admin: a dotted path and a value, e.g. `public_metadata.role=admin`
    /// (matches the JSON string "admin", or an array of strings containing it); `true` matches
    /// the JSON boolean `true` only. Nothing else grants admin (`false` is refused at startup).
    #[arg(
        long = "jwt-admin-claim",
        env = "SIGMASIGHT_JWT_ADMIN_CLAIM",
        default_value = ADMIN_CLAIM_DEFAULT
    )]
    pub admin_claim: String,
    /// Timeout of one JWKS fetch (connect to last byte), in seconds.
    #[arg(long = "jwks-timeout", env = "SIGMASIGHT_JWKS_TIMEOUT_SECS", default_value = "5", value_parser = crate::config::parse_secs)]
    pub jwks_timeout: Duration,
    /// Minimum interval between two JWKS fetches (an unknown `kid` refetches at most this
    /// often), in seconds.
    #[arg(long = "jwks-min-refetch", env = "SIGMASIGHT_JWKS_MIN_REFETCH_SECS", default_value = "30", value_parser = crate::config::parse_secs)]
    pub jwks_min_refetch: Duration,
    /// Age after which the cached keys are refetched on the next verification (kept if the
    /// fetch fails), in seconds.
    #[arg(long = "jwks-max-age", env = "SIGMASIGHT_JWKS_MAX_AGE_SECS", default_value = "600", value_parser = crate::config::parse_secs)]
    pub jwks_max_age: Duration,
}

impl Default for AuthConfig {
    /// The defaults of every variable: no JWKS, HS256 only (with the secret given to the
    /// verifier), `admin=true`.
    fn default() -> Self {
        Self {
            jwks_url: None,
            issuer: None,
            audiences: Vec::new(),
            authorized_parties: Vec::new(),
            leeway_secs: LEEWAY_SECS_DEFAULT,
            admin_claim: ADMIN_CLAIM_DEFAULT.to_owned(),
            jwks_timeout: Duration::from_secs(JWKS_TIMEOUT_SECS_DEFAULT),
            jwks_min_refetch: Duration::from_secs(JWKS_MIN_REFETCH_SECS_DEFAULT),
            jwks_max_age: Duration::from_secs(JWKS_MAX_AGE_SECS_DEFAULT),
        }
    }
}

/// A comma-separated list's entries, trimmed, empty ones dropped.
pub(crate) fn clean_list(items: &[String]) -> Vec<String> {
    items
        .iter()
        .flat_map(|s| s.split(','))
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

/// An optional setting, trimmed; empty = unset.
pub(crate) fn clean_opt(value: Option<&str>) -> Option<String> {
    value
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// The JWKS URL, checked: `https`, or `http` to a loopback host (tests, a local proxy).
pub(crate) fn parse_jwks_url(raw: &str) -> Result<reqwest::Url, AuthError> {
    let url = reqwest::Url::parse(raw).map_err(|e| AuthError::config(JWKS_URL_ENV, e))?;
    let loopback = matches!(
        url.host_str(),
        Some("localhost" | "127.0.0.1" | "[::1]" | "::1")
    );
    match url.scheme() {
        "https" => Ok(url),
        "http" if loopback => Ok(url),
        _ => Err(AuthError::config(
            JWKS_URL_ENV,
            "must be an https URL (http only on loopback)",
        )),
    }
}

/// The value an admin claim must have.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expected {
    /// The JSON boolean `true` itself (not `"true"`, not `[true]`, not `1`).
    True,
    /// A role: the JSON string itself, or an array of strings holding it.
    Role(String),
}

/// Which claim makes an admin: a path into the claims and the value found there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminClaim {
    path: Vec<String>,
    expected: Expected,
}

impl AdminClaim {
    /// Parses `dotted.path=value` (the SIGMASIGHT_JWT_ADMIN_CLAIM format); the error names
    /// the variable.
    pub fn parse(spec: &str) -> Result<Self, AuthError> {
        let bad = |reason: &str| AuthError::config(ADMIN_CLAIM_ENV, reason);
        let (path, value) = spec.trim().split_once('=').ok_or_else(|| {
            bad("expected `dotted.path=value`, e.g. `public_metadata.role=admin`")
        })?;
        let path: Vec<String> = path.trim().split('.').map(str::to_owned).collect();
        if path
            .iter()
            .any(|p| p.is_empty() || p.contains(char::is_whitespace))
        {
            return Err(bad("the path has an empty or blank segment"));
        }
        let value = value.trim();
        let expected = match value {
            "" => return Err(bad("the value is empty")),
            "true" => Expected::True,
            // A rule that grants admin for `false` would grant it to every token that says
            // "not an admin".
            "false" => return Err(bad("`false` cannot grant admin: use `true` or a role")),
            s => Expected::Role(s.to_owned()),
        };
        Ok(Self { path, expected })
    }

    /// Whether these claims grant admin rights, and nothing else does: for `path=true`, the
    /// value at the path is the JSON boolean `true`; for `path=<role>`, it is the JSON string
    /// `<role>` (exactly, case and spaces included) or an array holding that string.
    pub fn is_admin(&self, claims: &Value) -> bool {
        let found = self
            .path
            .iter()
            .try_fold(claims, |node, key| node.get(key.as_str()));
        match (&self.expected, found) {
            (Expected::True, Some(Value::Bool(true))) => true,
            (Expected::Role(role), Some(Value::String(v))) => v == role,
            (Expected::Role(role), Some(Value::Array(items))) => items
                .iter()
                .any(|item| item.as_str() == Some(role.as_str())),
            _ => false,
        }
    }
}

impl Default for AdminClaim {
    fn default() -> Self {
        Self {
            path: vec!["admin".to_owned()],
            expected: Expected::True,
        }
    }
}
