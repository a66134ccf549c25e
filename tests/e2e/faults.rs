//! Failed attempts: panics, hung phases, exhausted attempts, cancellations and graceful
//! shutdown.

use sigmasight_shared::metrics as m;
use sigmasight_tests::prometheus::Scrape;
use sigmasight_tests::{example_csv, free_port, start_worker, start_worker_logged, Api, TestDb};
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
async fn cancelling_a_hung_run_frees_the_workers_only_slot_at_once() -> anyhow::Result<()> {
    let db = TestDb::create().await?;
    let api = Api::start(&db.url, &[]).await?;
    let metrics_port = free_port()?;
    // One slot; AAPL never answers; neither the stall limit nor a lease renewal (every 20 s)
    // comes within the test's deadlines: only the cancellation itself can free the slot.
    let _worker = start_worker(
        &db.url,
        &[
            ("SIGMASIGHT_WORKER_CONCURRENCY", "1".to_owned()),
            ("SIGMASIGHT_SYNTHETIC_FAIL", "AAPL:hang".to_owned()),
            ("SIGMASIGHT_PHASE_STALL_SECS", "120".to_owned()),
            ("SIGMASIGHT_LEASE_TTL_SECS", "60".to_owned()),
            (
                "SIGMASIGHT_METRICS_BIND",
                format!("127.0.0.1:{metrics_port}"),
            ),
        ],
    )?;
    let (code, hung) = api
        .upload("alice", "Hung", "a.csv", AAPL_CSV.to_vec())
        .await?;
    anyhow::ensure!(code == 201, "{hung}");
    let hung_pid = hung["portfolio_id"].as_str().unwrap_or_default().to_owned();
    let hung_run = hung["run_id"].as_str().unwrap_or_default().to_owned();
    // Hung for good: every symbol of phase 1 stored but AAPL, so no fenced write is left to
    // notice a lost lease (a cancel while other symbols are still coming is noticed at their
    // next write anyway).
    let pool = db.pool().await?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let s = api.status("alice", &hung_pid).await?;
        let total = s["phases"][0]["total"].as_i64().unwrap_or(0);
        let stored: i64 = sqlx::query_scalar("select count(distinct symbol) from market_prices")
            .fetch_one(&pool)
            .await?;
        if s["phases"][0]["status"] == "running" && total > 1 && stored == total - 1 {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "phase 1 never got to AAPL alone: {s}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    pool.close().await;
    let (code, next) = api
        .upload("bob", "Next", "b.csv", MSFT_CSV.to_vec())
        .await?;
    anyhow::ensure!(code == 201, "{next}");
    let next_pid = next["portfolio_id"].as_str().unwrap_or_default().to_owned();
    assert_eq!(
        api.status("bob", &next_pid).await?["status"],
        "queued",
        "the only slot is taken by the hung run"
    );

    let (code, cancelled) = api
        .admin_post(
            &format!("/api/v1/admin/batch/runs/{hung_run}/cancel"),
            &serde_json::json!({}),
        )
        .await?;
    assert_eq!(code, 200, "{cancelled}");
    assert_eq!(cancelled["run"]["status"], "cancelled");
    let cancelled_at = Instant::now();
    let claimed = loop {
        let s = api.status("bob", &next_pid).await?;
        if s["status"] != "queued" {
            break cancelled_at.elapsed();
        }
        anyhow::ensure!(
            cancelled_at.elapsed() < Duration::from_secs(5),
            "the next run is still queued 5 s after the cancel: {s}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    eprintln!("next run claimed {claimed:?} after the cancel");
    let s = api
        .wait_terminal("bob", &next_pid, Duration::from_secs(15))
        .await?;
    assert_eq!(s["status"], "completed", "{s}");

    // The stopped attempt wrote nothing over the cancellation, which closed its phases: the
    // hung one failed with the reason, the rest skipped.
    let s = api.status("alice", &hung_pid).await?;
    assert_eq!(s["status"], "cancelled", "{s}");
    assert_eq!(s["phases"][0]["status"], "failed", "{s}");
    assert_eq!(
        s["phases"][0]["summary"]["error"], "cancelled by an admin",
        "{s}"
    );
    let phases = s["phases"].as_array().cloned().unwrap_or_default();
    assert!(phases.len() > 1, "{s}");
    assert!(phases[1..].iter().all(|p| p["status"] == "skipped"), "{s}");
    // Its worker counts it as cancelled, not as a lost lease.
    let url = format!("http://127.0.0.1:{metrics_port}/metrics");
    let scrape = Scrape::parse(&api.client.get(&url).send().await?.text().await?)?;
    let cancelled = [("kind", "onboarding"), ("outcome", "cancelled")];
    assert_eq!(scrape.sum(m::RUNS_FINISHED, &cancelled), 1.0);
    assert_eq!(
        scrape.sum(m::LEASES_LOST, &[]),
        0.0,
        "a cancel is no lost lease"
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
