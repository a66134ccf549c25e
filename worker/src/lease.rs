//! Lease renewal: a task of its own per attempt, so a busy phase never starves it.

use sigmasight_shared::db::runs;
use sqlx::PgPool;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tracing::warn;

/// Renews the attempt's lease every `ttl / 3`; flags `lost` when the lease is gone (another
/// worker took over, the run was cancelled) or could not be renewed for a whole TTL.
pub async fn renew(
    pool: PgPool,
    id: uuid::Uuid,
    attempt: i32,
    ttl: Duration,
    lost: Arc<AtomicBool>,
) {
    let every = ttl / 3;
    let mut last_ok = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(every).await;
        match runs::renew_lease(&pool, id, attempt, ttl).await {
            Ok(true) => {
                metrics::counter!(sigmasight_shared::metrics::LEASE_RENEWALS).increment(1);
                last_ok = tokio::time::Instant::now();
            }
            Ok(false) => {
                lost.store(true, Ordering::SeqCst);
                return;
            }
            Err(e) => {
                warn!(error = %e, "lease renewal failed");
                if last_ok.elapsed() >= ttl {
                    lost.store(true, Ordering::SeqCst);
                    return;
                }
            }
        }
    }
}
