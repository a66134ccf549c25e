//! `auth::Verifier` against a JWKS served on 127.0.0.1 (wiremock), with RSA and EC P-256 keys
//! generated here and tokens signed by them. The fake server counts its requests, so the
//! refetch limits are measured, not assumed.

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use p256::ecdsa::SigningKey;
use p256::pkcs8::EncodePrivateKey;
use proptest::prelude::*;
use rsa::pkcs1::{EncodeRsaPrivateKey, EncodeRsaPublicKey};
use rsa::pkcs8::EncodePublicKey;
use rsa::traits::PublicKeyParts;
use serde_json::{json, Value};
use sigmasight_shared::auth::{AuthConfig, AuthError, Identity, Verifier};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const ISSUER: &str = "https://clerk.sigmasight.test";
const JWKS_PATH: &str = "/.well-known/jwks.json";

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// An RSA key pair: the signing key and the public parts.
struct RsaKey {
    private: rsa::RsaPrivateKey,
    signing: EncodingKey,
}

impl RsaKey {
    fn generate() -> Self {
        let private = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).expect("rsa keygen");
        let der = private.to_pkcs1_der().expect("pkcs1 der");
        let signing = EncodingKey::from_rsa_der(der.as_bytes());
        Self { private, signing }
    }

    fn jwk(&self, kid: &str) -> Value {
        let public = self.private.to_public_key();
        json!({
            "kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
            "n": b64(&public.n().to_bytes_be()), "e": b64(&public.e().to_bytes_be()),
        })
    }
}

/// An EC P-256 key pair.
struct EcKey {
    private: SigningKey,
    signing: EncodingKey,
}

impl EcKey {
    fn generate() -> Self {
        let private = SigningKey::random(&mut rand::thread_rng());
        let der = private.to_pkcs8_der().expect("pkcs8 der");
        let signing = EncodingKey::from_ec_der(der.as_bytes());
        Self { private, signing }
    }

    fn jwk(&self, kid: &str) -> Value {
        let point = self.private.verifying_key().to_encoded_point(false);
        json!({
            "kty": "EC", "crv": "P-256", "use": "sig", "kid": kid,
            "x": b64(point.x().expect("x")), "y": b64(point.y().expect("y")),
        })
    }
}

/// Keys are generated once per test binary (RSA key generation is slow in debug builds).
struct Keys {
    rsa: RsaKey,
    rsa2: RsaKey,
    ec: EcKey,
}

static KEYS: LazyLock<Keys> = LazyLock::new(|| Keys {
    rsa: RsaKey::generate(),
    rsa2: RsaKey::generate(),
    ec: EcKey::generate(),
});

/// Serves the current JWKS and counts the requests.
#[derive(Clone)]
struct JwksResponder {
    body: Arc<Mutex<Value>>,
    hits: Arc<AtomicUsize>,
    delay: Duration,
    /// When set, the host answers 503 (an outage).
    down: Arc<AtomicBool>,
}

impl Respond for JwksResponder {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        self.hits.fetch_add(1, Ordering::SeqCst);
        if self.down.load(Ordering::SeqCst) {
            return ResponseTemplate::new(503);
        }
        let body = self.body.lock().map(|b| b.clone()).unwrap_or(Value::Null);
        ResponseTemplate::new(200)
            .set_body_json(body)
            .set_delay(self.delay)
    }
}

/// A fake JWKS host.
struct FakeJwks {
    server: MockServer,
    responder: JwksResponder,
}

impl FakeJwks {
    async fn start(keys: Vec<Value>) -> Self {
        Self::start_with_delay(keys, Duration::ZERO).await
    }

    async fn start_with_delay(keys: Vec<Value>, delay: Duration) -> Self {
        let server = MockServer::start().await;
        let responder = JwksResponder {
            body: Arc::new(Mutex::new(json!({ "keys": keys }))),
            hits: Arc::new(AtomicUsize::new(0)),
            delay,
            down: Arc::new(AtomicBool::new(false)),
        };
        Mock::given(method("GET"))
            .and(path(JWKS_PATH))
            .respond_with(responder.clone())
            .mount(&server)
            .await;
        Self { server, responder }
    }

    fn url(&self) -> String {
        format!("{}{JWKS_PATH}", self.server.uri())
    }

    fn hits(&self) -> usize {
        self.responder.hits.load(Ordering::SeqCst)
    }

    fn set_keys(&self, keys: Vec<Value>) {
        if let Ok(mut body) = self.responder.body.lock() {
            *body = json!({ "keys": keys });
        }
    }

