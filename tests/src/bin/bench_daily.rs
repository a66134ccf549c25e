//! `sigmasight-bench-daily`: the daily batch at scale. Inserts `BENCH_PORTFOLIOS` portfolios
//! of 20 positions over a universe of `BENCH_SYMBOLS` synthetic symbols straight into the
//! database (no onboarding runs), then runs one admin batch on `BENCH_WORKERS` worker
//! processes and prints the wall time and each phase's duration — phases 1.5 and 1.75 over
//! the whole universe included. Run by `scripts/bench.sh`.

use serde_json::json;
use sigmasight_tests::{start_worker, Api, TestDb};
use std::time::{Duration, Instant};
use uuid::Uuid;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn seed(pool: &sqlx::PgPool, portfolios: usize, symbols: usize) -> anyhow::Result<()> {
    let user = sigmasight_shared::db::users::find_or_create(pool, "bench").await?;
    let ids: Vec<Uuid> = (0..portfolios).map(|_| Uuid::new_v4()).collect();
    let names: Vec<String> = (0..portfolios).map(|i| format!("bench-{i}")).collect();
    sqlx::query(
        "insert into portfolios (id, user_id, name, account_name, account_type, equity_balance, equity_balance_given)
         select u.id, $1, u.name, u.name, 'taxable', 1000000, true from unnest($2::uuid[], $3::text[]) as u(id, name)",
    )
    .bind(user)
    .bind(&ids)
    .bind(&names)
    .execute(pool)
    .await?;
    // Position k of portfolio i holds symbol (i·7 + k·13) mod N: every symbol is held.
    sqlx::query(
        "insert into positions (id, portfolio_id, symbol, quantity, entry_price, entry_date, investment_class,
                                investment_subtype, position_type, source_row)
         select gen_random_uuid(), p.id, 'S' || lpad(((p.n * 7 + k * 13) % $1)::text, 4, '0'), 100, 50,
                date '2025-11-03' + (k * 7), 'PUBLIC', 'STOCK', 'LONG', k + 2
         from (select id, row_number() over (order by id) - 1 as n from portfolios) p, generate_series(0, 19) k",
    )
    .bind(i64::try_from(symbols).unwrap_or(1200))
    .execute(pool)
    .await?;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let (portfolios, symbols, workers) = (
        env_usize("BENCH_PORTFOLIOS", 1000),
        env_usize("BENCH_SYMBOLS", 1200),
        env_usize("BENCH_WORKERS", 2),
    );
    let db = TestDb::create().await?;
    let pool = db.pool().await?;
    seed(&pool, portfolios, symbols).await?;
    let api = Api::start(&db.url, &[]).await?;
    let started = Instant::now();
    let (code, body) = api
        .admin_post("/api/v1/admin/batch/run", &json!({}))
        .await?;
    anyhow::ensure!(code == 202, "{body}");
    let run_id = body["run_id"].as_str().unwrap_or_default().to_owned();
    let _workers: Vec<_> = (0..workers)
        .map(|_| start_worker(&db.url, &[]))
        .collect::<Result<_, _>>()?;
    let detail = loop {
        let (_, d) = api
            .admin_get(&format!("/api/v1/admin/batch/runs/{run_id}"))
            .await?;
        if matches!(
            d["run"]["status"].as_str(),
            Some("completed" | "partial" | "failed" | "cancelled")
        ) {
            break d;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(1800),
            "daily batch did not finish: {d}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let wall = started.elapsed().as_secs_f64();
    println!(
        "daily batch: {portfolios} portfolios x 20 positions over {symbols} symbols (+8 ETFs) on {workers} workers: {wall:.1} s wall, status {}, children {}",
        detail["run"]["status"], detail["children"]
    );
    for p in detail["phases"].as_array().cloned().unwrap_or_default() {
        println!(
            "  {:<30} {:>6} {:<10} {:.2} s",
            p["phase_name"].as_str().unwrap_or("?"),
            p["total"],
            p["unit"].as_str().unwrap_or(""),
            p["duration_seconds"].as_f64().unwrap_or(0.0)
        );
    }
    let per_child: Vec<f64> = sqlx::query_scalar(
        "select extract(epoch from finished_at - started_at)::float8 from runs where parent_id = $1::uuid order by 1",
    )
    .bind(&run_id)
    .fetch_all(&pool)
    .await?;
    if let (Some(med), Some(max)) = (per_child.get(per_child.len() / 2), per_child.last()) {
        println!("  per-portfolio child run: median {med:.3} s, max {max:.3} s");
    }
    let phases: Vec<(String, f64, f64)> = sqlx::query_as(
        "select ph.phase_id, avg(ph.duration_seconds)::float8, sum(ph.duration_seconds)::float8
         from run_phases ph join runs r on r.id = ph.run_id
         where r.parent_id = $1::uuid
         group by ph.phase_id order by min(ph.ordinal)",
    )
    .bind(&run_id)
    .fetch_all(&pool)
    .await?;
    for (id, mean, total) in phases {
        println!(
            "    child {id:<11} mean {:.1} ms, total {total:.1} s",
            mean * 1000.0
        );
    }
    pool.close().await;
    drop(api);
    db.drop_database().await;
    Ok(())
}
