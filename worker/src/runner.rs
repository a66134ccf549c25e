//! The claim loop: wake on NOTIFY (1 s poll fallback), reap exhausted leases, claim while a
//! slot is free, and execute each claimed attempt with its lease renewed by its own task.

use crate::activity::{ActivityBuffer, FLUSH_INTERVAL};
use crate::context::{JobError, RunContext};
use crate::phases::{self, RunOutcome};
use crate::WorkerConfig;
use chrono::Utc;
use sigmasight_shared::db::{activity, runs};
use sigmasight_shared::market_data::MarketDataProvider;
use sigmasight_shared::queue::{retry_delay, QUEUED_CHANNEL};
use sqlx::postgres::PgListener;
use sqlx::PgPool;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tracing::{error, info, warn, Instrument};

/// Runs the loop until `shutdown`, then waits for the attempts in hand to end.
pub async fn run(
    pool: PgPool,
    config: Arc<WorkerConfig>,
    provider: Arc<dyn MarketDataProvider>,
    worker_id: String,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let slots = Arc::new(Semaphore::new(config.concurrency.max(1)));
    let mut listener = listen(&pool).await;
    let mut tasks = JoinSet::new();
    tokio::pin!(shutdown);
    info!(worker.id = %worker_id, concurrency = config.concurrency, "worker started");
    loop {
        reap(&pool).await;
        claim_while_free(&pool, &config, &provider, &worker_id, &slots, &mut tasks).await;
        tokio::select! {
            () = &mut shutdown => break,
            _ = wait_notification(&mut listener) => {},
            () = tokio::time::sleep(config.poll_interval) => {},
            Some(_) = tasks.join_next() => {},
        }
    }
    info!(worker.id = %worker_id, in_flight = tasks.len(), "shutting down: no new claims; finishing runs in hand");
    while tasks.join_next().await.is_some() {}
    Ok(())
}

async fn listen(pool: &PgPool) -> Option<PgListener> {
    match PgListener::connect_with(pool).await {
        Ok(mut l) => match l.listen(QUEUED_CHANNEL).await {
            Ok(()) => Some(l),
            Err(e) => {
                warn!(error = %e, "LISTEN failed; polling only");
                None
            }
        },
        Err(e) => {
            warn!(error = %e, "listener connection failed; polling only");
            None
        }
    }
}