    fn config(&self) -> AuthConfig {
        config_for(self.url())
    }
}

fn config_for(url: String) -> AuthConfig {
    AuthConfig {
        jwks_url: Some(url),
        issuer: Some(ISSUER.into()),
        jwks_timeout: Duration::from_secs(2),
        ..AuthConfig::default()
    }
}

fn verifier(config: &AuthConfig) -> Verifier {
    Verifier::new(config, None).unwrap_or_else(|e| panic!("verifier: {e}"))
}

fn claims(sub: &str) -> Value {
    json!({ "sub": sub, "iss": ISSUER, "exp": now() + 300, "iat": now(), "nbf": now() })
}

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    claims[key] = value;
    claims
}

fn sign(alg: Algorithm, kid: Option<&str>, key: &EncodingKey, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    encode(&header, claims, key).expect("sign")
}

fn rs256(kid: &str, claims: &Value) -> String {
    sign(Algorithm::RS256, Some(kid), &KEYS.rsa.signing, claims)
}

fn es256(kid: &str, claims: &Value) -> String {
    sign(Algorithm::ES256, Some(kid), &KEYS.ec.signing, claims)
}

async fn standard() -> (FakeJwks, Verifier) {
    let fake = FakeJwks::start(vec![KEYS.rsa.jwk("rsa-1"), KEYS.ec.jwk("ec-1")]).await;
    let v = verifier(&fake.config());
    (fake, v)
}

#[tokio::test]
async fn rs256_token_signed_by_a_jwks_key_verifies() {
    let (fake, v) = standard().await;
    let id = v.verify(&rs256("rsa-1", &claims("user_rsa"))).await;
    assert_eq!(
        id,
        Ok(Identity {
            sub: "user_rsa".into(),
            admin: false
        })
    );
    assert_eq!(fake.hits(), 1);
}

#[tokio::test]
async fn es256_token_signed_by_a_jwks_key_verifies() {
    let (_fake, v) = standard().await;
    let id = v.verify(&es256("ec-1", &claims("user_ec"))).await;
    assert_eq!(
        id,
        Ok(Identity {
            sub: "user_ec".into(),
            admin: false
        })
    );
}

#[tokio::test]
async fn token_signed_by_another_key_with_a_known_kid_is_refused() {
    let (_fake, v) = standard().await;
    let forged = sign(
        Algorithm::RS256,
        Some("rsa-1"),
        &KEYS.rsa2.signing,
        &claims("u"),
    );
    assert_eq!(v.verify(&forged).await, Err(AuthError::BadSignature));
}

#[tokio::test]
async fn wrong_issuer_is_refused() {
    let (_fake, v) = standard().await;
    let token = rs256(
        "rsa-1",
        &with(claims("u"), "iss", json!("https://evil.test")),
    );
    assert_eq!(v.verify(&token).await, Err(AuthError::WrongIssuer));
    let mut no_iss = claims("u");
    no_iss.as_object_mut().map(|o| o.remove("iss"));
    assert_eq!(
        v.verify(&rs256("rsa-1", &no_iss)).await,
        Err(AuthError::WrongIssuer)
    );
}

#[tokio::test]
async fn wrong_audience_is_refused() {
    let fake = FakeJwks::start(vec![KEYS.rsa.jwk("rsa-1")]).await;
    let v = verifier(&AuthConfig {
        audiences: vec!["sigmasight-api".into()],
        ..fake.config()
    });
    let ok = with(claims("u"), "aud", json!(["other", "sigmasight-api"]));
    assert!(v.verify(&rs256("rsa-1", &ok)).await.is_ok());
    let wrong = with(claims("u"), "aud", json!("another-api"));
    assert_eq!(
        v.verify(&rs256("rsa-1", &wrong)).await,
        Err(AuthError::WrongAudience)
    );
    let missing = claims("u");
    assert_eq!(
        v.verify(&rs256("rsa-1", &missing)).await,
        Err(AuthError::WrongAudience)
    );
}

