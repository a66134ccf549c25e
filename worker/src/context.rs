//! What a running attempt carries: the run, its pool and provider chain session, the activity buffer, the
//! lease-lost signal, and phase progress reporting (fenced, throttled).

use crate::activity::ActivityBuffer;
use crate::WorkerConfig;
use sigmasight_shared::db::{phases as phase_rows, runs::Run};
use sigmasight_shared::domain::{ActivityLevel, PhaseStatus, RunKind};
use sigmasight_shared::market_data::chain::ChainSession;
use sigmasight_shared::phases::PhaseDef;
use sqlx::PgPool;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How an attempt ended badly, and what happens next.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The lease is gone (another worker took over): stop writing.
    #[error("lease lost")]
    LeaseLost,
    /// The run was cancelled (by an admin, or with its parent): stop writing.
    #[error("cancelled")]
    Cancelled,
    /// Worth another attempt (provider outage, database blip).
    #[error("{0:#}")]
    Retryable(anyhow::Error),
    /// Never worth retrying (no positions, bad data).
    #[error("{0:#}")]
    Fatal(anyhow::Error),
    /// The worker is shutting down and gives the run back to the queue.
    #[error("handed back: worker shutting down")]
    HandedBack,
}

impl From<sqlx::Error> for JobError {
    fn from(e: sqlx::Error) -> Self {
        Self::Retryable(anyhow::Error::new(e).context("database"))
    }
}

/// Everything a phase may use.
pub struct RunContext {
    pub pool: PgPool,
    pub run: Run,
    pub config: Arc<WorkerConfig>,
    /// This attempt's use of the provider chain (its breakers and request counts).
    pub market: Arc<ChainSession>,
    pub activity: Arc<ActivityBuffer>,
    /// Fires when the lease is gone (taken over, cancelled): the runner then drops the work.
    pub lease: Arc<crate::lease::LeaseSignal>,
    /// When the attempt last showed progress (for the hung-phase watchdog).
    pub heartbeat: Arc<Heartbeat>,
    /// What the children of a nightly batch share in this worker process (closes, betas).
    pub night: Arc<crate::phases::night_share::NightShare>,
    /// Set when the attempt's phase rows are written whole at its end, not as they happen.
    pub deferred: Option<Arc<DeferredPhases>>,
    /// Data this attempt could not have (profiles or fundamentals no provider could serve
    /// now), one line each: the run then ends `partial` with everything else computed.
    pub gaps: std::sync::Mutex<Vec<String>>,
}

/// The phases of an attempt kept in memory and written once, with its end: a nightly
/// child's first attempt, whose phases take milliseconds and which nobody watches (its
/// status shows the plan's phases pending until it ends). A later attempt writes its rows
/// as they happen, beside the earlier attempt's it may carry over.
#[derive(Debug, Default)]
pub struct DeferredPhases {
    state: std::sync::Mutex<DeferredState>,
}

#[derive(Debug, Default)]
struct DeferredState {
    running: Option<(&'static str, chrono::DateTime<chrono::Utc>)>,
    ended: Vec<phase_rows::EndedPhase>,
}

impl DeferredPhases {
    /// Whether `run`'s phase rows are written at its end.
    pub fn applies_to(run: &Run) -> bool {
        run.kind == RunKind::PortfolioDaily && run.attempt == 1
    }

    fn with<T>(&self, f: impl FnOnce(&mut DeferredState) -> T) -> T {
        match self.state.lock() {
            Ok(mut state) => f(&mut state),
            Err(poisoned) => f(&mut poisoned.into_inner()),
        }
    }

    fn start(&self, phase: &'static PhaseDef, at: chrono::DateTime<chrono::Utc>) {
        self.with(|s| s.running = Some((phase.id, at)));
    }

    fn end(&self, ended: phase_rows::EndedPhase) {
        self.with(|s| {
            s.running = None;
            s.ended.push(ended);
        });
    }

