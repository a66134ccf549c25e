//! The JWKS cache: RSA and EC P-256 signing keys fetched from one URL, found by `kid`.
//!
//! An unknown `kid` refetches, at most once per `min_refetch`, and concurrent verifications
//! share one fetch (a flood of made-up kids cannot hammer the JWKS host). Keys older than
//! `max_age` are refetched on the next use, and kept if that fetch fails. The answer is
//! bounded in size and in keys. This module knows nothing of claims.

use super::AuthError;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// Largest JWKS answer read, in bytes.
pub const JWKS_MAX_BYTES: usize = 1024 * 1024;
/// Most keys kept from one JWKS (the rest are ignored, with a warning).
pub const JWKS_MAX_KEYS: usize = 100;
/// Smallest RSA modulus accepted, in bytes (2048 bits).
const RSA_MIN_MODULUS_BYTES: usize = 256;
/// Longest `kid` looked up or kept.
pub(crate) const KID_MAX_CHARS: usize = 256;

/// The key types we verify with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyKind {
    Rsa,
    EcP256,
}

impl KeyKind {
    /// The key type an asymmetric algorithm needs (`None` for HS256 and anything else).
    pub(crate) fn for_alg(alg: Algorithm) -> Option<Self> {
        match alg {
            Algorithm::RS256 => Some(Self::Rsa),
            Algorithm::ES256 => Some(Self::EcP256),
            _ => None,
        }
    }
}

/// One usable signing key of the set.
#[derive(Clone)]
pub(crate) struct CachedKey {
    kid: Option<String>,
    kind: KeyKind,
    /// The JWK's `alg`, when it states one.
    alg: Option<String>,
    key: Arc<DecodingKey>,
}

impl CachedKey {
    fn fits(&self, alg: Algorithm) -> bool {
        KeyKind::for_alg(alg) == Some(self.kind)
            && self.alg.as_deref().is_none_or(|a| a == alg_name(alg))
    }
}

fn alg_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::RS256 => "RS256",
        Algorithm::ES256 => "ES256",
        _ => "",
    }
}

/// A JWK as served; only the members we read.
#[derive(Deserialize)]
struct RawJwk {
    kty: Option<String>,
    kid: Option<String>,
    alg: Option<String>,
    #[serde(rename = "use")]
    use_: Option<String>,
    crv: Option<String>,
    n: Option<String>,
    e: Option<String>,
    x: Option<String>,
    y: Option<String>,
}

#[derive(Deserialize)]
struct RawJwks {
    keys: Vec<serde_json::Value>,
}

/// The usable keys of a JWKS document. Keys of other types (oct, OKP, other curves), keys for
/// encryption, keys too weak or malformed are skipped; past [`JWKS_MAX_KEYS`] the rest too.
pub(crate) fn parse_jwks(body: &[u8]) -> Result<Vec<CachedKey>, String> {
    let raw: RawJwks = serde_json::from_slice(body).map_err(|e| format!("not a JWKS: {e}"))?;
    let mut keys = Vec::new();
    for value in raw.keys {
        if keys.len() == JWKS_MAX_KEYS {
            tracing::warn!(
                max = JWKS_MAX_KEYS,
                "JWKS has too many usable keys; rest ignored"
            );
            break;
        }
        if let Some(key) = serde_json::from_value::<RawJwk>(value)
            .ok()
            .and_then(usable_key)
        {
            keys.push(key);
        }
    }
    Ok(keys)
}

fn usable_key(jwk: RawJwk) -> Option<CachedKey> {
    if jwk.use_.as_deref().is_some_and(|u| u != "sig") {
        return None;
    }
    if jwk
        .kid
        .as_deref()
        .is_some_and(|k| k.chars().count() > KID_MAX_CHARS)
    {
        return None;
    }
    let b64 = |s: &Option<String>| s.as_deref().and_then(b64url);
    let (kind, key) = match (jwk.kty.as_deref(), jwk.crv.as_deref()) {
        (Some("RSA"), _) => {
            let (n, e) = (b64(&jwk.n)?, b64(&jwk.e)?);
            let n_len = n.iter().skip_while(|b| **b == 0).count();
            if n_len < RSA_MIN_MODULUS_BYTES || e.is_empty() || e.len() > 8 {
                return None;
            }
            (KeyKind::Rsa, DecodingKey::from_rsa_raw_components(&n, &e))
        }
        (Some("EC"), Some("P-256")) => {
            let (x, y) = (b64(&jwk.x)?, b64(&jwk.y)?);
            if x.len() != 32 || y.len() != 32 {
                return None;
            }
            let key = DecodingKey::from_ec_components(jwk.x.as_deref()?, jwk.y.as_deref()?).ok()?;
            (KeyKind::EcP256, key)
        }
        _ => return None,
    };
    Some(CachedKey {
        kid: jwk.kid,
        kind,
        alg: jwk.alg,
        key: Arc::new(key),
    })
}

fn b64url(s: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .ok()
}

/// What a lookup in the current set found.
enum Found {
    Key(Arc<DecodingKey>),
    /// The kid is there, but for another key type or algorithm.
    Mismatch,
    /// Nothing (or, without a kid, not exactly one key of the type).
    Nothing,
}

#[derive(Default)]
struct KeySet {
    keys: Vec<CachedKey>,
    fetched_at: Option<Instant>,
}

impl KeySet {
    fn find(&self, alg: Algorithm, kid: Option<&str>) -> Found {
        match kid {
            Some(kid) => {
                let mut named = self
                    .keys
                    .iter()
                    .filter(|k| k.kid.as_deref() == Some(kid))
                    .peekable();
                if named.peek().is_none() {
                    return Found::Nothing;
                }
                match named.find(|k| k.fits(alg)) {
                    Some(key) => Found::Key(Arc::clone(&key.key)),
                    None => Found::Mismatch,
                }
            }
            None => {
                let mut fitting = self.keys.iter().filter(|k| k.fits(alg));
                match (fitting.next(), fitting.next()) {
                    (Some(key), None) => Found::Key(Arc::clone(&key.key)),
                    _ => Found::Nothing,
                }
            }
        }
    }