#[tokio::test]
async fn azp_not_allowed_is_refused() {
    let fake = FakeJwks::start(vec![KEYS.rsa.jwk("rsa-1")]).await;
    let parties = vec!["https://app.sigmasight.test,https://admin.sigmasight.test".into()];
    let v = verifier(&AuthConfig {
        authorized_parties: parties,
        ..fake.config()
    });
    let ok = with(claims("u"), "azp", json!("https://admin.sigmasight.test"));
    assert!(v.verify(&rs256("rsa-1", &ok)).await.is_ok());
    let other = with(claims("u"), "azp", json!("https://evil.test"));
    assert_eq!(
        v.verify(&rs256("rsa-1", &other)).await,
        Err(AuthError::WrongAuthorizedParty)
    );
    assert_eq!(
        v.verify(&rs256("rsa-1", &claims("u"))).await,
        Err(AuthError::WrongAuthorizedParty),
        "azp required when configured"
    );
}

#[tokio::test]
async fn expired_token_is_refused() {
    let (_fake, v) = standard().await;
    let token = rs256("rsa-1", &with(claims("u"), "exp", json!(now() - 120)));
    assert_eq!(v.verify(&token).await, Err(AuthError::Expired));
}

#[tokio::test]
async fn token_without_exp_is_refused() {
    let (_fake, v) = standard().await;
    let mut no_exp = claims("u");
    no_exp.as_object_mut().map(|o| o.remove("exp"));
    assert_eq!(
        v.verify(&rs256("rsa-1", &no_exp)).await,
        Err(AuthError::MissingExpiry)
    );
}

#[tokio::test]
async fn nbf_in_the_future_is_refused() {
    let (_fake, v) = standard().await;
    let token = rs256("rsa-1", &with(claims("u"), "nbf", json!(now() + 120)));
    assert_eq!(v.verify(&token).await, Err(AuthError::NotYetValid));
}

#[tokio::test]
async fn iat_in_the_future_is_refused() {
    let (_fake, v) = standard().await;
    let token = rs256("rsa-1", &with(claims("u"), "iat", json!(now() + 120)));
    assert_eq!(v.verify(&token).await, Err(AuthError::IssuedInFuture));
}

#[tokio::test]
async fn times_within_the_leeway_are_accepted() {
    let (_fake, v) = standard().await;
    let skewed = json!({
        "sub": "u", "iss": ISSUER,
        "exp": now() - 20, "nbf": now() + 20, "iat": now() + 20,
    });
    assert!(v.verify(&rs256("rsa-1", &skewed)).await.is_ok());
    let tight = verifier(&AuthConfig {
        leeway_secs: 5,
        ..config_for(_fake.url())
    });
    assert_eq!(
        tight.verify(&rs256("rsa-1", &skewed)).await,
        Err(AuthError::Expired)
    );
}

#[tokio::test]
async fn alg_none_is_refused() {
    let (fake, v) = standard().await;
    let header = b64(json!({ "alg": "none", "kid": "rsa-1" })
        .to_string()
        .as_bytes());
    let payload = b64(claims("u").to_string().as_bytes());
    for token in [
        format!("{header}.{payload}."),
        format!("{header}.{payload}.c2ln"),
    ] {
        assert!(v.verify(&token).await.is_err(), "{token}");
    }
    let fake_sig = format!("{header}.{payload}.c2ln");
    assert_eq!(
        v.verify(&fake_sig).await,
        Err(AuthError::UnsupportedAlgorithm)
    );
    assert_eq!(fake.hits(), 0, "refused before any key lookup");
}

#[tokio::test]
async fn hs256_signed_with_the_rsa_public_key_is_refused() {
    let (fake, _) = standard().await;
    let public = KEYS.rsa.private.to_public_key();
    let pem = public
        .to_public_key_pem(rsa::pkcs8::LineEnding::LF)
        .expect("pem");
    let spki_der = public.to_public_key_der().expect("der");
    let pkcs1_der = public.to_pkcs1_der().expect("pkcs1");
    let secrets: [&[u8]; 4] = [
        pem.as_bytes(),
        spki_der.as_bytes(),
        pkcs1_der.as_bytes(),
        &public.n().to_bytes_be(),
    ];
    // With no HS256 secret configured, and with a different one: never a JWKS key.
    for v in [
        verifier(&fake.config()),
        Verifier::new(&fake.config(), Some("dev")).expect("v"),
    ] {
        v.verify(&rs256("rsa-1", &claims("u")))
            .await
            .expect("the RSA key is cached");
        for secret in secrets {
            let forged = sign(
                Algorithm::HS256,
                Some("rsa-1"),
                &EncodingKey::from_secret(secret),
                &claims("u"),
            );
            let result = v.verify(&forged).await;
            assert!(
                matches!(
                    result,
                    Err(AuthError::UnsupportedAlgorithm | AuthError::BadSignature)
                ),
                "{result:?}"
            );
        }
    }
}

