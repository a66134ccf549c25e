//! Unit tests of the claim rules, header and JWKS parsing, configuration and the HS256 path.
//! The JWKS fetch and RS256/ES256 end to end are in `shared/tests/jwks.rs`.

use super::claims::ClaimRules;
use super::jwks::parse_jwks;
use super::verifier::parse_header;
use super::*;
use base64::Engine as _;
use serde_json::{json, Value};

const NOW: i64 = 1_800_000_000;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A token with this header and these claims and a dummy signature.
fn unsigned(header: &Value, claims: &Value) -> String {
    format!(
        "{}.{}.c2ln",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    )
}

fn hs256(claims: &Value, secret: &str) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("sign")
}

fn valid() -> Value {
    json!({ "sub": "user-1", "exp": NOW + 60, "iat": NOW })
}

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    claims[key] = value;
    claims
}

fn rules() -> ClaimRules {
    ClaimRules::default()
}

fn configured() -> ClaimRules {
    let config = AuthConfig {
        issuer: Some("https://issuer.test".into()),
        audiences: vec!["api, other".into()],
        authorized_parties: vec!["https://app.test".into()],
        ..AuthConfig::default()
    };
    ClaimRules::from_config(&config).expect("rules")
}

fn party_claims() -> Value {
    let c = with(valid(), "iss", json!("https://issuer.test"));
    let c = with(c, "aud", json!("api"));
    with(c, "azp", json!("https://app.test"))
}

#[test]
fn issued_token_verifies_with_the_same_secret_only() {
    let token = issue_hs256("user-1", false, 60, "s3cret").expect("token");
    let claims = verify_hs256(&token, "s3cret").expect("verifies");
    assert_eq!(claims.sub, "user-1");
    assert!(!claims.admin);
    assert!(claims.exp > claims.iat && claims.iat > 0);
    assert_eq!(verify_hs256(&token, "other"), Err(AuthError::BadSignature));
}

#[test]
fn issued_admin_token_is_admin() {
    let token = issue_hs256("ops", true, 60, "s").expect("token");
    assert!(verify_hs256(&token, "s").expect("verifies").admin);
}

#[test]
fn expired_and_garbage_tokens_are_refused() {
    let token = issue_hs256("user-1", false, -3600, "s").expect("token");
    assert_eq!(verify_hs256(&token, "s"), Err(AuthError::Expired));
    assert_eq!(verify_hs256("not.a.jwt", "s"), Err(AuthError::Malformed));
    assert_eq!(verify_hs256("", "s"), Err(AuthError::Missing));
}

#[test]
fn verify_hs256_applies_the_sub_and_time_rules() {
    let now = chrono::Utc::now().timestamp();
    let base = json!({ "sub": "u", "exp": now + 60 });
    let nul = hs256(&with(base.clone(), "sub", json!("a\u{0}b")), "s");
    assert_eq!(verify_hs256(&nul, "s"), Err(AuthError::InvalidSubject));
    let future_iat = hs256(&with(base.clone(), "iat", json!(now + 3600)), "s");
    assert_eq!(
        verify_hs256(&future_iat, "s"),
        Err(AuthError::IssuedInFuture)
    );
    let no_exp = hs256(&json!({ "sub": "u" }), "s");
    assert_eq!(verify_hs256(&no_exp, "s"), Err(AuthError::MissingExpiry));
    assert_eq!(
        verify_hs256(&hs256(&base, "s"), ""),
        Err(AuthError::config(
            "SIGMASIGHT_JWT_SECRET",
            "the secret is empty"
        ))
    );
}

#[test]
fn verify_hs256_refuses_other_algorithms() {
    let none = unsigned(&json!({ "alg": "none" }), &valid());
    assert_eq!(
        verify_hs256(&none, "s"),
        Err(AuthError::UnsupportedAlgorithm)
    );
    let rs = unsigned(&json!({ "alg": "RS256" }), &valid());
    assert_eq!(verify_hs256(&rs, "s"), Err(AuthError::UnsupportedAlgorithm));
}

