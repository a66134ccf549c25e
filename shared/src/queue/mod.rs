//! The queue contract: job kinds, enqueue functions (always inside the caller's transaction),
//! the retry backoff and worker identity. The storage is `db::runs`.

pub mod daily;
pub mod lifecycle;

use crate::db::runs::{self, NewRun, Run};
use crate::domain::{RunKind, RunSource};
use rand::Rng;
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use std::time::Duration;
use uuid::Uuid;

/// Channel the `runs` insert trigger notifies when a run becomes claimable.
pub const QUEUED_CHANNEL: &str = "sigmasight_runs_queued";

/// Channel the `runs` update trigger notifies, with the run's id, when a running run is
/// cancelled: the worker holding it stops the attempt at once.
pub const CANCELLED_CHANNEL: &str = "sigmasight_run_cancelled";

// The named priorities live beside the claim statements that order by them (a constant both
// need sits in the lower layer); the queue's callers name them from here.
pub use crate::db::runs::{BATCH_CHILD_PRIORITY, DAILY_PRIORITY, ONBOARDING_PRIORITY};

/// Attempts a run gets by default (first run + retries/takeovers).
pub const MAX_ATTEMPTS_DEFAULT: i32 = 3;

/// Parameters of an onboarding run.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct OnboardingParams {
    /// Recompute even what is already stored.
    #[serde(default)]
    pub force_rerun: bool,
}

/// Enqueues an onboarding run for `portfolio_id` inside the caller's transaction.
/// Fails with the `runs_one_active_per_portfolio` constraint when one is active already.
pub async fn enqueue_onboarding(
    conn: &mut PgConnection,
    portfolio_id: Uuid,
    source: RunSource,
    max_attempts: i32,
) -> Result<Run, sqlx::Error> {
    let params = serde_json::to_value(OnboardingParams::default()).unwrap_or_default();
    runs::insert(
        conn,
        &NewRun {
            id: Uuid::now_v7(),
            kind: RunKind::Onboarding,
            parent_id: None,
            portfolio_id: Some(portfolio_id),
            source,
            params,
            priority: ONBOARDING_PRIORITY,
            max_attempts,
            idempotency_key: None,
        },
    )
    .await
}

/// Backoff before attempt `attempt + 1` after attempt `attempt` failed:
/// `min(base·2^(attempt−1), cap)` with ±`jitter` (a fraction, e.g. 0.2).
pub fn retry_delay(attempt: i32, base: Duration, cap: Duration, jitter: f64) -> Duration {
    let exp = u32::try_from(attempt.saturating_sub(1).clamp(0, 30)).unwrap_or(0);
    let raw = base.saturating_mul(2u32.saturating_pow(exp)).min(cap);
    let factor = if jitter > 0.0 {
        1.0 + rand::thread_rng().gen_range(-jitter..=jitter)
    } else {
        1.0
    };
    raw.mul_f64(factor.max(0.0))
}

/// A worker id unique per process: host-pid-random.
pub fn worker_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".to_owned());
    let suffix: u32 = rand::thread_rng().gen();
    format!("{host}-{}-{suffix:08x}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delay_doubles_from_base_and_stops_at_cap() {
        let base = Duration::from_secs(2);
        let cap = Duration::from_secs(60);
        assert_eq!(retry_delay(1, base, cap, 0.0), Duration::from_secs(2));
        assert_eq!(retry_delay(2, base, cap, 0.0), Duration::from_secs(4));
        assert_eq!(retry_delay(4, base, cap, 0.0), Duration::from_secs(16));
        assert_eq!(retry_delay(10, base, cap, 0.0), cap);
    }

    #[test]
    fn retry_delay_jitter_stays_within_bounds() {
        let base = Duration::from_secs(10);
        for _ in 0..200 {
            let d = retry_delay(1, base, Duration::from_secs(100), 0.2).as_secs_f64();
            assert!((8.0..=12.0).contains(&d), "{d}");
        }
    }

    #[test]
    fn worker_ids_differ_within_one_process() {
        assert_ne!(worker_id(), worker_id());
        assert!(worker_id().contains(&std::process::id().to_string()));
    }
}