#[tokio::test]
async fn hs256_with_the_configured_secret_still_works_beside_the_jwks() {
    let (fake, _) = standard().await;
    let v = Verifier::new(&fake.config(), Some("dev-secret")).expect("verifier");
    let token = sign(
        Algorithm::HS256,
        None,
        &EncodingKey::from_secret(b"dev-secret"),
        &claims("dev"),
    );
    assert_eq!(v.verify(&token).await.map(|i| i.sub), Ok("dev".to_owned()));
    assert_eq!(fake.hits(), 0, "HS256 never touches the JWKS");
}

#[tokio::test]
async fn rs256_token_with_the_kid_of_an_ec_key_is_refused() {
    let (fake, v) = standard().await;
    let token = rs256("ec-1", &claims("u"));
    assert_eq!(v.verify(&token).await, Err(AuthError::KeyMismatch));
    let token = es256("rsa-1", &claims("u"));
    assert_eq!(v.verify(&token).await, Err(AuthError::KeyMismatch));
    assert_eq!(fake.hits(), 1, "a known kid does not refetch");
}

#[tokio::test]
async fn key_whose_jwk_states_another_alg_is_refused() {
    let jwk = with(KEYS.rsa.jwk("rsa-1"), "alg", json!("RS512"));
    let fake = FakeJwks::start(vec![jwk]).await;
    let v = verifier(&fake.config());
    assert_eq!(
        v.verify(&rs256("rsa-1", &claims("u"))).await,
        Err(AuthError::KeyMismatch)
    );
}

#[tokio::test]
async fn token_without_kid_uses_the_only_key_of_its_type() {
    let fake = FakeJwks::start(vec![KEYS.rsa.jwk("rsa-1"), KEYS.ec.jwk("ec-1")]).await;
    let v = verifier(&fake.config());
    let no_kid = sign(Algorithm::RS256, None, &KEYS.rsa.signing, &claims("u"));
    assert!(v.verify(&no_kid).await.is_ok());
    let two = FakeJwks::start(vec![KEYS.rsa.jwk("rsa-1"), KEYS.rsa2.jwk("rsa-2")]).await;
    let v = verifier(&two.config());
    assert_eq!(v.verify(&no_kid).await, Err(AuthError::UnknownKey));
}

#[tokio::test]
async fn unknown_kid_refetches_once_and_picks_up_a_rotated_key() {
    let fake = FakeJwks::start(vec![KEYS.rsa.jwk("rsa-1")]).await;
    let v = verifier(&AuthConfig {
        jwks_min_refetch: Duration::ZERO,
        ..fake.config()
    });
    let old = rs256("rsa-1", &claims("u"));
    let new = sign(
        Algorithm::RS256,
        Some("rsa-2"),
        &KEYS.rsa2.signing,
        &claims("u"),
    );
    assert!(v.verify(&old).await.is_ok());
    assert_eq!(fake.hits(), 1);
    fake.set_keys(vec![KEYS.rsa.jwk("rsa-1"), KEYS.rsa2.jwk("rsa-2")]);
    assert!(v.verify(&new).await.is_ok(), "the rotated key is picked up");
    assert_eq!(fake.hits(), 2, "exactly one refetch");
    assert!(v.verify(&old).await.is_ok());
    assert!(v.verify(&new).await.is_ok());
    assert_eq!(fake.hits(), 2, "known kids are served from the cache");
}

#[tokio::test]
async fn rotated_key_waits_for_the_refetch_interval() {
    let fake = FakeJwks::start(vec![KEYS.rsa.jwk("rsa-1")]).await;
    let v = verifier(&fake.config());
    assert!(v.verify(&rs256("rsa-1", &claims("u"))).await.is_ok());
    fake.set_keys(vec![KEYS.rsa2.jwk("rsa-2")]);
    let new = sign(
        Algorithm::RS256,
        Some("rsa-2"),
        &KEYS.rsa2.signing,
        &claims("u"),
    );
    assert_eq!(v.verify(&new).await, Err(AuthError::UnknownKey));
    assert_eq!(fake.hits(), 1, "no refetch within 30 s of the last");
}

