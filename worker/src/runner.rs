//! The claim loop: wake on NOTIFY (1 s poll fallback), reap exhausted leases (on a timer), claim while a
//! slot is free, and execute each claimed attempt with its lease renewed by its own task, a
//! watchdog for hung phases, and a hand-back path for graceful shutdown. An attempt whose
//! lease is gone (taken over, or its run cancelled: announced on [`CANCELLED_CHANNEL`]) is
//! dropped at once, wherever its work is.

use crate::activity::{ActivityBuffer, FLUSH_INTERVAL};
use crate::context::{DeferredPhases, Heartbeat, JobError, RunContext};
use crate::lease::{InHand, LeaseSignal};
use crate::phases::{self, RunOutcome};
use crate::WorkerConfig;
use chrono::Utc;
use sigmasight_shared::db::runs;
use sigmasight_shared::domain::{ActivityLevel, RunStatus};
use sigmasight_shared::market_data::chain::ProviderChain;
use sigmasight_shared::queue::{
    retry_delay, BATCH_CHILD_PRIORITY, CANCELLED_CHANNEL, QUEUED_CHANNEL,
};
use sqlx::postgres::PgListener;
use sqlx::PgPool;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tracing::{error, info, warn, Instrument};

/// What every attempt of this worker shares.
#[derive(Clone)]
struct Shared {
    pool: PgPool,
    config: Arc<WorkerConfig>,
    chain: Arc<ProviderChain>,
    worker_id: Arc<str>,
    /// Flips to true when the shutdown grace period is over: hand runs back.
    hand_back: watch::Receiver<bool>,
    /// What the children of a nightly batch share in this process (closes, betas).
    night: Arc<crate::phases::night_share::NightShare>,
    /// The attempts in hand, for the cancellations the listener hears of.
    in_hand: Arc<InHand>,
}

/// Runs the loop until `shutdown`, then lets the attempts in hand finish within the grace
/// period and hands the others back to the queue.
pub async fn run(
    pool: PgPool,
    config: Arc<WorkerConfig>,
    chain: Arc<ProviderChain>,
    worker_id: String,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (hand_back_tx, hand_back) = watch::channel(false);
    let shared = Shared {
        pool,
        config: config.clone(),
        chain,
        worker_id: worker_id.into(),
        hand_back,
        night: Arc::default(),
        in_hand: Arc::default(),
    };
    let batch_slots = config.batch_slots();
    let mut slots = Slots {
        all: Arc::new(Semaphore::new(config.concurrency.max(1))),
        batch: Arc::new(Semaphore::new(batch_slots)),
        users_may_wait: true,
    };
    let mut listener = listen(&shared.pool).await;
    let mut tasks = JoinSet::new();
    tokio::pin!(shutdown);
    info!(worker.id = %shared.worker_id, concurrency = config.concurrency,
        batch_concurrency = batch_slots, "worker started");
    // The reaper runs on a timer, not on every wake-up: its statements are cheap (partial
    // indexes) but a busy worker wakes many times a second.
    let reap_every = reap_interval(config.lease_ttl);
    let mut last_reap: Option<tokio::time::Instant> = None;
    let mut last_prune: Option<tokio::time::Instant> = None;
    // The prune runs in a task of its own: a backlog of old debug entries (millions, the
    // first time a retention applies) must not hold back claims.
    let mut prune: Option<tokio::task::JoinHandle<()>> = None;
    loop {
        if last_reap.is_none_or(|at| at.elapsed() >= reap_every) {
            crate::reaper::reap(&shared.pool).await;
            last_reap = Some(tokio::time::Instant::now());
        }
        let pruning = prune.as_ref().is_some_and(|p| !p.is_finished());
        if !pruning && last_prune.is_none_or(|at| at.elapsed() >= PRUNE_EVERY) {
            prune = Some(tokio::spawn(crate::reaper::prune_debug_activity(
                shared.pool.clone(),
                config.debug_activity_retention_days,
            )));
            last_prune = Some(tokio::time::Instant::now());
        }
        claim_while_free(&shared, &mut slots, &mut tasks).await;
        tokio::select! {
            () = &mut shutdown => break,
            () = wait_notification(&mut listener, &shared.in_hand) => slots.users_may_wait = true,
            () = tokio::time::sleep(config.poll_interval) => slots.users_may_wait = true,
            Some(_) = tasks.join_next() => {},
        }
    }
    // A prune cut short keeps its committed batches; the next worker goes on.
    if let Some(p) = prune {
        p.abort();
    }
    info!(
        in_flight = tasks.len(),
        grace_secs = config.shutdown_grace.as_secs_f64(),
        "shutting down: no new claims"
    );
    let drained = tokio::time::timeout(config.shutdown_grace, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        warn!(
            in_flight = tasks.len(),
            "grace period over: handing runs back to the queue"
        );
        let _ = hand_back_tx.send(true);
        while tasks.join_next().await.is_some() {}
    }
    Ok(())
}

