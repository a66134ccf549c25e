//! `sigmasight-bench`: measures onboarding latency (cold, with a provider answering in 100 ms,
//! and warm, symbols cached) and status-endpoint latency, against the real release binaries
//! and Postgres. Run by `scripts/bench.sh`, which builds and starts what it needs.

use sigmasight_tests::{example_csv, start_worker, Api, TestDb};
use std::time::{Duration, Instant};

async fn onboard(
    api: &Api,
    user: &str,
    account: &str,
) -> anyhow::Result<(Duration, serde_json::Value)> {
    let started = Instant::now();
    let (_, status) = api.onboard(user, account, example_csv()).await?;
    Ok((started.elapsed(), status))
}

fn phase_secs(status: &serde_json::Value) -> String {
    status["phases"]
        .as_array()
        .map(|p| {
            p.iter()
                .map(|x| {
                    format!(
                        "{} {:.3}s",
                        x["phase_id"].as_str().unwrap_or("?"),
                        x["duration_seconds"].as_f64().unwrap_or(0.0)
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let db = TestDb::create().await?;
    let api = Api::start(&db.url, &[]).await?;
    let worker = start_worker(
        &db.url,
        &[("SIGMASIGHT_SYNTHETIC_LATENCY_MS", "100".into())],
    )?;

    let (cold, s) = onboard(&api, "bench", "cold").await?;
    println!("cold onboarding, example portfolio (20 positions, 23 symbols, provider 100 ms/request): {:.3} s upload -> {} [{}]", cold.as_secs_f64(), s["status"], phase_secs(&s));
    let mut warm = Vec::new();
    for i in 0..5 {
        let (t, s) = onboard(&api, "bench", &format!("warm-{i}")).await?;
        if i == 0 {
            println!("warm onboarding phases: [{}]", phase_secs(&s));
        }
        warm.push(t.as_secs_f64());
    }
    warm.sort_by(f64::total_cmp);
    println!("warm onboarding (symbols cached), 5 runs: median {:.3} s, max {:.3} s (upload -> final status, 100 ms status polling granularity)", warm[2], warm[4]);

    let (_, created) = api
        .upload("bench", "status", "demo_portfolio.csv", example_csv())
        .await?;
    let pid = created["portfolio_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    api.wait_terminal("bench", &pid, Duration::from_secs(120))
        .await?;
    let mut lat = Vec::new();
    for _ in 0..2000 {
        let t = Instant::now();
        api.status("bench", &pid).await?;
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    lat.sort_by(f64::total_cmp);
    println!(
        "status endpoint, 2000 sequential requests: p50 {:.2} ms, p99 {:.2} ms",
        lat[1000], lat[1979]
    );
    drop(worker);
    drop(api);
    db.drop_database().await;
    Ok(())
}