#[test]
fn exp_is_required_and_numeric() {
    let no_exp = json!({ "sub": "u" });
    assert_eq!(rules().check(&no_exp, NOW), Err(AuthError::MissingExpiry));
    let text_exp = with(valid(), "exp", json!("tomorrow"));
    assert_eq!(rules().check(&text_exp, NOW), Err(AuthError::MissingExpiry));
    let fractional = with(valid(), "exp", json!(NOW as f64 + 0.5));
    assert!(rules().check(&fractional, NOW).is_ok());
}

#[test]
fn times_are_checked_with_leeway() {
    let r = rules();
    assert!(r.check(&with(valid(), "exp", json!(NOW - 29)), NOW).is_ok());
    assert_eq!(
        r.check(&with(valid(), "exp", json!(NOW - 31)), NOW),
        Err(AuthError::Expired)
    );
    assert!(r.check(&with(valid(), "nbf", json!(NOW + 29)), NOW).is_ok());
    assert_eq!(
        r.check(&with(valid(), "nbf", json!(NOW + 31)), NOW),
        Err(AuthError::NotYetValid)
    );
    assert!(r.check(&with(valid(), "iat", json!(NOW + 29)), NOW).is_ok());
    assert_eq!(
        r.check(&with(valid(), "iat", json!(NOW + 31)), NOW),
        Err(AuthError::IssuedInFuture)
    );
    assert_eq!(
        r.check(&with(valid(), "nbf", json!("soon")), NOW),
        Err(AuthError::BadClaim("nbf"))
    );
}

#[test]
fn zero_leeway_refuses_a_just_expired_token() {
    let r = ClaimRules {
        leeway_secs: 0,
        ..rules()
    };
    assert_eq!(
        r.check(&with(valid(), "exp", json!(NOW - 1)), NOW),
        Err(AuthError::Expired)
    );
}

#[test]
fn configured_issuer_audience_and_azp_are_required() {
    let r = configured();
    assert!(r.check(&party_claims(), NOW).is_ok());
    let wrong_iss = with(party_claims(), "iss", json!("https://evil.test"));
    assert_eq!(r.check(&wrong_iss, NOW), Err(AuthError::WrongIssuer));
    let array_iss = with(party_claims(), "iss", json!(["https://issuer.test"]));
    assert_eq!(r.check(&array_iss, NOW), Err(AuthError::WrongIssuer));
    let aud_list = with(party_claims(), "aud", json!(["x", "other"]));
    assert!(r.check(&aud_list, NOW).is_ok());
    let wrong_aud = with(party_claims(), "aud", json!(["x"]));
    assert_eq!(r.check(&wrong_aud, NOW), Err(AuthError::WrongAudience));
    let wrong_azp = with(party_claims(), "azp", json!("https://evil.test"));
    assert_eq!(
        r.check(&wrong_azp, NOW),
        Err(AuthError::WrongAuthorizedParty)
    );
    let mut no_azp = party_claims();
    no_azp.as_object_mut().map(|o| o.remove("azp"));
    assert_eq!(r.check(&no_azp, NOW), Err(AuthError::WrongAuthorizedParty));
}

#[test]
fn unconfigured_audience_and_azp_are_ignored() {
    let claims = with(with(valid(), "aud", json!("anything")), "azp", json!("x"));
    assert!(rules().check(&claims, NOW).is_ok());
}

#[test]
fn sub_must_be_a_short_printable_string() {
    let r = rules();
    let sub = |v: Value| r.check(&with(valid(), "sub", v), NOW);
    assert_eq!(sub(json!("")), Err(AuthError::InvalidSubject));
    assert_eq!(sub(json!(42)), Err(AuthError::InvalidSubject));
    assert_eq!(sub(json!("a".repeat(256))), Err(AuthError::InvalidSubject));
    assert_eq!(sub(json!("line\nbreak")), Err(AuthError::InvalidSubject));
    assert_eq!(sub(json!("nul\u{0}")), Err(AuthError::InvalidSubject));
    for blank in ["   ", "\u{3000}", " \u{a0} "] {
        assert_eq!(
            sub(json!(blank)),
            Err(AuthError::InvalidSubject),
            "{blank:?}"
        );
    }
    assert_eq!(
        r.check(&with(valid(), "sub", json!(" a ")), NOW)
            .map(|i| i.sub),
        Ok(" a ".to_owned())
    );
    assert!(sub(json!("a".repeat(255))).is_ok());
    assert!(sub(json!("é".repeat(255))).is_ok(), "characters, not bytes");
    let mut none = valid();
    none.as_object_mut().map(|o| o.remove("sub"));
    assert_eq!(r.check(&none, NOW), Err(AuthError::InvalidSubject));
}

