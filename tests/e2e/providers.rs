//! Onboarding through the real provider chain (FMP → Polygon → Yahoo) against fake servers on
//! 127.0.0.1 that answer in each provider's real shapes, and the file provider.

use chrono::NaiveDate;
use serde_json::Value;
use sigmasight_tests::fake_providers::{FakeOptions, FakeProviders};
use sigmasight_tests::{phase, start_worker, Api, TestDb};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(120);

/// The worker's environment for the chain over the fakes.
pub(crate) fn chain_env(f: &FakeProviders) -> Vec<(&'static str, String)> {
    vec![
        ("SIGMASIGHT_MARKET_PROVIDER", "fmp,polygon,yahoo".into()),
        ("FMP_API_KEY", "fake-fmp-key".into()),
        ("POLYGON_API_KEY", "fake-polygon-key".into()),
        ("SIGMASIGHT_FMP_BASE_URL", f.fmp_url()),
        ("SIGMASIGHT_POLYGON_BASE_URL", f.polygon_url()),
        ("SIGMASIGHT_YAHOO_BASE_URL", f.yahoo_url()),
        ("SIGMASIGHT_POLYGON_RATE_PER_MIN", "0".into()),
        ("SIGMASIGHT_PROVIDER_BACKOFF_MS", "5".into()),
    ]
}

async fn prices(api: &Api, symbol: &str) -> anyhow::Result<Value> {
    let (code, body) = api
        .get_json(
            "alice",
            &format!("/api/v1/market-data/symbols/{symbol}/prices"),
        )
        .await?;
    anyhow::ensure!(code == 200, "{symbol}: {code} {body}");
    Ok(body)
}

/// Same dates, closes equal to 1e-12 (JSON float parsing may be one ulp off).
fn assert_same(got: &[(NaiveDate, f64)], want: &[(NaiveDate, f64)], what: &str) {
    assert_eq!(
        got.len(),
        want.len(),
        "{what}: {} vs {} bars",
        got.len(),
        want.len()
    );
    for (g, w) in got.iter().zip(want) {
        assert!(
            g.0 == w.0 && (g.1 - w.1).abs() <= 1e-12 * w.1.abs(),
            "{what}: {g:?} vs {w:?}"
        );
    }
}

fn served(body: &Value) -> Vec<(NaiveDate, f64)> {
    body["prices"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|p| {
            (
                p["date"]
                    .as_str()
                    .and_then(|d| d.parse().ok())
                    .unwrap_or_default(),
                p["close"].as_f64().unwrap_or(f64::NAN),
            )
        })
        .collect()
}

/// Fakes as of the last trading day where FMP lacks MSFT and HZNP, and HZNP is unknown
/// everywhere: every provider of the chain gets asked something.
pub(crate) async fn fakes_without_msft_at_fmp_nor_hznp() -> FakeProviders {
    FakeProviders::start_as_of(
        FakeOptions {
            fmp_unknown: vec!["MSFT".into(), "HZNP".into()],
            polygon_unknown: vec!["HZNP".into()],
            yahoo_unknown: vec!["HZNP".into()],
            ..FakeOptions::default()
        },
        sigmasight_shared::clock::last_trading_day(),
    )
    .await
}

