//! Upload → queue → worker phases → status, through the real processes.

use chrono::NaiveDate;
use sigmasight_shared::calendar;
use sigmasight_tests::{example_csv, phase, start_worker, Api, TestDb};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(120);

#[tokio::test]
async fn the_example_portfolio_onboards_to_partial_naming_the_unavailable_symbol(
) -> anyhow::Result<()> {
    let db = TestDb::create().await?;
    let api = Api::start(&db.url, &[]).await?;
    let _worker = start_worker(&db.url, &[])?;
    let (code, created) = api
        .upload("alice", "Example", "demo_portfolio.csv", example_csv())
        .await?;
    assert_eq!(code, 201, "{created}");
    let pid = created["portfolio_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let s = api.wait_terminal("alice", &pid, TIMEOUT).await?;

    assert_eq!(s["status"], "partial", "{s}");
    assert_eq!(
        s["summary"]["unavailable_symbols"],
        serde_json::json!(["HZNP"])
    );
    assert_eq!(s["summary"]["positions_total"], 20);
    assert_eq!(s["summary"]["positions_analyzed"], 19);
    assert_eq!(s["overall_progress"]["percent_complete"], 100.0);
    assert_eq!(s["attempt"], 1);

    let ids: Vec<&str> = s["phases"]
        .as_array()
        .map(|p| p.iter().filter_map(|x| x["phase_id"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        ids,
        vec![
            "phase_1",
            "phase_1_5",
            "phase_1_75",
            "phase_0",
            "phase_2",
            "phase_3",
            "phase_4",
            "phase_5",
            "phase_6"
        ],
        "all nine phases, in design order"
    );
    assert_eq!(
        phase(&s, "phase_1")["status"],
        "warning",
        "an unavailable symbol is a warning"
    );
    assert_eq!(phase(&s, "phase_3")["status"], "completed");
    for p in s["phases"].as_array().cloned().unwrap_or_default() {
        assert_eq!(p["current"], p["total"], "{p}");
        assert!(p["duration_seconds"].as_f64().is_some(), "{p}");
    }
    // 19 position symbols with data + HZNP, plus the 8 factor ETFs (SPY and TLT overlap).
    assert_eq!(phase(&s, "phase_1")["total"], 23);

    let pool = db.pool().await?;
    let first_entry = NaiveDate::from_ymd_opt(2025, 1, 15).unwrap_or_default();
    let expected_days =
        calendar::trading_days(first_entry, sigmasight_shared::clock::last_trading_day()).len()
            as i64;
    let snapshots: i64 = sqlx::query_scalar("select count(*) from portfolio_snapshots")
        .fetch_one(&pool)
        .await?;
    assert_eq!(
        snapshots, expected_days,
        "one snapshot per trading day in range"
    );
    assert_eq!(phase(&s, "phase_3")["total"], expected_days);
    let requests: i64 = sqlx::query_scalar("select count(*) from symbol_availability")
        .fetch_one(&pool)
        .await?;
    assert_eq!(
        requests, 23,
        "one provider request per symbol, never per date"
    );

    let log = s["activity_log"].as_array().cloned().unwrap_or_default();
    assert!(
        !log.is_empty() && log.len() <= 50,
        "feed holds the last 50 entries"
    );
    let all_messages: Vec<String> =
        sqlx::query_scalar("select message from run_activity where not debug order by id")
            .fetch_all(&pool)
            .await?;
    let warnings: Vec<String> = sqlx::query_scalar(
        "select message from run_activity where level = 'warning' and not debug order by id",
    )
    .fetch_all(&pool)
    .await?;
    let hznp: Vec<&String> = warnings.iter().filter(|m| m.contains("HZNP")).collect();
    assert_eq!(
        hznp.len(),
        1,
        "one warning per unavailable symbol, in phase 1 only: {warnings:?}"
    );
    assert!(
        hznp[0].starts_with("HZNP: Symbol unavailable"),
        "{}",
        hznp[0]
    );
    let closing = log.last().cloned().unwrap_or_default();
    assert!(
        closing["message"]
            .as_str()
            .is_some_and(|m| m.contains("HZNP")),
        "final entry names the unavailable symbol"
    );
    assert_eq!(
        closing["level"], "info",
        "the closing line is info: {closing}"
    );
    let requests: serde_json::Value = sqlx::query_scalar(
        "select summary from run_phases where phase_id = 'phase_1' and status <> 'pending'",
    )
    .fetch_one(&pool)
    .await?;
    assert_eq!(
        requests["requests_by_provider"]["synthetic"], 23,
        "one provider request per symbol, never per date: {requests}"
    );
    assert!(all_messages
        .iter()
        .any(|m| m.starts_with("Fetched AAPL: ") && m.ends_with("days of history (synthetic)")));
    pool.close().await;
    drop(api);
    db.drop_database().await;
    Ok(())
}

#[tokio::test]
async fn a_second_portfolio_with_the_same_symbols_fetches_nothing_again() -> anyhow::Result<()> {
    let db = TestDb::create().await?;
    let api = Api::start(&db.url, &[]).await?;
    let _worker = start_worker(&db.url, &[])?;
    let csv =
        b"Symbol,Quantity,Entry Price Per Share,Entry Date\nAAPL,10,100.00,2025-06-02\nMSFT,5,300.00,2025-06-02\n"
            .to_vec();
    let (_, first) = api.upload("alice", "One", "a.csv", csv.clone()).await?;
    let s1 = api
        .wait_terminal(
            "alice",
            first["portfolio_id"].as_str().unwrap_or_default(),
            TIMEOUT,
        )
        .await?;
    assert_eq!(s1["status"], "completed", "{s1}");
    assert_eq!(phase(&s1, "phase_1")["summary"]["fetched"], 10);
    let (_, second) = api.upload("bob", "Two", "b.csv", csv).await?;
    let s2 = api
        .wait_terminal(
            "bob",
            second["portfolio_id"].as_str().unwrap_or_default(),
            TIMEOUT,
        )
        .await?;
    assert_eq!(s2["status"], "completed");
    assert_eq!(phase(&s2, "phase_1")["summary"]["fetched"], 0, "{s2}");
    assert_eq!(phase(&s2, "phase_1")["summary"]["cached"], 10);
    assert_eq!(
        phase(&s2, "phase_1")["summary"]["provider_requests"],
        0,
        "no provider request at all: {s2}"
    );
    drop(api);
    db.drop_database().await;
    Ok(())
}

#[tokio::test]
async fn two_workers_share_many_onboardings_and_each_run_runs_once() -> anyhow::Result<()> {
    let db = TestDb::create().await?;
    let api = Api::start(&db.url, &[]).await?;
    let _w1 = start_worker(&db.url, &[("SIGMASIGHT_WORKER_CONCURRENCY", "2".into())])?;
    let _w2 = start_worker(&db.url, &[("SIGMASIGHT_WORKER_CONCURRENCY", "2".into())])?;
    let symbols = ["AAPL", "MSFT", "JPM", "XOM", "KO", "ZZTOP", "QQQ", "NVDA"];
    let users: Vec<String> = (0..symbols.len()).map(|i| format!("user{i}")).collect();
    let mut uploads = Vec::new();
    for (i, sym) in symbols.iter().enumerate() {
        let csv = format!(
            "Symbol,Quantity,Entry Price Per Share,Entry Date\n{sym},10,50.00,2025-0{}-02\nSPY,3,500.00,2025-03-03\n",
            1 + i % 6
        );
        uploads.push(api.upload(&users[i], "Main", "p.csv", csv.into_bytes()));
    }
    let mut pids = Vec::new();
    for r in futures::future::join_all(uploads).await {
        let (code, body) = r?;
        assert_eq!(code, 201, "{body}");
        pids.push(body["portfolio_id"].as_str().unwrap_or_default().to_owned());
    }
    for (i, pid) in pids.iter().enumerate() {
        let s = api.wait_terminal(&format!("user{i}"), pid, TIMEOUT).await?;
        assert_eq!(s["status"], "completed", "{s}");
        assert_eq!(s["attempt"], 1, "no run was executed twice");
        assert_eq!(s["portfolio_id"], pid.as_str());
    }
    let pool = db.pool().await?;
    let workers: i64 = sqlx::query_scalar("select count(distinct worker_id) from runs")
        .fetch_one(&pool)
        .await?;
    assert!(workers >= 1);
    let dup: i64 = sqlx::query_scalar("select count(*) from (select portfolio_id, snapshot_date from portfolio_snapshots group by 1, 2 having count(*) > 1) d").fetch_one(&pool).await?;
    assert_eq!(dup, 0);
    pool.close().await;
    drop(api);
    db.drop_database().await;
    Ok(())
}

#[tokio::test]
async fn the_real_date_is_the_default_business_date() -> anyhow::Result<()> {
    // The suite pins SIGMASIGHT_AS_OF; this run unsets it in both binaries.
    let db = TestDb::create().await?;
    let real = [("SIGMASIGHT_AS_OF", String::new())];
    let api = Api::start(&db.url, &real).await?;
    let _worker = start_worker(&db.url, &real)?;
    let csv =
        b"Symbol,Quantity,Entry Price Per Share,Entry Date\nAAPL,10,100.00,2025-06-02\n".to_vec();
    let (code, body) = api.upload("alice", "Real", "a.csv", csv).await?;
    assert_eq!(code, 201, "{body}");
    let s = api
        .wait_terminal(
            "alice",
            body["portfolio_id"].as_str().unwrap_or_default(),
            TIMEOUT,
        )
        .await?;
    assert_eq!(s["status"], "completed", "{s}");
    let today = calendar::last_trading_day(chrono::Utc::now());
    assert_eq!(s["summary"]["end_date"], today.to_string(), "{s}");
    drop(api);
    db.drop_database().await;
    Ok(())
}