#[tokio::test]
async fn flood_of_unknown_kids_fetches_at_most_twice() {
    let (fake, v) = standard().await;
    let tokens: Vec<String> = (0..50)
        .map(|i| {
            sign(
                Algorithm::RS256,
                Some(&format!("bogus-{i}")),
                &KEYS.rsa.signing,
                &claims("u"),
            )
        })
        .collect();
    let results = futures::future::join_all(tokens.iter().map(|t| v.verify(t))).await;
    assert!(
        results.iter().all(|r| *r == Err(AuthError::UnknownKey)),
        "{results:?}"
    );
    for token in &tokens {
        assert_eq!(v.verify(token).await, Err(AuthError::UnknownKey));
    }
    assert!(
        fake.hits() <= 2,
        "{} fetches for 100 unknown kids",
        fake.hits()
    );
    assert!(v.verify(&rs256("rsa-1", &claims("u"))).await.is_ok());
}

#[tokio::test]
async fn concurrent_first_verifications_share_one_fetch() {
    let keys = vec![KEYS.rsa.jwk("rsa-1")];
    let fake = FakeJwks::start_with_delay(keys, Duration::from_millis(200)).await;
    let v = verifier(&AuthConfig {
        jwks_min_refetch: Duration::ZERO,
        ..fake.config()
    });
    let token = rs256("rsa-1", &claims("u"));
    let results = futures::future::join_all((0..20).map(|_| v.verify(&token))).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(fake.hits(), 1);
}

#[tokio::test]
async fn jwks_host_down_is_unavailable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    let v = verifier(&config_for(format!("http://127.0.0.1:{port}/jwks.json")));
    let err = v
        .verify(&rs256("rsa-1", &claims("u")))
        .await
        .expect_err("refused");
    assert_eq!(err, AuthError::KeysUnavailable);
    assert!(err.is_unavailable());
    assert!(!AuthError::Expired.is_unavailable());
    assert_eq!(v.refresh_keys().await, Err(AuthError::KeysUnavailable));
}

