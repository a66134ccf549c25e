//! Failed attempts: panics, hung phases, exhausted attempts and graceful shutdown.

use sigmasight_tests::{example_csv, start_worker, start_worker_logged, Api, TestDb};
use std::time::{Duration, Instant};

const AAPL_CSV: &[u8] =
    b"Symbol,Quantity,Entry Price Per Share,Entry Date\nAAPL,10,100.00,2025-06-02\n";
const MSFT_CSV: &[u8] =
    b"Symbol,Quantity,Entry Price Per Share,Entry Date\nMSFT,10,100.00,2025-06-02\n";

fn fast_retry(extra: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    let mut env = vec![("SIGMASIGHT_RETRY_BASE_SECS", "0.2".to_owned())];
    env.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
    env
}

async fn messages(db: &TestDb) -> anyhow::Result<Vec<String>> {
    let pool = db.pool().await?;
    let m = sqlx::query_scalar("select message from run_activity order by id")
        .fetch_all(&pool)
        .await?;
    pool.close().await;
    Ok(m)
}

#[tokio::test]
async fn a_panicking_phase_fails_its_attempt_and_the_run_fails_after_its_last_attempt(
) -> anyhow::Result<()> {
    let db = TestDb::create().await?;
    let api = Api::start(&db.url, &[("SIGMASIGHT_MAX_ATTEMPTS", "2".into())]).await?;
    let mut worker = start_worker(
        &db.url,
        &fast_retry(&[("SIGMASIGHT_SYNTHETIC_FAIL", "AAPL:panic")]),
    )?;
    let (_, created) = api.upload("alice", "A", "a.csv", AAPL_CSV.to_vec()).await?;
    let pid = created["portfolio_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let s = api
        .wait_terminal("alice", &pid, Duration::from_secs(60))
        .await?;
    assert_eq!(s["status"], "failed", "{s}");
    assert_eq!(s["attempt"], 2, "retried once, then out of attempts");
    assert!(
        s["error"].as_str().unwrap_or_default().contains("panicked"),
        "{s}"
    );
    assert_eq!(s["phases"][0]["status"], "failed");
    let log = messages(&db).await?;
    assert!(
        log.iter()
            .any(|m| m.starts_with("Attempt 1 failed") && m.contains("retrying")),
        "{log:?}"
    );
    assert!(
        log.iter()
            .any(|m| m.starts_with("Run failed on attempt 2 of 2")),
        "{log:?}"
    );

    // The worker survived the panics and keeps working.
    assert!(worker.is_running());
    let (_, other) = api.upload("alice", "B", "b.csv", MSFT_CSV.to_vec()).await?;
    let s = api
        .wait_terminal(
            "alice",
            other["portfolio_id"].as_str().unwrap_or_default(),
            Duration::from_secs(60),
        )
        .await?;
    assert_eq!(s["status"], "completed", "{s}");
    drop(api);
    drop(worker);
    db.drop_database().await;
    Ok(())
}

#[tokio::test]
async fn a_hung_phase_fails_its_attempt_and_is_retried() -> anyhow::Result<()> {
    let db = TestDb::create().await?;
    let api = Api::start(&db.url, &[("SIGMASIGHT_MAX_ATTEMPTS", "2".into())]).await?;
    let _worker = start_worker(
        &db.url,
        &fast_retry(&[
            ("SIGMASIGHT_SYNTHETIC_FAIL", "AAPL:hang"),
            ("SIGMASIGHT_PHASE_STALL_SECS", "1.5"),
        ]),
    )?;
    let started = Instant::now();
    let (_, created) = api.upload("alice", "A", "a.csv", AAPL_CSV.to_vec()).await?;
    let pid = created["portfolio_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let s = api
        .wait_terminal("alice", &pid, Duration::from_secs(60))
        .await?;
    assert_eq!(s["status"], "failed", "{s}");
    assert_eq!(s["attempt"], 2);
    assert!(
        s["error"].as_str().unwrap_or_default().contains("hung"),
        "{s}"
    );
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "each attempt waited for the stall limit"
    );
    assert_eq!(
        s["phases"][0]["status"], "failed",
        "the hung phase is marked failed"
    );
    drop(api);
    db.drop_database().await;
    Ok(())
}

#[tokio::test]
async fn sigterm_hands_a_slow_run_back_and_another_worker_finishes_it() -> anyhow::Result<()> {
    let db = TestDb::create().await?;
    let api = Api::start(&db.url, &[]).await?;
    let slow = [
        ("SIGMASIGHT_SYNTHETIC_LATENCY_MS", "400".to_owned()),
        ("SIGMASIGHT_PROVIDER_CONCURRENCY", "1".to_owned()),
        ("SIGMASIGHT_SHUTDOWN_GRACE_SECS", "0.5".to_owned()),
    ];
    let mut first = start_worker(&db.url, &slow)?;
    let (_, created) = api
        .upload("alice", "Example", "demo.csv", example_csv())
        .await?;
    let pid = created["portfolio_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let deadline = Instant::now() + Duration::from_secs(60);
    while api.status("alice", &pid).await?["phases"][0]["current"]
        .as_i64()
        .unwrap_or(0)
        < 2
    {
        anyhow::ensure!(Instant::now() < deadline, "phase 1 never started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        first.terminate(Duration::from_secs(10)),
        "worker exits after its grace period"
    );
    let s = api.status("alice", &pid).await?;
    assert_eq!(
        s["status"], "queued",
        "handed back at once, not left running: {s}"
    );

    let _second = start_worker(&db.url, &[])?;
    let s = api
        .wait_terminal("alice", &pid, Duration::from_secs(60))
        .await?;
    assert_eq!(s["status"], "partial", "{s}");
    assert_eq!(s["attempt"], 2);
    let log = messages(&db).await?;
    assert!(
        log.iter()
            .any(|m| m.contains("is shutting down; run handed back")),
        "{log:?}"
    );
    let pool = db.pool().await?;
    let first: Vec<(String, Option<String>)> = sqlx::query_as(
        "select status, summary->>'error' from run_phases where attempt = 1 and not carried_over order by ordinal",
    )
    .fetch_all(&pool)
    .await?;
    assert!(
        first.iter().any(|(st, why)| st == "failed"
            && why.as_deref().is_some_and(|w| w.starts_with("handed back"))),
        "the phase it was in is closed as handed back: {first:?}"
    );
    assert!(
        first
            .iter()
            .all(|(st, _)| !matches!(st.as_str(), "running" | "pending")),
        "{first:?}"
    );
    pool.close().await;
    drop(api);
    db.drop_database().await;
    Ok(())
}

#[tokio::test]
async fn an_idle_worker_stops_promptly_on_sigterm() -> anyhow::Result<()> {
    let db = TestDb::create().await?;
    let mut worker = start_worker_logged(&db.url, &[])?;
    // Idle: started, connected and polling the queue (no fixed wait).
    worker
        .wait_for_log("worker started", Duration::from_secs(30))
        .await?;
    assert!(worker.is_running());
    assert!(worker.terminate(Duration::from_secs(5)));
    db.drop_database().await;
    Ok(())
}
