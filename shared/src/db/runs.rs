//! `runs`: the queue and the status of every run (DESIGN §2a). Claim is one statement; every
//! later write of an attempt is fenced by (id, attempt, status = 'running').

use crate::domain::{RunKind, RunSource, RunStatus};
use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection, PgExecutor, Row as _};
use std::time::Duration;
use uuid::Uuid;

/// A run's priority: the lower, the sooner it is claimed. A user's runs (onboarding, a
/// recalculation) are interactive: ahead of the nightly batch.
pub const ONBOARDING_PRIORITY: i32 = 10;

/// The priority of a nightly batch's portfolio runs (its children). A worker claims them,
/// and the batch's parent, on its batch slots only ([`claim_next_ahead_of`] with this
/// priority skips them when those are taken).
pub const BATCH_CHILD_PRIORITY: i32 = 50;

/// The priority of a nightly batch's parent run (the symbol phases, then the fan-out).
pub const DAILY_PRIORITY: i32 = 100;

/// The partial unique index that allows one queued or running run per portfolio.
pub const ONE_ACTIVE_PER_PORTFOLIO: &str = "runs_one_active_per_portfolio";

/// A run row.
#[derive(Debug, Clone, FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct Run {
    pub id: Uuid,
    pub kind: RunKind,
    pub parent_id: Option<Uuid>,
    pub portfolio_id: Option<Uuid>,
    pub status: RunStatus,
    pub attempt: i32,
    pub max_attempts: i32,
    pub source: RunSource,
    pub params: serde_json::Value,
    pub priority: i32,
    pub run_at: DateTime<Utc>,
    pub worker_id: Option<String>,
    pub lease_expires_at: Option<DateTime<Utc>>,
    pub previous_worker_id: Option<String>,
    pub idempotency_key: Option<String>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub error: Option<String>,
    pub summary: serde_json::Value,
}

impl Run {
    /// True once the run can no longer change.
    pub fn is_terminal(&self) -> bool {
        self.status.is_terminal()
    }
}

/// A run just claimed, with what it was before the claim.
#[derive(Debug, Clone, FromRow)]
pub struct ClaimedRun {
    #[sqlx(flatten)]
    pub run: Run,
    /// `queued`, or `running` when this claim took over an expired lease.
    pub prior_status: RunStatus,
}

/// Fields of a run to enqueue.
#[derive(Debug, Clone)]
pub struct NewRun {
    pub id: Uuid,
    pub kind: RunKind,
    pub parent_id: Option<Uuid>,
    pub portfolio_id: Option<Uuid>,
    pub source: RunSource,
    pub params: serde_json::Value,
    pub priority: i32,
    pub max_attempts: i32,
    pub idempotency_key: Option<String>,
}

/// Inserts a queued run. Fails with [`ONE_ACTIVE_PER_PORTFOLIO`] when the portfolio already
/// has an active run.
pub async fn insert(db: impl PgExecutor<'_>, new: &NewRun) -> Result<Run, sqlx::Error> {
    insert_with(db, new, "")
        .await?
        .ok_or(sqlx::Error::RowNotFound)
}

async fn insert_with(
    db: impl PgExecutor<'_>,
    new: &NewRun,
    on_conflict: &str,
) -> Result<Option<Run>, sqlx::Error> {
    // The owner is the portfolio's user; `fair_seq` the run's place in its owner's queue at
    // this priority (see the fair-share migration).
    let sql = format!(
        "insert into runs (id, kind, parent_id, portfolio_id, source, params, priority, max_attempts,
                           idempotency_key, owner_id, fair_seq)
         select $1, $2, $3, $4, $5, $6, $7, $8, $9, o.user_id,
                1 + coalesce((select max(q.fair_seq) from runs q
                              where q.owner_id = o.user_id and q.status = 'queued' and q.priority = $7), 0)
         from (select (select user_id from portfolios where id = $4) as user_id) o
         {on_conflict}
         returning *"
    );
    sqlx::query_as(&sql)
        .bind(new.id)
        .bind(new.kind)
        .bind(new.parent_id)
        .bind(new.portfolio_id)
        .bind(new.source)
        .bind(&new.params)
        .bind(new.priority)
        .bind(new.max_attempts)
        .bind(&new.idempotency_key)
        .fetch_optional(db)
        .await
}