/// How often old debug activity entries are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// How often the reaper runs: half a lease (a lost worker's exhausted run is failed within
/// one and a half leases), between 1 and 10 s.
fn reap_interval(lease_ttl: Duration) -> Duration {
    (lease_ttl / 2).clamp(Duration::from_secs(1), Duration::from_secs(10))
}

async fn listen(pool: &PgPool) -> Option<PgListener> {
    let mut listener = match PgListener::connect_with(pool).await {
        Ok(l) => l,
        Err(e) => {
            warn!(error = %e, "listener connection failed; polling only");
            return None;
        }
    };
    match listener
        .listen_all([QUEUED_CHANNEL, CANCELLED_CHANNEL])
        .await
    {
        Ok(()) => Some(listener),
        Err(e) => {
            warn!(error = %e, "LISTEN failed; polling only");
            None
        }
    }
}

/// Waits for notifications: a cancellation reaches the attempt it concerns, if in hand; the
/// loop then claims (a queued run, or a slot a cancelled attempt frees).
async fn wait_notification(listener: &mut Option<PgListener>, in_hand: &InHand) {
    match listener {
        // recv reconnects by itself after a lost connection; an error means it could not yet,
        // and the poll interval (and the lease renewal, for a cancellation) covers the gap.
        Some(l) => {
            match l.recv().await {
                Ok(n) => heard(&n, in_hand),
                Err(e) => {
                    warn!(error = %e, "listener error; relying on polling");
                    std::future::pending::<()>().await;
                }
            }
            // One wake-up for all that arrived together: each queued one asks for the same
            // claim.
            while let Some(n) = l.next_buffered() {
                heard(&n, in_hand);
            }
        }
        None => std::future::pending::<()>().await,
    }
}

fn heard(notification: &sqlx::postgres::PgNotification, in_hand: &InHand) {
    if notification.channel() != CANCELLED_CHANNEL {
        return;
    }
    if let Ok(run) = notification.payload().parse::<uuid::Uuid>() {
        if in_hand.cancel(run) {
            info!(run.id = %run, "run cancelled: stopping its attempt");
        }
    }
}

/// A worker's slots: every run takes one of `all`; a nightly batch's run (a child, or the
/// parent: priority [`BATCH_CHILD_PRIORITY`] and after) also one of `batch` (see
/// [`WorkerConfig::batch_concurrency`]). A user's run that became due without a
/// notification (a retry, a takeover) while the batch slots are taken is claimed at the next
/// child's end, ahead of the children.
struct Slots {
    all: Arc<Semaphore>,
    batch: Arc<Semaphore>,
    /// False once a claim ahead of the batch found nothing, until a notification or the poll
    /// timer says a run may have become due: a child's end alone queues nothing, so the
    /// worker does not ask again at every child's end of a night.
    users_may_wait: bool,
}

/// The slots an attempt holds until it ends.
struct Held {
    _slot: OwnedSemaphorePermit,
    _batch: Option<OwnedSemaphorePermit>,
}

