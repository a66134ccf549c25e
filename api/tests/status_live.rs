//! Handler tests of the log download, retry, the SSE stream, the snapshots endpoint and the
//! status page, over a real Postgres per test. A "worker" is played with the shared db
//! functions the real worker uses.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use sigmasight_api::state::AppState;
use sigmasight_api::{app, ApiConfig};
use sigmasight_shared::config::{DatabaseConfig, Secret};
use sigmasight_shared::db::{activity, phases, portfolios, runs, users, MIGRATOR};
use sigmasight_shared::phases::ONBOARDING;
use sqlx::PgPool;
use std::time::Duration;
use tower::ServiceExt;
use uuid::Uuid;

const SECRET: &str = "test-secret";

fn state(pool: PgPool) -> AppState {
    let config = ApiConfig {
        database: DatabaseConfig {
            url: String::new(),
            max_connections: 5,
        },
        bind: "127.0.0.1:0".parse().expect("addr"),
        jwt_secret: Secret::new(SECRET),
        max_attempts: 3,
    };
    AppState::new(pool, config)
}

fn token(sub: &str, admin: bool) -> String {
    sigmasight_shared::auth::issue_hs256(sub, admin, 600, SECRET).expect("token")
}

struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    text: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }
}

async fn call(pool: &PgPool, method: &str, uri: &str, auth: Option<&str>) -> Reply {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(t) = auth {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let response = app(state(pool.clone()))
        .oneshot(req.body(Body::empty()).expect("request"))
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
async fn portfolio_with_run(pool: &PgPool, sub: &str) -> (Uuid, Uuid) {
    let pid = portfolio_without_run(pool, sub).await;
    let mut conn = pool.acquire().await.expect("conn");
    let run = sigmasight_shared::queue::enqueue_onboarding(&mut conn, pid, "onboarding", 1)
        .await
        .expect("enqueue");
    (pid, run.id)
}

async fn portfolio_without_run(pool: &PgPool, sub: &str) -> Uuid {
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
async fn fail_attempt(pool: &PgPool) -> runs::Run {
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
        level: "info",
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
    phases::finish(pool, run.id, run.attempt, "phase_1", "failed", &err)
        .await
        .expect("phase failed");
    runs::finish(
        pool,
        run.id,
        run.attempt,
        "failed",
        &serde_json::json!({}),
        Some("provider error for AAPL"),
    )
    .await
    .expect("finish");
    run
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn the_txt_log_is_an_attachment_with_header_phases_activity_and_end(pool: PgPool) {
    let (pid, _) = portfolio_with_run(&pool, "alice").await;
    fail_attempt(&pool).await;
    let uri = format!("/api/v1/onboarding/status/{pid}/logs");
    let r = call(&pool, "GET", &uri, Some(&token("alice", false))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let disposition = r.headers["content-disposition"].to_str().unwrap_or("");
    assert!(
        disposition.starts_with(&format!(
            "attachment; filename=\"portfolio_setup_log_{pid}_"
        )) && disposition.ends_with(".txt\""),
        "{disposition}"
    );
    assert!(r.headers["content-type"]
        .to_str()
        .unwrap_or("")
        .starts_with("text/plain"));
    for needle in [
        "SIGMASIGHT PORTFOLIO SETUP LOG",
        &format!("Portfolio ID: {pid}"),
        "Portfolio Name: Growth Portfolio",
        "Final Status: failed",
        "Error: provider error for AAPL",
        "PHASE DETAILS",
        "--- Attempt 1 ---",
        "Phase 1 - Market Data Collection (phase_1)",
        "  Status: failed",
        "[INFO] Fetched 300 daily prices for AAPL",
        "END OF LOG",
    ] {
        assert!(r.text.contains(needle), "missing {needle:?} in\n{}", r.text);
    }
    assert_eq!(
        r.text.matches("Fetched 300 daily prices for AAPL").count(),
        1,
        "consecutive duplicates are collapsed"
    );
    assert!(!r.text.contains("[DEBUG]"), "no debug entries unless asked");
    let debug = call(
        &pool,
        "GET",
        &format!("{uri}?include_debug=true"),
        Some(&token("alice", false)),
    )
    .await;
    assert!(debug
        .text
        .contains("[DEBUG] Creating snapshot for 2025-01-16... (2/254)"));
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn the_json_log_has_the_same_content_and_auth_is_that_of_status(pool: PgPool) {
    let (pid, _) = portfolio_with_run(&pool, "alice").await;
    fail_attempt(&pool).await;
    let uri = format!("/api/v1/onboarding/status/{pid}/logs?format=json");
    let r = call(&pool, "GET", &uri, Some(&token("alice", false))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.headers["content-disposition"]
        .to_str()
        .unwrap_or("")
        .ends_with(".json\""));
    let doc = r.json();
    assert_eq!(doc["portfolio_name"], "Growth Portfolio");
    assert_eq!(doc["final_status"], "failed");
    assert_eq!(doc["phases"][0]["status"], "failed");
    assert_eq!(doc["activity_log"].as_array().map(Vec::len), Some(1));

    assert_eq!(
        call(&pool, "GET", &uri, None).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(&pool, "GET", &uri, Some(&token("mallory", false)))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call(&pool, "GET", &uri, Some(&token("support", true)))
            .await
            .status,
        StatusCode::OK,
        "admins read any portfolio"
    );
    let by_query = format!("{uri}&access_token={}", token("alice", false));
    assert_eq!(
        call(&pool, "GET", &by_query, None).await.status,
        StatusCode::OK
    );
    let bad = format!("/api/v1/onboarding/status/{pid}/logs?format=pdf");
    assert_eq!(
        call(&pool, "GET", &bad, Some(&token("alice", false)))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn retry_is_409_while_active_then_queues_the_next_attempt_keeping_the_first(pool: PgPool) {
    let (pid, run_id) = portfolio_with_run(&pool, "alice").await;
    let uri = format!("/api/v1/onboarding/{pid}/retry");
    let alice = token("alice", false);
    let r = call(&pool, "POST", &uri, Some(&alice)).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.json()["error"]["code"], "ERR_RUN_ACTIVE");
    assert_eq!(r.json()["error"]["details"]["run_id"], run_id.to_string());

    fail_attempt(&pool).await;
    let r = call(&pool, "POST", &uri, Some(&alice)).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let body = r.json();
    assert_eq!(body["attempt"], 2);
    assert_eq!(body["status"], "queued");
    assert_eq!(body["run_id"], run_id.to_string());
    assert_eq!(
        body["status_url"],
        format!("/api/v1/onboarding/status/{pid}")
    );
    let run = runs::find(&pool, run_id).await.expect("find").expect("run");
    assert_eq!(
        (run.status.as_str(), run.source.as_str()),
        ("queued", "retry")
    );

    // The second attempt runs and fails too: the log shows both attempts' phases.
    fail_attempt(&pool).await;
    let log = call(
        &pool,
        "GET",
        &format!("/api/v1/onboarding/status/{pid}/logs"),
        Some(&alice),
    )
    .await;
    assert!(log.text.contains("--- Attempt 1 ---") && log.text.contains("--- Attempt 2 ---"));
    assert!(log.text.contains("Retry requested: attempt 2 queued"));

    assert_eq!(
        call(&pool, "POST", &uri, Some(&token("mallory", false)))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let lonely = portfolio_without_run(&pool, "alice").await;
    let r = call(
        &pool,
        "POST",
        &format!("/api/v1/onboarding/{lonely}/retry"),
        Some(&alice),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

/// Reads SSE frames until `want` complete `status` events arrived or the stream ended.
async fn sse_events(body: &mut Body, want: usize) -> (Vec<Value>, bool) {
    let mut buf = String::new();
    let mut events = Vec::new();
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), body.frame())
            .await
            .expect("an SSE frame within 10 s");
        let Some(frame) = frame else {
            return (events, true);
        };
        if let Ok(data) = frame.expect("frame").into_data() {
            buf.push_str(&String::from_utf8_lossy(&data));
        }
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            if block.contains("event: status") {
                let data = block
                    .lines()
                    .find_map(|l| l.strip_prefix("data: "))
                    .unwrap_or("");
                events.push(serde_json::from_str(data).unwrap_or(Value::Null));
            }
        }
        if events.len() >= want {
            return (events, false);
        }
    }
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn the_event_stream_sends_the_status_now_then_on_change_and_ends_when_terminal(pool: PgPool) {
    let (pid, _) = portfolio_with_run(&pool, "alice").await;
    let uri = format!(
        "/api/v1/onboarding/status/{pid}/events?access_token={}",
        token("alice", false)
    );
    let response = app(state(pool.clone()))
        .oneshot(Request::get(&uri).body(Body::empty()).expect("request"))
        .await
        .expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut body = response.into_body();
    let (first, ended) = sse_events(&mut body, 1).await;
    assert!(!ended);
    assert_eq!(first[0]["status"], "queued");

    // The listener may connect after the first load: it then resyncs every stream.
    fail_attempt(&pool).await;
    let mut seen = Vec::new();
    loop {
        let (events, ended) = sse_events(&mut body, 1).await;
        seen.extend(events);
        if ended {
            break;
        }
    }
    assert_eq!(
        seen.last().map(|s| s["status"].clone()),
        Some(Value::from("failed")),
        "{seen:?}"
    );

    let r = call(
        &pool,
        "GET",
        &format!("/api/v1/onboarding/status/{pid}/events"),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn snapshots_are_listed_for_the_owner_only(pool: PgPool) {
    let pid = portfolio_without_run(&pool, "alice").await;
    sqlx::query(
        "insert into portfolio_snapshots (portfolio_id, snapshot_date, total_value, equity_balance,
             daily_pnl, daily_realized_pnl, cumulative_pnl, long_value, short_value, gross_exposure,
             net_exposure, cash_value, num_positions, num_long, num_short)
         select $1, d::date, 100000 + n, 100000, 0, 0, n, 0, 0, 0, 0, 0, 1, 1, 0
         from generate_series(1, 3) as n, lateral (select date '2026-01-04' + n as d) x",
    )
    .bind(pid)
    .execute(&pool)
    .await
    .expect("snapshots");
    let uri = format!("/api/v1/analytics/portfolio/{pid}/snapshots");
    let r = call(&pool, "GET", &uri, Some(&token("alice", false))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let body = r.json();
    assert_eq!(body["calculation_date"], "2026-01-07");
    assert_eq!(body["snapshots"].as_array().map(Vec::len), Some(3));
    assert_eq!(body["snapshots"][2]["total_value"], 100003.0);
    let r = call(
        &pool,
        "GET",
        &format!("{uri}?start=2026-01-06&end=2026-01-06"),
        Some(&token("alice", false)),
    )
    .await;
    assert_eq!(r.json()["snapshots"].as_array().map(Vec::len), Some(1));
    let r = call(&pool, "GET", &uri, Some(&token("mallory", false))).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn the_status_page_and_its_assets_are_served(pool: PgPool) {
    let r = call(&pool, "GET", "/onboarding/progress?portfolioId=x", None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.text.contains("aria-live=\"polite\"") && r.text.contains("progress.js"));
    let js = call(&pool, "GET", "/onboarding/assets/progress.js", None).await;
    assert!(js.headers["content-type"]
        .to_str()
        .unwrap_or("")
        .starts_with("text/javascript"));
    assert!(js.text.contains("sessionStorage"));
}