/// The claim's update of the run picked by `$pick` (a select of `id` and `prior_status`,
/// locked with `skip locked`), as the next attempt of `$1` with a lease of `$2` seconds.
macro_rules! claim_sql {
    ($pick:literal) => {
        concat!(
            "with next as (",
            $pick,
            ")
             update runs r
             set status = 'running',
                 attempt = r.attempt + 1,
                 worker_id = $1,
                 lease_expires_at = now() + make_interval(secs => $2),
                 previous_worker_id = next.prior_worker,
                 started_at = coalesce(r.started_at, now()),
                 finished_at = null
             from next
             where r.id = next.id
             returning r.*, next.prior_status"
        )
    };
}

/// A running run whose lease expired with attempts left and a priority ahead of `$3`, oldest
/// expiry first (`runs_lease_idx`).
pub const CLAIM_TAKEOVER_SQL: &str = claim_sql!(
    "select id, status as prior_status, worker_id as prior_worker
     from runs
     where status = 'running' and lease_expires_at < now() and attempt < max_attempts
       and priority < $3
     order by lease_expires_at
     for update skip locked
     limit 1"
);

/// The first due queued run of a priority ahead of `$3` by (priority, fair_seq, run_at):
/// round-robin across owners within a priority, in the order of `runs_claimable_idx`, so the
/// claim reads the index from its start and stops at the first due row, never sorting the
/// backlog.
pub const CLAIM_DUE_SQL: &str = claim_sql!(
    "select id, status as prior_status, worker_id as prior_worker
     from runs
     where status = 'queued' and run_at <= now() and priority < $3
     order by priority, fair_seq, run_at
     for update skip locked
     limit 1"
);

/// Claims a running run whose lease expired (a takeover: stuck work first), else the next
/// due run, as the next attempt. Two statements, each an index scan that stops at its first
/// row; `skip locked` keeps concurrent claimers apart. (One statement with an OR of the two
/// conditions cannot use either index in order and sorts every queued row.)
pub async fn claim_next(
    db: &sqlx::PgPool,
    worker_id: &str,
    lease_ttl: Duration,
) -> Result<Option<ClaimedRun>, sqlx::Error> {
    claim_next_ahead_of(db, worker_id, lease_ttl, i32::MAX).await
}

/// [`claim_next`] among the runs of a priority lower than `priority` only (ahead of it in
/// the queue): a worker whose batch slots are taken claims with
/// [`BATCH_CHILD_PRIORITY`], so a user's runs still find a free slot.
pub async fn claim_next_ahead_of(
    db: &sqlx::PgPool,
    worker_id: &str,
    lease_ttl: Duration,
    priority: i32,
) -> Result<Option<ClaimedRun>, sqlx::Error> {
    for sql in [CLAIM_TAKEOVER_SQL, CLAIM_DUE_SQL] {
        let claimed = sqlx::query_as(sql)
            .bind(worker_id)
            .bind(lease_ttl.as_secs_f64())
            .bind(priority)
            .fetch_optional(db)
            .await?;
        if claimed.is_some() {
            return Ok(claimed);
        }
    }
    Ok(None)
}

/// A run whose worker was lost after its last allowed attempt.
#[derive(Debug, Clone, FromRow)]
pub struct ExhaustedRun {
    pub id: Uuid,
    pub attempt: i32,
    pub worker_id: Option<String>,
}