#[test]
fn admin_claim_follows_its_path_and_type() {
    let role = AdminClaim::parse("public_metadata.role=admin").expect("spec");
    assert!(role.is_admin(&json!({ "public_metadata": { "role": "admin" } })));
    assert!(role.is_admin(&json!({ "public_metadata": { "role": ["x", "admin"] } })));
    assert!(!role.is_admin(&json!({ "public_metadata": { "role": "member" } })));
    assert!(!role.is_admin(&json!({ "public_metadata": "admin" })));
    assert!(!role.is_admin(&json!({ "role": "admin" })));
    let flag = AdminClaim::parse(ADMIN_CLAIM_DEFAULT).expect("default spec");
    assert_eq!(flag, AdminClaim::default());
    assert!(flag.is_admin(&json!({ "admin": true })));
    assert!(
        !flag.is_admin(&json!({ "admin": "true" })),
        "true matches a JSON bool only"
    );
    assert!(!flag.is_admin(&json!({ "admin": false })));
    let text = AdminClaim::parse("tier=gold").expect("spec");
    assert!(!text.is_admin(&json!({ "tier": true })));
}

#[test]
fn admin_is_granted_by_the_boolean_true_or_the_role_string_and_nothing_else() {
    let flag = AdminClaim::default();
    for loose in [
        json!([true]),
        json!([[true]]),
        json!({ "admin": true }),
        json!(1),
        json!("true"),
        json!("yes"),
        json!(null),
    ] {
        assert!(
            !flag.is_admin(&json!({ "admin": loose })),
            "admin: {loose} is not admin"
        );
    }
    assert!(flag.is_admin(&json!({ "admin": true })));
    let role = AdminClaim::parse("public_metadata.role=admin").expect("spec");
    let claims = |v: Value| json!({ "public_metadata": { "role": v } });
    for loose in [
        json!([["admin"]]),
        json!({ "admin": true }),
        json!("Admin"),
        json!(" admin"),
        json!(true),
        json!([true]),
    ] {
        assert!(!role.is_admin(&claims(loose.clone())), "role: {loose}");
    }
    assert!(role.is_admin(&claims(json!("admin"))));
    assert!(role.is_admin(&claims(json!(["member", "admin"]))));
}

#[test]
fn bad_admin_claim_specs_name_the_variable() {
    for spec in [
        "",
        "admin",
        "=true",
        "admin=",
        "a..b=x",
        ".a=x",
        "a.=x",
        "a b=x",
        "admin=false",
    ] {
        match AdminClaim::parse(spec) {
            Err(AuthError::Config { var, .. }) => assert_eq!(var, "SIGMASIGHT_JWT_ADMIN_CLAIM"),
            other => panic!("{spec:?} gave {other:?}"),
        }
    }
}

#[test]
fn header_allows_only_three_algorithms() {
    for alg in [
        "none", "None", "HS384", "HS512", "RS512", "PS256", "ES384", "EdDSA",
    ] {
        let token = unsigned(&json!({ "alg": alg }), &valid());
        assert_eq!(
            parse_header(&token).err(),
            Some(AuthError::UnsupportedAlgorithm),
            "{alg}"
        );
    }
    for alg in ["HS256", "RS256", "ES256"] {
        let token = unsigned(&json!({ "alg": alg, "kid": "k" }), &valid());
        assert!(parse_header(&token).is_ok(), "{alg}");
    }
}

