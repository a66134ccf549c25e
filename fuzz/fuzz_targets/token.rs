//! Arbitrary bytes (lossily decoded as UTF-8) as a bearer token, through both verification
//! paths with the HS256 secret "secret":
//!
//! * `auth::verify_hs256` (sync, the dev-token path);
//! * `auth::Verifier::verify` (async, what the api calls), built once with the default
//!   `AuthConfig` (HS256 only, no JWKS) and driven by a current-thread runtime built once.
//!
//! Invariants: never a panic, never an `Ok` (the fuzzer cannot forge an HMAC, and the seed
//! tokens signed with "secret" are expired or otherwise invalid), never a "keys unavailable"
//! or configuration error (there is no JWKS to be unavailable), and a short, fixed message
//! (errors must not echo a token).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sigmasight_shared::auth::{verify_hs256, AuthConfig, AuthError, Verifier};

const SECRET: &str = "secret";
const MAX_MESSAGE_CHARS: usize = 100;

fn verifier() -> &'static Verifier {
    static VERIFIER: OnceLock<Verifier> = OnceLock::new();
    VERIFIER.get_or_init(|| {
        Verifier::new(&AuthConfig::default(), Some(SECRET)).expect("an HS256 verifier")
    })
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a current-thread runtime")
    })
}

fn check_refusal(path: &str, token: &str, e: &AuthError) {
    assert!(
        !e.is_unavailable(),
        "{path}: keys unavailable without a JWKS: {token:?}"
    );
    assert!(
        !matches!(e, AuthError::Config { .. } | AuthError::Signing),
        "{path}: {e:?} while verifying {token:?}"
    );
    if !token.is_empty() {
        assert_ne!(
            *e,
            AuthError::Missing,
            "{path}: a non-empty token is 'missing'"
        );
    }
    let message = e.to_string();
    assert!(
        message.chars().count() <= MAX_MESSAGE_CHARS && !message.chars().any(char::is_control),
        "{path}: message {message:?}"
    );
}

/// `FUZZ_TRACE=1` prints each input's outcome (e.g. when replaying an artifact or a corpus).
fn trace(outcome: std::fmt::Arguments) {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    if *ON.get_or_init(|| std::env::var_os("FUZZ_TRACE").is_some()) {
        eprintln!("{outcome}");
    }
}

fuzz_target!(|data: &[u8]| {
    let token = String::from_utf8_lossy(data);
    let token = token.as_ref();

    match verify_hs256(token, SECRET) {
        Ok(claims) => panic!("verify_hs256 accepted a forged token {token:?}: {claims:?}"),
        Err(e) => {
            trace(format_args!("verify_hs256: {e:?}"));
            check_refusal("verify_hs256", token, &e);
        }
    }

    match runtime().block_on(verifier().verify(token)) {
        Ok(identity) => panic!("Verifier::verify accepted a forged token {token:?}: {identity:?}"),
        Err(e) => {
            trace(format_args!("Verifier::verify: {e:?}"));
            check_refusal("Verifier::verify", token, &e);
        }
    }
});