#[tokio::test]
async fn onboarding_through_the_chain_stores_exactly_the_served_closes() -> anyhow::Result<()> {
    let today = sigmasight_shared::clock::last_trading_day();
    let fakes = fakes_without_msft_at_fmp_nor_hznp().await;
    let db = TestDb::create().await?;
    let api = Api::start(&db.url, &[]).await?;
    let _worker = start_worker(&db.url, &chain_env(&fakes))?;
    let csv = b"Symbol,Quantity,Entry Price Per Share,Entry Date\nAAPL,10,100.00,2025-06-02\nMSFT,5,300.00,2025-06-02\nHZNP,7,50.00,2025-06-02\n".to_vec();
    let (code, body) = api.upload("alice", "Chain", "c.csv", csv.clone()).await?;
    anyhow::ensure!(code == 201, "{body}");
    let pid = body["portfolio_id"].as_str().unwrap_or_default().to_owned();
    let s = api.wait_terminal("alice", &pid, TIMEOUT).await?;
    assert_eq!(s["status"], "partial", "{s}");
    assert_eq!(
        s["summary"]["unavailable_symbols"],
        serde_json::json!(["HZNP"])
    );

    // AAPL and the factor ETFs from FMP, MSFT from Polygon: the stored closes are the served
    // ones, attributed.
    for (symbol, provider) in [("AAPL", "fmp"), ("SPY", "fmp"), ("MSFT", "polygon")] {
        let body = prices(&api, symbol).await?;
        assert_eq!(body["source"], provider, "{symbol}");
        let stored = served(&body);
        let (first, last) = (stored[0].0, stored[stored.len() - 1].0);
        assert_eq!(last, today, "{symbol} is current");
        assert_same(
            &stored,
            &fakes.closes(provider, symbol, first, last),
            &format!("{symbol}: stored closes equal the ones {provider} served"),
        );
    }
    // One request per (symbol, provider) asked, for the whole range: HZNP was asked once of
    // each provider (and, unavailable, never for a profile); phase 1 asked FMP once for each
    // of the 11 symbols, Polygon for MSFT and HZNP, Yahoo for HZNP.
    for p in ["fmp", "polygon", "yahoo"] {
        assert_eq!(fakes.requests_for(p, "HZNP"), 1, "HZNP at {p}");
    }
    assert_eq!(fakes.requests_for("yahoo", "AAPL"), 0);
    let p1 = &phase(&s, "phase_1")["summary"];
    assert_eq!(p1["served_by"]["fmp"], 9, "{p1}");
    assert_eq!(p1["served_by"]["polygon"], 1, "{p1}");
    assert_eq!(p1["requests_by_provider"]["fmp"], 11, "{p1}");
    assert_eq!(p1["requests_by_provider"]["yahoo"], 1, "{p1}");
    // Profiles come from FMP, the first provider that serves them.
    let (_, metrics) = api
        .get_json("alice", "/api/v1/market-data/symbols/AAPL/metrics")
        .await?;
    let want = fakes.fmp_profile("AAPL").map(|p| p.sector);
    assert_eq!(
        metrics["sector"].as_str().map(str::to_owned),
        want.flatten(),
        "{metrics}"
    );

    let log: Vec<String> = api
        .get_json(
            "alice",
            &format!("/api/v1/onboarding/status/{pid}/logs?format=json"),
        )
        .await?
        .1["activity_log"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|e| e["message"].as_str().map(str::to_owned))
        .collect();
    assert!(
        log.iter()
            .any(|m| m.starts_with("Fetched MSFT: ") && m.ends_with("days of history (polygon)")),
        "{log:?}"
    );

    // A second portfolio with the same symbols asks no provider anything: prices are cached
    // and HZNP is remembered as unavailable.
    let before: usize = ["fmp", "polygon", "yahoo"]
        .iter()
        .map(|p| fakes.requests(p))
        .sum();
    let (_, body) = api.upload("alice", "Again", "d.csv", csv).await?;
    let pid2 = body["portfolio_id"].as_str().unwrap_or_default().to_owned();
    let s2 = api.wait_terminal("alice", &pid2, TIMEOUT).await?;
    assert_eq!(s2["status"], "partial", "{s2}");
    let after: usize = ["fmp", "polygon", "yahoo"]
        .iter()
        .map(|p| fakes.requests(p))
        .sum();
    assert_eq!(after, before, "no provider request at all the second time");
    drop(api);
    db.drop_database().await;
    Ok(())
}

/// A provider that answers every request 401 with `body` (a refused key).
async fn refusing_everything(body: Value) -> wiremock::MockServer {
    let server = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::any())
        .respond_with(wiremock::ResponseTemplate::new(401).set_body_json(body))
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn a_bad_key_is_one_warning_and_the_next_provider_serves() -> anyhow::Result<()> {
    let fakes = FakeProviders::start_as_of(
        FakeOptions::default(),
        sigmasight_shared::clock::last_trading_day(),
    )
    .await;
    // A Polygon that refuses the key, as the real one does.
    let refusing = refusing_everything(serde_json::json!({
        "status": "ERROR", "request_id": "r", "error": "Unknown API Key"
    }))
    .await;
    let db = TestDb::create().await?;
    let api = Api::start(&db.url, &[]).await?;
    let mut env = chain_env(&fakes);
    env[0].1 = "polygon,yahoo".into();
    env.push(("SIGMASIGHT_POLYGON_BASE_URL", refusing.uri()));
    env.push(("SIGMASIGHT_PROVIDER_CONCURRENCY", "1".into()));
    let _worker = start_worker(&db.url, &env)?;
    let csv = b"Symbol,Quantity,Entry Price Per Share,Entry Date\nAAPL,10,100.00,2025-06-02\nMSFT,5,300.00,2025-06-02\n".to_vec();
    let (_, body) = api.upload("alice", "Key", "k.csv", csv).await?;
    let pid = body["portfolio_id"].as_str().unwrap_or_default().to_owned();
    let s = api.wait_terminal("alice", &pid, TIMEOUT).await?;
    assert_eq!(s["status"], "completed", "no symbol is unavailable: {s}");
    let pool = db.pool().await?;
    let warnings: Vec<String> = sqlx::query_scalar(
        "select message from run_activity where level = 'warning' and phase_id = 'phase_1' order by id",
    )
    .fetch_all(&pool)
    .await?;
    assert_eq!(
        warnings.len(),
        1,
        "one warning, not one per symbol: {warnings:?}"
    );
    assert!(
        warnings[0].starts_with("polygon:") && warnings[0].contains("API key"),
        "{warnings:?}"
    );
    for symbol in ["AAPL", "MSFT", "SPY"] {
        assert_eq!(prices(&api, symbol).await?["source"], "yahoo", "{symbol}");
    }
    let sent = refusing.received_requests().await.unwrap_or_default().len();
    assert_eq!(sent, 1, "asked once, then skipped");
    pool.close().await;
    drop(api);
    db.drop_database().await;
    Ok(())
}

