//! The queue's statements at the size of years of history: on a `runs` table holding
//! 1,000,000 finished runs (nightly children of 1,000 batches) and a 100,000-run backlog,
//! none of them reads `runs` sequentially or sorts the backlog: each is answered from an
//! index, so its cost follows the work, never the history. Checked from Postgres's own
//! plans (`EXPLAIN (FORMAT JSON)`), which do not depend on the machine's speed.

use serde_json::Value;
use sigmasight_shared::db::runs;
use sigmasight_tests::{queue_history, TestDb};
use sqlx::PgPool;

/// Every node of a plan, depth first.
fn nodes(plan: &Value, out: &mut Vec<Value>) {
    out.push(plan.clone());
    for child in plan["Plans"].as_array().into_iter().flatten() {
        nodes(child, out);
    }
}

/// Every node of the plan of `sql` with its parameters bound (as the application sends it).
async fn plan(pool: &PgPool, sql: &str, binds: queue_history::Binds) -> Vec<Value> {
    let mut conn = pool.acquire().await.expect("connection");
    let out = queue_history::explain(&mut conn, "", sql, binds)
        .await
        .expect(sql);
    let mut all = Vec::new();
    nodes(&out[0]["Plan"], &mut all);
    all
}

fn assert_indexed(what: &str, nodes: &[Value]) {
    let text = serde_json::to_string_pretty(nodes).unwrap_or_default();
    for n in nodes {
        let kind = n["Node Type"].as_str().unwrap_or_default();
        let relation = n["Relation Name"].as_str().unwrap_or_default();
        assert!(
            !(kind == "Seq Scan" && relation == "runs"),
            "{what}: sequential scan of runs\n{text}"
        );
        // Sorting a handful of groups (status counts) is fine; sorting rows is not.
        let sorts_groups = n["Plans"][0]["Node Type"] == "Aggregate";
        assert!(
            !kind.ends_with("Sort") || sorts_groups,
            "{what}: sorts rows\n{text}"
        );
    }
    assert!(
        nodes.iter().any(|n| {
            let kind = n["Node Type"].as_str().unwrap_or_default();
            kind.contains("Index") || (kind == "Bitmap Heap Scan" && n["Relation Name"] == "runs")
        }),
        "{what}: no index of runs used\n{text}"
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
        assert_indexed(what, &plan(&pool, sql, binds).await);
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
