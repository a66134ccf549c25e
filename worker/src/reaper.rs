//! The reaper: runs whose worker was lost on their last attempt are failed (naming the
//! worker), and daily parents whose children all ended are ended; and, hourly, debug
//! activity entries past their retention are deleted.

use sigmasight_shared::db::{activity, runs};
use sigmasight_shared::domain::ActivityLevel;
use sqlx::PgPool;
use tracing::{info, warn};

/// One pass of the reaper; errors are logged, never fatal.
pub async fn reap(pool: &PgPool) {
    match runs::complete_orphaned_parents(pool).await {
        Ok(0) => {}
        Ok(n) => info!(
            count = n,
            "ended daily batches whose portfolios were all done"
        ),
        Err(e) => warn!(error = %e, "parent completion query failed"),
    }
    let reaped = match runs::fail_exhausted_leases(pool).await {
        Ok(r) => r,
        Err(e) => {
            warn!(error = %e, "reaper query failed");
            return;
        }
    };
    for r in reaped {
        let who = r.worker_id.unwrap_or_else(|| "unknown".into());
        warn!(run.id = %r.id, "run failed: worker {who} was lost on its last attempt");
        let msg = format!(
            "Worker {who} was lost (lease expired) on attempt {}; no attempts left",
            r.attempt
        );
        if let Err(e) =
            activity::insert_unfenced(pool, r.id, r.attempt, ActivityLevel::Error, &msg).await
        {
            warn!(error = %e, "could not record the reaped run");
        }
    }
}

/// Debug entries deleted per statement (short statements: the table stays writable).
const PRUNE_BATCH: i64 = 10_000;

/// The least rest between two batches of the prune.
const PRUNE_REST: std::time::Duration = std::time::Duration::from_millis(50);

/// Deletes debug activity entries older than `days` (0: keep them), batch after batch,
/// each committed, resting between them; errors are logged. The worker runs it beside its
/// runs, never before a claim.
pub async fn prune_debug_activity(pool: PgPool, days: u32) {
    if days == 0 {
        return;
    }
    match activity::prune_debug(&pool, days, PRUNE_BATCH, PRUNE_REST).await {
        Ok(0) => {}
        Ok(n) => info!(deleted = n, days, "pruned old debug activity entries"),
        Err(e) => warn!(error = %e, "debug activity pruning failed"),
    }
}
