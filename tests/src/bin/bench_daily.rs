//! `sigmasight-bench-daily`: the nightly batch at scale. Inserts `BENCH_PORTFOLIOS`
//! portfolios of 20 positions over a universe of `BENCH_SYMBOLS` synthetic symbols straight
//! into the database (no onboarding runs), runs a first batch for the day before the last
//! trading day (it fetches every symbol's history and writes every snapshot since the first
//! entry), vacuums as autovacuum would between two nights, then times the batch of the last
//! trading day on `BENCH_WORKERS` worker processes: a night's real work, one new date per
//! portfolio. While it runs, a load generator asks the status endpoint `BENCH_STATUS_RPS`
//! times a second (0: none) for `BENCH_STATUS_SECS` seconds, over all the portfolios.
//!
//! `BENCH_HISTORY=1` runs it all twice, on an empty database and on one that first gets
//! `BENCH_HISTORY_RUNS` finished runs and `BENCH_HISTORY_ACTIVITY` activity rows (a few
//! years of nights), and prints the ratio. `BENCH_PROFILE=1` makes the workers log every
//! statement and prints the statements of a child run (slower: not a timing).
//! Run by `scripts/bench.sh`.

use serde_json::json;
use sigmasight_tests::{queue_history, start_worker, start_worker_logged, Api, Process, TestDb};
use std::collections::BTreeMap;
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

/// Years of finished nights: `runs` finished runs (children of daily parents of 1,000
/// each, as [`queue_history::finished`] builds them) and `activity` activity rows spread over
/// the children, as [`queue_history::activity`] leaves them (a third of the last 30 days'
/// entries debug ones).
async fn seed_history(pool: &sqlx::PgPool, runs: usize, activity: usize) -> anyhow::Result<()> {
    let parents = (runs / 1000).max(1);
    let per_run = (activity / runs.max(1)).max(1);
    queue_history::finished(pool, i64::try_from(runs)?, i64::try_from(parents)?).await?;
    queue_history::activity(pool, i64::try_from(per_run)?, 3).await?;
    for sql in [
        "vacuum analyze runs",
        "vacuum analyze run_activity",
        // The bulk load's dirty pages go to disk now, not in a checkpoint during the night
        // (that would time the load, not the history).
        "checkpoint",
    ] {
        sqlx::query(sql).execute(pool).await?;
    }
    Ok(())
}

/// Figures of one timed night.
struct Night {
    wal_mb: f64,
    wal_fpi: f64,
    blks_read: f64,
    wall: f64,
    children_wall: f64,
    child_median: f64,
    child_p90: f64,
    status_p50_ms: f64,
    status_p99_ms: f64,
    status_rps: f64,
}