async fn claim_while_free(shared: &Shared, slots: &mut Slots, tasks: &mut JoinSet<()>) {
    while let Ok(slot) = slots.all.clone().try_acquire_owned() {
        // With the batch slots taken, only runs ahead of the batch's children are claimed.
        let batch = slots.batch.clone().try_acquire_owned().ok();
        let ahead_of = if batch.is_some() {
            i32::MAX
        } else if slots.users_may_wait {
            BATCH_CHILD_PRIORITY
        } else {
            break;
        };
        let claim = runs::claim_next_ahead_of(
            &shared.pool,
            &shared.worker_id,
            shared.config.lease_ttl,
            ahead_of,
        );
        match claim.await {
            Ok(Some(claimed)) => {
                let held = Held {
                    _slot: slot,
                    _batch: batch.filter(|_| claimed.run.priority >= BATCH_CHILD_PRIORITY),
                };
                crate::metrics::claimed(
                    claimed.run.kind,
                    claimed.prior_status == RunStatus::Running,
                );
                // Every line of the attempt (its phases, lease and activity tasks included)
                // carries these fields.
                let span = tracing::info_span!("run", run.id = %claimed.run.id, run.kind = %claimed.run.kind,
                    run.attempt = claimed.run.attempt, portfolio.id = tracing::field::Empty,
                    parent.id = tracing::field::Empty, worker.id = %shared.worker_id);
                if let Some(p) = claimed.run.portfolio_id {
                    span.record("portfolio.id", tracing::field::display(p));
                }
                if let Some(p) = claimed.run.parent_id {
                    span.record("parent.id", tracing::field::display(p));
                }
                let lease = shared.in_hand.hold(claimed.run.id);
                tasks.spawn(execute(shared.clone(), claimed, held, lease).instrument(span));
            }
            Ok(None) => {
                slots.users_may_wait = false;
                break;
            }
            Err(e) => {
                warn!(error = %e, "claim failed");
                break;
            }
        }
    }
}

fn announce(buffer: &ActivityBuffer, claimed: &runs::ClaimedRun) {
    let run = &claimed.run;
    if claimed.prior_status == RunStatus::Running {
        let who = run
            .previous_worker_id
            .clone()
            .unwrap_or_else(|| "unknown".into());
        info!("run {} taken over from worker {who}", run.id);
        buffer.push(
            ActivityLevel::Warning,
            None,
            format!(
                "Worker {who} was lost (lease expired); resuming as attempt {}",
                run.attempt
            ),
            false,
        );
    } else if run.attempt > 1 {
        buffer.push(
            ActivityLevel::Info,
            None,
            format!("Starting attempt {} of {}", run.attempt, run.max_attempts),
            false,
        );
    }
}

/// Executes one claimed attempt: lease renewal, activity flushing, watchdog, phases, final
/// status.
async fn execute(shared: Shared, claimed: runs::ClaimedRun, _held: Held, lease: Arc<LeaseSignal>) {
    let run = claimed.run.clone();
    let started = std::time::Instant::now();
    let buffer = Arc::new(ActivityBuffer::new(
        shared.pool.clone(),
        run.id,
        run.attempt,
    ));
    announce(&buffer, &claimed);
    let renewer = tokio::spawn(
        crate::lease::renew(
            shared.pool.clone(),
            run.id,
            run.attempt,
            shared.config.lease_ttl,
            lease.clone(),
        )
        .in_current_span(),
    );
    let flusher = tokio::spawn(flush_periodically(buffer.clone(), lease.clone()).in_current_span());
    let deferred = DeferredPhases::applies_to(&run).then(|| Arc::new(DeferredPhases::default()));
    let heartbeat = Arc::new(Heartbeat::new());
    heartbeat.beat();
    let ctx = Arc::new(RunContext {
        pool: shared.pool.clone(),
        run: run.clone(),
        config: shared.config.clone(),
        market: Arc::new(shared.chain.session()),
        activity: buffer.clone(),
        lease: lease.clone(),
        heartbeat: heartbeat.clone(),
        night: shared.night.clone(),
        deferred: deferred.clone(),
        gaps: Default::default(),
    });
    let work = tokio::spawn(phases::execute(ctx).in_current_span());
    let abort = work.abort_handle();
    let mut hand_back = shared.hand_back.clone();
    let outcome = tokio::select! {
        // A panic inside the phases ends that task, not the worker: it becomes a failed attempt.
        joined = work => joined.unwrap_or_else(|join| {
            if join.is_panic() {
                metrics::counter!(sigmasight_shared::metrics::PANICS).increment(1);
            }
            Err(JobError::Retryable(anyhow::anyhow!("phase panicked: {join}")))
        }),
        stalled = watchdog(&heartbeat, shared.config.phase_stall) => {
            abort.abort();
            Err(JobError::Retryable(anyhow::anyhow!("no progress for {:.0} s: the phase is hung", stalled.as_secs_f64())))
        }
        _ = hand_back.wait_for(|h| *h) => {
            abort.abort();
            Err(JobError::HandedBack)
        }
        // Taken over or cancelled: whatever the work is waiting for, it ends here.
        () = lease.wait() => {
            abort.abort();
            Err(JobError::LeaseLost)
        }
    };
    flusher.abort();
    let outcome = match outcome {
        Err(JobError::LeaseLost) if was_cancelled(&shared.pool, &run, &lease).await => {
            Err(JobError::Cancelled)
        }
        other => other,
    };
    let label = outcome_label(&outcome, run.attempt < run.max_attempts);
    let result = conclude(&shared, &run, &buffer, deferred.as_deref(), outcome).await;
    crate::metrics::finished(run.kind, label, started.elapsed());
    renewer.abort();
    shared.in_hand.release(run.id);
    if let Err(e) = result {
        error!(error = %e, "could not record the end of the attempt");
    }
}

