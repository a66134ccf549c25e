//! The queue's statements at the size of years of history: on a `runs` table holding
//! 1,000,000 finished runs (nightly children of 1,000 batches) and a 100,000-run backlog,
//! none of them reads `runs` sequentially or sorts the backlog: each is answered from an
//! index, so its cost follows the work, never the history. Checked from Postgres's own
//! plans (`EXPLAIN (FORMAT JSON)`), which do not depend on the machine's speed.

use serde_json::Value;
use sigmasight_shared::db::{activity, runs};
use sigmasight_tests::{queue_history, TestDb};
use sqlx::PgPool;

/// Every node of a plan, depth first.
fn nodes(plan: &Value, out: &mut Vec<Value>) {
    out.push(plan.clone());
    for child in plan["Plans"].as_array().into_iter().flatten() {
        nodes(child, out);
    }
}

/// Every node of the two plans of `sql`: with its parameters' values (as Postgres plans it
/// when left to choose) and without (the generic plan a worker's session runs it on).
async fn plans(pool: &PgPool, sql: &str, binds: queue_history::Binds) -> [Vec<Value>; 2] {
    let mut conn = pool.acquire().await.expect("connection");
    let bound = queue_history::explain(&mut conn, "", sql, binds)
        .await
        .expect(sql);
    let generic = queue_history::explain_generic(&mut conn, sql, binds)
        .await
        .expect(sql);
    [bound, generic].map(|out| {
        let mut all = Vec::new();
        nodes(&out[0]["Plan"], &mut all);
        all
    })
}

/// `what` reads `table` from an index, never sequentially, and sorts no rows but groups or
/// the running runs.
fn assert_indexed(what: &str, table: &str, nodes: &[Value]) {
    let text = serde_json::to_string_pretty(nodes).unwrap_or_default();
    for n in nodes {
        let kind = n["Node Type"].as_str().unwrap_or_default();
        let relation = n["Relation Name"].as_str().unwrap_or_default();
        assert!(
            !(kind == "Seq Scan" && relation == table),
            "{what}: sequential scan of {table}\n{text}"
        );
        // Sorting a handful of groups (status counts) is fine, and so is sorting the
        // running runs (at most one per worker slot); sorting the backlog or history is not.
        let sorts_groups = n["Plans"][0]["Node Type"] == "Aggregate";
        // The running runs come from runs_lease_idx, by an index scan or a bitmap of it.
        let input = &n["Plans"][0];
        let sorts_running = input["Index Name"] == "runs_lease_idx"
            || (input["Node Type"] == "Bitmap Heap Scan"
                && input["Plans"][0]["Index Name"] == "runs_lease_idx");
        assert!(
            !kind.ends_with("Sort") || sorts_groups || sorts_running,
            "{what}: sorts rows\n{text}"
        );
    }
    assert!(
        nodes.iter().any(|n| {
            let kind = n["Node Type"].as_str().unwrap_or_default();
            kind.contains("Index") || (kind == "Bitmap Heap Scan" && n["Relation Name"] == table)
        }),
        "{what}: no index of {table} used\n{text}"
    );
}

