//! The status poll's cache: the rows a portfolio's status document is built from, kept in
//! memory until the database says they changed.
//!
//! Every open status page polls every 2 s, and during a night every poll that reaches
//! Postgres waits for a core the batch is using. Yet a portfolio's run changes a few times a
//! night. So the rows of the last read are kept, and the run-change notifications of the
//! api's one listener ([`RunEvents`], fed by triggers on `runs`, `run_phases` and
//! `run_activity`) drop them: a poll between two changes is answered from memory, with the
//! document rebuilt for the current time (its elapsed seconds move on).
//!
//! What keeps it true:
//! - rows are kept and served only while the listener is connected, and only those read
//!   under its current connection (a reconnection may have missed changes);
//! - a read that a change overtook is not kept: a read takes a ticket, a change drops the
//!   ticket, and the read's rows are kept only if its ticket is still there;
//! - a change that names only a run (phases, activity) drops the portfolio whose kept rows
//!   are of that run, and every read still in flight (it may be of that run);
//! - the api's own writes (calculate, retry) drop their portfolio at once;
//! - rows are kept [`MAX_AGE`] at most (a connection that died without a word), and
//!   [`CAPACITY`] portfolios at most.
//!
//! A change is seen once its notification arrives (Postgres sends it at commit; a few
//! milliseconds): a poll in between answers as of just before the commit, as a poll sent a
//! moment earlier would have. Who may read is checked on every poll, against the kept owner.

use crate::events::{RunChange, RunEvents};
use sigmasight_shared::db::{self, activity::Entry, phases::PhaseRow, runs::Run};
use sigmasight_shared::metrics as m;
use sigmasight_shared::status::{self, OnboardingStatus, FEED_ENTRIES};
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, Once};
use std::time::{Duration, Instant};
use tokio::sync::broadcast::error::RecvError;
use uuid::Uuid;

/// Rows are served this long at most after their read, changes or not.
pub const MAX_AGE: Duration = Duration::from_secs(30);

/// Portfolios whose rows are kept at most (about 10 KB each); when full, all are dropped.
pub const CAPACITY: usize = 5_000;

/// The rows of a portfolio's status document, as read.
#[derive(Debug)]
pub struct Rows {
    /// The portfolio's owner (who, beside an admin, may read them).
    pub owner: Uuid,
    pub run: Run,
    pub phases: Vec<PhaseRow>,
    /// The feed, duplicates already collapsed.
    pub feed: Vec<Entry>,
}

impl Rows {
    fn document(&self) -> OnboardingStatus {
        status::build(&self.run, &self.phases, &self.feed, chrono::Utc::now())
    }

    fn readable_by(&self, owner: Option<Uuid>) -> bool {
        owner.is_none_or(|o| o == self.owner)
    }
}

#[derive(Debug)]
enum Slot {
    /// A read in flight (its ticket knows its connection).
    Reading { ticket: u64 },
    /// Rows read under `connection` at `at`.
    Ready {
        rows: Arc<Rows>,
        connection: u64,
        at: Instant,
    },
}

/// The cache's bookkeeping, without I/O or clocks of its own (the tests drive it).
#[derive(Debug, Default)]
pub struct Slots {
    by_portfolio: HashMap<Uuid, Slot>,
    /// The portfolio whose kept rows are of this run.
    portfolio_of_run: HashMap<Uuid, Uuid>,
    next_ticket: u64,
}

/// A read's claim to keep what it reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket {
    ticket: u64,
    connection: u64,
}

impl Slots {
    /// The kept rows of `portfolio` if `owner` (`None`: an admin) may read them, they were
    /// read under the listener's current `connection` and are younger than [`MAX_AGE`].
    pub fn get(
        &self,
        portfolio: Uuid,
        owner: Option<Uuid>,
        connection: u64,
        now: Instant,
    ) -> Option<Arc<Rows>> {
        match self.by_portfolio.get(&portfolio)? {
            Slot::Ready {
                rows,
                connection: c,
                at,
            } if *c == connection
                && now.saturating_duration_since(*at) < MAX_AGE
                && rows.readable_by(owner) =>
            {
                Some(rows.clone())
            }
            _ => None,
        }
    }

    /// Starts a read of `portfolio` under `connection` (drops what was kept of it).
    pub fn begin(&mut self, portfolio: Uuid, connection: u64) -> Ticket {
        self.next_ticket += 1;
        let ticket = self.next_ticket;
        self.forget(portfolio);
        self.by_portfolio
            .insert(portfolio, Slot::Reading { ticket });
        Ticket { ticket, connection }
    }

    /// Keeps what the read of `ticket` found, unless a change overtook it, the listener's
    /// connection is no longer the one it began under (`connection`: the current one, or
    /// `None` while not listening). True when kept.
    pub fn finish(
        &mut self,
        portfolio: Uuid,
        ticket: Ticket,
        rows: Arc<Rows>,
        connection: Option<u64>,
        now: Instant,
    ) -> bool {
        let still_mine = matches!(
            self.by_portfolio.get(&portfolio),
            Some(Slot::Reading { ticket: t }) if *t == ticket.ticket
        );
        if !still_mine || connection != Some(ticket.connection) {
            return false;
        }
        if self.by_portfolio.len() > CAPACITY {
            self.by_portfolio.clear();
            self.portfolio_of_run.clear();
        }
        self.portfolio_of_run.insert(rows.run.id, portfolio);
        self.by_portfolio.insert(
            portfolio,
            Slot::Ready {
                rows,
                connection: ticket.connection,
                at: now,
            },
        );
        true
    }