/// The attempt's outcome as the `outcome` label of the run metrics.
fn outcome_label(outcome: &Result<RunOutcome, JobError>, attempts_left: bool) -> &'static str {
    match outcome {
        Ok(done) if done.parked => "parked",
        Ok(done) => done.status.as_str(),
        Err(JobError::LeaseLost) => "lease_lost",
        Err(JobError::Cancelled) => "cancelled",
        Err(JobError::HandedBack) => "handed_back",
        Err(JobError::Retryable(_)) if attempts_left => "retried",
        Err(JobError::Retryable(_) | JobError::Fatal(_)) => "failed",
    }
}

/// Whether a lost lease is the run's cancellation: announced, or (the announcement missed,
/// e.g. while the listener reconnected) the run reads `cancelled`.
async fn was_cancelled(pool: &PgPool, run: &runs::Run, lease: &LeaseSignal) -> bool {
    if lease.is_cancelled() {
        return true;
    }
    match runs::find(pool, run.id).await {
        Ok(found) => found.is_some_and(|r| r.status == RunStatus::Cancelled),
        Err(e) => {
            warn!(error = %e, "could not read why the lease was lost");
            false
        }
    }
}

/// Resolves when the attempt has shown no progress for `stall`.
async fn watchdog(heartbeat: &Heartbeat, stall: Duration) -> Duration {
    let every = (stall / 4).clamp(Duration::from_millis(100), Duration::from_secs(5));
    loop {
        tokio::time::sleep(every).await;
        let silence = heartbeat.silence();
        if silence >= stall {
            return silence;
        }
    }
}

async fn conclude(
    shared: &Shared,
    run: &runs::Run,
    buffer: &ActivityBuffer,
    deferred: Option<&DeferredPhases>,
    outcome: Result<RunOutcome, JobError>,
) -> Result<(), sqlx::Error> {
    let pool = &shared.pool;
    if let Err(e @ (JobError::HandedBack | JobError::Retryable(_) | JobError::Fatal(_))) = &outcome
    {
        if let Some(deferred) = deferred {
            let rows = deferred.rows(run.kind.plan());
            sigmasight_shared::db::phases::write_attempt(pool, run.id, run.attempt, &rows).await?;
        }
        // An aborted phase never wrote its own end.
        sigmasight_shared::db::phases::close_unfinished(pool, run.id, run.attempt, &e.to_string())
            .await?;
    }
    match outcome {
        Ok(done) if done.parked => {
            buffer.flush().await?;
            if runs::park(pool, run.id, run.attempt).await? {
                info!(summary = %done.summary, "fanned out; waiting for the children");
                runs::complete_parent_if_done(pool, run.id).await?;
            }
        }
        Ok(done) if let Some(deferred) = deferred => {
            finish_child(pool, run, buffer, deferred, &done).await?;
        }
        Ok(done) => {
            buffer.flush().await?;
            if runs::finish(pool, run.id, run.attempt, done.status, &done.summary, None).await? {
                info!(status = %done.status, "run finished");
                end_parent(pool, run).await?;
            }
        }
        Err(JobError::LeaseLost) => {
            metrics::counter!(sigmasight_shared::metrics::LEASES_LOST).increment(1);
            warn!("lease lost: another worker owns the run now; stopping");
        }
        // The cancellation wrote the run's end: nothing more to write.
        Err(JobError::Cancelled) => info!("run cancelled: attempt stopped"),
        Err(JobError::HandedBack) => {
            let msg = format!(
                "Worker {} is shutting down; run handed back to the queue after attempt {}",
                shared.worker_id, run.attempt
            );
            warn!("{msg}");
            buffer.push(ActivityLevel::Warning, None, msg, false);
            buffer.flush().await?;
            runs::requeue(pool, run.id, run.attempt, "worker shut down", Utc::now()).await?;
        }
        Err(JobError::Retryable(e)) if run.attempt < run.max_attempts => {
            let delay = retry_delay(
                run.attempt,
                shared.config.retry_base,
                shared.config.retry_cap,
                0.2,
            );
            let msg = format!(
                "Attempt {} failed: {e:#}; retrying in {:.0} s",
                run.attempt,
                delay.as_secs_f64()
            );
            warn!("{msg}");
            buffer.push(ActivityLevel::Error, None, msg, false);
            buffer.flush().await?;
            let at = Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default();
            runs::requeue(pool, run.id, run.attempt, &format!("{e:#}"), at).await?;
        }
        Err(JobError::Retryable(e) | JobError::Fatal(e)) => {
            let msg = format!(
                "Run failed on attempt {} of {}: {e:#}",
                run.attempt, run.max_attempts
            );
            error!("{msg}");
            buffer.push(ActivityLevel::Error, None, msg, false);
            buffer.flush().await?;
            let error = format!("{e:#}");
            let ended = runs::finish(
                pool,
                run.id,
                run.attempt,
                RunStatus::Failed,
                &run.summary,
                Some(&error),
            )
            .await?;
            if ended {
                end_parent(pool, run).await?;
            }
        }
    }
    Ok(())
}

