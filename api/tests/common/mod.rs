//! Helpers of the handler tests: the router over a test pool, tokens, requests, and a
//! "worker" played with the shared db functions the real worker uses.
#![allow(dead_code)] // each test crate uses some of these helpers

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use sigmasight_api::state::AppState;
use sigmasight_api::{app, ApiConfig};
use sigmasight_shared::config::{DatabaseConfig, Secret};
use sigmasight_shared::db::{activity, phases, portfolios, runs, users};
use sigmasight_shared::domain::{ActivityLevel, PhaseStatus, RunSource, RunStatus};
use sigmasight_shared::phases::ONBOARDING;
use sqlx::PgPool;
use std::time::Duration;
use tower::ServiceExt;
use uuid::Uuid;

const SECRET: &str = "test-secret";

/// The app state over a test pool.
pub fn state(pool: PgPool) -> AppState {
    let config = ApiConfig {
        database: DatabaseConfig {
            url: String::new(),
            max_connections: 5,
        },
        bind: "127.0.0.1:0".parse().expect("addr"),
        jwt_secret: Some(Secret::new(SECRET)),
        auth: Default::default(),
        max_attempts: 3,
        clock: sigmasight_shared::config::ClockConfig { as_of: None },
        upload_limits: Default::default(),
        // Handler tests post many uploads as one user; the rates have tests of their own.
        limits: sigmasight_api::limits::LimitsConfig {
            uploads_per_minute: 10_000,
            requests_per_minute: 100_000,
            ..Default::default()
        },
    };
    AppState::new(pool, config).expect("auth settings")
}

/// A token for `sub`.
pub fn token(sub: &str, admin: bool) -> String {
    sigmasight_shared::auth::issue_hs256(sub, admin, 600, SECRET).expect("token")
}

/// A response, body read.
pub struct Reply {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub text: String,
}

impl Reply {
    /// The body as JSON (Null when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }
}

/// Sends one request through the router.
pub async fn call(pool: &PgPool, method: &str, uri: &str, auth: Option<&str>) -> Reply {
    call_with_body(pool, method, uri, auth, None).await
}

/// Sends one request with a JSON-typed body through the router.
pub async fn call_with_body(
    pool: &PgPool,
    method: &str,
    uri: &str,
    auth: Option<&str>,
    json_body: Option<&str>,
) -> Reply {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(t) = auth {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let body = match json_body {
        Some(b) => {
            req = req.header("content-type", "application/json");
            Body::from(b.to_owned())
        }
        None => Body::empty(),
    };
    let response = app(state(pool.clone()))
        .oneshot(req.body(body).expect("request"))
        .await
        .expect("response");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    Reply {
        status,
        headers,
        text: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

/// A portfolio of `sub` with a queued onboarding run (the run id too).
pub async fn portfolio_with_run(pool: &PgPool, sub: &str) -> (Uuid, Uuid) {
    let pid = portfolio_without_run(pool, sub).await;
    let mut conn = pool.acquire().await.expect("conn");
    let run =
        sigmasight_shared::queue::enqueue_onboarding(&mut conn, pid, RunSource::Onboarding, 1)
            .await
            .expect("enqueue");
    (pid, run.id)
}

/// A portfolio of `sub` with no run.
pub async fn portfolio_without_run(pool: &PgPool, sub: &str) -> Uuid {
    let user = users::find_or_create(pool, sub).await.expect("user");
    let id = Uuid::new_v4();
    portfolios::insert(
        pool,
        &portfolios::NewPortfolio {
            id,
            user_id: user,
            name: "Growth Portfolio",
            account_name: &format!("acct-{id}"),
            account_type: "taxable",
            description: None,
            equity_balance: rust_decimal::Decimal::new(100_000, 0),
            equity_balance_given: true,
        },
    )
    .await
    .expect("portfolio");
    id
}

/// Plays one failing attempt as the worker does: claim, phases, activity, final status.
pub async fn fail_attempt(pool: &PgPool) -> runs::Run {
    let run = runs::claim_next(pool, "w-test", Duration::from_secs(30))
        .await
        .expect("claim")
        .expect("a claimable run")
        .run;
    let defs: Vec<_> = ONBOARDING.iter().collect();
    assert!(phases::init_attempt(pool, run.id, run.attempt, &defs, &[])
        .await
        .expect("init"));
    phases::start(pool, run.id, run.attempt, "phase_1", 23)
        .await
        .expect("start");
    let entry = |message: &str, debug: bool| activity::NewEntry {
        ts: chrono::Utc::now(),
        level: ActivityLevel::Info,
        phase_id: Some("phase_1"),
        message: message.into(),
        debug,
    };
    activity::insert_batch(
        pool,
        run.id,
        run.attempt,
        &[
            entry("Fetched 300 daily prices for AAPL", false),
            entry("Fetched 300 daily prices for AAPL", false),
            entry("Creating snapshot for 2025-01-16... (2/254)", true),
        ],
    )
    .await
    .expect("activity");
    let err = serde_json::json!({ "error": "provider error for AAPL" });
    phases::finish(
        pool,
        run.id,
        run.attempt,
        "phase_1",
        PhaseStatus::Failed,
        &err,
        phases::PhaseEnd::at(0, 1),
    )
    .await
    .expect("phase failed");
    runs::finish(
        pool,
        run.id,
        run.attempt,
        RunStatus::Failed,
        &serde_json::json!({}),
        Some("provider error for AAPL"),
    )
    .await
    .expect("finish");
    run
}