#[tokio::test]
async fn a_refused_key_is_one_warning_and_the_run_ends_partial_with_everything_else(
) -> anyhow::Result<()> {
    let fakes = FakeProviders::start_as_of(
        FakeOptions::default(),
        sigmasight_shared::clock::last_trading_day(),
    )
    .await;
    // An FMP that refuses the key for everything, as the real one does.
    let refusing = refusing_everything(serde_json::json!({
        "Error Message": "Invalid API KEY. Feel free to create a Free API Key."
    }))
    .await;
    let db = TestDb::create().await?;
    let api = Api::start(&db.url, &[]).await?;
    let concurrency = 4;
    let mut env = chain_env(&fakes);
    env.push((
        "SIGMASIGHT_FMP_BASE_URL",
        format!("{}/stable", refusing.uri()),
    ));
    env.push(("SIGMASIGHT_PROVIDER_CONCURRENCY", concurrency.to_string()));
    let _worker = start_worker(&db.url, &env)?;
    let csv = b"Symbol,Quantity,Entry Price Per Share,Entry Date\nAMZN,10,100.00,2025-06-02\nMSFT,5,300.00,2025-06-02\n".to_vec();
    let (_, body) = api.upload("alice", "Refused", "r.csv", csv).await?;
    let pid = body["portfolio_id"].as_str().unwrap_or_default().to_owned();
    let s = api.wait_terminal("alice", &pid, TIMEOUT).await?;
    assert_eq!(s["status"], "partial", "{s}");
    let phases = s["phases"].as_array().cloned().unwrap_or_default();
    assert_eq!(phases.len(), 9, "{s}");
    for p in &phases {
        assert!(
            matches!(p["status"].as_str(), Some("completed" | "warning")),
            "every phase ran: {p}"
        );
    }
    let pool = db.pool().await?;
    let (attempt, summary): (i32, Value) =
        sqlx::query_as("select attempt, summary from runs where portfolio_id = $1::uuid")
            .bind(&pid)
            .fetch_one(&pool)
            .await?;
    assert_eq!(attempt, 1, "a refused key is never retried");
    assert_eq!(summary["positions_analyzed"], 2, "{summary}");
    assert_eq!(
        summary["data_gaps"].as_array().map(Vec::len),
        Some(2),
        "{summary}"
    );
    let warnings: Vec<(Option<String>, String)> = sqlx::query_as(
        "select phase_id, message from run_activity where level = 'warning' order by id",
    )
    .fetch_all(&pool)
    .await?;
    let about_key: Vec<&String> = warnings
        .iter()
        .map(|(_, m)| m)
        .filter(|m| m.contains("API key"))
        .collect();
    assert_eq!(
        about_key,
        ["fmp: invalid API key \u{2014} skipped for the rest of this run"],
        "{warnings:?}"
    );
    for (phase, noun) in [("phase_0", "Company profiles"), ("phase_2", "Fundamentals")] {
        let said: Vec<&String> = warnings
            .iter()
            .filter(|(p, _)| p.as_deref() == Some(phase))
            .map(|(_, m)| m)
            .collect();
        assert_eq!(said.len(), 1, "{phase}: {warnings:?}");
        assert!(
            said[0].starts_with(&format!("{noun} not to be had now")),
            "{said:?}"
        );
    }
    let sent = refusing.received_requests().await.unwrap_or_default().len();
    assert!(
        (1..=concurrency).contains(&sent),
        "FMP asked {sent} times: once, and at most the requests already in flight"
    );
    // The prices came from the next providers.
    assert_eq!(prices(&api, "AMZN").await?["source"], "polygon");
    pool.close().await;
    drop(api);
    db.drop_database().await;
    Ok(())
}

