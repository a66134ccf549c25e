//! The providers' budgets belong to the deployment: four worker processes share one rate,
//! a daily quota defers what it cannot cover, and the next run asks for that first.

use serde_json::Value;
use sigmasight_tests::fake_providers::{FakeOptions, FakeProviders, Received};
use sigmasight_tests::{start_worker, Api, TestDb};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(240);

fn yahoo_env(f: &FakeProviders) -> Vec<(&'static str, String)> {
    vec![
        ("SIGMASIGHT_MARKET_PROVIDER", "yahoo".into()),
        ("SIGMASIGHT_YAHOO_BASE_URL", f.yahoo_url()),
        ("SIGMASIGHT_PROVIDER_BACKOFF_MS", "5".into()),
    ]
}

/// A CSV of `n` made-up tickers starting with `prefix` (the fakes serve any symbol).
fn csv_of(prefix: &str, n: usize) -> Vec<u8> {
    let mut csv = String::from("Symbol,Quantity,Entry Price Per Share,Entry Date\n");
    for i in 0..n {
        csv.push_str(&format!("{prefix}{i:02},10,50.00,2026-06-01\n"));
    }
    csv.into_bytes()
}

/// The most requests in any rolling 60 s window of `log` (sorted by arrival).
fn busiest_minute(log: &[Received]) -> usize {
    let window = Duration::from_secs(60);
    let mut most = 0;
    let mut start = 0;
    for end in 0..log.len() {
        while log[end].at.duration_since(log[start].at) >= window {
            start += 1;
        }
        most = most.max(end - start + 1);
    }
    most
}

#[tokio::test]
async fn four_workers_share_one_rate_and_never_collect_a_429() -> anyhow::Result<()> {
    let per_minute = 60;
    let fakes = FakeProviders::start_as_of(
        FakeOptions {
            rate_per_min: Some(per_minute),
            ..FakeOptions::default()
        },
        sigmasight_shared::clock::last_trading_day(),
    )
    .await;
    let db = TestDb::create().await?;
    let api = Api::start(&db.url, &[]).await?;
    let mut env = yahoo_env(&fakes);
    env.push(("SIGMASIGHT_YAHOO_RATE_PER_MIN", per_minute.to_string()));
    let mut workers = Vec::new();
    for _ in 0..4 {
        workers.push(start_worker(&db.url, &env)?);
    }
    // 4 portfolios × 10 tickers, each with the 8 factor ETFs: the four onboardings start
    // together, so each asks for the ETFs too — 72 requests, more than a minute's worth.
    let mut pids = Vec::new();
    for (user, prefix) in [
        ("alice", "QA"),
        ("bob", "QB"),
        ("carol", "QC"),
        ("dave", "QD"),
    ] {
        let (code, body) = api
            .upload(user, &format!("Rate {prefix}"), "r.csv", csv_of(prefix, 10))
            .await?;
        anyhow::ensure!(code == 201, "{body}");
        pids.push((
            user,
            body["portfolio_id"].as_str().unwrap_or_default().to_owned(),
        ));
    }
    for (user, pid) in &pids {
        let s = api.wait_terminal(user, pid, TIMEOUT).await?;
        assert_eq!(s["status"], "completed", "{s}");
    }
    let log = fakes.received();
    let refused: Vec<&Received> = log.iter().filter(|r| r.rate_limited).collect();
    assert!(
        refused.is_empty(),
        "the cluster caused {} 429s",
        refused.len()
    );
    assert!(
        log.len() > per_minute,
        "{} requests: more than a minute's worth",
        log.len()
    );
    let busiest = busiest_minute(&log);
    assert!(busiest <= per_minute, "{busiest} requests in one minute");
    // While there was work, the cluster used the rate (within 10 %): the first minute of
    // requests holds nearly a minute's worth.
    let first_minute = log
        .iter()
        .take_while(|r| r.at.duration_since(log[0].at) < Duration::from_secs(60))
        .count();
    assert!(
        first_minute * 10 >= per_minute * 9,
        "only {first_minute} requests in the first minute of work"
    );
    drop(workers);
    drop(api);
    db.drop_database().await;
    Ok(())
}

