//! `sigmasight-bench-budget`: what the deployment's provider budget costs a request — the one
//! statement on the provider's row (`db::budget::take`: spacing, daily quota, pause) from a
//! worker session, alone and with 8 sessions at once taking the same provider's row (two
//! workers × 4 requests in flight), in milliseconds, p50 and p99 over every take.

use sigmasight_shared::db::{self, budget, Session};
use sigmasight_tests::TestDb;
use std::time::{Duration, Instant};

const TAKES: usize = 2_000;

fn quantiles(mut ms: Vec<f64>) -> (f64, f64, f64) {
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| ms[((ms.len() as f64 - 1.0) * q).round() as usize];
    (at(0.5), at(0.99), ms[ms.len() - 1])
}

async fn takes(pool: sqlx::PgPool, n: usize) -> anyhow::Result<Vec<f64>> {
    let mut ms = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        // No spacing (nothing to wait for: the figure is the statement), a quota never spent.
        budget::take(&pool, "fmp", Duration::ZERO, 1_000_000_000).await?;
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(ms)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let db = TestDb::create().await?;
    let pool = db::connect_with(&db.url, 16, Duration::from_secs(10), Session::Worker).await?;
    takes(pool.clone(), 200).await?; // warm the plan and the connections
    let (p50, p99, max) = quantiles(takes(pool.clone(), TAKES).await?);
    println!("budget take, 1 session:   p50 {p50:.3} ms  p99 {p99:.3} ms  max {max:.3} ms  ({TAKES} takes)");
    let mut tasks = Vec::new();
    for _ in 0..8 {
        tasks.push(tokio::spawn(takes(pool.clone(), TAKES / 8)));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    let (p50, p99, max) = quantiles(all);
    println!("budget take, 8 sessions:  p50 {p50:.3} ms  p99 {p99:.3} ms  max {max:.3} ms  ({TAKES} takes on one row)");
    pool.close().await;
    db.drop_database().await;
    Ok(())
}