/// A child run that ended may be its parent's last: end the parent then.
async fn end_parent(pool: &PgPool, run: &runs::Run) -> Result<(), sqlx::Error> {
    if let Some(parent) = run.parent_id {
        if runs::child_ended(pool, parent).await? {
            complete_parent(pool, parent).await?;
        }
    }
    Ok(())
}

/// Ends `parent` if none of its children is active any more.
async fn complete_parent(pool: &PgPool, parent: uuid::Uuid) -> Result<(), sqlx::Error> {
    if runs::complete_parent_if_done(pool, parent).await? {
        info!(parent.id = %parent, "daily batch finished with its last portfolio");
    }
    Ok(())
}

/// Ends a nightly child that went well: its status, its phase rows kept in memory, its last
/// activity and its parent's count in one statement ([`runs::finish_child`]).
async fn finish_child(
    pool: &PgPool,
    run: &runs::Run,
    buffer: &ActivityBuffer,
    deferred: &DeferredPhases,
    done: &RunOutcome,
) -> Result<(), sqlx::Error> {
    let entries = buffer.take();
    let end = runs::finish_child(
        pool,
        run.id,
        run.attempt,
        done.status,
        &done.summary,
        &deferred.rows(run.kind.plan()),
        &entries,
    )
    .await?;
    if end.finished {
        crate::activity::count_written(&entries);
        info!(status = %done.status, "run finished");
        if let Some(parent) = run.parent_id.filter(|_| end.parent_maybe_done) {
            complete_parent(pool, parent).await?;
        }
    }
    Ok(())
}

async fn flush_periodically(buffer: Arc<ActivityBuffer>, lease: Arc<LeaseSignal>) {
    loop {
        tokio::time::sleep(FLUSH_INTERVAL).await;
        match buffer.flush().await {
            Ok(true) => {}
            Ok(false) => {
                lease.lose();
                return;
            }
            Err(e) => warn!(error = %e, "activity flush failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_outcome_an_attempt_can_end_with_is_registered_at_start() {
        let done = |status, parked| {
            Ok(RunOutcome {
                status,
                summary: serde_json::json!({}),
                parked,
            })
        };
        let err = |e: fn() -> JobError| Err(e());
        let ends: Vec<Result<RunOutcome, JobError>> = vec![
            done(RunStatus::Completed, false),
            done(RunStatus::Partial, false),
            done(RunStatus::Running, true),
            err(|| JobError::LeaseLost),
            err(|| JobError::Cancelled),
            err(|| JobError::HandedBack),
            err(|| JobError::Retryable(anyhow::anyhow!("x"))),
            err(|| JobError::Fatal(anyhow::anyhow!("x"))),
        ];
        let mut seen = Vec::new();
        for end in &ends {
            for attempts_left in [true, false] {
                let label = outcome_label(end, attempts_left);
                assert!(
                    crate::metrics::OUTCOMES.contains(&label),
                    "{label} is not registered"
                );
                if !seen.contains(&label) {
                    seen.push(label);
                }
            }
        }
        seen.sort_unstable();
        let mut all = crate::metrics::OUTCOMES.to_vec();
        all.sort_unstable();
        assert_eq!(seen, all, "every registered outcome can happen");
    }
}
