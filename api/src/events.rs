//! Run changes for the live status stream: ONE Postgres listener per api process on the
//! `sigmasight_run_changed` channel (fed by triggers on runs, run_phases and run_activity),
//! fanned out to every open stream through a `tokio::sync::broadcast` channel. When the
//! listener loses its connection it reconnects with backoff and sends `Resync`, so every
//! stream reloads from the database (notifications may have been missed meanwhile).

use sqlx::postgres::PgListener;
use sqlx::PgPool;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Once};
use std::time::Duration;
use tokio::sync::broadcast;
use uuid::Uuid;

/// The channel the migration's triggers notify.
pub const CHANNEL: &str = "sigmasight_run_changed";

/// Changes buffered per subscriber; a slower one gets `Lagged` and reloads.
const BUFFER: usize = 1024;

/// One change.
#[derive(Debug, Clone, PartialEq)]
pub enum RunChange {
    /// Something of this run changed; `portfolio_id` is known when the runs row did.
    Run {
        run_id: Uuid,
        portfolio_id: Option<Uuid>,
    },
    /// The listener (re)connected or lagged: anything may have changed.
    Resync,
}

impl RunChange {
    /// Parses a payload: `<run_id>` or `<run_id> <portfolio_id>`.
    pub fn parse(payload: &str) -> Option<Self> {
        let mut parts = payload.split_whitespace();
        let run_id = Uuid::parse_str(parts.next()?).ok()?;
        let portfolio_id = parts.next().and_then(|p| Uuid::parse_str(p).ok());
        Some(Self::Run {
            run_id,
            portfolio_id,
        })
    }

    /// True when a stream watching `portfolio_id` (whose latest run is `run_id`) must reload.
    pub fn concerns(&self, portfolio_id: Uuid, run_id: Option<Uuid>) -> bool {
        match self {
            Self::Resync => true,
            Self::Run {
                run_id: r,
                portfolio_id: p,
            } => *p == Some(portfolio_id) || Some(*r) == run_id,
        }
    }
}

/// The fan-out of run changes (cheap to clone). The listener task (which holds one pool
/// connection) starts with the first subscriber, so an api nobody streams from holds none.
#[derive(Clone, Debug)]
pub struct RunEvents {
    tx: broadcast::Sender<RunChange>,
    db: PgPool,
    started: Arc<Once>,
    /// `connection number << 1 | 1` while the listener is connected and listening (every
    /// change since is delivered), `connection number << 1` while it is not.
    listening: Arc<AtomicU64>,
}

impl RunEvents {
    /// The fan-out over `db`; nothing runs until [`RunEvents::subscribe`].
    pub fn new(db: PgPool) -> Self {
        let (tx, _) = broadcast::channel(BUFFER);
        Self {
            tx,
            db,
            started: Arc::new(Once::new()),
            listening: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The number of the listener's current connection while it is connected and listening
    /// (no change is being missed), `None` while it is not: it turns `None` (before a
    /// `Resync` is sent) as soon as the connection is lost, and a reconnection has a new
    /// number, so what was read under an earlier connection can be told apart.
    pub fn listening(&self) -> Option<u64> {
        let state = self.listening.load(Ordering::SeqCst);
        (state & 1 == 1).then_some(state >> 1)
    }

    /// A receiver of every change from now on (starts the shared listener on first use; it
    /// sends `Resync` once listening, so nothing between subscribe and LISTEN is lost).
    pub fn subscribe(&self) -> broadcast::Receiver<RunChange> {
        let rx = self.tx.subscribe();
        self.started.call_once(|| {
            tokio::spawn(listen_forever(
                self.db.clone(),
                self.tx.clone(),
                self.listening.clone(),
            ));
        });
        rx
    }
}

async fn listen_forever(db: PgPool, tx: broadcast::Sender<RunChange>, listening: Arc<AtomicU64>) {
    let mut delay = Duration::from_millis(250);
    let mut connected_before = false;
    loop {
        let listener = async {
            let mut l = PgListener::connect_with(&db).await?;
            l.listen(CHANNEL).await?;
            Ok::<_, sqlx::Error>(l)
        }
        .await;
        match listener {
            Ok(mut listener) => {
                if connected_before {
                    tracing::info!("run-change listener reconnected; streams resync");
                }
                connected_before = true;
                // A new connection number, listening.
                listening.fetch_add(3, Ordering::SeqCst);
                // Streams opened before the LISTEN took effect may have missed a change.
                let _ = tx.send(RunChange::Resync);
                delay = Duration::from_millis(250);
                pump(&mut listener, &tx).await;
                listening.fetch_and(!1, Ordering::SeqCst);
                // Lost the connection: streams reload once we are back.
                let _ = tx.send(RunChange::Resync);
            }
            Err(e) => {
                if db.is_closed() {
                    return;
                }
                tracing::warn!(error = %e, "run-change listener cannot connect; retrying");
            }
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(10));
    }
}

/// Forwards notifications until the connection is lost.
async fn pump(listener: &mut PgListener, tx: &broadcast::Sender<RunChange>) {
    loop {
        match listener.try_recv().await {
            Ok(Some(n)) => {
                if let Some(change) = RunChange::parse(n.payload()) {
                    // No subscriber is fine: nobody is watching.
                    let _ = tx.send(change);
                }
            }
            Ok(None) => {
                tracing::warn!("run-change listener lost its connection");
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "run-change listener failed");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_parse_and_match_the_watched_portfolio_or_run() {
        let run = Uuid::from_u128(1);
        let portfolio = Uuid::from_u128(2);
        let from_runs = RunChange::parse(&format!("{run} {portfolio}"));
        let from_phase = RunChange::parse(&run.to_string());
        assert!(from_runs
            .as_ref()
            .is_some_and(|c| c.concerns(portfolio, None)));
        assert!(from_phase
            .as_ref()
            .is_some_and(|c| c.concerns(portfolio, Some(run))));
        assert!(!from_phase
            .as_ref()
            .is_some_and(|c| c.concerns(portfolio, Some(Uuid::from_u128(3)))));
        assert_eq!(RunChange::parse("junk"), None);
        assert!(RunChange::Resync.concerns(portfolio, None));
    }
}