    /// The attempt's rows as they stand: ended phases, the one running (if any), the rest
    /// pending.
    pub fn rows(&self, plan: &[PhaseDef]) -> phase_rows::AttemptRows {
        self.with(|s| {
            let mut ended = s.ended.clone();
            if let Some((phase_id, started_at)) = s.running {
                ended.push(phase_rows::EndedPhase {
                    phase_id,
                    status: PhaseStatus::Running,
                    summary: serde_json::json!({}),
                    current: 0,
                    total: 0,
                    started_at,
                    finished_at: None,
                });
            }
            phase_rows::AttemptRows::new(plan, &ended)
        })
    }
}

/// The instant of the last progress of an attempt, readable from another task.
pub struct Heartbeat {
    origin: Instant,
    last_ms: AtomicU64,
}

impl Heartbeat {
    /// Starts now.
    pub fn new() -> Self {
        Self {
            origin: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }

    /// Records progress now.
    pub fn beat(&self) {
        let ms = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::SeqCst);
    }

    /// Time since the last progress.
    pub fn silence(&self) -> Duration {
        let last = Duration::from_millis(self.last_ms.load(Ordering::SeqCst));
        self.origin.elapsed().saturating_sub(last)
    }
}

impl Default for Heartbeat {
    fn default() -> Self {
        Self::new()
    }
}

impl RunContext {
    /// The attempt this context runs.
    pub fn attempt(&self) -> i32 {
        self.run.attempt
    }

    /// Whether someone may watch this run live: then a phase's start is written when it
    /// starts and its lines before its end. A nightly child's phases take milliseconds and
    /// nobody watches one: each phase is written once, at its end, with its start time, and
    /// its lines with the run's end (or the periodic flush).
    pub fn watched_live(&self) -> bool {
        self.run.kind != RunKind::PortfolioDaily
    }

    /// The nightly batch this run is a child of (its closes are shared with its siblings).
    pub fn night_batch(&self) -> Option<uuid::Uuid> {
        self.run
            .parent_id
            .filter(|_| self.run.kind == RunKind::PortfolioDaily)
    }

    /// Fails fast once the lease is known to be lost.
    pub fn check_lease(&self) -> Result<(), JobError> {
        if self.lease.is_lost() {
            Err(JobError::LeaseLost)
        } else {
            Ok(())
        }
    }

    /// Turns a fenced write's verdict into an error when it touched nothing.
    pub fn fenced(&self, held: bool) -> Result<(), JobError> {
        if held {
            Ok(())
        } else {
            self.lease.lose();
            Err(JobError::LeaseLost)
        }
    }