/// Writes `<dir>/<symbol>.csv` in the file provider's format.
fn write_prices(
    dir: &std::path::Path,
    symbol: &str,
    bars: &[(NaiveDate, f64)],
) -> anyhow::Result<()> {
    let mut text = String::from("date,close,volume\n");
    for (d, c) in bars {
        text.push_str(&format!("{d},{c},1000\n"));
    }
    std::fs::write(dir.join(format!("{symbol}.csv")), text)?;
    Ok(())
}

#[tokio::test]
async fn a_split_restates_the_history_and_the_portfolio_recomputes_from_the_first_changed_date(
) -> anyhow::Result<()> {
    use sigmasight_shared::market_data::synthetic::{SyntheticConfig, SyntheticMarket};
    let ymd = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default();
    let (d1, d2) = (ymd(2026, 11, 20), ymd(2026, 11, 27));
    let market = SyntheticMarket::new(SyntheticConfig {
        seed: 9,
        unavailable: Vec::new(),
    });
    let dir = std::env::temp_dir().join(format!("sigmasight-split-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir)?;
    let series = |s: &str| -> anyhow::Result<Vec<(NaiveDate, f64)>> {
        Ok(market
            .history(s, ymd(2025, 1, 1), d2)
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .iter()
            .map(|b| (b.date, b.close))
            .collect())
    };
    for s in sigmasight_shared::domain::FACTOR_ETFS
        .iter()
        .chain(&["AAPL"])
    {
        write_prices(&dir, s, &series(s)?)?;
    }
    let db = TestDb::create().await?;
    let as_of = |d: NaiveDate| ("SIGMASIGHT_AS_OF", d.to_string());
    let file_env = |d: NaiveDate| {
        vec![
            ("SIGMASIGHT_MARKET_PROVIDER", "file".to_owned()),
            ("SIGMASIGHT_PRICES_DIR", dir.display().to_string()),
            as_of(d),
        ]
    };
    let api = Api::start(&db.url, &[as_of(d2)]).await?;
    let worker = start_worker(&db.url, &file_env(d1))?;
    let csv =
        b"Symbol,Quantity,Entry Price Per Share,Entry Date\nAAPL,10,100.00,2026-06-01\n".to_vec();
    let (_, body) = api.upload("alice", "Split", "s.csv", csv).await?;
    let pid = body["portfolio_id"].as_str().unwrap_or_default().to_owned();
    let s = api.wait_terminal("alice", &pid, TIMEOUT).await?;
    assert_eq!(s["status"], "completed", "{s}");
    assert_eq!(prices(&api, "AAPL").await?["source"], "file");
    let pool = db.pool().await?;
    let entry_nav = |pool: sqlx::PgPool| async move {
        sqlx::query_scalar::<_, f64>(
            "select total_value::float8 from portfolio_snapshots where snapshot_date = '2026-06-01'",
        )
        .fetch_one(&pool)
        .await
    };
    let before = entry_nav(pool.clone()).await?;
    drop(worker);

    // A 2-for-1 split after d1: the provider's adjusted history halves every past close.
    let halved: Vec<(NaiveDate, f64)> = series("AAPL")?
        .into_iter()
        .map(|(d, c)| (d, c / 2.0))
        .collect();
    write_prices(&dir, "AAPL", &halved)?;
    let _worker = start_worker(&db.url, &file_env(d2))?;
    let (code, run) = api
        .admin_post("/api/v1/admin/batch/run", &serde_json::json!({}))
        .await?;
    anyhow::ensure!(code == 202, "{run}");
    let run_id = run["run_id"].as_str().unwrap_or_default().to_owned();
    let detail = api.wait_batch_run("daily", Some(&run_id), TIMEOUT).await?;
    assert_eq!(detail["run"]["status"], "completed", "{detail}");
    let restated: Vec<String> = sqlx::query_scalar(
        "select message from run_activity where message like 'AAPL: history restated%'",
    )
    .fetch_all(&pool)
    .await?;
    assert_eq!(
        restated,
        vec!["AAPL: history restated by file (split or adjustment), refetched"],
        "logged once"
    );
    let body = prices(&api, "AAPL").await?;
    let stored = served(&body);
    assert_eq!(stored.last().map(|b| b.0), Some(d2));
    let want: Vec<(NaiveDate, f64)> = halved
        .iter()
        .copied()
        .filter(|(d, _)| *d >= stored[0].0)
        .collect();
    assert_same(&stored, &want, "the whole history is the restated one");
    // The portfolio recomputed from its first changed date (its entry), not just the new days.
    let after = entry_nav(pool.clone()).await?;
    assert!(
        (after - before).abs() > 1.0,
        "entry-day NAV recomputed on the restated closes: {before} → {after}"
    );
    let mark: Option<NaiveDate> =
        sqlx::query_scalar("select recompute_from from portfolios where id = $1::uuid")
            .bind(&pid)
            .fetch_one(&pool)
            .await?;
    assert_eq!(mark, None, "the recompute mark is cleared once done");
    let days: i64 = sqlx::query_scalar("select count(*) from portfolio_snapshots")
        .fetch_one(&pool)
        .await?;
    assert_eq!(
        days as usize,
        sigmasight_shared::calendar::trading_days(ymd(2026, 6, 1), d2).len()
    );
    pool.close().await;
    drop(api);
    db.drop_database().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

#[tokio::test]
async fn missing_factor_etfs_are_named_once_with_why_and_never_counted_as_positions(
) -> anyhow::Result<()> {
    use sigmasight_shared::market_data::synthetic::{SyntheticConfig, SyntheticMarket};
    let end = NaiveDate::from_ymd_opt(2026, 11, 27).unwrap_or_default();
    let market = SyntheticMarket::new(SyntheticConfig {
        seed: 5,
        unavailable: Vec::new(),
    });
    // A real-history directory with the stocks and SPY only: no style, spread or rate ETF.
    let dir = std::env::temp_dir().join(format!("sigmasight-noetf-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir)?;
    for s in ["AAPL", "MSFT", "SPY"] {
        let bars: Vec<(NaiveDate, f64)> = market
            .history(
                s,
                NaiveDate::from_ymd_opt(2024, 10, 1).unwrap_or_default(),
                end,
            )
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .iter()
            .map(|b| (b.date, b.close))
            .collect();
        write_prices(&dir, s, &bars)?;
    }
    let db = TestDb::create().await?;
    let as_of = ("SIGMASIGHT_AS_OF", end.to_string());
    let api = Api::start(&db.url, std::slice::from_ref(&as_of)).await?;
    let _worker = start_worker(
        &db.url,
        &[
            ("SIGMASIGHT_MARKET_PROVIDER", "file".to_owned()),
            ("SIGMASIGHT_PRICES_DIR", dir.display().to_string()),
            as_of,
        ],
    )?;
    let csv = b"Symbol,Quantity,Entry Price Per Share,Entry Date\nAAPL,10,100.00,2026-06-01\nMSFT,5,300.00,2026-06-01\n".to_vec();
    let (_, body) = api.upload("alice", "NoEtf", "n.csv", csv).await?;
    let pid = body["portfolio_id"].as_str().unwrap_or_default().to_owned();
    let s = api.wait_terminal("alice", &pid, TIMEOUT).await?;
    assert_eq!(s["status"], "partial", "the factors are left empty: {s}");
    let pool = db.pool().await?;
    let reason: String = sqlx::query_scalar(
        "select reason from symbol_factor_exposures where symbol = 'AAPL' and factor = 'Value'",
    )
    .fetch_one(&pool)
    .await?;
    assert!(
        reason.starts_with("no prices for VTV (unavailable: ") && !reason.contains("too little"),
        "{reason}"
    );
    let warnings: Vec<(Option<String>, String)> = sqlx::query_as(
        "select phase_id, message from run_activity where level = 'warning' and phase_id in ('phase_1_5', 'phase_3') order by id",
    )
    .fetch_all(&pool)
    .await?;
    assert_eq!(warnings.len(), 1, "once for the run: {warnings:?}");
    assert!(
        warnings[0]
            .1
            .starts_with("Factor ETFs without prices: IWM (unavailable: ")
            && warnings[0].1.ends_with("; their factors are left empty"),
        "{warnings:?}"
    );
    let phase_3: Vec<String> = sqlx::query_scalar(
        "select message from run_activity where phase_id = 'phase_3' and message like '%no market data%'",
    )
    .fetch_all(&pool)
    .await?;
    assert!(phase_3.is_empty(), "no held symbol lacks data: {phase_3:?}");
    let txt = api
        .client
        .get(format!("{}/api/v1/onboarding/status/{pid}/logs", api.base))
        .bearer_auth(Api::token("alice"))
        .send()
        .await?
        .text()
        .await?;
    assert!(
        txt.contains("Positions Analyzed: 2/2 (0 unavailable)"),
        "{txt}"
    );
    assert!(
        txt.contains("Factor ETFs Without Prices: IWM, MTUM, QUAL, TLT, USMV, VTV, VUG (their factors are left empty)"),
        "{txt}"
    );
    pool.close().await;
    drop(api);
    db.drop_database().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