#[tokio::test]
async fn queue_statements_use_indexes_whatever_the_history() -> anyhow::Result<()> {
    let db = TestDb::create().await?;
    let pool = db.pool().await?;
    queue_history::fill(&pool, queue_history::YEARS).await?;
    let tonight = queue_history::tonight(&pool).await?;
    let cases = queue_history::statements(tonight);
    for (what, sql, binds) in cases {
        for (how, nodes) in ["bound", "generic"]
            .iter()
            .zip(plans(&pool, sql, binds).await)
        {
            assert_indexed(&format!("{what} ({how})"), "runs", &nodes);
        }
    }

    // And they do what they say on this data: the takeover first, then the due runs in
    // (priority, run_at) order, never one in backoff.
    let pool_ref = &pool;
    let first = runs::claim_next(pool_ref, "w-new", std::time::Duration::from_secs(30))
        .await
        .expect("claim")
        .expect("a run");
    assert_eq!(
        first.prior_status,
        sigmasight_shared::domain::RunStatus::Running
    );
    let second = runs::claim_next(pool_ref, "w-new", std::time::Duration::from_secs(30))
        .await
        .expect("claim")
        .expect("a run");
    assert_eq!(
        second.prior_status,
        sigmasight_shared::domain::RunStatus::Queued
    );
    let oldest_due: chrono::DateTime<chrono::Utc> = sqlx::query_scalar(
        "select min(run_at) from runs where status = 'queued' and run_at <= now()",
    )
    .fetch_one(&pool)
    .await
    .expect("min");
    assert!(second.run.run_at <= oldest_due, "the oldest due run first");
    let exhausted = runs::fail_exhausted_leases(&pool).await.expect("reap");
    assert_eq!(exhausted.len(), 1, "the run on its last attempt");
    assert_eq!(
        runs::complete_orphaned_parents(&pool)
            .await
            .expect("parents"),
        0,
        "tonight's parent still has children to run"
    );
    pool.close().await;
    db.drop_database().await;
    Ok(())
}

/// The retention's prune of debug entries, run at every worker's start and hourly, on
/// 3,000,000 activity entries of years of nights, none of them due: the planner expects
/// plenty of entries older than the cutoff and plenty of debug ones, but none is both (the
/// retention pruned them), so a plan that filters the table until it meets a batch reads
/// all of it. The prune walks its partial index in order from the oldest entry instead (an
/// index scan under the limit: its cost is the batch's, whatever the statistics say). Without
/// its `order by`, the plan here is a bitmap scan of that index, and on 10,000,000 entries a
/// sequential scan of the table (0.9 s, 163,000 blocks, to delete nothing).
#[tokio::test]
async fn the_debug_entries_prune_reads_its_index_never_the_history() -> anyhow::Result<()> {
    let db = TestDb::create().await?;
    let pool = db.pool().await?;
    queue_history::finished(&pool, 1_000_000, 1_000).await?;
    queue_history::activity(&pool, 3, 1).await?;
    let both = plans(
        &pool,
        activity::PRUNE_DEBUG_SQL,
        queue_history::Binds::Prune,
    )
    .await;
    for (how, nodes) in ["bound", "generic"].iter().zip(both) {
        assert_indexed(
            &format!("prune of debug entries ({how})"),
            "run_activity",
            &nodes,
        );
        assert!(
            nodes.iter().any(|n| n["Node Type"] == "Index Scan"
                && n["Index Name"] == "run_activity_debug_ts_idx"),
            "the prune walks the debug entries' index in order ({how})\n{nodes:#?}"
        );
    }

    // And on this data it deletes what is due, oldest first, and nothing else.
    sqlx::query(
        "insert into run_activity (run_id, attempt, ts, level, message, debug)
         select id, 1, now() - make_interval(days => 40 + i), 'info', 'old debug ' || i, true
         from (select id from runs where kind = 'portfolio_daily' limit 3) r,
              generate_series(1, 2) i",
    )
    .execute(&pool)
    .await?;
    let before: i64 = sqlx::query_scalar("select count(*) from run_activity")
        .fetch_one(&pool)
        .await?;
    assert_eq!(
        activity::prune_debug_batch(&pool, 30, 4).await?,
        Some(4),
        "a batch of 4 of the 6 due"
    );
    let left: Vec<String> = sqlx::query_scalar(
        "select message from run_activity where debug and ts < now() - interval '30 days'",
    )
    .fetch_all(&pool)
    .await?;
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(
        left.iter().all(|m| m == "old debug 1"),
        "the oldest went first: {left:?}"
    );
    let after: i64 = sqlx::query_scalar("select count(*) from run_activity")
        .fetch_one(&pool)
        .await?;
    assert_eq!(after, before - 4);
    pool.close().await;
    db.drop_database().await;
    Ok(())
}