    /// Begins a transaction that holds the attempt's fence: what it writes commits only while
    /// the lease is ours.
    pub async fn begin_fenced(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, JobError> {
        let mut tx = self.pool.begin().await?;
        let held =
            sigmasight_shared::db::runs::hold_fence(&mut tx, self.run.id, self.attempt()).await?;
        self.fenced(held)?;
        Ok(tx)
    }

    /// Records data left out of this attempt (see [`RunContext::gaps`]).
    pub fn note_gap(&self, gap: impl Into<String>) {
        match self.gaps.lock() {
            Ok(mut gaps) => gaps.push(gap.into()),
            Err(poisoned) => poisoned.into_inner().push(gap.into()),
        }
    }

    /// The data left out of this attempt so far.
    pub fn gaps(&self) -> Vec<String> {
        match self.gaps.lock() {
            Ok(gaps) => gaps.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// An info entry for the feed.
    pub fn info(&self, phase: &PhaseDef, message: impl Into<String>) {
        self.activity
            .push(ActivityLevel::Info, Some(phase.id), message.into(), false);
    }

    /// A warning entry for the feed.
    pub fn warn(&self, phase: &PhaseDef, message: impl Into<String>) {
        self.activity.push(
            ActivityLevel::Warning,
            Some(phase.id),
            message.into(),
            false,
        );
    }

    /// A debug entry (download with include_debug only).
    pub fn debug(&self, phase: &PhaseDef, message: impl Into<String>) {
        self.activity
            .push(ActivityLevel::Info, Some(phase.id), message.into(), true);
    }

    /// Marks `phase` running with `total` items and returns its progress reporter.
    pub async fn start_phase(
        &self,
        phase: &'static PhaseDef,
        total: usize,
    ) -> Result<PhaseProgress<'_>, JobError> {
        self.check_lease()?;
        let total = i32::try_from(total).unwrap_or(i32::MAX);
        let write_start = self.watched_live();
        let now = chrono::Utc::now();
        if let Some(deferred) = &self.deferred {
            deferred.start(phase, now);
        } else if write_start {
            let held =
                phase_rows::start(&self.pool, self.run.id, self.attempt(), phase.id, total).await?;
            self.fenced(held)?;
        }
        self.heartbeat.beat();
        Ok(PhaseProgress {
            ctx: self,
            phase,
            total,
            current: 0,
            written: Instant::now(),
            started_at: (!write_start).then_some(now),
        })
    }
}

/// Progress of one running phase; writes are throttled to one per [`PROGRESS_EVERY`].
pub struct PhaseProgress<'a> {
    ctx: &'a RunContext,
    phase: &'static PhaseDef,
    total: i32,
    current: i32,
    written: Instant,
    /// When the phase started, while its start is not written yet.
    started_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Minimum time between two progress writes of a phase.
pub const PROGRESS_EVERY: Duration = Duration::from_millis(200);

impl PhaseProgress<'_> {
    /// Items done so far.
    pub fn current(&self) -> i32 {
        self.current
    }

    /// Corrects the total once the work is known (written with the next progress).
    pub fn set_total(&mut self, total: usize) {
        self.total = i32::try_from(total).unwrap_or(i32::MAX);
        self.current = self.current.min(self.total);
    }

    /// Adds `n` done items; writes when the last write is old enough (the phase's end
    /// writes its last progress with its status, [`PhaseProgress::finish`]).
    pub async fn advance(&mut self, n: usize) -> Result<(), JobError> {
        self.current = self
            .current
            .saturating_add(i32::try_from(n).unwrap_or(i32::MAX))
            .min(self.total.max(0));
        self.ctx.heartbeat.beat();
        if self.started_at.is_none() && self.written.elapsed() >= PROGRESS_EVERY {
            self.write().await?;
        }
        Ok(())
    }

    async fn write(&mut self) -> Result<(), JobError> {
        self.ctx.check_lease()?;
        let held = phase_rows::progress(
            &self.ctx.pool,
            self.ctx.run.id,
            self.ctx.attempt(),
            self.phase.id,
            self.current,
            self.total,
        )
        .await?;
        self.written = Instant::now();
        self.ctx.fenced(held)
    }

    /// Ends the phase with `status`, a summary and its last progress; flushes the activity
    /// first (but for a nightly child).
    pub async fn finish(
        self,
        status: PhaseStatus,
        summary: serde_json::Value,
    ) -> Result<(), JobError> {
        self.ctx.check_lease()?;
        if let Some(deferred) = &self.ctx.deferred {
            deferred.end(phase_rows::EndedPhase {
                phase_id: self.phase.id,
                status,
                summary,
                current: self.current,
                total: self.total,
                started_at: self.started_at.unwrap_or_else(chrono::Utc::now),
                finished_at: Some(chrono::Utc::now()),
            });
            return Ok(());
        }
        // A phase's lines are in before its end shows, for whoever watches the run live.
        if self.ctx.watched_live() {
            let flushed = self.ctx.activity.flush().await?;
            self.ctx.fenced(flushed)?;
        }
        let held = phase_rows::finish(
            &self.ctx.pool,
            self.ctx.run.id,
            self.ctx.attempt(),
            self.phase.id,
            status,
            &summary,
            phase_rows::PhaseEnd {
                current: self.current,
                total: self.total,
                started_at: self.started_at,
            },
        )
        .await?;
        self.ctx.fenced(held)
    }
}