#[test]
fn header_refuses_crit_long_kids_and_bad_shapes() {
    let crit = unsigned(
        &json!({ "alg": "RS256", "crit": ["b64"], "b64": false }),
        &valid(),
    );
    assert_eq!(
        parse_header(&crit).err(),
        Some(AuthError::UnsupportedAlgorithm)
    );
    let long_kid = unsigned(&json!({ "alg": "RS256", "kid": "k".repeat(257) }), &valid());
    assert_eq!(parse_header(&long_kid).err(), Some(AuthError::Malformed));
    let ok = unsigned(&json!({ "alg": "HS256" }), &valid());
    let no_sig = ok
        .rsplit_once('.')
        .map(|(m, _)| format!("{m}."))
        .unwrap_or_default();
    for bad in [
        no_sig,
        format!("{ok}.x"),
        "a.b".into(),
        "!!.b.c".into(),
        "x".repeat(TOKEN_MAX_BYTES + 1),
    ] {
        assert_eq!(parse_header(&bad).err(), Some(AuthError::Malformed));
    }
}

#[test]
fn error_messages_never_echo_the_token() {
    let marker = "SECRETMARKER";
    let token = hs256(
        &json!({ "sub": format!("{marker}\u{0}"), "exp": 1 }),
        marker,
    );
    let err = verify_hs256(&token, marker).expect_err("refused");
    assert!(!err.to_string().contains(marker));
    let garbage = format!("{marker}.{marker}.{marker}");
    assert!(!verify_hs256(&garbage, "s")
        .expect_err("refused")
        .to_string()
        .contains(marker));
}

#[tokio::test]
async fn verifier_hs256_uses_the_configured_claim_rules() {
    let config = AuthConfig {
        issuer: Some("dev".into()),
        admin_claim: "role=admin".into(),
        ..AuthConfig::default()
    };
    let v = Verifier::new(&config, Some("s")).expect("verifier");
    let now = chrono::Utc::now().timestamp();
    let good = json!({ "sub": "u", "exp": now + 60, "iss": "dev", "role": "admin" });
    let id = v.verify(&hs256(&good, "s")).await.expect("verifies");
    assert_eq!(
        id,
        Identity {
            sub: "u".into(),
            admin: true
        }
    );
    let no_iss = json!({ "sub": "u", "exp": now + 60 });
    assert_eq!(
        v.verify(&hs256(&no_iss, "s")).await,
        Err(AuthError::WrongIssuer)
    );
    assert_eq!(
        v.verify(&hs256(&good, "other")).await,
        Err(AuthError::BadSignature)
    );
}

#[tokio::test]
async fn verifier_without_jwks_refuses_rs256_and_es256() {
    let v = Verifier::new(&AuthConfig::default(), Some("s")).expect("verifier");
    for alg in ["RS256", "ES256"] {
        let token = unsigned(&json!({ "alg": alg }), &valid());
        assert_eq!(v.verify(&token).await, Err(AuthError::UnsupportedAlgorithm));
    }
}

#[tokio::test]
async fn verifier_without_secret_refuses_hs256() {
    let config = AuthConfig {
        jwks_url: Some("http://127.0.0.1:9/jwks".into()),
        issuer: Some("iss".into()),
        ..AuthConfig::default()
    };
    let v = Verifier::new(&config, None).expect("verifier");
    let token = hs256(&valid(), "s");
    assert_eq!(v.verify(&token).await, Err(AuthError::UnsupportedAlgorithm));
}

fn config_error(config: &AuthConfig, secret: Option<&str>) -> &'static str {
    match Verifier::new(config, secret) {
        Err(AuthError::Config { var, .. }) => var,
        other => panic!("expected a config error, got {other:?}"),
    }
}

