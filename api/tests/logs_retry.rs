//! Handler tests of the log download and retry over a real Postgres per test.

use axum::http::StatusCode;
use common::*;
use sigmasight_shared::db::{runs, MIGRATOR};
use sqlx::PgPool;

mod common;

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

#[sqlx::test(migrator = "MIGRATOR")]
async fn retry_reopens_the_onboarding_run_never_a_nightly_child(pool: PgPool) {
    let (pid, onboarding) = portfolio_with_run(&pool, "alice").await;
    fail_attempt(&pool).await;
    // A nightly child an admin forced over a range, newer than the onboarding, failed too.
    let parent = uuid::Uuid::new_v4();
    let child = uuid::Uuid::new_v4();
    sqlx::query(
        "insert into runs (id, kind, source, status, params, finished_at) values ($1, 'daily', 'admin', 'running', '{}', null)",
    )
    .bind(parent)
    .execute(&pool)
    .await
    .expect("parent");
    sqlx::query(
        "insert into runs (id, kind, parent_id, portfolio_id, source, status, params, priority, finished_at, created_at)
         values ($1, 'portfolio_daily', $2, $3, 'admin', 'failed',
                 '{\"start_date\": \"2026-01-02\", \"force_rerun\": true}', 50, now(), now() + interval '1 second')",
    )
    .bind(child)
    .bind(parent)
    .bind(pid)
    .execute(&pool)
    .await
    .expect("child");

    let r = call(
        &pool,
        "POST",
        &format!("/api/v1/onboarding/{pid}/retry"),
        Some(&token("alice", false)),
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    assert_eq!(r.json()["run_id"], onboarding.to_string());
    let child_run = runs::find(&pool, child).await.expect("find").expect("run");
    assert_eq!(
        child_run.status.as_str(),
        "failed",
        "the child is left alone"
    );
    // The status now shows the reopened onboarding run, though the child is newer.
    let s = call(
        &pool,
        "GET",
        &format!("/api/v1/onboarding/status/{pid}"),
        Some(&token("alice", false)),
    )
    .await;
    assert_eq!(s.json()["status"], "queued", "{}", s.text);
}