    /// A change from the listener: drops what it may concern.
    pub fn change(&mut self, change: &RunChange) {
        match change {
            RunChange::Resync => self.clear(),
            RunChange::Run {
                run_id,
                portfolio_id,
            } => {
                if let Some(p) = portfolio_id {
                    self.forget(*p);
                }
                match self.portfolio_of_run.get(run_id).copied() {
                    Some(p) => self.forget(p),
                    // A run we keep nothing of: a read in flight may be of it.
                    None if portfolio_id.is_none() => self
                        .by_portfolio
                        .retain(|_, slot| matches!(slot, Slot::Ready { .. })),
                    None => {}
                }
            }
        }
    }

    /// Drops what is kept of `portfolio` (and its read in flight).
    pub fn forget(&mut self, portfolio: Uuid) {
        if let Some(Slot::Ready { rows, .. }) = self.by_portfolio.remove(&portfolio) {
            self.portfolio_of_run.remove(&rows.run.id);
        }
    }

    /// Drops everything.
    pub fn clear(&mut self) {
        self.by_portfolio.clear();
        self.portfolio_of_run.clear();
    }

    /// Portfolios with kept rows or a read in flight.
    pub fn len(&self) -> usize {
        self.by_portfolio.len()
    }

    /// True when nothing is kept or read.
    pub fn is_empty(&self) -> bool {
        self.by_portfolio.is_empty()
    }
}

/// The cache (cheap to clone). Its invalidation task starts with the first poll.
#[derive(Clone, Debug)]
pub struct StatusCache {
    slots: Arc<Mutex<Slots>>,
    events: RunEvents,
    started: Arc<Once>,
}

impl StatusCache {
    /// A cache fed by `events`.
    pub fn new(events: RunEvents) -> Self {
        Self {
            slots: Arc::new(Mutex::new(Slots::default())),
            events,
            started: Arc::new(Once::new()),
        }
    }

    fn slots(&self) -> MutexGuard<'_, Slots> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The status document of `portfolio` as `owner` sees it (`None`: an admin), or `None`
    /// when it does not exist or is someone else's: from memory when nothing changed since
    /// the last read, else one statement ([`db::status::latest`]).
    pub async fn load(
        &self,
        db: &PgPool,
        portfolio: Uuid,
        owner: Option<Uuid>,
    ) -> Result<Option<OnboardingStatus>, sqlx::Error> {
        self.start();
        let ticket = match self.events.listening() {
            Some(connection) => {
                let mut slots = self.slots();
                if let Some(rows) = slots.get(portfolio, owner, connection, Instant::now()) {
                    drop(slots);
                    metrics::counter!(m::STATUS_CACHE, "result" => "hit").increment(1);
                    return Ok(Some(rows.document()));
                }
                Some(slots.begin(portfolio, connection))
            }
            None => None,
        };
        metrics::counter!(m::STATUS_CACHE, "result" => "miss").increment(1);
        let read = db::status::latest(db, portfolio, owner, FEED_ENTRIES).await?;
        Ok(match read {
            db::status::Latest::Hidden => None,
            db::status::Latest::NoRun => Some(OnboardingStatus::not_found(portfolio)),
            db::status::Latest::Run {
                owner: portfolio_owner,
                run,
                phases,
                feed,
            } => {
                let rows = Arc::new(Rows {
                    owner: portfolio_owner,
                    run: *run,
                    phases,
                    feed: status::feed::collapse_duplicates(feed),
                });
                if let Some(ticket) = ticket {
                    let connection = self.events.listening();
                    self.slots().finish(
                        portfolio,
                        ticket,
                        rows.clone(),
                        connection,
                        Instant::now(),
                    );
                }
                Some(rows.document())
            }
        })
    }

    /// Drops what is kept of `portfolio`: after a write of the api's own.
    pub fn forget(&self, portfolio: Uuid) {
        self.slots().forget(portfolio);
    }