#[test]
fn verifier_construction_errors_name_the_variable() {
    let jwks = |url: &str| AuthConfig {
        jwks_url: Some(url.into()),
        issuer: Some("iss".into()),
        ..AuthConfig::default()
    };
    assert_eq!(
        config_error(&AuthConfig::default(), None),
        "SIGMASIGHT_JWKS_URL"
    );
    assert_eq!(
        config_error(&AuthConfig::default(), Some("")),
        "SIGMASIGHT_JWT_SECRET"
    );
    let no_issuer = AuthConfig {
        issuer: Some(" ".into()),
        ..jwks("https://a.test/jwks")
    };
    assert_eq!(config_error(&no_issuer, Some("s")), "SIGMASIGHT_JWT_ISSUER");
    assert_eq!(
        config_error(&jwks("http://a.test/jwks"), None),
        "SIGMASIGHT_JWKS_URL"
    );
    assert_eq!(
        config_error(&jwks("not a url"), None),
        "SIGMASIGHT_JWKS_URL"
    );
    let bad_admin = AuthConfig {
        admin_claim: "nope".into(),
        ..AuthConfig::default()
    };
    assert_eq!(
        config_error(&bad_admin, Some("s")),
        "SIGMASIGHT_JWT_ADMIN_CLAIM"
    );
    assert!(Verifier::new(&jwks("https://a.test/jwks"), None).is_ok());
    assert!(Verifier::new(&jwks("http://localhost:8080/jwks"), None).is_ok());
}

#[derive(clap::Parser)]
struct Cli {
    #[command(flatten)]
    auth: AuthConfig,
}

#[test]
fn clap_defaults_equal_the_default_config() {
    use clap::Parser as _;
    let env_set = std::env::vars()
        .any(|(k, _)| k.starts_with("SIGMASIGHT_JWT") || k.starts_with("SIGMASIGHT_JWKS"));
    if env_set {
        return; // the environment overrides the defaults this test compares
    }
    let parsed = Cli::try_parse_from(["x"]).expect("parses").auth;
    let default = AuthConfig::default();
    assert_eq!(format!("{parsed:?}"), format!("{default:?}"));
    let lists = Cli::try_parse_from(["x", "--jwt-audience", "a,b", "--jwks-min-refetch", "0.5"])
        .expect("parses")
        .auth;
    assert_eq!(lists.audiences, ["a", "b"]);
    assert_eq!(
        lists.jwks_min_refetch,
        std::time::Duration::from_millis(500)
    );
}

fn rsa_jwk(kid: &str, n_bytes: usize) -> Value {
    let mut n = vec![0xC5; n_bytes];
    n[n_bytes - 1] = 0x01;
    json!({ "kty": "RSA", "kid": kid, "n": b64(&n), "e": "AQAB" })
}

fn ec_jwk(kid: &str, crv: &str) -> Value {
    json!({ "kty": "EC", "kid": kid, "crv": crv, "x": b64(&[7; 32]), "y": b64(&[9; 32]) })
}

#[test]
fn jwks_parsing_keeps_only_usable_signing_keys() {
    let body = json!({ "keys": [
        rsa_jwk("rsa", 256),
        with(rsa_jwk("enc", 256), "use", json!("enc")),
        rsa_jwk("weak", 128),
        ec_jwk("ec", "P-256"),
        ec_jwk("p384", "P-384"),
        { "kty": "oct", "kid": "hmac", "k": "c2VjcmV0" },
        { "kty": "OKP", "kid": "ed", "crv": "Ed25519", "x": b64(&[1; 32]) },
        { "kty": "RSA", "kid": "bad-b64", "n": "***", "e": "AQAB" },
        { "kid": "no-kty" },
        "not an object",
    ]});
    let keys = parse_jwks(body.to_string().as_bytes()).expect("parses");
    assert_eq!(keys.len(), 2);
    assert!(parse_jwks(b"<html>").is_err());
    assert!(parse_jwks(b"{\"nokeys\": []}").is_err());
}

#[test]
fn jwks_parsing_keeps_at_most_the_key_limit() {
    let keys: Vec<Value> = (0..JWKS_MAX_KEYS + 20)
        .map(|i| ec_jwk(&format!("k{i}"), "P-256"))
        .collect();
    let parsed = parse_jwks(json!({ "keys": keys }).to_string().as_bytes()).expect("parses");
    assert_eq!(parsed.len(), JWKS_MAX_KEYS);
}
