//! Malformed JSON bodies, query strings and path parameters answer in the error envelope
//! `{"error": {"code", "message", "details"}}` on every kind of route, never axum's plain text.

use axum::http::StatusCode;
use common::*;
use sigmasight_shared::db::MIGRATOR;
use sqlx::PgPool;

mod common;

/// The reply is a 400 in the envelope with `code`, and its message is bounded.
fn assert_envelope(reply: &Reply, code: &str) {
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text);
    let body = reply.json();
    assert_eq!(body["error"]["code"], code, "{}", reply.text);
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        !message.is_empty() && message.chars().count() <= 201,
        "{message}"
    );
    assert!(
        reply
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json")),
        "JSON, not plain text"
    );
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_malformed_json_body_is_err_json(pool: PgPool) {
    let admin = token("root", true);
    let reply = call_with_body(
        &pool,
        "POST",
        "/api/v1/admin/batch/run",
        Some(&admin),
        Some("{\"force_rerun\": tru"),
    )
    .await;
    assert_envelope(&reply, "ERR_JSON");
    let wrong_shape = call_with_body(
        &pool,
        "POST",
        "/api/v1/admin/batch/run",
        Some(&admin),
        Some("{\"force_rerun\": \"yes\"}"),
    )
    .await;
    assert_eq!(
        wrong_shape.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        wrong_shape.text
    );
    assert_eq!(wrong_shape.json()["error"]["code"], "ERR_JSON");
    let huge = format!("{{\"portfolio_ids\": [\"{}\"]}}", "x".repeat(10_000));
    let reply = call_with_body(
        &pool,
        "POST",
        "/api/v1/admin/batch/run",
        Some(&admin),
        Some(&huge),
    )
    .await;
    assert!(
        reply.text.len() < 1_000,
        "no echo of unbounded input: {}",
        reply.text.len()
    );
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_bad_query_parameter_is_err_query(pool: PgPool) {
    let admin = token("root", true);
    for uri in [
        "/api/v1/admin/batch/runs?limit=many",
        "/api/v1/admin/batch/runs?status=weird",
        "/api/v1/market-data/symbols/AAPL/prices?start=yesterday",
        "/api/v1/market-data/symbols/AAPL/factors?date=2024-13-01",
    ] {
        assert_envelope(&call(&pool, "GET", uri, Some(&admin)).await, "ERR_QUERY");
    }
    let (pid, _) = portfolio_with_run(&pool, "alice").await;
    let alice = token("alice", false);
    for uri in [
        format!("/api/v1/analytics/portfolio/{pid}/snapshots?start=soon"),
        format!("/api/v1/onboarding/status/{pid}/logs?include_debug=maybe"),
    ] {
        assert_envelope(&call(&pool, "GET", &uri, Some(&alice)).await, "ERR_QUERY");
    }
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_bad_path_parameter_is_err_path(pool: PgPool) {
    let admin = token("root", true);
    for uri in [
        "/api/v1/admin/batch/runs/not-a-uuid",
        "/api/v1/admin/batch/runs/12345",
    ] {
        assert_envelope(&call(&pool, "GET", uri, Some(&admin)).await, "ERR_PATH");
    }
    let reply = call(
        &pool,
        "POST",
        "/api/v1/admin/batch/runs/zzz/cancel",
        Some(&admin),
    )
    .await;
    assert_envelope(&reply, "ERR_PATH");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn an_encoded_control_character_in_a_path_or_query_is_a_400_on_real_routes(pool: PgPool) {
    let admin = token("root", true);
    for (uri, code) in [
        ("/api/v1/market-data/symbols/%00/prices", "ERR_PATH"),
        ("/api/v1/market-data/symbols/AA%0APL/prices", "ERR_PATH"),
        ("/api/v1/admin/batch/runs/%00", "ERR_PATH"),
        ("/api/v1/admin/batch/runs?status=%00", "ERR_QUERY"),
        (
            "/api/v1/market-data/symbols/AAPL/prices?start=2024-01-01%1b",
            "ERR_QUERY",
        ),
    ] {
        let reply = call(&pool, "GET", uri, Some(&admin)).await;
        assert_envelope(&reply, code);
        assert!(!reply.text.contains('\0'), "{uri}: no echo of the NUL");
    }
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn every_portfolio_route_is_404_for_someone_else_and_readable_by_an_admin(pool: PgPool) {
    let (pid, run_id) = portfolio_with_run(&pool, "alice").await;
    let reads = [
        format!("/api/v1/onboarding/status/{pid}"),
        format!("/api/v1/onboarding/status/{pid}/logs"),
        format!("/api/v1/analytics/portfolio/{pid}/overview"),
        format!("/api/v1/analytics/portfolio/{pid}/snapshots"),
        format!("/api/v1/analytics/portfolio/{pid}/factor-exposures"),
        format!("/api/v1/analytics/portfolio/{pid}/positions/factor-exposures"),
        format!("/api/v1/analytics/portfolio/{pid}/volatility"),
        format!("/api/v1/analytics/portfolio/{pid}/correlation-matrix"),
        format!("/api/v1/analytics/portfolio/{pid}/stress-test"),
        format!("/api/v1/portfolios/{pid}/batch-status/{run_id}"),
    ];
    let writes = [
        format!("/api/v1/portfolios/{pid}/calculate"),
        format!("/api/v1/onboarding/{pid}/retry"),
    ];
    let mallory = token("mallory", false);
    for uri in reads
        .iter()
        .chain([format!("/api/v1/onboarding/status/{pid}/events")].iter())
    {
        let reply = call(&pool, "GET", uri, Some(&mallory)).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{uri}: {}", reply.text);
        assert_eq!(reply.json()["error"]["code"], "not_found", "{uri}");
    }
    for uri in &writes {
        let reply = call(&pool, "POST", uri, Some(&mallory)).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{uri}: {}", reply.text);
    }
    let bad = call(
        &pool,
        "GET",
        "/api/v1/onboarding/status/not-a-uuid",
        Some(&mallory),
    )
    .await;
    assert_eq!(
        bad.status,
        StatusCode::NOT_FOUND,
        "a malformed id is 404 too"
    );
    let admin = token("root", true);
    for uri in &reads {
        let reply = call(&pool, "GET", uri, Some(&admin)).await;
        assert_eq!(reply.status, StatusCode::OK, "{uri}: {}", reply.text);
    }
}