    fn is_stale(&self, max_age: Duration) -> bool {
        self.fetched_at.is_none_or(|t| t.elapsed() >= max_age)
    }
}

/// When the last fetch ran and how it went.
#[derive(Default)]
struct FetchState {
    last_attempt: Option<Instant>,
    last_ok: bool,
}

/// Settings of a [`JwksCache`].
pub(crate) struct JwksSettings {
    pub(crate) url: reqwest::Url,
    pub(crate) timeout: Duration,
    pub(crate) min_refetch: Duration,
    pub(crate) max_age: Duration,
}

/// The cached key set of one JWKS URL.
pub(crate) struct JwksCache {
    settings: JwksSettings,
    client: reqwest::Client,
    keys: RwLock<Arc<KeySet>>,
    /// Held while a fetch runs: waiters then reuse its result instead of fetching again.
    fetch: tokio::sync::Mutex<FetchState>,
    /// Fetches finished so far (bumped after the new keys are stored).
    fetches_done: AtomicU64,
}

impl JwksCache {
    pub(crate) fn new(settings: JwksSettings) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            .redirect(reqwest::redirect::Policy::limited(3))
            .build()?;
        Ok(Self {
            settings,
            client,
            keys: RwLock::new(Arc::new(KeySet::default())),
            fetch: tokio::sync::Mutex::new(FetchState::default()),
            fetches_done: AtomicU64::new(0),
        })
    }

    fn snapshot(&self) -> Arc<KeySet> {
        match self.keys.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    fn store(&self, keys: Vec<CachedKey>) {
        let set = Arc::new(KeySet {
            keys,
            fetched_at: Some(Instant::now()),
        });
        match self.keys.write() {
            Ok(mut guard) => *guard = set,
            Err(poisoned) => *poisoned.into_inner() = set,
        }
    }

    /// The key for a token of `alg` with `kid`, refetching the set when the kid is unknown
    /// (at most once per `min_refetch`) or the set is older than `max_age`.
    pub(crate) async fn key_for(
        &self,
        alg: Algorithm,
        kid: Option<&str>,
    ) -> Result<Arc<DecodingKey>, AuthError> {
        let seen = self.fetches_done.load(Ordering::Acquire);
        let set = self.snapshot();
        match set.find(alg, kid) {
            Found::Key(key) if !set.is_stale(self.settings.max_age) => return Ok(key),
            Found::Key(stale) => {
                // Refresh so a removed key stops working; if the host is down, keep serving.
                return match self.refresh(seen).await {
                    Ok(()) => self.found_after_refresh(alg, kid),
                    Err(_) => Ok(stale),
                };
            }
            Found::Mismatch => return Err(AuthError::KeyMismatch),
            Found::Nothing => {}
        }
        self.refresh(seen).await?;
        self.found_after_refresh(alg, kid)
    }

    fn found_after_refresh(
        &self,
        alg: Algorithm,
        kid: Option<&str>,
    ) -> Result<Arc<DecodingKey>, AuthError> {
        match self.snapshot().find(alg, kid) {
            Found::Key(key) => Ok(key),
            Found::Mismatch => Err(AuthError::KeyMismatch),
            Found::Nothing => Err(AuthError::UnknownKey),
        }
    }

    /// Fetches the set unless one ran less than `min_refetch` ago.
    pub(crate) async fn refresh_now(&self) -> Result<(), AuthError> {
        self.refresh(self.fetches_done.load(Ordering::Acquire))
            .await
    }

    /// Fetches the set unless a fetch finished since `seen` or one ran less than
    /// `min_refetch` ago; then the last fetch's outcome stands. Err = keys unavailable.
    async fn refresh(&self, seen: u64) -> Result<(), AuthError> {
        let mut state = self.fetch.lock().await;
        let outcome = |ok: bool| {
            if ok {
                Ok(())
            } else {
                Err(AuthError::KeysUnavailable)
            }
        };
        if self.fetches_done.load(Ordering::Acquire) != seen {
            return outcome(state.last_ok);
        }
        if let Some(at) = state.last_attempt {
            if at.elapsed() < self.settings.min_refetch {
                return outcome(state.last_ok);
            }
        }
        state.last_attempt = Some(Instant::now());
        let result = self.fetch_keys().await;
        state.last_ok = match result {
            Ok(keys) => {
                tracing::info!(url = %self.settings.url, keys = keys.len(), "JWKS fetched");
                self.store(keys);
                true
            }
            Err(error) => {
                tracing::warn!(url = %self.settings.url, %error, "JWKS fetch failed");
                false
            }
        };
        self.fetches_done.fetch_add(1, Ordering::AcqRel);
        outcome(state.last_ok)
    }

    /// One GET of the JWKS, bounded to [`JWKS_MAX_BYTES`].
    async fn fetch_keys(&self) -> Result<Vec<CachedKey>, String> {
        let mut response = self
            .client
            .get(self.settings.url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| format!("request failed: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("status {}", response.status()));
        }
        if response
            .content_length()
            .is_some_and(|n| n > JWKS_MAX_BYTES as u64)
        {
            return Err("answer too large".into());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| format!("reading the answer: {e}"))?
        {
            if body.len() + chunk.len() > JWKS_MAX_BYTES {
                return Err("answer too large".into());
            }
            body.extend_from_slice(&chunk);
        }
        parse_jwks(&body)
    }
}