/// Runs whose lease expired on their last attempt, failed (`runs_lease_idx`).
pub const FAIL_EXHAUSTED_SQL: &str = "update runs
         set status = 'failed',
             finished_at = now(),
             lease_expires_at = null,
             error = format('worker %s was lost on attempt %s of %s; no attempts left', worker_id, attempt, max_attempts)
         where status = 'running'
           and lease_expires_at < now()
           and attempt >= max_attempts
         returning id, attempt, worker_id";

/// Fails runs whose lease expired on their last allowed attempt (they cannot be taken over).
pub async fn fail_exhausted_leases(
    db: impl PgExecutor<'_>,
) -> Result<Vec<ExhaustedRun>, sqlx::Error> {
    sqlx::query_as(FAIL_EXHAUSTED_SQL).fetch_all(db).await
}

/// Extends the lease of a running attempt. False when the lease was lost.
pub async fn renew_lease(
    db: impl PgExecutor<'_>,
    id: Uuid,
    attempt: i32,
    lease_ttl: Duration,
) -> Result<bool, sqlx::Error> {
    let result = sqlx::query(
        "update runs
         set lease_expires_at = now() + make_interval(secs => $3)
         where id = $1 and attempt = $2 and status = 'running'",
    )
    .bind(id)
    .bind(attempt)
    .bind(lease_ttl.as_secs_f64())
    .execute(db)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Locks the run row for share inside `conn`'s transaction if the attempt still holds it:
/// writes made in the same transaction then commit only while the lease is ours.
pub async fn hold_fence(
    conn: &mut PgConnection,
    id: Uuid,
    attempt: i32,
) -> Result<bool, sqlx::Error> {
    let row: Option<i32> = sqlx::query_scalar(hold_run!("$1", "$2"))
        .bind(id)
        .bind(attempt)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row.is_some())
}

/// Makes the statement's own transaction commit durably (`synchronous_commit = on` for it
/// alone) whatever the session's mode: appended to the `where` of a run's ending, it is
/// evaluated once the run's row is found, and the commit then waits for the disk.
macro_rules! durable {
    () => {
        " and set_config('synchronous_commit', 'on', true) = 'on'"
    };
}

