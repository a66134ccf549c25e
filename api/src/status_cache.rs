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
//!   are of that run; if none is, the run is remembered with the last ticket given out, and
//!   a read in flight that finds that run, begun before the change, is not kept (past
//!   [`CHANGED_RUNS`] remembered runs, no read begun before is);
//! - the api's own writes (calculate, retry) drop their portfolio at once;
//! - rows are kept [`MAX_AGE`] at most (a connection that died without a word), and
//!   [`CAPACITY`] portfolios at most.
//!
//! A change is seen once its notification arrives (Postgres sends it at commit; a few
//! milliseconds): a poll in between answers as of just before the commit, as a poll sent a
//! moment earlier would have. Who may read is checked on every poll, against the kept owner.
//!
//! A change would make the next poll wait for Postgres, and a night changes every
//! portfolio three times (its child is queued, claimed, ended) while the batch keeps
//! Postgres's cores busy. So a portfolio polled within [`WATCHED`] is read again as soon as
//! a change drops its rows, by one refresh task, many portfolios in one statement, at most
//! once per [`REFRESH_GAP`]: its next poll finds the new rows in memory. The refresh is a
//! read like a poll's, with a ticket, kept under the same rules.

use crate::events::{RunChange, RunEvents};
use sigmasight_shared::db::{self, activity::Entry, phases::PhaseRow, runs::Run};
use sigmasight_shared::metrics as m;
use sigmasight_shared::status::{self, OnboardingStatus, FEED_ENTRIES};
use sqlx::PgPool;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, Once, Weak};
use std::time::{Duration, Instant};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::Notify;
use uuid::Uuid;

/// Rows are served this long at most after their read, changes or not.
pub const MAX_AGE: Duration = Duration::from_secs(30);

/// Portfolios whose rows are kept at most (about 10 KB each); when full, all are dropped.
pub const CAPACITY: usize = 5_000;

/// A portfolio polled this recently is read again as soon as a change drops its rows (a
/// status page polls every 2 s), so its next poll finds them in memory.
pub const WATCHED: Duration = Duration::from_secs(10);

/// Runs remembered at most as changed while a read of them may be in flight; past that,
/// every read in flight yields (as if all of them were of a changed run).
const CHANGED_RUNS: usize = 10_000;

/// Portfolios read again in one statement at most (a statement of a few milliseconds even
/// on a busy night, so the first are back soon after a change of many).
const REFRESH_BATCH: usize = 100;

/// A portfolio is read again this often at most: a run whose changes come faster (a
/// burst of activity entries) is read once for the lot.
pub const REFRESH_GAP: Duration = Duration::from_millis(20);

/// How long the refresh waits after a change for the rest of its commit's notifications (a
/// child's end sends its run's, its phases' and its entries' at once).
const SETTLE: Duration = Duration::from_millis(2);

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
    /// Runs a change named alone while nothing kept was of them, with the last ticket given
    /// out before that change: a read of such a run with a ticket up to it is not kept.
    changed_runs: HashMap<Uuid, u64>,
    /// No read with a ticket up to this one is kept (`changed_runs` overflowed).
    floor: u64,
    /// When each portfolio was last polled, and last read again.
    polled: HashMap<Uuid, Watch>,
    /// Portfolios polled within [`WATCHED`] whose rows a change dropped: to read again.
    stale: HashSet<Uuid>,
}

#[derive(Debug, Clone, Copy)]
struct Watch {
    polled: Instant,
    refreshed: Option<Instant>,
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

    /// Notes a poll of `portfolio` at `now`: for [`WATCHED`], a change of it is read again
    /// at once.
    pub fn polled(&mut self, portfolio: Uuid, now: Instant) {
        if self.polled.len() >= CAPACITY && !self.polled.contains_key(&portfolio) {
            self.polled
                .retain(|_, w| now.saturating_duration_since(w.polled) < WATCHED);
            if self.polled.len() >= CAPACITY {
                self.polled.clear();
            }
        }
        self.polled
            .entry(portfolio)
            .and_modify(|w| w.polled = now)
            .or_insert(Watch {
                polled: now,
                refreshed: None,
            });
    }

