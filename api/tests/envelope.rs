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

/// The reply is `status` in the envelope with `code`, as JSON.
fn assert_error(reply: &Reply, status: StatusCode, code: &str, what: &str) {
    assert_eq!(reply.status, status, "{what}: {}", reply.text);
    let body = reply.json();
    assert_eq!(body["error"]["code"], code, "{what}: {}", reply.text);
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{what}: a message"
    );
    assert!(
        reply
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json")),
        "{what}: JSON, not an empty or plain-text answer"
    );
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn unknown_paths_under_every_router_answer_404_in_the_envelope(pool: PgPool) {
    let (pid, _) = portfolio_with_run(&pool, "alice").await;
    let alice = token("alice", false);
    for uri in [
        "/".to_owned(),
        "/nope".to_owned(),
        "/api".to_owned(),
        "/api/v1".to_owned(),
        "/api/v2/onboarding/csv-template".to_owned(),
        "/api/v1/onboarding/nope".to_owned(),
        format!("/api/v1/onboarding/status/{pid}/nope"),
        "/api/v1/admin/nope".to_owned(),
        "/api/v1/admin/batch/runs/x/y/z".to_owned(),
        format!("/api/v1/analytics/portfolio/{pid}/nope"),
        format!("/api/v1/portfolios/{pid}/nope"),
        "/api/v1/market-data/symbols/AAPL/nope".to_owned(),
        "/healthz/nope".to_owned(),
        "/onboarding/nope".to_owned(),
        "/api/openapi.json/nope".to_owned(),
    ] {
        for method in ["GET", "POST", "DELETE"] {
            let reply = call(&pool, method, &uri, Some(&alice)).await;
            assert_error(
                &reply,
                StatusCode::NOT_FOUND,
                "not_found",
                &format!("{method} {uri}"),
            );
        }
    }
}

/// Every documented path with its parameters filled in, and its documented methods.
fn documented_routes() -> Vec<(String, Vec<String>)> {
    let doc = serde_json::to_value(sigmasight_api::openapi_document()).expect("document");
    let id = uuid::Uuid::new_v4().to_string();
    let mut routes = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        let uri = path
            .split('/')
            .map(|segment| match segment {
                "{symbol}" => "AAPL",
                s if s.starts_with('{') => id.as_str(),
                s => s,
            })
            .collect::<Vec<_>>()
            .join("/");
        let methods = ["get", "post", "put", "patch", "delete"]
            .into_iter()
            .filter(|m| item.get(*m).is_some())
            .map(str::to_uppercase)
            .collect();
        routes.push((uri, methods));
    }
    routes
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_wrong_method_on_every_route_answers_405_in_the_envelope_with_allow(pool: PgPool) {
    let routes = documented_routes();
    assert!(routes.len() > 20, "the document lists the routes");
    let admin = token("root", true);
    for (uri, methods) in routes {
        for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
            if methods.iter().any(|m| m == method) {
                continue;
            }
            let what = format!("{method} {uri}");
            let reply = call(&pool, method, &uri, Some(&admin)).await;
            assert_error(
                &reply,
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                &what,
            );
            let allow = reply
                .headers
                .get("allow")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            for m in &methods {
                assert!(
                    allow.split(',').any(|a| a.trim() == m),
                    "{what}: Allow {allow:?}"
                );
            }
        }
    }
}

#[tokio::test]
async fn readyz_without_a_database_answers_503_in_the_envelope() {
    // Nothing listens on port 1: every query fails fast.
    let pool = sqlx::postgres::PgPoolOptions::new()
        .acquire_timeout(std::time::Duration::from_secs(2))
        .connect_lazy("postgres://postgres@127.0.0.1:1/none")
        .expect("lazy pool");
    let reply = call(&pool, "GET", "/readyz", None).await;
    assert_error(
        &reply,
        StatusCode::SERVICE_UNAVAILABLE,
        "database_unavailable",
        "GET /readyz",
    );
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_date_postgres_cannot_hold_is_a_400_err_query_on_every_date_parameter(pool: PgPool) {
    let admin = token("root", true);
    let (pid, _) = portfolio_with_run(&pool, "root").await;
    let symbol = "/api/v1/market-data/symbols/AAPL";
    let snapshots = format!("/api/v1/analytics/portfolio/{pid}/snapshots");
    for (path, param) in [
        (format!("{symbol}/prices"), "start"),
        (format!("{symbol}/prices"), "end"),
        (format!("{symbol}/factors"), "date"),
        (format!("{symbol}/metrics"), "date"),
        (snapshots.clone(), "start"),
        (snapshots.clone(), "end"),
    ] {
        for bad in [
            "-100000-01-01",
            "-5000-01-01",
            "1899-12-31",
            "2201-01-01",
            "+20000-01-01",
        ] {
            let uri = format!("{path}?{param}={bad}");
            assert_envelope(&call(&pool, "GET", &uri, Some(&admin)).await, "ERR_QUERY");
        }
        for fine in ["1900-01-01", "2200-12-31"] {
            let uri = format!("{path}?{param}={fine}");
            let reply = call(&pool, "GET", &uri, Some(&admin)).await;
            assert!(
                reply.status.is_success() || reply.status == StatusCode::NOT_FOUND,
                "{uri}: {} {}",
                reply.status,
                reply.text
            );
        }
    }
    // A batch's dates, in a JSON body: 422 ERR_JSON, nothing queued.
    for field in ["start_date", "end_date"] {
        let body = format!(r#"{{"force_rerun": true, "{field}": "-100000-01-01"}}"#);
        let reply = call_with_body(
            &pool,
            "POST",
            "/api/v1/admin/batch/run",
            Some(&admin),
            Some(&body),
        )
        .await;
        assert_error(&reply, StatusCode::UNPROCESSABLE_ENTITY, "ERR_JSON", field);
    }
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_json_body_that_is_not_an_object_is_a_400_err_json_and_queues_nothing(pool: PgPool) {
    let admin = token("root", true);
    let before: i64 = sqlx::query_scalar("select count(*) from runs")
        .fetch_one(&pool)
        .await
        .expect("count");
    let id = uuid::Uuid::new_v4();
    for body in [
        "[]".to_owned(),
        " \n[]".to_owned(),
        format!(r#"[["{id}"], true, "2024-01-02", "2024-01-03"]"#),
        "\"run\"".to_owned(),
        "42".to_owned(),
        "true".to_owned(),
        "null".to_owned(),
    ] {
        let reply = call_with_body(
            &pool,
            "POST",
            "/api/v1/admin/batch/run",
            Some(&admin),
            Some(&body),
        )
        .await;
        assert_envelope(&reply, "ERR_JSON");
    }
    let after: i64 = sqlx::query_scalar("select count(*) from runs")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(after, before, "no batch queued");
    // An object still works, and no body at all still means "every portfolio".
    let reply = call_with_body(
        &pool,
        "POST",
        "/api/v1/admin/batch/run",
        Some(&admin),
        Some("{}"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn paging_out_of_range_is_a_400_err_query_as_documented(pool: PgPool) {
    let (pid, _) = portfolio_with_run(&pool, "alice").await;
    let alice = token("alice", false);
    let path = format!("/api/v1/analytics/portfolio/{pid}/positions/factor-exposures");
    for query in ["limit=0", "limit=201", "offset=-1"] {
        let reply = call(&pool, "GET", &format!("{path}?{query}"), Some(&alice)).await;
        assert_envelope(&reply, "ERR_QUERY");
    }
    let reply = call(
        &pool,
        "GET",
        &format!("{path}?limit=200&offset=0"),
        Some(&alice),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
}
