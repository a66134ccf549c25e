//! `sigmasight-bench-night-requests`: what a night asks its provider. `BENCH_PORTFOLIOS`
//! (1,000) portfolios × 20 positions over `BENCH_SYMBOLS` (1,200) synthetic symbols, each
//! symbol's Polygon closes stored up to the day before from its own first entry less the
//! lookback (what onboarding leaves), then the night of the last trading day through the chain
//! `polygon` against the fake Polygon, on `BENCH_WORKERS` (2) workers: once with the night's
//! bulk fetch, once without (`SIGMASIGHT_NIGHT_BULK=off`, every symbol per symbol), each on a
//! database of its own. Prints the requests of each night by endpoint and its wall time.
//! `BENCH_BULK=on` or `off` runs only that one; `SIGMASIGHT_BIN_PROFILE=before` runs the
//! binaries copied to `target/before/` (an earlier build, to compare with).

use sigmasight_tests::night::{prepare, NightSetup};
use std::time::Duration;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let (portfolios, symbols, workers) = (
        env_usize("BENCH_PORTFOLIOS", 1000),
        env_usize("BENCH_SYMBOLS", 1200),
        env_usize("BENCH_WORKERS", 2),
    );
    let ways: Vec<String> = match std::env::var("BENCH_BULK") {
        Ok(way) if !way.is_empty() => vec![way],
        _ => vec!["on".into(), "off".into()],
    };
    println!("night bulk | polygon requests: grouped daily + per symbol = all | phase 1 by way | phase 1 | night wall");
    for bulk in ways {
        let world = prepare(NightSetup {
            portfolios,
            symbols,
            ..NightSetup::default()
        })
        .await?;
        let night = world
            .run_night(&bulk, workers, Duration::from_secs(3600))
            .await?;
        let phase_1 = night.detail["phases"]
            .as_array()
            .and_then(|p| p.iter().find(|x| x["phase_id"] == "phase_1"))
            .and_then(|p| p["duration_seconds"].as_f64())
            .unwrap_or(f64::NAN);
        println!(
            "{bulk:<10} | {} + {} = {} | {} | {phase_1:.2} s | {:.1} s ({} portfolios x 20 positions over {} symbols, status {})",
            night.grouped,
            night.per_symbol,
            night.grouped + night.per_symbol,
            night.phase_1["by_way"],
            night.secs,
            portfolios,
            world.starts.len(),
            night.detail["run"]["status"]
        );
        world.end().await;
    }
    Ok(())
}