    fn watched(&self, portfolio: Uuid, now: Instant) -> bool {
        self.polled
            .get(&portfolio)
            .is_some_and(|w| now.saturating_duration_since(w.polled) < WATCHED)
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

    /// Keeps what the read of `ticket` found, unless a change overtook it or the listener's
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
        let run_changed = ticket.ticket <= self.floor
            || self
                .changed_runs
                .get(&rows.run.id)
                .is_some_and(|at| ticket.ticket <= *at);
        if run_changed {
            // Its run changed during the read: read it again.
            self.by_portfolio.remove(&portfolio);
            self.mark_stale(portfolio, now);
            return false;
        }
        if self.by_portfolio.len() > CAPACITY {
            self.by_portfolio.clear();
            self.portfolio_of_run.clear();
        }
        self.stale.remove(&portfolio);
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

    /// Ends the read of `ticket` that found nothing to keep (the portfolio has no run).
    pub fn abandon(&mut self, portfolio: Uuid, ticket: Ticket) {
        if matches!(
            self.by_portfolio.get(&portfolio),
            Some(Slot::Reading { ticket: t }) if *t == ticket.ticket
        ) {
            self.by_portfolio.remove(&portfolio);
        }
    }

    /// A change from the listener at `now`: drops what it may concern, and marks the
    /// portfolios polled lately among them to be read again.
    pub fn change(&mut self, change: &RunChange, now: Instant) {
        match change {
            RunChange::Resync => {
                self.clear();
                let watched: Vec<Uuid> = self
                    .polled
                    .iter()
                    .filter(|(_, w)| now.saturating_duration_since(w.polled) < WATCHED)
                    .map(|(p, _)| *p)
                    .collect();
                self.stale.extend(watched);
            }
            RunChange::Run {
                run_id,
                portfolio_id,
            } => {
                if let Some(p) = portfolio_id {
                    self.drop_rows(*p, now);
                }
                match self.portfolio_of_run.get(run_id).copied() {
                    Some(p) => self.drop_rows(p, now),
                    // A run we keep nothing of: a read in flight may be of it.
                    None if portfolio_id.is_none() => {
                        if self.changed_runs.len() >= CHANGED_RUNS {
                            self.changed_runs.clear();
                            self.floor = self.next_ticket;
                        }
                        self.changed_runs.insert(*run_id, self.next_ticket);
                    }
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

    /// [`Slots::forget`], and marks `portfolio` to be read again if it is watched.
    fn drop_rows(&mut self, portfolio: Uuid, now: Instant) {
        self.forget(portfolio);
        self.mark_stale(portfolio, now);
    }

    fn mark_stale(&mut self, portfolio: Uuid, now: Instant) {
        if self.watched(portfolio, now) {
            self.stale.insert(portfolio);
        }
    }

    /// True when some watched portfolio waits to be read again.
    pub fn has_stale(&self) -> bool {
        !self.stale.is_empty()
    }

    /// Begins the reads of at most `max` portfolios waiting to be read again (still
    /// watched, nothing kept and no read in flight) under `connection`; one read again
    /// less than [`REFRESH_GAP`] ago waits.
    pub fn take_stale(&mut self, max: usize, connection: u64, now: Instant) -> Vec<(Uuid, Ticket)> {
        let mut taken = Vec::new();
        let mut left = Vec::new();
        let candidates: Vec<Uuid> = self.stale.drain().collect();
        for p in candidates {
            let Some(watch) = self.polled.get_mut(&p) else {
                continue;
            };
            if now.saturating_duration_since(watch.polled) >= WATCHED
                || self.by_portfolio.contains_key(&p)
            {
                continue;
            }
            let due = watch
                .refreshed
                .is_none_or(|at| now.saturating_duration_since(at) >= REFRESH_GAP);
            if taken.len() >= max || !due {
                left.push(p);
            } else {
                watch.refreshed = Some(now);
                taken.push((p, self.begin(p, connection)));
            }
        }
        self.stale.extend(left);
        taken
    }

    /// Drops everything kept and every read in flight.
    pub fn clear(&mut self) {
        self.by_portfolio.clear();
        self.portfolio_of_run.clear();
        self.changed_runs.clear();
        self.floor = self.next_ticket;
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

/// The cache (cheap to clone). Its invalidation and refresh tasks start with the first poll.
#[derive(Clone, Debug)]
pub struct StatusCache {
    slots: Arc<Mutex<Slots>>,
    db: PgPool,
    events: RunEvents,
    /// Wakes the refresh task when a watched portfolio is stale.
    stale: Arc<Notify>,
    started: Arc<Once>,
}

fn lock(slots: &Mutex<Slots>) -> MutexGuard<'_, Slots> {
    slots.lock().unwrap_or_else(|e| e.into_inner())
}

impl StatusCache {
    /// A cache of reads from `db`, fed by `events`.
    pub fn new(db: PgPool, events: RunEvents) -> Self {
        Self {
            slots: Arc::new(Mutex::new(Slots::default())),
            db,
            events,
            stale: Arc::new(Notify::new()),
            started: Arc::new(Once::new()),
        }
    }

    fn slots(&self) -> MutexGuard<'_, Slots> {
        lock(&self.slots)
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
                let now = Instant::now();
                let mut slots = self.slots();
                if let Some(rows) = slots.get(portfolio, owner, connection, now) {
                    slots.polled(portfolio, now);
                    drop(slots);
                    metrics::counter!(m::STATUS_CACHE, "result" => "hit").increment(1);
                    return Ok(Some(rows.document()));
                }
                // Noted only once the poll is allowed to (it is checked on the way out).
                Some(slots.begin(portfolio, connection))
            }
            None => None,
        };
        metrics::counter!(m::STATUS_CACHE, "result" => "miss").increment(1);
        let read = db::status::latest(db, portfolio, owner, FEED_ENTRIES).await?;
        if let (Some(ticket), db::status::Latest::Hidden | db::status::Latest::NoRun) =
            (ticket, &read)
        {
            self.slots().abandon(portfolio, ticket);
        }
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
                    let now = Instant::now();
                    let mut slots = self.slots();
                    slots.polled(portfolio, now);
                    slots.finish(portfolio, ticket, rows.clone(), connection, now);
                    self.wake_if_stale(&slots);
                }
                Some(rows.document())
            }
        })
    }

    /// Drops what is kept of `portfolio`: after a write of the api's own.
    pub fn forget(&self, portfolio: Uuid) {
        let mut slots = self.slots();
        slots.drop_rows(portfolio, Instant::now());
        self.wake_if_stale(&slots);
    }

    fn wake_if_stale(&self, slots: &Slots) {
        if slots.has_stale() {
            self.stale.notify_one();
        }
    }

    /// Starts the invalidation task (it applies every change the listener sends) and the
    /// refresh task (it reads stale watched portfolios again), once.
    fn start(&self) {
        self.started.call_once(|| {
            let mut changes = self.events.subscribe();
            let slots = Arc::downgrade(&self.slots);
            let stale = self.stale.clone();
            tokio::spawn(async move {
                loop {
                    let change = changes.recv().await;
                    let Some(slots) = slots.upgrade() else { return };
                    let mut slots = lock(&slots);
                    match change {
                        Ok(change) => slots.change(&change, Instant::now()),
                        Err(RecvError::Lagged(_)) => {
                            slots.change(&RunChange::Resync, Instant::now())
                        }
                        Err(RecvError::Closed) => {
                            slots.clear();
                            return;
                        }
                    }
                    if slots.has_stale() {
                        stale.notify_one();
                    }
                }
            });
            tokio::spawn(refresh(
                Arc::downgrade(&self.slots),
                self.db.clone(),
                self.events.clone(),
                self.stale.clone(),
            ));
        });
    }
}

