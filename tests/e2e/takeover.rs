//! Durability: a worker killed with SIGKILL mid-phase is taken over after its lease expires.

use serde_json::Value;
use sigmasight_tests::{example_csv, start_worker, Api, TestDb};
use std::time::{Duration, Instant};

fn phase_total(status: &Value, id: &str) -> Value {
    status["phases"]
        .as_array()
        .and_then(|p| p.iter().find(|x| x["phase_id"] == id))
        .map(|p| p["total"].clone())
        .unwrap_or(Value::Null)
}

#[tokio::test]
async fn a_killed_worker_is_taken_over_and_the_run_completes_as_attempt_2() -> anyhow::Result<()> {
    let db = TestDb::create().await?;
    let api = Api::start(&db.url, &[]).await?;
    // A slow provider keeps phase 1 busy long enough to kill the worker in the middle of it.
    let slow = [
        ("SIGMASIGHT_LEASE_TTL_SECS", "3".to_owned()),
        ("SIGMASIGHT_SYNTHETIC_LATENCY_MS", "400".to_owned()),
        ("SIGMASIGHT_PROVIDER_CONCURRENCY", "1".to_owned()),
    ];
    let mut first = start_worker(&db.url, &slow)?;
    let (code, created) = api
        .upload("alice", "Example", "demo_portfolio.csv", example_csv())
        .await?;
    assert_eq!(code, 201, "{created}");
    let pid = created["portfolio_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    // Wait until phase 1 has made real progress, then crash the worker.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let s = api.status("alice", &pid).await?;
        let p1 = &s["phases"][0];
        if s["status"] == "running"
            && p1["status"] == "running"
            && p1["current"].as_i64().unwrap_or(0) >= 3
        {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "phase 1 never got going: {s}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    first.kill_9();
    let killed_at = Instant::now();

    let _second = start_worker(&db.url, &[("SIGMASIGHT_LEASE_TTL_SECS", "3".to_owned())])?;
    // The takeover: attempt 2 running within TTL + 2 s of the kill.
    let taken_over = loop {
        let s = api.status("alice", &pid).await?;
        if s["attempt"].as_i64().unwrap_or(0) >= 2 {
            break killed_at.elapsed();
        }
        anyhow::ensure!(
            killed_at.elapsed() < Duration::from_secs(5),
            "no takeover within TTL + 2 s: {s}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    eprintln!("takeover after {taken_over:?}");
    let s = api
        .wait_terminal("alice", &pid, Duration::from_secs(120))
        .await?;
    assert_eq!(s["status"], "partial", "{s}");
    assert_eq!(s["attempt"], 2);
    let log: Vec<String> = s["activity_log"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|e| e["message"].as_str().map(str::to_owned))
        .collect::<Vec<_>>();
    let pool = db.pool().await?;
    let messages: Vec<String> = sqlx::query_scalar("select message from run_activity order by id")
        .fetch_all(&pool)
        .await?;
    assert!(
        messages
            .iter()
            .any(|m| m.contains("was lost (lease expired); resuming as attempt 2")),
        "{log:?}"
    );
    // Idempotent phases: no duplicated rows whatever ran twice.
    let snapshots: i64 = sqlx::query_scalar("select count(*) from portfolio_snapshots")
        .fetch_one(&pool)
        .await?;
    assert_eq!(Value::from(snapshots), phase_total(&s, "phase_3"));
    let attempts: Vec<i32> =
        sqlx::query_scalar("select distinct attempt from run_phases order by 1")
            .fetch_all(&pool)
            .await?;
    assert_eq!(attempts, vec![1, 2], "earlier attempt's phases are kept");
    // …and closed: the phase the lost worker was in failed with "worker lost", the ones it
    // never reached were skipped; nothing of attempt 1 still shows running or pending.
    let first_attempt: Vec<(String, String, Option<String>)> = sqlx::query_as(
        "select phase_id, status, summary->>'error' from run_phases where attempt = 1 order by ordinal",
    )
    .fetch_all(&pool)
    .await?;
    assert!(
        first_attempt.iter().any(|(id, st, why)| id == "phase_1"
            && st == "failed"
            && why.as_deref() == Some("worker lost")),
        "{first_attempt:?}"
    );
    assert!(
        first_attempt
            .iter()
            .all(|(_, st, _)| !matches!(st.as_str(), "running" | "pending")),
        "{first_attempt:?}"
    );
    let txt = api
        .client
        .get(format!("{}/api/v1/onboarding/status/{pid}/logs", api.base))
        .bearer_auth(Api::token("alice"))
        .send()
        .await?
        .text()
        .await?;
    assert!(txt.contains("worker lost"), "{txt}");
    pool.close().await;
    drop(api);
    db.drop_database().await;
    Ok(())
}
