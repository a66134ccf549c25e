//! Lease renewal (a task of its own per attempt, so a busy phase never starves it) and the
//! signal that tells an attempt its lease is gone: another worker took the run over, or the
//! run was cancelled. The runner races the attempt's work against [`LeaseSignal::wait`] and
//! drops the work when it fires, so a phase that never reaches a fenced write (a hung
//! provider) stops too and frees its slot.

use sigmasight_shared::db::runs;
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tracing::warn;
use uuid::Uuid;

const HELD: u8 = 0;
const LOST: u8 = 1;
const CANCELLED: u8 = 2;

/// Whether an attempt still holds its lease, readable and awaitable from any task.
#[derive(Debug, Default)]
pub struct LeaseSignal {
    state: AtomicU8,
    changed: Notify,
}

impl LeaseSignal {
    /// The lease is gone (a fenced write touched nothing, a renewal found no row).
    pub fn lose(&self) {
        let _ = self
            .state
            .compare_exchange(HELD, LOST, Ordering::SeqCst, Ordering::SeqCst);
        self.changed.notify_waiters();
    }

    /// The run was cancelled (its cancellation was announced): the lease is gone too.
    pub fn cancel(&self) {
        self.state.store(CANCELLED, Ordering::SeqCst);
        self.changed.notify_waiters();
    }

    /// Whether the lease is gone, for whatever reason.
    pub fn is_lost(&self) -> bool {
        self.state.load(Ordering::SeqCst) != HELD
    }

    /// Whether the lease is gone because the run was cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.state.load(Ordering::SeqCst) == CANCELLED
    }

    /// Resolves once the lease is gone.
    pub async fn wait(&self) {
        loop {
            // Registered before the check, so a loss between the two is not missed.
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if self.is_lost() {
                return;
            }
            changed.await;
        }
    }
}

/// The attempts this worker holds, by run id, so a cancellation announced on the
/// `sigmasight_run_cancelled` channel reaches the attempt it concerns.
#[derive(Debug, Default)]
pub struct InHand {
    attempts: Mutex<HashMap<Uuid, Arc<LeaseSignal>>>,
}

impl InHand {
    fn with<T>(&self, f: impl FnOnce(&mut HashMap<Uuid, Arc<LeaseSignal>>) -> T) -> T {
        // A panic while holding this lock leaves a plain map behind: keep using it.
        f(&mut self.attempts.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Starts holding `run`; returns the signal of its attempt.
    pub fn hold(&self, run: Uuid) -> Arc<LeaseSignal> {
        let signal = Arc::new(LeaseSignal::default());
        self.with(|a| a.insert(run, signal.clone()));
        signal
    }

    /// Stops holding `run` (its attempt ended).
    pub fn release(&self, run: Uuid) {
        self.with(|a| a.remove(&run));
    }

    /// Signals `run`'s attempt, if this worker holds it, that the run was cancelled.
    pub fn cancel(&self, run: Uuid) -> bool {
        match self.with(|a| a.get(&run).cloned()) {
            Some(signal) => {
                signal.cancel();
                true
            }
            None => false,
        }
    }
}

/// Renews the attempt's lease every `ttl / 3`; signals `lease` lost when the lease is gone
/// (another worker took over, the run was cancelled) or could not be renewed for a whole TTL.
pub async fn renew(pool: PgPool, id: Uuid, attempt: i32, ttl: Duration, lease: Arc<LeaseSignal>) {
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
                lease.lose();
                return;
            }
            Err(e) => {
                warn!(error = %e, "lease renewal failed");
                if last_ok.elapsed() >= ttl {
                    lease.lose();
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_cancellation_wakes_the_attempt_waiting_on_its_lease() {
        let in_hand = Arc::new(InHand::default());
        let run = Uuid::new_v4();
        let signal = in_hand.hold(run);
        let waiting = tokio::spawn({
            let signal = signal.clone();
            async move { signal.wait().await }
        });
        assert!(!signal.is_lost());
        assert!(!in_hand.cancel(Uuid::new_v4()), "another run is not ours");
        assert!(in_hand.cancel(run));
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("the waiter wakes")
            .expect("the waiter ends well");
        assert!(signal.is_lost() && signal.is_cancelled());
        in_hand.release(run);
        assert!(!in_hand.cancel(run), "a released run is not held");
    }

    #[tokio::test]
    async fn a_lost_lease_is_not_a_cancellation_and_a_late_waiter_returns_at_once() {
        let signal = LeaseSignal::default();
        signal.lose();
        signal.lose();
        assert!(signal.is_lost() && !signal.is_cancelled());
        tokio::time::timeout(Duration::from_secs(5), signal.wait())
            .await
            .expect("already lost: no wait");
    }
}