/// Ends a running attempt with a final status, durably (see [`crate::db::Session`]). False
/// when the lease was lost.
pub async fn finish(
    db: impl PgExecutor<'_>,
    id: Uuid,
    attempt: i32,
    status: RunStatus,
    summary: &serde_json::Value,
    error: Option<&str>,
) -> Result<bool, sqlx::Error> {
    let result = sqlx::query(concat!(
        "update runs
             set status = $3, summary = $4, error = $5, finished_at = now(), lease_expires_at = null
             where id = $1 and attempt = $2 and status = 'running'",
        durable!()
    ))
    .bind(id)
    .bind(attempt)
    .bind(status)
    .bind(summary)
    .bind(error)
    .execute(db)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Hands a failed attempt back to the queue, due at `retry_at`, durably. False when the
/// lease was lost.
pub async fn requeue(
    db: impl PgExecutor<'_>,
    id: Uuid,
    attempt: i32,
    error: &str,
    retry_at: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let result = sqlx::query(
        concat!(
            "update runs
             set status = 'queued', run_at = $4, error = $3, worker_id = null, lease_expires_at = null,
                 previous_worker_id = worker_id
             where id = $1 and attempt = $2 and status = 'running'",
            durable!()
        ),
    )
    .bind(id)
    .bind(attempt)
    .bind(error)
    .bind(retry_at)
    .execute(db)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// The run with this id.
pub async fn find(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<Run>, sqlx::Error> {
    sqlx::query_as("select * from runs where id = $1")
        .bind(id)
        .fetch_optional(db)
        .await
}

/// The run a portfolio's status shows: its active (queued or running) run when it has one
/// (a retried onboarding can be older than the last nightly child), else its newest run.
pub async fn latest_for_portfolio(
    db: impl PgExecutor<'_>,
    portfolio_id: Uuid,
) -> Result<Option<Run>, sqlx::Error> {
    sqlx::query_as(active_else_latest_run!("$1"))
        .bind(portfolio_id)
        .fetch_optional(db)
        .await
}

/// The newest run a user may retry: the portfolio's latest onboarding or calculate (`admin`)
/// run. A nightly child (`portfolio_daily`, possibly an admin's forced range) never is.
pub async fn latest_retryable_for_portfolio(
    db: impl PgExecutor<'_>,
    portfolio_id: Uuid,
) -> Result<Option<Run>, sqlx::Error> {
    sqlx::query_as(
        "select * from runs
         where portfolio_id = $1 and kind in ('onboarding', 'admin')
         order by created_at desc, id desc
         limit 1",
    )
    .bind(portfolio_id)
    .fetch_optional(db)
    .await
}

/// The queued or running run of a portfolio, if any.
pub async fn active_for_portfolio(
    db: impl PgExecutor<'_>,
    portfolio_id: Uuid,
) -> Result<Option<Run>, sqlx::Error> {
    sqlx::query_as(
        "select * from runs
         where portfolio_id = $1 and status in ('queued', 'running')",
    )
    .bind(portfolio_id)
    .fetch_optional(db)
    .await
}

/// Puts a finished run back in the queue as the next attempt of the same chain (retry);
/// earlier attempts' phases and activity stay. Returns the run, or None when it is not in a
/// terminal state (the caller answers 409 with the active run).
pub async fn reopen(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<Run>, sqlx::Error> {
    sqlx::query_as(
        "update runs
         set status = 'queued', source = 'retry', run_at = now(), worker_id = null,
             lease_expires_at = null, finished_at = null, error = null,
             max_attempts = greatest(max_attempts, attempt + 1)
         where id = $1 and status in ('failed', 'cancelled', 'completed', 'partial')
         returning *",
    )
    .bind(id)
    .fetch_optional(db)
    .await
}

/// Inserts a run unless one with the same idempotency key exists; returns it when inserted.
pub async fn insert_idempotent(
    db: impl PgExecutor<'_>,
    new: &NewRun,
) -> Result<Option<Run>, sqlx::Error> {
    insert_with(
        db,
        new,
        "on conflict on constraint runs_idempotency_key_unique do nothing",
    )
    .await
}

/// Fans a daily run out: one `portfolio_daily` child per portfolio (all of them, or those
/// listed) that has no active run, in one statement. Returns how many were inserted.
pub async fn insert_children(
    db: impl PgExecutor<'_>,
    parent_id: Uuid,
    source: RunSource,
    params: &serde_json::Value,
    max_attempts: i32,
    only: Option<&[Uuid]>,
) -> Result<u64, sqlx::Error> {
    let result = sqlx::query(
        "insert into runs (id, kind, parent_id, portfolio_id, source, params, priority, max_attempts,
                           owner_id, fair_seq)
         select sigmasight_uuid_v7(), 'portfolio_daily', $1, p.id, $2, $3, $6, $4, p.user_id,
                row_number() over (partition by p.user_id order by p.id)
         from portfolios p
         where ($5::uuid[] is null or p.id = any($5))
           and exists (select 1 from positions x where x.portfolio_id = p.id)
         on conflict do nothing",
    )
    .bind(parent_id)
    .bind(source)
    .bind(params)
    .bind(max_attempts)
    .bind(only)
    .bind(BATCH_CHILD_PRIORITY)
    .execute(db)
    .await?;
    Ok(result.rows_affected())
}

/// Parks a parent run after its fan-out: still running, but without a lease (its children
/// hold theirs), so nobody takes it over. Fenced on the attempt.
pub async fn park(db: impl PgExecutor<'_>, id: Uuid, attempt: i32) -> Result<bool, sqlx::Error> {
    let result = sqlx::query(
        "update runs set lease_expires_at = null
         where id = $1 and attempt = $2 and status = 'running'",
    )
    .bind(id)
    .bind(attempt)
    .execute(db)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// The parent completion: its children counted through `runs_parent_idx`.
pub const COMPLETE_PARENT_SQL: &str = "with counts as (
             select count(*) filter (where status in ('queued', 'running')) as active,
                    count(*) filter (where status in ('failed', 'cancelled')) as failed,
                    count(*) filter (where status not in ('queued', 'running')) as done,
                    count(*) as total
             from runs where parent_id = $1
         ), progress as (
             update run_phases ph set current = counts.done::int, total = counts.total::int, updated_at = now(),
                    status = case when counts.active = 0 then 'completed' else ph.status end,
                    finished_at = case when counts.active = 0 then now() else ph.finished_at end,
                    duration_seconds = case when counts.active = 0
                        then extract(epoch from now() - coalesce(ph.started_at, now()))::float8 else ph.duration_seconds end
             from counts, runs r
             where ph.run_id = $1 and ph.phase_id = 'portfolios' and r.id = $1 and ph.attempt = r.attempt
         )
         update runs r
         set status = case when counts.failed > 0 then 'partial' else 'completed' end,
             finished_at = now(), lease_expires_at = null,
             summary = r.summary || jsonb_build_object('portfolios', counts.total, 'portfolios_failed', counts.failed)
         from counts
         where r.id = $1 and r.status = 'running' and r.lease_expires_at is null and counts.active = 0
         returning r.id";

/// Ends a parked parent once none of its children is queued or running: `partial` when some
/// failed or were cancelled, else `completed`. Also moves its progress to children done.
/// The last child to finish always sees the others done, so exactly one call ends it.
pub async fn complete_parent_if_done(
    db: impl PgExecutor<'_>,
    parent_id: Uuid,
) -> Result<bool, sqlx::Error> {
    let ended: Option<Uuid> = sqlx::query_scalar(COMPLETE_PARENT_SQL)
        .bind(parent_id)
        .fetch_optional(db)
        .await?;
    Ok(ended.is_some())
}

/// One more on the `portfolios` phase of the running parent `$parent` (read from `$from`
/// beside `runs r`), returning `maybe_last`: whether its count reached the total.
macro_rules! count_ended_child {
    ($from:literal, $parent:literal) => {
        concat!(
            "update run_phases ph set current = ph.current + 1, updated_at = now()
             from ",
            $from,
            "runs r
             where r.id = ",
            $parent,
            " and r.status = 'running'
               and ph.run_id = r.id and ph.attempt = r.attempt and ph.phase_id = 'portfolios'
             returning ph.current >= ph.total as maybe_last"
        )
    };
}

/// A child ended: one more on its parent's `portfolios` phase, through the phase row's key.
/// Returns whether the count reached the total, i.e. whether this may have been the last
/// child (then [`complete_parent_if_done`] counts them once to be sure). Constant cost per
/// child, where counting every sibling each time made a batch quadratic.
pub const CHILD_ENDED_SQL: &str = count_ended_child!("", "$1");

/// How the end of a nightly child went ([`finish_child`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChildEnd {
    /// False when the lease was lost (nothing written).
    pub finished: bool,
    /// Its parent's count reached the total: the parent may be done.
    pub parent_maybe_done: bool,
}

/// Ends a nightly child that went well in one durable statement: the run's status, its phase
/// rows (kept in memory while it ran), its last activity entries and one more on its parent's
/// count ([`CHILD_ENDED_SQL`]), all fenced on the attempt still running. Where a child sent
/// nine statements for this, it sends one.
pub async fn finish_child(
    db: impl PgExecutor<'_>,
    id: Uuid,
    attempt: i32,
    status: RunStatus,
    summary: &serde_json::Value,
    phases: &crate::db::phases::AttemptRows,
    entries: &[crate::db::activity::NewEntry],
) -> Result<ChildEnd, sqlx::Error> {
    let entries = crate::db::activity::EntryColumns::new(entries);
    let query = sqlx::query(concat!(
        "with fin as (
             update runs
             set status = $13, summary = $14, error = null, finished_at = now(), lease_expires_at = null
             where id = $1 and attempt = $2 and status = 'running'",
        durable!(),
        "    returning parent_id),
         phases as (",
        insert_attempt_rows!("exists (select 1 from fin)"),
        "),
         activity as (",
        insert_entries!("$15", "$16", "$17", "$18", "$19", "exists (select 1 from fin)"),
        "),
         counted as (",
        count_ended_child!("fin, ", "fin.parent_id"),
        ")
         select exists (select 1 from fin),
                coalesce((select bool_or(maybe_last) from counted), false)"
    ))
    .bind(id)
    .bind(attempt);
    let query = entries.bind(phases.bind(query).bind(status).bind(summary));
    let row = query.fetch_one(db).await?;
    Ok(ChildEnd {
        finished: row.try_get(0)?,
        parent_maybe_done: row.try_get(1)?,
    })
}

/// Counts an ended child on its parent; true when the parent may be done.
pub async fn child_ended(db: impl PgExecutor<'_>, parent_id: Uuid) -> Result<bool, sqlx::Error> {
    let maybe_last: Option<bool> = sqlx::query_scalar(CHILD_ENDED_SQL)
        .bind(parent_id)
        .fetch_optional(db)
        .await?;
    // No row: the parent is not running, or its fan-out has not written its phase yet.
    Ok(maybe_last.unwrap_or(false))
}

/// Parked parents none of whose children is active (`runs_parked_idx`, then
/// `runs_parent_idx` per parent).
pub const ORPHANED_PARENTS_SQL: &str = "select id from runs p
     where p.status = 'running' and p.lease_expires_at is null and p.kind = 'daily'
       and not exists (select 1 from runs c where c.parent_id = p.id and c.status in ('queued', 'running'))";

/// Ends parked parents whose children are all done (a child's worker may have died between
/// finishing and ending its parent). Returns how many were ended.
pub async fn complete_orphaned_parents(pool: &sqlx::PgPool) -> Result<usize, sqlx::Error> {
    let parked: Vec<Uuid> = sqlx::query_scalar(ORPHANED_PARENTS_SQL)
        .fetch_all(pool)
        .await?;
    let mut ended = 0;
    for id in parked {
        if complete_parent_if_done(pool, id).await? {
            ended += 1;
        }
    }
    Ok(ended)
}

/// Filters of the admin run history.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    pub status: Option<RunStatus>,
    pub kind: Option<RunKind>,
    pub portfolio_id: Option<Uuid>,
    pub limit: i64,
}

/// Run history, newest first.
pub async fn list(db: impl PgExecutor<'_>, f: &RunFilter) -> Result<Vec<Run>, sqlx::Error> {
    sqlx::query_as(
        "select * from runs
         where ($1::text is null or status = $1)
           and ($2::text is null or kind = $2)
           and ($3::uuid is null or portfolio_id = $3)
         order by created_at desc, id desc
         limit $4",
    )
    .bind(f.status)
    .bind(f.kind)
    .bind(f.portfolio_id)
    .bind(f.limit)
    .fetch_all(db)
    .await
}

/// Cancels a queued or running run and its active children, and closes the phases their
/// attempts left unfinished (running ones `failed`, pending ones `skipped`, with the reason):
/// a running attempt stops without writing more (its worker hears of it on
/// the `sigmasight_run_cancelled` channel, or at its next fenced write), so its phases' end is
/// written here. Returns the run, or None when it had already ended.
pub async fn cancel(db: &sqlx::PgPool, id: Uuid) -> Result<Option<Run>, sqlx::Error> {
    let mut tx = db.begin().await?;
    let run: Option<Run> = sqlx::query_as(
        "update runs
         set status = 'cancelled', finished_at = now(), lease_expires_at = null, error = 'cancelled by an admin'
         where id = $1 and status in ('queued', 'running')
         returning *",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    if run.is_some() {
        let mut ended: Vec<Uuid> = sqlx::query_scalar(
            "update runs set status = 'cancelled', finished_at = now(), lease_expires_at = null, error = 'parent cancelled'
             where parent_id = $1 and status in ('queued', 'running')
             returning id",
        )
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
        ended.push(id);
        close_cancelled_phases(&mut tx, &ended).await?;
    }
    tx.commit().await?;
    Ok(run)
}

/// Closes the unfinished phase rows of the current attempts of the cancelled `runs`, with
/// each run's error as the reason (one statement; the primary key finds the rows).
async fn close_cancelled_phases(tx: &mut PgConnection, runs: &[Uuid]) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update run_phases p
         set status = case when p.status = 'running' then 'failed' else 'skipped' end,
             finished_at = case when p.status = 'running' then now() else p.finished_at end,
             duration_seconds = case when p.status = 'running'
                 then extract(epoch from now() - coalesce(p.started_at, now()))::float8
                 else p.duration_seconds end,
             summary = jsonb_build_object('error', r.error),
             updated_at = now()
         from runs r
         where r.id = any($1)
           and p.run_id = r.id
           and p.attempt = r.attempt
           and p.status in ('running', 'pending')",
    )
    .bind(runs)
    .execute(tx)
    .await?;
    Ok(())
}

/// A parent's children by status (`runs_parent_idx`).
pub const CHILDREN_COUNTS_SQL: &str =
    "select status, count(*) from runs where parent_id = $1 group by status order by status";

/// How many children of a parent run are in each status.
pub async fn children_counts(
    db: impl PgExecutor<'_>,
    parent_id: Uuid,
) -> Result<Vec<(String, i64)>, sqlx::Error> {
    sqlx::query_as(CHILDREN_COUNTS_SQL)
        .bind(parent_id)
        .fetch_all(db)
        .await
}

/// What the api's queue gauges show: active runs by kind and status, and the due backlog.
#[derive(Debug, Clone, Default)]
pub struct QueueGauges {
    /// (kind, status, count) of the queued and running runs.
    pub active: Vec<(RunKind, RunStatus, i64)>,
    /// Queued runs whose `run_at` has come.
    pub due: i64,
    /// Seconds since the oldest due queued run became due (0 when none is).
    pub oldest_due_age_secs: f64,
}

/// The queued and running runs by kind and status: one branch per status, so each reads
/// that status's partial index (`runs_claimable_idx`, `runs_lease_idx`). Written as
/// `status in ('queued', 'running')` it read `runs` whole on years of history (a parallel
/// sequential scan, 20,000 blocks at 1,000,000 runs, on every scrape).
pub const QUEUE_ACTIVE_SQL: &str = "select kind, 'queued' as status, count(*) from runs
     where status = 'queued' group by kind
     union all
     select kind, 'running', count(*) from runs
     where status = 'running' group by kind";

/// The due backlog and the age of its oldest run, from `runs_claimable_idx`.
pub const QUEUE_DUE_SQL: &str = "select count(*),
            coalesce(extract(epoch from now() - min(run_at)), 0)::float8
     from runs where status = 'queued' and run_at <= now()";

/// Reads [`QueueGauges`]: both statements read only the queued and running runs (the
/// partial indexes), never the history ([`QUEUE_ACTIVE_SQL`], [`QUEUE_DUE_SQL`]).
pub async fn queue_gauges(db: &sqlx::PgPool) -> Result<QueueGauges, sqlx::Error> {
    let active: Vec<(RunKind, RunStatus, i64)> =
        sqlx::query_as(QUEUE_ACTIVE_SQL).fetch_all(db).await?;
    let (due, oldest_due_age_secs): (i64, f64) =
        sqlx::query_as(QUEUE_DUE_SQL).fetch_one(db).await?;
    Ok(QueueGauges {
        active,
        due,
        oldest_due_age_secs,
    })
}