/// The refresh task: after a change dropped the rows of portfolios polled lately, reads
/// them again, [`REFRESH_BATCH`] in one statement, one statement at a time, so their next
/// poll is answered from memory rather than waiting on a busy Postgres. Ends with the cache.
async fn refresh(slots: Weak<Mutex<Slots>>, db: PgPool, events: RunEvents, stale: Arc<Notify>) {
    loop {
        // Wakes on a change; checks now and then that the cache is still there.
        let _ = tokio::time::timeout(Duration::from_secs(5), stale.notified()).await;
        tokio::time::sleep(SETTLE).await;
        loop {
            let Some(cache) = slots.upgrade() else { return };
            let Some(connection) = events.listening() else {
                break;
            };
            let (batch, waiting) = {
                let mut cache = lock(&cache);
                let batch = cache.take_stale(REFRESH_BATCH, connection, Instant::now());
                (batch, cache.has_stale())
            };
            drop(cache);
            if batch.is_empty() {
                if !waiting {
                    break;
                }
                // Read again lately: their turn comes within the gap.
                tokio::time::sleep(REFRESH_GAP / 4).await;
                continue;
            }
            let ids: Vec<Uuid> = batch.iter().map(|(p, _)| *p).collect();
            let found = match db::status::latest_many(&db, &ids, FEED_ENTRIES).await {
                Ok(found) => found,
                Err(e) => {
                    tracing::warn!(error = %e, "status refresh failed; polls read instead");
                    Vec::new()
                }
            };
            // Built before taking the lock: polls wait for it.
            let read: Vec<(Uuid, Arc<Rows>)> = found
                .into_iter()
                .map(|f| {
                    let rows = Rows {
                        owner: f.owner,
                        run: *f.run,
                        phases: f.phases,
                        feed: status::feed::collapse_duplicates(f.feed),
                    };
                    (f.portfolio_id, Arc::new(rows))
                })
                .collect();
            let Some(cache) = slots.upgrade() else { return };
            let mut kept = 0u64;
            {
                let mut cache = lock(&cache);
                let (connection, now) = (events.listening(), Instant::now());
                let mut tickets: HashMap<Uuid, Ticket> = batch.into_iter().collect();
                for (p, rows) in read {
                    if let Some(ticket) = tickets.remove(&p) {
                        kept += u64::from(cache.finish(p, ticket, rows, connection, now));
                    }
                }
                for (p, ticket) in tickets {
                    cache.abandon(p, ticket);
                }
            }
            metrics::counter!(m::STATUS_CACHE, "result" => "refreshed").increment(kept);
        }
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

    /// A change naming only a run (its phases or activity).
    fn run_only(run_id: Uuid) -> RunChange {
        RunChange::Run {
            run_id,
            portfolio_id: None,
        }
    }

    /// A change of a runs row, which names its portfolio.
    fn of_portfolio(run_id: Uuid, portfolio: Uuid) -> RunChange {
        RunChange::Run {
            run_id,
            portfolio_id: Some(portfolio),
        }
    }

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
        slots.change(&run_only(run_a), t0);
        assert!(slots.get(a, None, CONN, t0).is_none());
        assert!(slots.get(b, None, CONN, t0).is_some(), "b untouched");
        // A new run of b (the runs row names its portfolio).
        slots.change(&of_portfolio(Uuid::new_v4(), b), t0);
        assert!(slots.get(b, None, CONN, t0).is_none());
        assert!(slots.is_empty());
        kept(&mut slots, a, owner, run_a, t0);
        slots.change(&RunChange::Resync, t0);
        assert!(slots.get(a, None, CONN, t0).is_none());
    }

    #[test]
    fn a_read_overtaken_by_a_change_is_not_kept() {
        let t0 = Instant::now();
        let (p, owner, run) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let mut slots = Slots::default();
        // The change names the portfolio.
        let ticket = slots.begin(p, CONN);
        slots.change(&of_portfolio(run, p), t0);
        assert!(!slots.finish(p, ticket, rows(owner, run), Some(CONN), t0));
        // The change names only a run nothing is kept of: a read in flight of that run
        // yields, a read of another run does not, nor one begun after the change.
        let other = Uuid::new_v4();
        let of_run = slots.begin(p, CONN);
        let of_other = slots.begin(other, CONN);
        slots.change(&run_only(run), t0);
        let third = Uuid::new_v4();
        let after = slots.begin(third, CONN);
        assert!(!slots.finish(p, of_run, rows(owner, run), Some(CONN), t0));
        assert!(slots.finish(other, of_other, rows(owner, Uuid::new_v4()), Some(CONN), t0));
        assert!(slots.finish(third, after, rows(owner, run), Some(CONN), t0));
        slots.clear();
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

    #[test]
    fn remembered_changed_runs_stay_bounded_and_then_every_earlier_read_yields() {
        let t0 = Instant::now();
        let (p, owner, run) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let mut slots = Slots::default();
        let before = slots.begin(p, CONN);
        for _ in 0..=CHANGED_RUNS {
            slots.change(&run_only(Uuid::new_v4()), t0);
        }
        assert!(slots.changed_runs.len() <= CHANGED_RUNS);
        // The read's run is not among those remembered, yet it began before they were
        // forgotten: it yields.
        assert!(!slots.finish(p, before, rows(owner, run), Some(CONN), t0));
        kept(&mut slots, p, owner, run, t0);
    }

    #[test]
    fn a_change_to_a_portfolio_polled_lately_has_it_read_again_once_per_gap() {
        let t0 = Instant::now();
        let (watched, unwatched, owner) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let (run_w, run_u) = (Uuid::new_v4(), Uuid::new_v4());
        let mut slots = Slots::default();
        slots.polled(watched, t0);
        kept(&mut slots, watched, owner, run_w, t0);
        kept(&mut slots, unwatched, owner, run_u, t0);
        assert!(!slots.has_stale());
        // Both change (one by its run alone): only the polled one is to be read again.
        for run in [run_w, run_u] {
            slots.change(&run_only(run), t0);
        }
        assert!(slots.has_stale());
        let taken = slots.take_stale(10, CONN, t0);
        assert_eq!(taken.iter().map(|(p, _)| *p).collect::<Vec<_>>(), [watched]);
        assert!(!slots.has_stale());
        let (_, ticket) = taken[0];
        assert!(slots.finish(watched, ticket, rows(owner, run_w), Some(CONN), t0));
        assert!(slots.get(watched, Some(owner), CONN, t0).is_some());
        // It changes again at once: read again only once the gap has passed.
        slots.change(&of_portfolio(run_w, watched), t0);
        assert!(slots.take_stale(10, CONN, t0).is_empty());
        assert!(slots.has_stale(), "still waiting");
        let later = t0 + REFRESH_GAP;
        let taken = slots.take_stale(10, CONN, later);
        assert_eq!(taken.len(), 1);
        // A run change during that read: it is not kept, and waits to be read again.
        slots.change(&run_only(run_w), later);
        assert!(!slots.finish(watched, taken[0].1, rows(owner, run_w), Some(CONN), later));
        assert!(slots.has_stale());
        // A poll read it meanwhile: nothing left to read again.
        kept(&mut slots, watched, owner, run_w, later);
        assert!(slots.take_stale(10, CONN, later + REFRESH_GAP).is_empty());
        assert!(!slots.has_stale());
        // Unpolled for WATCHED: a change no longer has it read again.
        let idle = t0 + WATCHED;
        slots.change(&of_portfolio(run_w, watched), idle);
        assert!(!slots.has_stale());
        // A resync has every portfolio polled lately read again, at most `max` a batch.
        let recent: Vec<Uuid> = (0..3).map(|_| Uuid::new_v4()).collect();
        for p in &recent {
            slots.polled(*p, idle);
        }
        slots.change(&RunChange::Resync, idle);
        let first = slots.take_stale(2, CONN + 1, idle);
        let second = slots.take_stale(2, CONN + 1, idle);
        assert_eq!((first.len(), second.len()), (2, 1));
        assert!(slots.take_stale(2, CONN + 1, idle).is_empty());
    }

    #[test]
    fn what_is_polled_stays_bounded() {
        let t0 = Instant::now();
        let mut slots = Slots::default();
        for _ in 0..CAPACITY {
            slots.polled(Uuid::new_v4(), t0);
        }
        // Full of portfolios polled lately: the next starts afresh.
        slots.polled(Uuid::new_v4(), t0);
        assert_eq!(slots.polled.len(), 1);
        // Full, mostly of portfolios polled WATCHED ago: they make room, the recent stay.
        slots.polled.clear();
        for _ in 1..CAPACITY {
            slots.polled(Uuid::new_v4(), t0);
        }
        let recent = Uuid::new_v4();
        slots.polled(recent, t0 + WATCHED / 2);
        assert_eq!(slots.polled.len(), CAPACITY);
        slots.polled(Uuid::new_v4(), t0 + WATCHED);
        assert_eq!(slots.polled.len(), 2);
        assert!(slots.watched(recent, t0 + WATCHED));
    }
}
