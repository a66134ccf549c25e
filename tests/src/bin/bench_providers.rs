//! `sigmasight-bench-providers`: a 135-trading-day backfill of 33 symbols (25 positions, one
//! of them unknown to every provider, plus the 8 factor ETFs) through the chain
//! `fmp,polygon,yahoo` against fake providers on 127.0.0.1 that add 100 ms to every request.
//! Prints wall times and the requests each provider received. Run by `scripts/bench.sh`.

use chrono::NaiveDate;
use sigmasight_shared::{calendar, clock, db::prices, domain::FACTOR_ETFS};
use sigmasight_tests::fake_providers::{FakeOptions, FakeProviders};
use sigmasight_tests::{phase, start_worker, Api, TestDb};
use std::time::{Duration, Instant};

const BACKFILL_DAYS: usize = 135;
const UNKNOWN: &str = "ZZZQ";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let end = clock::last_trading_day();
    let days = calendar::trading_days(end - chrono::Duration::days(400), end);
    let entry = days[days.len() - BACKFILL_DAYS];
    let history_start = entry - chrono::Duration::days(365);
    let fakes = FakeProviders::start_as_of(
        FakeOptions {
            delay: Duration::from_millis(100),
            fmp_unknown: vec![UNKNOWN.into()],
            polygon_unknown: vec![UNKNOWN.into()],
            yahoo_unknown: vec![UNKNOWN.into()],
            ..FakeOptions::default()
        },
        end,
    )
    .await;
    let mut symbols: Vec<String> = (0..24).map(|i| format!("BK{i:02}")).collect();
    symbols.push(UNKNOWN.into());
    let db = TestDb::create().await?;
    // Everything known is stored up to the day before the backfill, as served by FMP.
    let pool = db.pool().await?;
    let mut conn = pool.acquire().await?;
    let before = calendar::previous_trading_day(entry);
    for s in symbols
        .iter()
        .filter(|s| *s != UNKNOWN)
        .cloned()
        .chain(FACTOR_ETFS.iter().map(|s| (*s).to_owned()))
    {
        let bars = fakes.closes("fmp", &s, history_start, before);
        let dates: Vec<NaiveDate> = bars.iter().map(|b| b.0).collect();
        let closes: Vec<f64> = bars.iter().map(|b| b.1).collect();
        let volumes = vec![0i64; bars.len()];
        prices::upsert_bars(&mut conn, &s, "fmp", &dates, &closes, &volumes).await?;
    }
    drop(conn);
    let api = Api::start(&db.url, &[]).await?;
    let _worker = start_worker(
        &db.url,
        &[
            ("SIGMASIGHT_MARKET_PROVIDER", "fmp,polygon,yahoo".into()),
            ("FMP_API_KEY", "bench-key".into()),
            ("POLYGON_API_KEY", "bench-key".into()),
            ("SIGMASIGHT_FMP_BASE_URL", fakes.fmp_url()),
            ("SIGMASIGHT_POLYGON_BASE_URL", fakes.polygon_url()),
            ("SIGMASIGHT_YAHOO_BASE_URL", fakes.yahoo_url()),
            ("SIGMASIGHT_FMP_RATE_PER_MIN", "0".into()),
            ("SIGMASIGHT_POLYGON_RATE_PER_MIN", "0".into()),
            ("SIGMASIGHT_YAHOO_RATE_PER_MIN", "0".into()),
        ],
    )?;
    let mut csv = String::from("Symbol,Quantity,Entry Price Per Share,Entry Date\n");
    for s in &symbols {
        csv.push_str(&format!("{s},10,100.00,{entry}\n"));
    }
    let started = Instant::now();
    let (_, status) = api.onboard("bench", "providers", csv.into_bytes()).await?;
    let wall = started.elapsed();
    let p1 = phase(&status, "phase_1");
    let summary = &p1["summary"];
    println!(
        "provider chain backfill: {} trading days x {} symbols ({} positions + 8 factor ETFs, {UNKNOWN} unknown everywhere), fakes +100 ms/request, concurrency 8",
        BACKFILL_DAYS,
        summary["symbols"],
        symbols.len()
    );
    println!(
        "  phase 1 (prices): {:.2} s; requests by provider {}; served by {}; unavailable {}",
        p1["duration_seconds"].as_f64().unwrap_or(f64::NAN),
        summary["requests_by_provider"],
        summary["served_by"],
        summary["unavailable"]
    );
    for id in ["phase_0", "phase_2"] {
        println!(
            "  {id}: {:.2} s",
            phase(&status, id)["duration_seconds"]
                .as_f64()
                .unwrap_or(f64::NAN)
        );
    }
    println!(
        "  whole onboarding {:.2} s, status {}; requests received by the fakes (all kinds): fmp {}, polygon {}, yahoo {}",
        wall.as_secs_f64(),
        status["status"],
        fakes.requests("fmp"),
        fakes.requests("polygon"),
        fakes.requests("yahoo")
    );
    pool.close().await;
    drop(api);
    db.drop_database().await;
    Ok(())
}
