//! `sigmasight-bench-queue`: what each queue statement costs on a `runs` table holding
//! 1,000,000 finished runs and a 100,000-run backlog (`sigmasight_tests::queue_history`).
//! Each statement runs under `EXPLAIN ANALYZE` in a transaction that is rolled back, so every
//! repetition sees the same table; the figure is the median of Postgres's own execution time.
//! Beside today's claim and child-end statements, the forms they replaced run on the same
//! table (same indexes), for a ratio the machine's speed does not change. Run by
//! `scripts/bench.sh`.

use sigmasight_tests::queue_history::{self, Binds};
use sigmasight_tests::TestDb;

/// The claim before issue 16: one OR of "queued and due" and "lease expired" (with today's
/// priority bound, `$3`, to take the same parameters).
const OLD_CLAIM_SQL: &str = "with next as (
         select id, status as prior_status, worker_id as prior_worker
         from runs
         where ((status = 'queued' and run_at <= now())
            or (status = 'running' and lease_expires_at < now() and attempt < max_attempts))
           and priority < $3
         order by priority, run_at
         for update skip locked
         limit 1
     )
     update runs r
     set status = 'running', attempt = r.attempt + 1, worker_id = $1,
         lease_expires_at = now() + make_interval(secs => $2),
         previous_worker_id = next.prior_worker, started_at = coalesce(r.started_at, now()),
         finished_at = null
     from next where r.id = next.id
     returning r.*, next.prior_status";

const REPEAT: usize = 15;

/// Median execution time (ms) of `sql` over [`REPEAT`] rolled-back runs.
async fn cost(pool: &sqlx::PgPool, sql: &str, binds: Binds) -> anyhow::Result<f64> {
    let mut times = Vec::with_capacity(REPEAT);
    for _ in 0..REPEAT {
        let mut tx = pool.begin().await?;
        let plan = queue_history::explain(&mut tx, "analyze, ", sql, binds).await?;
        tx.rollback().await?;
        times.push(plan[0]["Execution Time"].as_f64().unwrap_or(f64::NAN));
    }
    times.sort_by(f64::total_cmp);
    Ok(times[REPEAT / 2])
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let db = TestDb::create().await?;
    let pool = db.pool().await?;
    let size = queue_history::YEARS;
    let t = std::time::Instant::now();
    queue_history::fill(&pool, size).await?;
    let tonight = queue_history::tonight(&pool).await?;
    // Tonight's parent shows its `portfolios` phase, counting its children.
    sqlx::query(
        "insert into run_phases (run_id, attempt, phase_id, ordinal, phase_name, unit, status, total)
         values ($1, 1, 'portfolios', 6, 'Portfolio Updates', 'portfolios', 'running', $2)",
    )
    .bind(tonight)
    .bind(i32::try_from(size.queued).unwrap_or(i32::MAX))
    .execute(&pool)
    .await?;
    println!(
        "queue statements on {} finished and {} queued runs (built in {:.0} s), median of {REPEAT} (ms, Postgres execution time):",
        size.finished,
        size.queued,
        t.elapsed().as_secs_f64()
    );
    // Today's statements, and beside them the claim as it was (one OR of both branches).
    let mut rows = queue_history::statements(tonight).to_vec();
    rows.insert(
        2,
        (
            "claim, before: one OR",
            OLD_CLAIM_SQL,
            Binds::Claim(i32::MAX),
        ),
    );
    for (what, sql, binds) in rows {
        println!("  {what:<46} {:>9.3}", cost(&pool, sql, binds).await?);
    }
    pool.close().await;
    db.drop_database().await;
    Ok(())
}
