//! Handler tests: the real router over a real Postgres database per test (`oneshot`).

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use sigmasight_api::state::AppState;
use sigmasight_api::{app, ApiConfig};
use sigmasight_shared::config::{DatabaseConfig, Secret};
use sigmasight_shared::db::MIGRATOR;
use sqlx::PgPool;
use tower::ServiceExt;

const SECRET: &str = "test-secret";
const GOOD_CSV: &str =
    "Symbol,Quantity,Entry Price Per Share,Entry Date\nAAPL,10,150.00,2024-01-15\nMSFT,-5,300.00,2024-02-01\n";

fn state(pool: PgPool) -> AppState {
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
        // Handler tests post many uploads as one user; the rates have tests of their own.
        limits: sigmasight_api::limits::LimitsConfig {
            uploads_per_minute: 10_000,
            requests_per_minute: 100_000,
            ..Default::default()
        },
        upload_limits: Default::default(),
    };
    AppState::new(pool, config).expect("auth settings")
}

fn token(sub: &str) -> String {
    sigmasight_shared::auth::issue_hs256(sub, false, 600, SECRET).expect("token")
}

fn multipart(fields: &[(&str, &str)], csv: Option<(&str, &[u8])>) -> (String, Vec<u8>) {
    let boundary = "XBOUNDARYx42";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes(),
        );
    }
    if let Some((file_name, bytes)) = csv {
        body.extend(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"csv_file\"; filename=\"{file_name}\"\r\nContent-Type: text/csv\r\n\r\n").as_bytes());
        body.extend_from_slice(bytes);
        body.extend(b"\r\n");
    }
    body.extend(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn send(pool: &PgPool, req: Request<Body>) -> (StatusCode, Value) {
    let response = app(state(pool.clone()))
        .oneshot(req)
        .await
        .expect("response");
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (
        status,
        serde_json::from_slice(&bytes)
            .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into_owned())),
    )
}

async fn create(
    pool: &PgPool,
    sub: &str,
    account: &str,
    csv: &[u8],
    file_name: &str,
) -> (StatusCode, Value) {
    let (content_type, body) = multipart(
        &[
            ("portfolio_name", "My Portfolio"),
            ("account_name", account),
            ("account_type", "taxable"),
        ],
        Some((file_name, csv)),
    );
    let req = Request::post("/api/v1/onboarding/create-portfolio")
        .header("authorization", format!("Bearer {}", token(sub)))
        .header("content-type", content_type)
        .body(Body::from(body))
        .expect("request");
    send(pool, req).await
}

async fn count(pool: &PgPool, table: &str) -> i64 {
    sqlx::query_scalar(&format!("select count(*) from {table}"))
        .fetch_one(pool)
        .await
        .expect("count")
}

