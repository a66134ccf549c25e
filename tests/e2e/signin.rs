//! Sign-in through the real api process: ES256 tokens verified against a JWKS served on
//! 127.0.0.1 (a key generated here), issuer and admin claim from the environment, a JWKS
//! host that is down answered 503, HS256 tokens refused when no secret is configured.

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use p256::ecdsa::SigningKey;
use p256::pkcs8::EncodePrivateKey;
use serde_json::{json, Value};
use sigmasight_tests::{Api, TestDb};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const ISSUER: &str = "https://clerk.example.test";

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

struct Key {
    private: SigningKey,
    signing: EncodingKey,
}

impl Key {
    fn generate() -> Self {
        let private = SigningKey::random(&mut rand::thread_rng());
        let der = private.to_pkcs8_der().expect("pkcs8 der");
        let signing = EncodingKey::from_ec_der(der.as_bytes());
        Self { private, signing }
    }

    fn jwks(&self, kid: &str) -> Value {
        let point = self.private.verifying_key().to_encoded_point(false);
        json!({ "keys": [{
            "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": kid,
            "x": b64(point.x().expect("x")), "y": b64(point.y().expect("y")),
        }]})
    }

    fn token(&self, kid: &str, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(kid.to_owned());
        encode(&header, claims, &self.signing).expect("sign")
    }
}

fn claims(sub: &str, iss: &str, extra: Value) -> Value {
    let now = chrono::Utc::now().timestamp();
    let mut c = json!({ "sub": sub, "iss": iss, "exp": now + 600, "iat": now, "nbf": now - 5 });
    if let (Some(c), Some(extra)) = (c.as_object_mut(), extra.as_object()) {
        c.extend(extra.clone());
    }
    c
}

async fn get(api: &Api, token: &str, route: &str) -> anyhow::Result<(u16, Value)> {
    let r = api
        .client
        .get(format!("{}{route}", api.base))
        .bearer_auth(token)
        .send()
        .await?;
    let code = r.status().as_u16();
    Ok((code, r.json().await.unwrap_or(Value::Null)))
}

#[tokio::test]
async fn the_api_signs_users_in_with_jwks_tokens_and_refuses_the_rest() -> anyhow::Result<()> {
    let jwks = MockServer::start().await;
    let key = Key::generate();
    Mock::given(method("GET"))
        .and(path("/.well-known/jwks.json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(key.jwks("k1")))
        .mount(&jwks)
        .await;
    let db = TestDb::create().await?;
    let api = Api::start(
        &db.url,
        &[
            (
                "SIGMASIGHT_JWKS_URL",
                format!("{}/.well-known/jwks.json", jwks.uri()),
            ),
            ("SIGMASIGHT_JWT_ISSUER", ISSUER.to_owned()),
            (
                "SIGMASIGHT_JWT_ADMIN_CLAIM",
                "public_metadata.role=admin".to_owned(),
            ),
            ("SIGMASIGHT_JWKS_MIN_REFETCH_SECS", "1".to_owned()),
            // No HS256 secret: only the identity provider's tokens count.
            ("SIGMASIGHT_JWT_SECRET", String::new()),
        ],
    )
    .await?;
    let unknown = format!("/api/v1/onboarding/status/{}", uuid::Uuid::nil());

    let user = key.token("k1", &claims("user_2abc", ISSUER, json!({})));
    let (code, body) = get(&api, &user, &unknown).await?;
    assert_eq!(code, 404, "signed in; the portfolio is not found: {body}");

    let (code, _) = get(&api, &user, "/api/v1/admin/batch/runs").await?;
    assert_eq!(code, 403, "no admin role in the token");
    let admin = key.token(
        "k1",
        &claims(
            "user_admin",
            ISSUER,
            json!({ "public_metadata": { "role": "admin" } }),
        ),
    );
    let (code, body) = get(&api, &admin, "/api/v1/admin/batch/runs").await?;
    assert_eq!(code, 200, "{body}");

    for (why, token) in [
        (
            "another issuer",
            key.token("k1", &claims("u", "https://evil.test", json!({}))),
        ),
        ("an HS256 dev token", Api::token("alice")),
        (
            "another key under the same kid",
            Key::generate().token("k1", &claims("u", ISSUER, json!({}))),
        ),
        (
            "an empty sub",
            key.token("k1", &claims("", ISSUER, json!({}))),
        ),
    ] {
        let (code, body) = get(&api, &token, &unknown).await?;
        assert_eq!(
            (code, body["error"]["code"].as_str()),
            (401, Some("unauthorized")),
            "{why}: {body}"
        );
    }

    // The JWKS host fails and a token names a key the api has never seen: 503, not 401.
    jwks.reset().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&jwks)
        .await;
    // (Within the refetch interval an unknown kid is simply unknown: 401; once a refetch is
    // allowed and fails, 503.)
    let rotated = Key::generate().token("k2", &claims("user_2abc", ISSUER, json!({})));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (code, body) = get(&api, &rotated, &unknown).await?;
        if code == 503 {
            assert_eq!(body["error"]["code"], "auth_unavailable", "{body}");
            break;
        }
        assert_eq!(code, 401, "{body}");
        anyhow::ensure!(std::time::Instant::now() < deadline, "never 503: {body}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    // Known keys keep working meanwhile.
    let (code, _) = get(&api, &user, &unknown).await?;
    assert_eq!(code, 404);
    drop(api);
    db.drop_database().await;
    Ok(())
}
