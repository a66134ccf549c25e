//! A portfolio run's life as the API drives it: start one or join the active one (the
//! calculate endpoint), and retry the latest one as its next attempt (the retry endpoint).

use crate::db::{self, activity, runs, runs::Run};
use crate::domain::{ActivityLevel, RunSource, RunStatus};
use sqlx::PgPool;
use uuid::Uuid;

/// What [`start_or_join`] did.
#[derive(Debug, Clone)]
pub enum Started {
    /// A run was already queued or running: that one.
    Joined(Run),
    /// The latest run had failed: reopened as its next attempt.
    Reopened(Run),
    /// A new onboarding run was enqueued.
    New(Run),
}

impl Started {
    /// The run, whichever it is.
    pub fn run(&self) -> &Run {
        match self {
            Self::Joined(r) | Self::Reopened(r) | Self::New(r) => r,
        }
    }
}

/// The active run, else the next attempt of a failed latest run, else a new run. Two calls
/// at once make one run: the database admits one active run per portfolio.
pub async fn start_or_join(
    pool: &PgPool,
    portfolio_id: Uuid,
    max_attempts: i32,
) -> Result<Started, sqlx::Error> {
    if let Some(active) = runs::active_for_portfolio(pool, portfolio_id).await? {
        return Ok(Started::Joined(active));
    }
    if let Some(latest) = runs::latest_for_portfolio(pool, portfolio_id).await? {
        if latest.status == RunStatus::Failed {
            if let Some(reopened) = runs::reopen(pool, latest.id).await? {
                return Ok(Started::Reopened(reopened));
            }
        }
    }
    let mut tx = pool.begin().await?;
    match super::enqueue_onboarding(&mut tx, portfolio_id, RunSource::Onboarding, max_attempts)
        .await
    {
        Ok(run) => {
            tx.commit().await?;
            Ok(Started::New(run))
        }
        // Two requests at once: the database let one in; answer with that one.
        Err(e) if db::is_unique_violation(&e, runs::ONE_ACTIVE_PER_PORTFOLIO) => {
            drop(tx);
            runs::active_for_portfolio(pool, portfolio_id)
                .await?
                .map(Started::Joined)
                .ok_or(sqlx::Error::RowNotFound)
        }
        Err(e) => Err(e),
    }
}

/// What [`retry`] did.
#[derive(Debug, Clone)]
pub enum Retried {
    /// The latest run reopened as its next attempt (`attempt` of the row + 1 runs next).
    Reopened(Box<Run>),
    /// A run is queued or running: nothing to retry.
    Active(Uuid),
    /// The portfolio has no run.
    NoRun,
}

/// Reopens the portfolio's latest onboarding or calculate run as its next attempt (its earlier
/// attempts' phases and activity stay), with an activity entry saying so. Never a nightly
/// child; nothing while any run of the portfolio is queued or running.
pub async fn retry(pool: &PgPool, portfolio_id: Uuid) -> Result<Retried, sqlx::Error> {
    if let Some(active) = runs::active_for_portfolio(pool, portfolio_id).await? {
        return Ok(Retried::Active(active.id));
    }
    let Some(latest) = runs::latest_retryable_for_portfolio(pool, portfolio_id).await? else {
        return Ok(Retried::NoRun);
    };
    if !latest.is_terminal() {
        return Ok(Retried::Active(latest.id));
    }
    let reopened = match runs::reopen(pool, latest.id).await {
        Ok(Some(run)) => run,
        // Someone reopened it a moment ago.
        Ok(None) => return Ok(Retried::Active(latest.id)),
        Err(e) if db::is_unique_violation(&e, runs::ONE_ACTIVE_PER_PORTFOLIO) => {
            let active = runs::active_for_portfolio(pool, portfolio_id).await?;
            return Ok(Retried::Active(active.map_or(latest.id, |r| r.id)));
        }
        Err(e) => return Err(e),
    };
    let next_attempt = reopened.attempt + 1;
    activity::insert_unfenced(
        pool,
        reopened.id,
        next_attempt,
        ActivityLevel::Info,
        &format!("Retry requested: attempt {next_attempt} queued"),
    )
    .await?;
    Ok(Retried::Reopened(Box::new(reopened)))
}