async fn get(pool: &PgPool, uri: &str, sub: &str) -> (StatusCode, Value) {
    let req = Request::get(uri)
        .header("authorization", format!("Bearer {}", token(sub)))
        .body(Body::empty())
        .expect("request");
    send(pool, req).await
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_valid_upload_writes_portfolio_positions_and_one_queued_run(pool: PgPool) {
    let (status, body) = create(&pool, "alice", "Brokerage", GOOD_CSV.as_bytes(), "p.csv").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["positions_imported"], 2);
    assert_eq!(body["positions_failed"], 0);
    assert_eq!(body["total_positions"], 2);
    assert_eq!(body["next_step"]["action"], "calculate");
    // No equity balance given: fully invested, Σ|cost| = 1500 + 1500.
    assert_eq!(body["equity_balance"], 3000.0);
    let pid = body["portfolio_id"].as_str().expect("id");
    assert_eq!(
        body["status_url"],
        format!("/api/v1/onboarding/status/{pid}")
    );
    assert_eq!(
        (
            count(&pool, "portfolios").await,
            count(&pool, "positions").await,
            count(&pool, "runs").await
        ),
        (1, 2, 1)
    );
    let types: Vec<String> =
        sqlx::query_scalar("select position_type from positions order by source_row")
            .fetch_all(&pool)
            .await
            .expect("types");
    assert_eq!(types, vec!["LONG", "SHORT"]);

    let (status, s) = get(&pool, &format!("/api/v1/onboarding/status/{pid}"), "alice").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(s["status"], "queued");
    assert_eq!(s["phases"].as_array().map(Vec::len), Some(9));
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn an_invalid_csv_reports_every_error_with_row_and_column_and_writes_nothing(pool: PgPool) {
    let csv = "Symbol,Quantity,Entry Price Per Share,Entry Date\nAAPL,abc,150.00,2024-01-15\n,5,-1,2024-13-01\n";
    let (status, body) = create(&pool, "alice", "Brokerage", csv.as_bytes(), "p.csv").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["code"], "ERR_CSV_VALIDATION");
    let errors = body["error"]["details"]["errors"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(body["error"]["details"]["total_errors"], errors.len());
    let has = |row: i64, column: &str, code: &str| {
        errors.iter().any(|e| {
            e["row"] == row && e["column"] == column && e["field"] == column && e["code"] == code
        })
    };
    assert!(has(2, "Quantity", "ERR_POS_005"), "{body}");
    assert!(has(3, "Symbol", "ERR_POS_001"), "{body}");
    assert!(has(3, "Entry Price Per Share", "ERR_POS_010"), "{body}");
    assert!(has(3, "Entry Date", "ERR_POS_013"), "{body}");
    assert_eq!(
        (
            count(&pool, "portfolios").await,
            count(&pool, "positions").await,
            count(&pool, "runs").await
        ),
        (0, 0, 0)
    );
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn file_level_problems_get_their_codes(pool: PgPool) {
    let (status, body) = create(&pool, "alice", "A", GOOD_CSV.as_bytes(), "p.txt").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("ERR_CSV_002"))
    );
    let (status, body) = create(&pool, "alice", "A", b"Symbol,Quantity\nAAPL,1\n", "p.csv").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("ERR_CSV_004"))
    );
    let listed = &body["error"]["details"]["errors"][0];
    assert_eq!(
        (
            listed["code"].as_str(),
            listed["field"].as_str(),
            listed["row"].as_i64()
        ),
        (Some("ERR_CSV_004"), Some("Entry Price Per Share"), Some(1)),
        "the missing column is in details.errors[] like every CSV error: {body}"
    );
    let big = vec![b'a'; 10 * 1024 * 1024 + 1];
    let (status, body) = create(&pool, "alice", "A", &big, "p.csv").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("ERR_CSV_001"))
    );
    assert_eq!(count(&pool, "portfolios").await, 0);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_reused_account_name_is_a_409_and_form_fields_are_checked(pool: PgPool) {
    let (status, _) = create(&pool, "alice", "Brokerage", GOOD_CSV.as_bytes(), "p.csv").await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = create(&pool, "alice", "Brokerage", GOOD_CSV.as_bytes(), "p.csv").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("ERR_PORT_001"))
    );
    // Another user may use the same account name.
    let (status, _) = create(&pool, "bob", "Brokerage", GOOD_CSV.as_bytes(), "p.csv").await;
    assert_eq!(status, StatusCode::CREATED);

    let (ct, body) = multipart(
        &[
            ("portfolio_name", "P"),
            ("account_name", "X"),
            ("account_type", "brokerage"),
        ],
        Some(("p.csv", GOOD_CSV.as_bytes())),
    );
    let req = Request::post("/api/v1/onboarding/create-portfolio")
        .header("authorization", format!("Bearer {}", token("alice")))
        .header("content-type", ct)
        .body(Body::from(body))
        .expect("req");
    let (status, body) = send(&pool, req).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("ERR_PORT_009"))
    );
    let (ct, body) = multipart(
        &[
            ("portfolio_name", "P"),
            ("account_name", "Y"),
            ("equity_balance", "-5"),
        ],
        Some(("p.csv", GOOD_CSV.as_bytes())),
    );
    let req = Request::post("/api/v1/onboarding/create-portfolio")
        .header("authorization", format!("Bearer {}", token("alice")))
        .header("content-type", ct)
        .body(Body::from(body))
        .expect("req");
    let (status, body) = send(&pool, req).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("ERR_PORT_005"))
    );
    assert_eq!(count(&pool, "portfolios").await, 2);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn status_needs_a_valid_token_and_hides_other_users_portfolios(pool: PgPool) {
    let (_, body) = create(&pool, "alice", "Brokerage", GOOD_CSV.as_bytes(), "p.csv").await;
    let uri = format!(
        "/api/v1/onboarding/status/{}",
        body["portfolio_id"].as_str().expect("id")
    );
    let (status, body) = send(&pool, Request::get(&uri).body(Body::empty()).expect("req")).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unauthorized"))
    );
    let forged =
        sigmasight_shared::auth::issue_hs256("alice", false, 600, "not-the-secret").expect("token");
    let (status, _) = send(
        &pool,
        Request::get(&uri)
            .header("authorization", format!("Bearer {forged}"))
            .body(Body::empty())
            .expect("req"),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = get(&pool, &uri, "mallory").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let (status, _) = get(&pool, "/api/v1/onboarding/status/not-a-uuid", "alice").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // The owner reads the queued onboarding run with its planned phases; an admin reads any
    // user's portfolio (the right is checked inside the status statement).
    let (status, own) = get(&pool, &uri, "alice").await;
    assert_eq!(
        (status, own["status"].as_str()),
        (StatusCode::OK, Some("queued"))
    );
    let admin = Request::get(&uri)
        .header(
            "authorization",
            format!(
                "Bearer {}",
                sigmasight_shared::auth::issue_hs256("root", true, 600, SECRET).expect("token")
            ),
        )
        .body(Body::empty())
        .expect("req");
    let (status, seen) = send(&pool, admin).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(seen, own);
    assert_eq!(seen["phases"].as_array().map(Vec::len), Some(9), "{seen}");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_portfolio_without_a_run_reports_not_found_status(pool: PgPool) {
    let (_, body) = create(&pool, "alice", "Brokerage", GOOD_CSV.as_bytes(), "p.csv").await;
    let pid = body["portfolio_id"].as_str().expect("id").to_owned();
    sqlx::query("delete from runs")
        .execute(&pool)
        .await
        .expect("delete");
    let (status, s) = get(&pool, &format!("/api/v1/onboarding/status/{pid}"), "alice").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(s["status"], "not_found");
    // Someone else learns nothing, run or no run.
    let (status, _) = get(
        &pool,
        &format!("/api/v1/onboarding/status/{pid}"),
        "mallory",
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn calculate_names_the_active_run_and_double_submits_make_one_run(pool: PgPool) {
    let (_, body) = create(&pool, "alice", "Brokerage", GOOD_CSV.as_bytes(), "p.csv").await;
    let pid = body["portfolio_id"].as_str().expect("id").to_owned();
    let run_id = body["run_id"].as_str().expect("run").to_owned();
    let calc = || {
        Request::post(format!("/api/v1/portfolios/{pid}/calculate"))
            .header("authorization", format!("Bearer {}", token("alice")))
            .body(Body::empty())
            .expect("req")
    };
    let (a, b) = tokio::join!(send(&pool, calc()), send(&pool, calc()));
    for (status, body) in [a, b] {
        assert_eq!(status, StatusCode::ACCEPTED);
        assert_eq!(body["batch_run_id"], run_id.as_str());
        assert_eq!(body["status"], "started");
    }
    assert_eq!(count(&pool, "runs").await, 1);
    let (status, bs) = get(
        &pool,
        &format!("/api/v1/portfolios/{pid}/batch-status/{run_id}"),
        "alice",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (bs["status"].as_str(), bs["batch_run_id"].as_str()),
        (Some("running"), Some(run_id.as_str()))
    );
    let (_, idle) = get(
        &pool,
        &format!(
            "/api/v1/portfolios/{pid}/batch-status/{}",
            uuid::Uuid::new_v4()
        ),
        "alice",
    )
    .await;
    assert_eq!(idle["status"], "idle");
    for doc in [&bs, &idle] {
        assert!(
            doc["started_at"].is_string(),
            "started_at is a timestamp in every state (the frontend declares it non-null): {doc}"
        );
    }
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn calculate_after_a_failed_run_starts_its_next_attempt(pool: PgPool) {
    let (_, body) = create(&pool, "alice", "Brokerage", GOOD_CSV.as_bytes(), "p.csv").await;
    let pid = body["portfolio_id"].as_str().expect("id").to_owned();
    let run_id = body["run_id"].as_str().expect("run").to_owned();
    sqlx::query("update runs set status = 'failed', attempt = 1")
        .execute(&pool)
        .await
        .expect("fail it");
    let req = Request::post(format!("/api/v1/portfolios/{pid}/calculate"))
        .header("authorization", format!("Bearer {}", token("alice")))
        .body(Body::empty())
        .expect("req");
    let (status, body) = send(&pool, req).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(body["batch_run_id"], run_id.as_str(), "same run chain");
    let (st, source): (String, String) = sqlx::query_as("select status, source from runs")
        .fetch_one(&pool)
        .await
        .expect("run");
    assert_eq!((st.as_str(), source.as_str()), ("queued", "retry"));
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn the_csv_template_is_public_and_imports_as_it_is(pool: PgPool) {
    let response = app(state(pool.clone()))
        .oneshot(
            Request::get("/api/v1/onboarding/csv-template")
                .body(Body::empty())
                .expect("req"),
        )
        .await
        .expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    assert_eq!(response.headers()["cache-control"], "public, max-age=3600");
    assert!(response.headers()["content-disposition"]
        .to_str()
        .unwrap_or_default()
        .contains("sigmasight_portfolio_template.csv"));
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let (status, body) = create(
        &pool,
        "alice",
        "Template",
        &bytes,
        "sigmasight_portfolio_template.csv",
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}