async fn wait_notification(listener: &mut Option<PgListener>) {
    match listener {
        // recv reconnects by itself after a lost connection; an error means it could not yet.
        Some(l) => {
            if let Err(e) = l.recv().await {
                warn!(error = %e, "listener error; relying on polling");
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending::<()>().await,
    }
}

async fn reap(pool: &PgPool) {
    match runs::fail_exhausted_leases(pool).await {
        Ok(reaped) => {
            for r in reaped {
                let who = r.worker_id.unwrap_or_else(|| "unknown".into());
                warn!(run.id = %r.id, "run failed: worker {who} was lost on its last attempt");
                let msg = format!(
                    "Worker {who} was lost (lease expired) on attempt {}; no attempts left",
                    r.attempt
                );
                if let Err(e) =
                    activity::insert_unfenced(pool, r.id, r.attempt, "error", &msg).await
                {
                    warn!(error = %e, "could not record the reaped run");
                }
            }
        }
        Err(e) => warn!(error = %e, "reaper query failed"),
    }
}

async fn claim_while_free(
    pool: &PgPool,
    config: &Arc<WorkerConfig>,
    provider: &Arc<dyn MarketDataProvider>,
    worker_id: &str,
    slots: &Arc<Semaphore>,
    tasks: &mut JoinSet<()>,
) {
    while let Ok(permit) = slots.clone().try_acquire_owned() {
        match runs::claim_next(pool, worker_id, config.lease_ttl).await {
            Ok(Some(claimed)) => {
                let span = tracing::info_span!("run", run.id = %claimed.run.id, run.kind = %claimed.run.kind,
                    run.attempt = claimed.run.attempt, worker.id = %worker_id);
                let fut = execute(
                    pool.clone(),
                    config.clone(),
                    provider.clone(),
                    claimed,
                    permit,
                );
                tasks.spawn(fut.instrument(span));
            }
            Ok(None) => break,
            Err(e) => {
                warn!(error = %e, "claim failed");
                break;
            }
        }
    }
}

/// Executes one claimed attempt: lease renewal, activity flushing, phases, final status.
async fn execute(
    pool: PgPool,
    config: Arc<WorkerConfig>,
    provider: Arc<dyn MarketDataProvider>,
    claimed: runs::ClaimedRun,
    _permit: OwnedSemaphorePermit,
) {
    let run = claimed.run;
    let lease_lost = Arc::new(AtomicBool::new(false));
    let buffer = Arc::new(ActivityBuffer::new(pool.clone(), run.id, run.attempt));
    if claimed.prior_status == "running" {
        let who = run
            .previous_worker_id
            .clone()
            .unwrap_or_else(|| "unknown".into());
        info!("run {} taken over from worker {who}", run.id);
        buffer.push(
            "warning",
            None,
            format!(
                "Worker {who} was lost (lease expired); resuming as attempt {}",
                run.attempt
            ),
            false,
        );
    } else if run.attempt > 1 {
        buffer.push(
            "info",
            None,
            format!("Starting attempt {} of {}", run.attempt, run.max_attempts),
            false,
        );
    }
    let renewer = tokio::spawn(renew(
        pool.clone(),
        run.id,
        run.attempt,
        config.lease_ttl,
        lease_lost.clone(),
    ));
    let flusher = tokio::spawn(flush_periodically(buffer.clone(), lease_lost.clone()));
    let ctx = Arc::new(RunContext {
        pool: pool.clone(),
        run: run.clone(),
        config: config.clone(),
        provider,
        activity: buffer.clone(),
        lease_lost: lease_lost.clone(),
    });
    // A panic inside the phases ends this task, not the worker: it becomes a failed attempt.
    let outcome = match tokio::spawn(phases::execute(ctx)).await {
        Ok(result) => result,
        Err(join) => Err(JobError::Retryable(anyhow::anyhow!(
            "phase panicked: {join}"
        ))),
    };
    flusher.abort();
    let result = conclude(&pool, &config, &run, &buffer, outcome).await;
    renewer.abort();
    if let Err(e) = result {
        error!(error = %e, "could not record the end of the attempt");
    }
}

async fn conclude(
    pool: &PgPool,
    config: &WorkerConfig,
    run: &runs::Run,
    buffer: &ActivityBuffer,
    outcome: Result<RunOutcome, JobError>,
) -> Result<(), sqlx::Error> {
    match outcome {
        Ok(done) => {
            buffer.flush().await?;
            if runs::finish(pool, run.id, run.attempt, done.status, &done.summary, None).await? {
                info!(status = done.status, "run finished");
            }
        }
        Err(JobError::LeaseLost) => warn!("lease lost: another worker owns the run now; stopping"),
        Err(JobError::Retryable(e)) if run.attempt < run.max_attempts => {
            let delay = retry_delay(run.attempt, config.retry_base, config.retry_cap, 0.2);
            let msg = format!(
                "Attempt {} failed: {e:#}; retrying in {:.0} s",
                run.attempt,
                delay.as_secs_f64()
            );
            warn!("{msg}");
            buffer.push("error", None, msg, false);
            buffer.flush().await?;
            let at = Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default();
            runs::requeue(pool, run.id, run.attempt, &format!("{e:#}"), at).await?;
        }
        Err(JobError::Retryable(e) | JobError::Fatal(e)) => {
            let msg = format!("Run failed on attempt {}: {e:#}", run.attempt);
            error!("{msg}");
            buffer.push("error", None, msg, false);
            buffer.flush().await?;
            runs::finish(
                pool,
                run.id,
                run.attempt,
                "failed",
                &run.summary,
                Some(&format!("{e:#}")),
            )
            .await?;
        }
    }
    Ok(())
}

async fn renew(
    pool: PgPool,
    id: uuid::Uuid,
    attempt: i32,
    ttl: std::time::Duration,
    lost: Arc<AtomicBool>,
) {
    let every = ttl / 3;
    let mut last_ok = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(every).await;
        match runs::renew_lease(&pool, id, attempt, ttl).await {
            Ok(true) => last_ok = tokio::time::Instant::now(),
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

async fn flush_periodically(buffer: Arc<ActivityBuffer>, lost: Arc<AtomicBool>) {
    loop {
        tokio::time::sleep(FLUSH_INTERVAL).await;
        match buffer.flush().await {
            Ok(true) => {}
            Ok(false) => {
                lost.store(true, Ordering::SeqCst);
                return;
            }
            Err(e) => warn!(error = %e, "activity flush failed"),
        }
    }
}
