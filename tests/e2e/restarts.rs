//! Durability across restarts of the api and of Postgres, concurrency and double submits.

use sigmasight_tests::{example_csv, start_worker, Api, PrivatePostgres, TestDb};
use std::time::{Duration, Instant};

async fn wait_phase_progress(api: &Api, pid: &str, min: i64) -> anyhow::Result<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let s = api.status("alice", pid).await?;
        if s["phases"][0]["current"].as_i64().unwrap_or(0) >= min {
            return Ok(s);
        }
        anyhow::ensure!(Instant::now() < deadline, "no progress: {s}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn restarting_the_api_mid_run_changes_nothing_but_progress() -> anyhow::Result<()> {
    let db = TestDb::create().await?;
    let mut api = Api::start(&db.url, &[]).await?;
    let _worker = start_worker(
        &db.url,
        &[
            ("SIGMASIGHT_SYNTHETIC_LATENCY_MS", "150".into()),
            ("SIGMASIGHT_PROVIDER_CONCURRENCY", "1".into()),
        ],
    )?;
    let (_, created) = api
        .upload("alice", "Example", "demo.csv", example_csv())
        .await?;
    let pid = created["portfolio_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let before = wait_phase_progress(&api, &pid, 2).await?;
    api.process.kill_9();
    api = Api::start(&db.url, &[]).await?;
    let after = api.status("alice", &pid).await?;
    for key in ["portfolio_id", "run_id", "attempt", "started_at", "status"] {
        assert_eq!(before[key], after[key], "{key} changed across the restart");
    }
    let ids = |s: &serde_json::Value| {
        s["phases"]
            .as_array()
            .map(|p| p.iter().map(|x| x["phase_id"].clone()).collect::<Vec<_>>())
    };
    assert_eq!(ids(&before), ids(&after));
    assert!(
        after["phases"][0]["current"].as_i64() >= before["phases"][0]["current"].as_i64(),
        "progress only moves forward"
    );
    let done = api
        .wait_terminal("alice", &pid, Duration::from_secs(60))
        .await?;
    assert_eq!(
        (done["status"].as_str(), done["attempt"].as_i64()),
        (Some("partial"), Some(1))
    );
    drop(api);
    db.drop_database().await;
    Ok(())
}

#[tokio::test]
async fn workers_reconnect_after_a_postgres_restart_and_the_run_ends() -> anyhow::Result<()> {
    let pg = tokio::task::spawn_blocking(PrivatePostgres::start).await??;
    let db = TestDb::create_on(&pg.url()).await?;
    let api = Api::start(&db.url, &[]).await?;
    let _worker = start_worker(
        &db.url,
        &[
            ("SIGMASIGHT_SYNTHETIC_LATENCY_MS", "150".into()),
            ("SIGMASIGHT_PROVIDER_CONCURRENCY", "1".into()),
            ("SIGMASIGHT_RETRY_BASE_SECS", "0.5".into()),
            ("SIGMASIGHT_LEASE_TTL_SECS", "3".into()),
        ],
    )?;
    let (_, created) = api
        .upload("alice", "Example", "demo.csv", example_csv())
        .await?;
    let pid = created["portfolio_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    wait_phase_progress(&api, &pid, 2).await?;
    let restart = tokio::task::spawn_blocking(move || pg.restart().map(|()| pg)).await??;
    let done = api
        .wait_terminal("alice", &pid, Duration::from_secs(90))
        .await?;
    assert_eq!(
        done["status"], "partial",
        "the run completed after the restart (retried if it had to be): {done}"
    );
    assert!(done["attempt"].as_i64().unwrap_or(0) <= 3);
    let pool = db.pool().await?;
    let dup: i64 = sqlx::query_scalar(
        "select count(*) - count(distinct (symbol, price_date)) from market_prices",
    )
    .fetch_one(&pool)
    .await?;
    assert_eq!(dup, 0);
    pool.close().await;
    drop(api);
    drop(restart);
    Ok(())
}

#[tokio::test]
async fn fifty_concurrent_onboardings_on_two_workers_all_complete() -> anyhow::Result<()> {
    let db = TestDb::create().await?;
    let api = Api::start(&db.url, &[]).await?;
    let _w1 = start_worker(&db.url, &[])?;
    let _w2 = start_worker(&db.url, &[])?;
    let users: Vec<String> = (0..50).map(|i| format!("user{i}")).collect();
    let symbols = [
        "AAPL", "MSFT", "NVDA", "JPM", "XOM", "KO", "PG", "WMT", "ABC", "XYZ",
    ];
    let started = Instant::now();
    let uploads = users.iter().enumerate().map(|(i, u)| {
        let csv = format!("Symbol,Quantity,Entry Price Per Share,Entry Date\n{},10,50.00,2025-06-02\n{},5,80.00,2025-09-02\n", symbols[i % 10], symbols[(i + 3) % 10]);
        api.upload(u, "Main", "p.csv", csv.into_bytes())
    });
    let created = futures::future::join_all(uploads).await;
    let mut pids = Vec::new();
    for r in created {
        let (code, body) = r?;
        assert_eq!(code, 201, "{body}");
        pids.push(body["portfolio_id"].as_str().unwrap_or_default().to_owned());
    }
    let waits = users
        .iter()
        .zip(&pids)
        .map(|(u, p)| api.wait_terminal(u, p, Duration::from_secs(180)));
    for (s, pid) in futures::future::join_all(waits)
        .await
        .into_iter()
        .zip(&pids)
    {
        let s = s?;
        assert_eq!(
            (s["status"].as_str(), s["portfolio_id"].as_str()),
            (Some("completed"), Some(pid.as_str())),
            "{s}"
        );
    }
    eprintln!(
        "50 concurrent onboardings on 2 workers: {:.2} s wall",
        started.elapsed().as_secs_f64()
    );
    drop(api);
    db.drop_database().await;
    Ok(())
}

#[tokio::test]
async fn double_submits_make_exactly_one_portfolio_and_one_run() -> anyhow::Result<()> {
    let db = TestDb::create().await?;
    let api = Api::start(&db.url, &[]).await?;
    let csv =
        b"Symbol,Quantity,Entry Price Per Share,Entry Date\nAAPL,10,100.00,2025-06-02\n".to_vec();
    let (a, b) = tokio::join!(
        api.upload("alice", "Same", "p.csv", csv.clone()),
        api.upload("alice", "Same", "p.csv", csv)
    );
    let mut codes = vec![a?.0, b?.0];
    codes.sort_unstable();
    assert_eq!(codes, vec![201, 409]);
    let pool = db.pool().await?;
    let (portfolios, runs): (i64, i64) =
        sqlx::query_as("select (select count(*) from portfolios), (select count(*) from runs)")
            .fetch_one(&pool)
            .await?;
    assert_eq!((portfolios, runs), (1, 1));
    let pid: uuid::Uuid = sqlx::query_scalar("select id from portfolios")
        .fetch_one(&pool)
        .await?;
    let calc = || {
        api.client
            .post(format!("{}/api/v1/portfolios/{pid}/calculate", api.base))
            .bearer_auth(Api::token("alice"))
            .send()
    };
    let (x, y) = tokio::join!(calc(), calc());
    let (x, y): (serde_json::Value, serde_json::Value) = (x?.json().await?, y?.json().await?);
    assert_eq!(x["batch_run_id"], y["batch_run_id"]);
    let runs: i64 = sqlx::query_scalar("select count(*) from runs")
        .fetch_one(&pool)
        .await?;
    assert_eq!(runs, 1);
    pool.close().await;
    drop(api);
    db.drop_database().await;
    Ok(())
}

#[tokio::test]
async fn a_worker_claims_at_once_while_it_prunes_a_backlog_of_old_debug_entries(
) -> anyhow::Result<()> {
    let db = TestDb::create().await?;
    let pool = db.pool().await?;
    let api = Api::start(&db.url, &[]).await?;
    // Queued before any worker runs.
    let (code, created) = api
        .upload("alice", "Example", "demo.csv", example_csv())
        .await?;
    anyhow::ensure!(code == 201, "{created}");
    let pid = created["portfolio_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let run_id: uuid::Uuid =
        sqlx::query_scalar("select id from runs where portfolio_id = $1::uuid")
            .bind(&pid)
            .fetch_one(&pool)
            .await?;
    // A backlog the retention has not deleted yet (its first prune on a large table):
    // 300,000 debug entries older than 30 days, beside old info entries it must keep.
    sqlx::query(
        "insert into run_activity (run_id, attempt, ts, level, phase_id, message, debug)
         select $1, 1, now() - interval '40 days', 'info', 'phase_3', 'old ' || k, k % 100 <> 0
         from generate_series(1, 303030) k",
    )
    .bind(run_id)
    .execute(&pool)
    .await?;
    let count = |debug: bool| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(
                "select count(*) from run_activity
                 where debug = $1 and ts < now() - interval '30 days'",
            )
            .bind(debug)
            .fetch_one(&pool)
            .await
        }
    };
    let (old_debug, old_info) = (count(true).await?, count(false).await?);
    assert_eq!((old_debug, old_info), (300_000, 3_030));

    // The worker starts pruning and claiming together: the onboarding ends while the prune
    // is still at work (it used to delete everything first, in one transaction).
    let _worker = start_worker(&db.url, &[])?;
    let done = api
        .wait_terminal("alice", &pid, Duration::from_secs(60))
        .await?;
    assert!(
        matches!(done["status"].as_str(), Some("completed" | "partial")),
        "{done}"
    );
    let left = count(true).await?;
    assert!(
        left > 0 && left < old_debug,
        "the prune was under way, its batches committed: {left} of {old_debug} left"
    );
    // It ends in its own time and keeps everything but old debug entries.
    let deadline = Instant::now() + Duration::from_secs(120);
    while count(true).await? > 0 {
        anyhow::ensure!(
            Instant::now() < deadline,
            "old debug entries left after 120 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(count(false).await?, old_info);
    drop(api);
    pool.close().await;
    db.drop_database().await;
    Ok(())
}