#[tokio::test]
async fn a_spent_daily_quota_defers_symbols_and_the_next_run_asks_for_them_first(
) -> anyhow::Result<()> {
    let fakes = FakeProviders::start_as_of(
        FakeOptions::default(),
        sigmasight_shared::clock::last_trading_day(),
    )
    .await;
    let db = TestDb::create().await?;
    let api = Api::start(&db.url, &[]).await?;
    let mut env = yahoo_env(&fakes);
    env.push(("SIGMASIGHT_YAHOO_REQUESTS_PER_DAY", "5".into()));
    env.push(("SIGMASIGHT_PROVIDER_CONCURRENCY", "1".into()));
    let _worker = start_worker(&db.url, &env)?;
    // 4 tickers + 8 factor ETFs = 12 symbols; the day allows 5.
    let (_, body) = api
        .upload("alice", "Quota", "q.csv", csv_of("QQ", 4))
        .await?;
    let pid = body["portfolio_id"].as_str().unwrap_or_default().to_owned();
    let s = api.wait_terminal("alice", &pid, TIMEOUT).await?;
    assert_eq!(s["status"], "partial", "{s}");
    let pool = db.pool().await?;
    let summary: Value = sqlx::query_scalar(
        "select summary from run_phases where phase_id = 'phase_1' and run_id = (select id from runs where portfolio_id = $1::uuid)",
    )
    .bind(&pid)
    .fetch_one(&pool)
    .await?;
    let deferred: Vec<String> = summary["deferred"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(deferred.len(), 7, "{summary}");
    assert!(summary["quota_resets_at"].is_string(), "{summary}");
    assert_eq!(fakes.requests("yahoo"), 5, "never past the quota");
    let unavailable: i64 =
        sqlx::query_scalar("select count(*) from symbol_availability where not available")
            .fetch_one(&pool)
            .await?;
    assert_eq!(unavailable, 0, "a deferred symbol is not unavailable");
    let warnings: Vec<String> = sqlx::query_scalar(
        "select message from run_activity where level = 'warning' and message like '%deferred%'",
    )
    .fetch_all(&pool)
    .await?;
    assert_eq!(warnings.len(), 1, "once for the run: {warnings:?}");
    assert!(
        warnings[0].starts_with(
            "Prices of 7 symbol(s) deferred: the providers' daily quotas are spent until "
        ),
        "{warnings:?}"
    );
    let stored: i64 = sqlx::query_scalar("select count(*) from deferred_symbols")
        .fetch_one(&pool)
        .await?;
    assert_eq!(stored, 7);

    // The provider's day turns (the row's day moves back one, as midnight UTC would make it),
    // and another portfolio needing new symbols too is onboarded: the deferred ones go first.
    sqlx::query("update provider_budgets set day = day - 1")
        .execute(&pool)
        .await?;
    let before = fakes.received().len();
    // The same tickers and 4 new ones: 7 deferred + 4 new to fetch, 5 allowed.
    let mut csv = csv_of("QQ", 4);
    csv.extend_from_slice(&csv_of("QR", 4)[csv_of("", 0).len()..]);
    let (_, body) = api.upload("alice", "After", "a.csv", csv).await?;
    let pid2 = body["portfolio_id"].as_str().unwrap_or_default().to_owned();
    let s = api.wait_terminal("alice", &pid2, TIMEOUT).await?;
    assert_eq!(s["status"], "partial", "the new day's 5 cover 5 of 11: {s}");
    let asked: Vec<String> = fakes.received()[before..]
        .iter()
        .filter_map(|r| {
            r.target
                .strip_prefix("/v8/finance/chart/")
                .and_then(|t| t.split('?').next())
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(asked.len(), 5, "{asked:?}");
    for symbol in &asked {
        assert!(
            deferred.contains(symbol),
            "{symbol} asked before the deferred: {asked:?}"
        );
    }
    let left: Vec<String> =
        sqlx::query_scalar("select symbol from deferred_symbols order by symbol")
            .fetch_all(&pool)
            .await?;
    assert_eq!(
        left.len(),
        2 + 4,
        "2 still waiting, and the 4 new ones: {left:?}"
    );
    for symbol in &asked {
        assert!(!left.contains(symbol), "{symbol} served, forgotten");
    }
    pool.close().await;
    drop(api);
    db.drop_database().await;
    Ok(())
}