    /// Starts the invalidation task (once): it applies every change the listener sends.
    fn start(&self) {
        self.started.call_once(|| {
            let mut changes = self.events.subscribe();
            let slots = Arc::downgrade(&self.slots);
            tokio::spawn(async move {
                loop {
                    let change = changes.recv().await;
                    let Some(slots) = slots.upgrade() else { return };
                    let mut slots = slots.lock().unwrap_or_else(|e| e.into_inner());
                    match change {
                        Ok(change) => slots.change(&change),
                        Err(RecvError::Lagged(_)) => slots.clear(),
                        Err(RecvError::Closed) => {
                            slots.clear();
                            return;
                        }
                    }
                }
            });
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sigmasight_shared::domain::{RunKind, RunSource, RunStatus};

    fn rows(owner: Uuid, run_id: Uuid) -> Arc<Rows> {
        let now = chrono::Utc::now();
        Arc::new(Rows {
            owner,
            run: Run {
                id: run_id,
                kind: RunKind::Onboarding,
                parent_id: None,
                portfolio_id: None,
                status: RunStatus::Running,
                attempt: 1,
                max_attempts: 3,
                source: RunSource::Onboarding,
                params: serde_json::json!({}),
                priority: 0,
                run_at: now,
                worker_id: None,
                lease_expires_at: None,
                previous_worker_id: None,
                idempotency_key: None,
                created_at: now,
                started_at: Some(now),
                finished_at: None,
                error: None,
                summary: serde_json::json!({}),
            },
            phases: vec![],
            feed: vec![],
        })
    }

    const CONN: u64 = 1;

    fn kept(slots: &mut Slots, portfolio: Uuid, owner: Uuid, run: Uuid, t0: Instant) {
        let ticket = slots.begin(portfolio, CONN);
        assert!(slots.finish(portfolio, ticket, rows(owner, run), Some(CONN), t0));
    }

    #[test]
    fn kept_rows_serve_their_owner_and_admins_until_they_age() {
        let (p, owner, run) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let t0 = Instant::now();
        let mut slots = Slots::default();
        assert!(slots.get(p, Some(owner), CONN, t0).is_none());
        kept(&mut slots, p, owner, run, t0);
        assert!(slots.get(p, Some(owner), CONN, t0).is_some());
        assert!(slots.get(p, None, CONN, t0).is_some(), "an admin");
        assert!(
            slots.get(p, Some(Uuid::new_v4()), CONN, t0).is_none(),
            "a stranger"
        );
        assert!(
            slots.get(p, Some(owner), CONN + 1, t0).is_none(),
            "a new connection"
        );
        assert!(
            slots.get(p, Some(owner), CONN, t0 + MAX_AGE).is_none(),
            "too old"
        );
    }

    #[test]
    fn a_change_drops_its_portfolio_by_portfolio_or_by_run() {
        let t0 = Instant::now();
        let (a, b, owner) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let (run_a, run_b) = (Uuid::new_v4(), Uuid::new_v4());
        let mut slots = Slots::default();
        kept(&mut slots, a, owner, run_a, t0);
        kept(&mut slots, b, owner, run_b, t0);
        // A phase of run_a changed (the notification names only the run).
        slots.change(&RunChange::Run {
            run_id: run_a,
            portfolio_id: None,
        });
        assert!(slots.get(a, None, CONN, t0).is_none());
        assert!(slots.get(b, None, CONN, t0).is_some(), "b untouched");
        // A new run of b (the runs row names its portfolio).
        slots.change(&RunChange::Run {
            run_id: Uuid::new_v4(),
            portfolio_id: Some(b),
        });
        assert!(slots.get(b, None, CONN, t0).is_none());
        assert!(slots.is_empty());
        kept(&mut slots, a, owner, run_a, t0);
        slots.change(&RunChange::Resync);
        assert!(slots.get(a, None, CONN, t0).is_none());
    }

    #[test]
    fn a_read_overtaken_by_a_change_is_not_kept() {
        let t0 = Instant::now();
        let (p, owner, run) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let mut slots = Slots::default();
        // The change names the portfolio.
        let ticket = slots.begin(p, CONN);
        slots.change(&RunChange::Run {
            run_id: run,
            portfolio_id: Some(p),
        });
        assert!(!slots.finish(p, ticket, rows(owner, run), Some(CONN), t0));
        // The change names only a run nothing is kept of: every read in flight yields.
        let ticket = slots.begin(p, CONN);
        slots.change(&RunChange::Run {
            run_id: run,
            portfolio_id: None,
        });
        assert!(!slots.finish(p, ticket, rows(owner, run), Some(CONN), t0));
        // A later read of the same portfolio supersedes an earlier one.
        let first = slots.begin(p, CONN);
        let second = slots.begin(p, CONN);
        assert!(!slots.finish(p, first, rows(owner, run), Some(CONN), t0));
        assert!(slots.finish(p, second, rows(owner, run), Some(CONN), t0));
        // The listener lost its connection, or reconnected, during the read.
        let ticket = slots.begin(p, CONN);
        assert!(!slots.finish(p, ticket, rows(owner, run), None, t0));
        let ticket = slots.begin(p, CONN);
        assert!(!slots.finish(p, ticket, rows(owner, run), Some(CONN + 1), t0));
        assert!(slots.get(p, None, CONN, t0).is_none());
    }

    #[test]
    fn the_cache_stays_bounded() {
        let t0 = Instant::now();
        let owner = Uuid::new_v4();
        let mut slots = Slots::default();
        for _ in 0..=CAPACITY + 1 {
            kept(&mut slots, Uuid::new_v4(), owner, Uuid::new_v4(), t0);
        }
        assert!(slots.len() <= CAPACITY + 1, "{}", slots.len());
        assert!(slots.portfolio_of_run.len() <= CAPACITY + 1);
    }
}