#[tokio::test]
async fn jwks_error_status_oversized_or_slow_answer_is_unavailable() {
    let server = MockServer::start().await;
    Mock::given(path("/500"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    let huge = json!({ "keys": [], "pad": "x".repeat(1024 * 1024 + 1) });
    Mock::given(path("/huge"))
        .respond_with(ResponseTemplate::new(200).set_body_json(huge))
        .mount(&server)
        .await;
    Mock::given(path("/slow"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({ "keys": [] }))
                .set_delay(Duration::from_secs(3)),
        )
        .mount(&server)
        .await;
    Mock::given(path("/html"))
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>"))
        .mount(&server)
        .await;
    for route in ["/500", "/huge", "/slow", "/html"] {
        let config = AuthConfig {
            jwks_timeout: Duration::from_millis(300),
            ..config_for(format!("{}{route}", server.uri()))
        };
        let result = verifier(&config)
            .verify(&rs256("rsa-1", &claims("u")))
            .await;
        assert_eq!(result, Err(AuthError::KeysUnavailable), "{route}");
    }
}

#[tokio::test]
async fn cached_keys_outlive_a_jwks_outage_but_not_their_removal() {
    let fake = FakeJwks::start(vec![KEYS.rsa.jwk("rsa-1")]).await;
    let config = AuthConfig {
        jwks_min_refetch: Duration::ZERO,
        jwks_max_age: Duration::ZERO,
        ..fake.config()
    };
    let v = verifier(&config);
    let token = rs256("rsa-1", &claims("u"));
    assert!(v.verify(&token).await.is_ok());
    fake.set_keys(vec![KEYS.ec.jwk("ec-1")]);
    assert_eq!(
        v.verify(&token).await,
        Err(AuthError::UnknownKey),
        "removed key refused"
    );

    let fake = FakeJwks::start(vec![KEYS.rsa.jwk("rsa-1")]).await;
    let v = verifier(&AuthConfig {
        jwks_url: Some(fake.url()),
        ..config
    });
    assert!(v.verify(&token).await.is_ok());
    fake.responder.down.store(true, Ordering::SeqCst);
    let hits = fake.hits();
    assert!(v.verify(&token).await.is_ok(), "stale keys keep serving");
    assert_eq!(
        fake.hits(),
        hits + 1,
        "the stale set was refetched (and failed)"
    );
}

#[tokio::test]
async fn empty_sub_is_refused() {
    let (_fake, v) = standard().await;
    assert_eq!(
        v.verify(&rs256("rsa-1", &claims(""))).await,
        Err(AuthError::InvalidSubject)
    );
}

#[tokio::test]
async fn sub_of_256_characters_is_refused() {
    let (_fake, v) = standard().await;
    let long = "u".repeat(256);
    assert_eq!(
        v.verify(&rs256("rsa-1", &claims(&long))).await,
        Err(AuthError::InvalidSubject)
    );
    assert!(v
        .verify(&rs256("rsa-1", &claims(&long[..255])))
        .await
        .is_ok());
}

#[tokio::test]
async fn nul_in_sub_is_refused() {
    let (_fake, v) = standard().await;
    let token = rs256("rsa-1", &claims("user\u{0}admin"));
    assert_eq!(v.verify(&token).await, Err(AuthError::InvalidSubject));
}

#[tokio::test]
async fn admin_claim_by_path_grants_admin_only_on_the_value() {
    let fake = FakeJwks::start(vec![KEYS.rsa.jwk("rsa-1")]).await;
    let config = AuthConfig {
        admin_claim: "public_metadata.role=admin".into(),
        ..fake.config()
    };
    let v = verifier(&config);
    let admin = with(
        claims("boss"),
        "public_metadata",
        json!({ "role": "admin" }),
    );
    assert_eq!(
        v.verify(&rs256("rsa-1", &admin)).await.map(|i| i.admin),
        Ok(true)
    );
    let member = with(
        claims("pleb"),
        "public_metadata",
        json!({ "role": "member" }),
    );
    assert_eq!(
        v.verify(&rs256("rsa-1", &member)).await.map(|i| i.admin),
        Ok(false)
    );
    let top_level = with(
        with(claims("x"), "admin", json!(true)),
        "role",
        json!("admin"),
    );
    assert_eq!(
        v.verify(&rs256("rsa-1", &top_level)).await.map(|i| i.admin),
        Ok(false)
    );
}

#[test]
fn bad_admin_claim_spec_is_refused_at_construction() {
    let config = AuthConfig {
        admin_claim: "public_metadata.role".into(),
        ..config_for("https://a.test/j".into())
    };
    match Verifier::new(&config, None) {
        Err(e @ AuthError::Config { .. }) => {
            assert!(e.to_string().contains("SIGMASIGHT_JWT_ADMIN_CLAIM"), "{e}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn missing_issuer_with_jwks_is_refused_at_construction() {
    let config = AuthConfig {
        issuer: None,
        ..config_for("https://a.test/j".into())
    };
    match Verifier::new(&config, Some("secret")) {
        Err(e @ AuthError::Config { .. }) => {
            assert!(e.to_string().contains("SIGMASIGHT_JWT_ISSUER"), "{e}")
        }
        other => panic!("{other:?}"),
    }
}

/// One runtime, fake JWKS and verifier for all proptest cases.
struct Harness {
    runtime: tokio::runtime::Runtime,
    verifier: Verifier,
    _fake: FakeJwks,
}

static HARNESS: LazyLock<Harness> = LazyLock::new(|| {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let fake = runtime.block_on(FakeJwks::start(vec![
        KEYS.rsa.jwk("rsa-1"),
        KEYS.ec.jwk("ec-1"),
    ]));
    let verifier = Verifier::new(&fake.config(), Some("dev")).expect("verifier");
    Harness {
        runtime,
        verifier,
        _fake: fake,
    }
});

fn verify_blocking(token: &str) -> Result<Identity, AuthError> {
    HARNESS.runtime.block_on(HARNESS.verifier.verify(token))
}

fn b64url_segment() -> impl Strategy<Value = String> {
    prop::collection::vec(any::<u8>(), 0..200).prop_map(|b| b64(&b))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn verify_never_panics_on_arbitrary_strings(token in any::<String>()) {
        prop_assert!(verify_blocking(&token).is_err());
    }

    #[test]
    fn verify_never_panics_on_three_base64url_segments(
        header in b64url_segment(), payload in b64url_segment(), sig in b64url_segment()
    ) {
        prop_assert!(verify_blocking(&[header, payload, sig].join(".")).is_err());
    }

    #[test]
    fn verify_never_panics_on_plausible_headers(
        alg in prop::sample::select(vec!["HS256", "RS256", "ES256", "none", "PS256"]),
        kid in prop::option::of(prop::sample::select(vec!["rsa-1", "ec-1", "other", ""])),
        payload in b64url_segment(),
        sig in b64url_segment(),
    ) {
        let header = b64(json!({ "alg": alg, "kid": kid }).to_string().as_bytes());
        let payload: String = payload;
        prop_assert!(verify_blocking(&[header, payload, sig].join(".")).is_err());
    }
}