/// Enqueues a batch (its date is the workers' last trading day) and waits for its end;
/// returns its id and detail document.
async fn run_batch(api: &Api) -> anyhow::Result<(String, serde_json::Value)> {
    let started = Instant::now();
    let (code, body) = api
        .admin_post("/api/v1/admin/batch/run", &json!({}))
        .await?;
    anyhow::ensure!(code == 202, "{body}");
    let run_id = body["run_id"].as_str().unwrap_or_default().to_owned();
    loop {
        let (_, d) = api
            .admin_get(&format!("/api/v1/admin/batch/runs/{run_id}"))
            .await?;
        if matches!(
            d["run"]["status"].as_str(),
            Some("completed" | "partial" | "failed" | "cancelled")
        ) {
            return Ok((run_id, d));
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(3600),
            "daily batch did not finish: {d}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One answer of the status load.
struct Answer {
    sent: Instant,
    /// Seconds from sending to the whole body.
    latency: f64,
    /// Its portfolio's first poll: the api keeps nothing of it yet.
    first: bool,
}

/// Asks the status document of the portfolios in turn, `rps` times a second for `secs`
/// seconds (open loop: a slow answer does not slow the asking); returns the answers.
async fn status_load(api: &Api, portfolios: Vec<Uuid>, rps: usize, secs: u64) -> Vec<Answer> {
    let mut answers = tokio::task::JoinSet::new();
    if rps == 0 || portfolios.is_empty() {
        return Vec::new();
    }
    let token = Api::token("bench");
    let period = Duration::from_secs_f64(1.0 / rps as f64);
    let mut tick = tokio::time::interval(period);
    let end = Instant::now() + Duration::from_secs(secs);
    let mut k = 0usize;
    while Instant::now() < end {
        tick.tick().await;
        let url = format!(
            "{}/api/v1/onboarding/status/{}",
            api.base,
            portfolios[k % portfolios.len()]
        );
        let first = k < portfolios.len();
        k += 1;
        let request = api.client.get(url).bearer_auth(&token);
        answers.spawn(async move {
            let sent = Instant::now();
            let ok = match request.send().await {
                Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                Err(_) => false,
            };
            let latency = sent.elapsed().as_secs_f64();
            (
                ok,
                Answer {
                    sent,
                    latency,
                    first,
                },
            )
        });
    }
    let mut latencies = Vec::new();
    let mut failed = 0usize;
    while let Some(Ok((ok, answer))) = answers.join_next().await {
        if ok {
            latencies.push(answer);
        } else {
            failed += 1;
        }
    }
    if failed > 0 {
        println!("  status load: {failed} requests failed");
    }
    latencies
}

/// From the api's metrics: the status cache's hits, misses and portfolios refreshed, then
/// the status route's answers in all, within 2.5 ms and within 5 ms.
async fn api_counters(api: &Api) -> anyhow::Result<[f64; 6]> {
    let text = api
        .client
        .get(format!("{}/metrics", api.base))
        .send()
        .await?
        .text()
        .await?;
    let scrape = sigmasight_tests::prometheus::Scrape::parse(&text)?;
    let cache = |r: &str| scrape.sum("sigmasight_status_cache_total", &[("result", r)]);
    let route = ("route", "/api/v1/onboarding/status/{portfolio_id}");
    let within = |le: &str| {
        scrape.sum(
            "sigmasight_http_request_duration_seconds_bucket",
            &[route, ("le", le)],
        )
    };
    Ok([
        cache("hit"),
        cache("miss"),
        cache("refreshed"),
        within("+Inf"),
        within("0.0025"),
        within("0.005"),
    ])
}

/// Postgres's WAL bytes and full-page images (the whole cluster: nothing else runs), and
/// the database's blocks read into shared buffers and found there.
async fn io_counters(pool: &sqlx::PgPool) -> anyhow::Result<[f64; 4]> {
    let (bytes, fpi, read, hit): (f64, f64, f64, f64) = sqlx::query_as(
        "select w.wal_bytes::float8, w.wal_fpi::float8, d.blks_read::float8, d.blks_hit::float8
         from pg_stat_wal w, pg_stat_database d where d.datname = current_database()",
    )
    .fetch_one(pool)
    .await?;
    Ok([bytes, fpi, read, hit])
}

/// Blocks read into shared buffers so far, per table (heap) and per index.
async fn blocks_read_by_relation(
    pool: &sqlx::PgPool,
) -> anyhow::Result<std::collections::HashMap<String, f64>> {
    let rows: Vec<(String, f64)> = sqlx::query_as(
        "select relname, coalesce(heap_blks_read, 0)::float8 from pg_statio_user_tables
         union all
         select indexrelname, coalesce(idx_blks_read, 0)::float8 from pg_statio_user_indexes",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().collect())
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// One database: seed, first night, vacuum, the timed night with the status load.
async fn scenario(label: &str, with_history: bool) -> anyhow::Result<Night> {
    let (portfolios, symbols, workers) = (
        env_usize("BENCH_PORTFOLIOS", 1000),
        env_usize("BENCH_SYMBOLS", 1200),
        env_usize("BENCH_WORKERS", 2),
    );
    let db = TestDb::create().await?;
    let pool = db.pool().await?;
    seed(&pool, portfolios, symbols).await?;
    if with_history {
        let (runs, activity) = (
            env_usize("BENCH_HISTORY_RUNS", 1_000_000),
            env_usize("BENCH_HISTORY_ACTIVITY", 10_000_000),
        );
        let t = Instant::now();
        seed_history(&pool, runs, activity).await?;
        println!(
            "{label}: {runs} finished runs and {activity} activity rows inserted in {:.0} s",
            t.elapsed().as_secs_f64()
        );
    }
    let api = Api::start(&db.url, &[]).await?;
    let last = sigmasight_shared::clock::last_trading_day();
    let before = sigmasight_shared::calendar::previous_trading_day(last);
    // The first night, on workers whose business date is the day before.
    let first_workers: Vec<Process> = (0..workers)
        .map(|_| start_worker(&db.url, &[("SIGMASIGHT_AS_OF", before.to_string())]))
        .collect::<Result<_, _>>()?;
    let t = Instant::now();
    let (_, first) = run_batch(&api).await?;
    println!(
        "{label}: first night ({before}: every symbol's history, every snapshot since the first entry): {:.1} s, status {}",
        t.elapsed().as_secs_f64(),
        first["run"]["status"]
    );
    drop(first_workers);
    {
        // The vacuum reads every table; its block counts must reach the statistics before
        // the night's are taken (a backend reports them when idle, up to 10 s later).
        let mut conn = pool.acquire().await?;
        sqlx::query("vacuum analyze").execute(&mut *conn).await?;
        sqlx::query("select pg_stat_force_next_flush()")
            .execute(&mut *conn)
            .await?;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;

    // BENCH_PROFILE=1: the workers log every statement (sqlx at debug, JSON), counted per
    // child below; slower, so its wall time is not the benchmark's figure.
    let profile = std::env::var("BENCH_PROFILE").is_ok_and(|v| v == "1");
    let as_of = ("SIGMASIGHT_AS_OF", last.to_string());
    let processes: Vec<Process> = (0..workers)
        .map(|_| {
            if profile {
                start_worker_logged(
                    &db.url,
                    &[
                        ("RUST_LOG", "info,sqlx::query=debug".to_owned()),
                        ("LOG_FORMAT", "json".to_owned()),
                        as_of.clone(),
                    ],
                )
            } else {
                start_worker(&db.url, std::slice::from_ref(&as_of))
            }
        })
        .collect::<Result<_, _>>()?;

    let ids: Vec<Uuid> = sqlx::query_scalar("select id from portfolios")
        .fetch_all(&pool)
        .await?;
    let load = status_load(
        &api,
        ids,
        env_usize("BENCH_STATUS_RPS", 500),
        u64::try_from(env_usize("BENCH_STATUS_SECS", 30)).unwrap_or(30),
    );
    let cache_before = api_counters(&api).await;
    let io_before = io_counters(&pool).await?;
    let tables_before = blocks_read_by_relation(&pool).await?;
    let started = Instant::now();
    let night = async {
        let r = run_batch(&api).await;
        (r, started.elapsed().as_secs_f64())
    };
    let (night, answers) = tokio::join!(night, load);
    let cache = api_counters(&api).await;
    let io = io_counters(&pool).await?;
    let tables_after = blocks_read_by_relation(&pool).await?;
    let [wal_bytes, wal_fpi, blks_read, blks_hit] = std::array::from_fn(|i| io[i] - io_before[i]);
    let ((run_id, detail), wall) = (night.0?, night.1);
    let night_end = started + Duration::from_secs_f64(wall);
    let mut during: Vec<f64> = answers
        .iter()
        .filter(|a| (started..=night_end).contains(&a.sent))
        .map(|a| a.latency)
        .collect();
    during.sort_by(f64::total_cmp);
    let mut latencies: Vec<f64> = answers.iter().map(|a| a.latency).collect();
    let mut warm: Vec<f64> = answers
        .iter()
        .filter(|a| !a.first)
        .map(|a| a.latency)
        .collect();
    warm.sort_by(f64::total_cmp);
    println!(
        "{label}: the night of {last}: {portfolios} portfolios x 20 positions over {symbols} symbols (+8 ETFs) on {workers} workers: {wall:.2} s wall, status {}, children {}",
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
    let children_wall: f64 = sqlx::query_scalar(
        "select coalesce(extract(epoch from max(finished_at) - min(started_at))::float8, 0) from runs where parent_id = $1::uuid",
    )
    .bind(&run_id)
    .fetch_one(&pool)
    .await?;
    println!(
        "  {} child runs in {children_wall:.2} s: median {:.1} ms, p90 {:.1} ms, max {:.1} ms",
        per_child.len(),
        quantile(&per_child, 0.5) * 1000.0,
        quantile(&per_child, 0.9) * 1000.0,
        per_child.last().copied().unwrap_or(f64::NAN) * 1000.0
    );
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
    latencies.sort_by(f64::total_cmp);
    let secs = env_usize("BENCH_STATUS_SECS", 30);
    let rps = latencies.len() as f64 / secs.max(1) as f64;
    if !latencies.is_empty() {
        println!(
            "  status endpoint under load ({} answers, {rps:.0}/s over {secs} s, the night inside it): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            latencies.len(),
            quantile(&latencies, 0.5) * 1000.0,
            quantile(&latencies, 0.99) * 1000.0,
            latencies.last().copied().unwrap_or(f64::NAN) * 1000.0
        );
        println!(
            "    of which sent during the night: {} answers, p50 {:.2} ms, p99 {:.2} ms",
            during.len(),
            quantile(&during, 0.5) * 1000.0,
            quantile(&during, 0.99) * 1000.0,
        );
        println!(
            "    but each portfolio's first poll (the api keeps nothing of it yet): {} answers, p50 {:.2} ms, p99 {:.2} ms",
            warm.len(),
            quantile(&warm, 0.5) * 1000.0,
            quantile(&warm, 0.99) * 1000.0,
        );
    }
    if let (Ok(before), Ok(after)) = (cache_before, cache) {
        let [hit, miss, refreshed, answered, fast, within] =
            std::array::from_fn(|i| after[i] - before[i]);
        println!(
            "    status cache: {hit:.0} polls from memory, {miss:.0} from Postgres; {refreshed:.0} portfolios read again after a change"
        );
        println!(
            "    the api's own time (its histogram, request in to answer out): {:.2} % within 2.5 ms, {:.2} % within 5 ms",
            100.0 * fast / answered.max(1.0),
            100.0 * within / answered.max(1.0),
        );
    }
    println!(
        "  Postgres during the night and the load: {:.0} MB of WAL with {wal_fpi:.0} full-page images; {blks_read:.0} blocks read into shared buffers, {blks_hit:.0} found there ({:.2} % hits)",
        wal_bytes / 1e6,
        100.0 * blks_hit / (blks_hit + blks_read).max(1.0)
    );
    let mut read_by: Vec<(String, f64)> = tables_after
        .iter()
        .map(|(name, n)| {
            (
                name.clone(),
                n - tables_before.get(name).copied().unwrap_or(0.0),
            )
        })
        .filter(|(_, n)| *n > 0.0)
        .collect();
    read_by.sort_by(|a, b| b.1.total_cmp(&a.1));
    let top: Vec<String> = read_by
        .iter()
        .take(6)
        .map(|(name, n)| format!("{name} {n:.0}"))
        .collect();
    println!("    blocks read, by table and index: {}", top.join(", "));
    if profile {
        print_statements(&processes, per_child.len().max(1), &run_id);
    }
    drop(processes);
    pool.close().await;
    drop(api);
    db.drop_database().await;
    Ok(Night {
        wall,
        children_wall,
        child_median: quantile(&per_child, 0.5),
        child_p90: quantile(&per_child, 0.9),
        status_p50_ms: quantile(&latencies, 0.5) * 1000.0,
        status_p99_ms: quantile(&latencies, 0.99) * 1000.0,
        wal_mb: wal_bytes / 1e6,
        wal_fpi,
        blks_read,
        status_rps: rps,
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let empty = scenario("empty history", false).await?;
    if std::env::var("BENCH_HISTORY").is_ok_and(|v| v == "1") {
        let full = scenario("full history", true).await?;
        println!("history          | night wall | children | child median | child p90 | status p50 | status p99 (rps)");
        for (label, n) in [("empty", &empty), ("full", &full)] {
            println!(
                "{label:<16} | {:>8.2} s | {:>6.2} s | {:>9.1} ms | {:>6.1} ms | {:>7.2} ms | {:>7.2} ms ({:.0})",
                n.wall,
                n.children_wall,
                n.child_median * 1000.0,
                n.child_p90 * 1000.0,
                n.status_p50_ms,
                n.status_p99_ms,
                n.status_rps
            );
        }
        println!(
            "full / empty     | {:>8.2}x  | {:>6.2}x  | {:>9.2}x",
            full.wall / empty.wall,
            full.children_wall / empty.children_wall,
            full.child_median / empty.child_median
        );
        for (label, n) in [("empty", &empty), ("full", &full)] {
            println!(
                "{label:<16} | WAL {:.0} MB, {:.0} full-page images, {:.0} blocks read into shared buffers",
                n.wal_mb, n.wal_fpi, n.blks_read
            );
        }
    }
    Ok(())
}

/// Statements the child runs of `parent` sent, per child: by phase, then the costliest kinds.
fn print_statements(workers: &[Process], children: usize, parent: &str) {
    let mut by_phase: BTreeMap<String, (usize, f64)> = BTreeMap::new();
    let mut by_summary: BTreeMap<(String, String), (usize, f64)> = BTreeMap::new();
    let text: String = workers.iter().map(Process::log_text).collect();
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        // A statement's line (the binaries log without targets).
        if v.get("elapsed_secs").is_none() || v.get("summary").is_none() {
            continue;
        }
        let spans = v["spans"].as_array().cloned().unwrap_or_default();
        if !spans
            .iter()
            .any(|s| s["parent.id"].as_str() == Some(parent))
        {
            continue;
        }
        let phase = spans
            .iter()
            .find_map(|s| s["phase"].as_str())
            .unwrap_or("(run)")
            .to_owned();
        let secs = v["elapsed_secs"].as_f64().unwrap_or(0.0);
        let summary = v["summary"].as_str().unwrap_or("?").to_owned();
        let e = by_phase.entry(phase.clone()).or_default();
        e.0 += 1;
        e.1 += secs;
        let e = by_summary.entry((phase, summary)).or_default();
        e.0 += 1;
        e.1 += secs;
    }
    #[allow(clippy::cast_precision_loss)]
    let per = |n: usize| n as f64 / children as f64;
    let total: usize = by_phase.values().map(|(n, _)| n).sum();
    println!("  statements per child: {:.1}", per(total));
    for (phase, (n, secs)) in &by_phase {
        println!(
            "    {phase:<11} {:>5.1} statements, {:>6.2} ms in the database",
            per(*n),
            secs * 1000.0 / children as f64
        );
    }
    let mut costly: Vec<_> = by_summary.into_iter().collect();
    costly.sort_by(|a, b| b.1 .1.total_cmp(&a.1 .1));
    for ((phase, summary), (n, secs)) in costly.into_iter().take(20) {
        println!(
            "    {:>6.2} ms {:>4.1}x  {phase:<11} {summary}",
            secs * 1000.0 / children as f64,
            per(n)
        );
    }
}
