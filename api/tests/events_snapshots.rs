//! Handler tests of the SSE status stream, the snapshots endpoint and the status page over a
//! real Postgres per test.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::*;
use http_body_util::BodyExt;
use serde_json::Value;
use sigmasight_api::app;
use sigmasight_shared::db::{activity, phases, runs, MIGRATOR};
use sqlx::PgPool;
use std::time::Duration;
use tower::ServiceExt;

mod common;

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

/// The api's count of status polls answered from memory.
fn cache_hits(state: &sigmasight_api::state::AppState) -> u64 {
    cache_count(state, "hit")
}

/// The api's status cache counter of `result` (hit, miss, refreshed).
fn cache_count(state: &sigmasight_api::state::AppState, result: &str) -> u64 {
    let prefix = format!("sigmasight_status_cache_total{{result=\"{result}\"}} ");
    state
        .metrics
        .render()
        .lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// One poll of `uri` as alice, which must be answered from memory (a hit, no miss).
async fn poll_from_memory(
    state: &sigmasight_api::state::AppState,
    router: &axum::Router,
    uri: &str,
) -> Value {
    let (hits, misses) = (cache_hits(state), cache_count(state, "miss"));
    let doc = poll_until(router, uri, "alice", |_| true).await;
    assert_eq!(
        (cache_hits(state), cache_count(state, "miss")),
        (hits + 1, misses),
        "answered from memory"
    );
    doc
}

/// A feed entry of phase 1 of `run_id`'s attempt 1.
async fn insert_fetched_entry(pool: &PgPool, run_id: uuid::Uuid) {
    activity::insert_batch(
        pool,
        run_id,
        1,
        &[activity::NewEntry {
            ts: chrono::Utc::now(),
            level: sigmasight_shared::domain::ActivityLevel::Info,
            phase_id: Some("phase_1"),
            message: "Fetched 300 daily prices for AAPL".into(),
            debug: false,
        }],
    )
    .await
    .expect("activity");
}

/// True when the document's feed shows [`insert_fetched_entry`]'s entry.
fn shows_fetched_entry(doc: &Value) -> bool {
    doc["activity_log"].as_array().is_some_and(|a| {
        a.iter()
            .any(|e| e["message"] == "Fetched 300 daily prices for AAPL")
    })
}

/// Waits until the status cache counter of `result` passes `above`.
async fn cache_count_passes(state: &sigmasight_api::state::AppState, result: &str, above: u64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while cache_count(state, result) <= above {
        assert!(
            std::time::Instant::now() < deadline,
            "{result} stayed at {above} for 10 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// One GET through `router` (one app, one cache) with `token`'s bearer.
async fn ask(router: &axum::Router, uri: &str, token: &str) -> axum::response::Response {
    router
        .clone()
        .oneshot(
            Request::get(uri)
                .header("authorization", format!("Bearer {token}"))
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("response")
}

/// Polls the status through one app (one cache) until `done` holds of the document.
async fn poll_until(
    router: &axum::Router,
    uri: &str,
    sub: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let response = ask(router, uri, &token(sub, false)).await;
        assert_eq!(response.status(), StatusCode::OK);
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let doc: Value = serde_json::from_slice(&bytes).expect("json");
        if done(&doc) {
            return doc;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no such status within 10 s; last: {doc}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn status_polls_come_from_memory_until_a_change_notification_drops_them(pool: PgPool) {
    let (pid, run_id) = portfolio_with_run(&pool, "alice").await;
    let state = state(pool.clone());
    let router = app(state.clone());
    let uri = format!("/api/v1/onboarding/status/{pid}");
    // The first poll starts the listener; once it listens, the second of two polls is a hit.
    let hits_before = cache_hits(&state);
    poll_until(&router, &uri, "alice", |_| cache_hits(&state) > hits_before).await;
    let hits = cache_hits(&state);
    let cached = poll_until(&router, &uri, "alice", |_| true).await;
    assert_eq!(cache_hits(&state), hits + 1, "answered from memory");
    assert_eq!(cached["status"], "queued");

    // Someone else's poll is refused even while alice's rows are kept; an admin's is not.
    let mallory = call(&pool, "GET", &uri, Some(&token("mallory", false))).await;
    assert_eq!(mallory.status, StatusCode::NOT_FOUND);
    let stranger = ask(&router, &uri, &token("mallory", false)).await;
    assert_eq!(stranger.status(), StatusCode::NOT_FOUND);
    let admin = ask(&router, &uri, &token("root", true)).await;
    assert_eq!(admin.status(), StatusCode::OK);

    // A worker claims the run (the runs row changes: its notification names the portfolio).
    let claimed = runs::claim_next(&pool, "w-test", Duration::from_secs(30))
        .await
        .expect("claim")
        .expect("the run");
    assert_eq!(claimed.run.id, run_id);
    poll_until(&router, &uri, "alice", |d| d["status"] == "running").await;
    // Its phases start (their notification names only the run).
    let defs: Vec<_> = sigmasight_shared::phases::ONBOARDING.iter().collect();
    assert!(phases::init_attempt(&pool, run_id, 1, &defs, &[])
        .await
        .expect("init"));
    phases::start(&pool, run_id, 1, "phase_1", 23)
        .await
        .expect("start");
    let doc = poll_until(&router, &uri, "alice", |d| {
        d["current_phase_progress"]["total"] == 23
    })
    .await;
    assert_eq!(doc["phases"][0]["status"], "running");
    // Progress within the phase, then the activity feed.
    phases::progress(&pool, run_id, 1, "phase_1", 7, 23)
        .await
        .expect("progress");
    poll_until(&router, &uri, "alice", |d| {
        d["current_phase_progress"]["current"] == 7
    })
    .await;
    insert_fetched_entry(&pool, run_id).await;
    poll_until(&router, &uri, "alice", shows_fetched_entry).await;
    // Unchanged since: from memory again.
    let hits = cache_hits(&state);
    poll_until(&router, &uri, "alice", |_| true).await;
    poll_until(&router, &uri, "alice", |_| true).await;
    assert!(cache_hits(&state) > hits);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_change_has_a_portfolio_polled_lately_read_again_before_its_next_poll(pool: PgPool) {
    let (pid, run_id) = portfolio_with_run(&pool, "alice").await;
    let state = state(pool.clone());
    let router = app(state.clone());
    let uri = format!("/api/v1/onboarding/status/{pid}");
    let hits_before = cache_hits(&state);
    poll_until(&router, &uri, "alice", |_| cache_hits(&state) > hits_before).await;
    // The listener's first resync has the portfolio read again too: let it settle.
    tokio::time::sleep(Duration::from_millis(200)).await;

    // The run is claimed (its notification names the portfolio): the api reads it again
    // by itself, and the next poll is answered from memory with the change.
    let refreshed = cache_count(&state, "refreshed");
    runs::claim_next(&pool, "w-test", Duration::from_secs(30))
        .await
        .expect("claim")
        .expect("the run");
    cache_count_passes(&state, "refreshed", refreshed).await;
    let doc = poll_from_memory(&state, &router, &uri).await;
    assert_eq!(doc["status"], "running");

    // An activity entry (one statement; its notification names only the run): the same.
    let refreshed = cache_count(&state, "refreshed");
    insert_fetched_entry(&pool, run_id).await;
    cache_count_passes(&state, "refreshed", refreshed).await;
    let doc = poll_from_memory(&state, &router, &uri).await;
    assert!(shows_fetched_entry(&doc), "{doc}");
}
