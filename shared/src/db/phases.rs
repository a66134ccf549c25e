//! `run_phases`: one row per (run, attempt, phase). Writes are fenced on the run's attempt
//! still running, in the same statement.

use crate::phases::PhaseDef;
use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgExecutor};
use uuid::Uuid;

/// A phase row (serialised as the log download's phase entry: without run id and ordinal).
#[derive(
    Debug, Clone, PartialEq, FromRow, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
pub struct PhaseRow {
    #[serde(skip_serializing)]
    pub run_id: Uuid,
    pub attempt: i32,
    pub phase_id: String,
    #[serde(skip_serializing)]
    pub ordinal: i32,
    pub phase_name: String,
    pub status: crate::domain::PhaseStatus,
    pub current: i32,
    pub total: i32,
    pub unit: String,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub duration_seconds: Option<f64>,
    pub carried_over: bool,
    pub summary: serde_json::Value,
}

/// Creates the phase rows of a new attempt: `carried` phases (completed in an earlier attempt)
/// start as completed and carried over, the others pending. False when the lease was lost.
///
/// In the same statement, earlier attempts' unfinished phases are closed: a phase still
/// `running` there belonged to a worker that was lost (a worker that ends an attempt itself
/// closes its phases, [`close_unfinished`]), so it becomes `failed` with "worker lost"; a
/// `pending` one never ran and becomes `skipped`. No old attempt keeps showing `running`.
pub async fn init_attempt(
    db: impl PgExecutor<'_>,
    run_id: Uuid,
    attempt: i32,
    phases: &[&PhaseDef],
    carried: &[String],
) -> Result<bool, sqlx::Error> {
    let ids: Vec<&str> = phases.iter().map(|p| p.id).collect();
    let ordinals: Vec<i32> = phases.iter().map(|p| p.ordinal).collect();
    let names: Vec<&str> = phases.iter().map(|p| p.name).collect();
    let units: Vec<&str> = phases.iter().map(|p| p.unit).collect();
    let result = sqlx::query(concat!(
        "with closed as (
             update run_phases
             set status = case when status = 'running' then 'failed' else 'skipped' end,
                 finished_at = case when status = 'running' then now() else finished_at end,
                 duration_seconds = case when status = 'running'
                     then extract(epoch from now() - coalesce(started_at, now()))::float8
                     else duration_seconds end,
                 summary = jsonb_build_object('error', case when status = 'running'
                     then 'worker lost' else 'not run: attempt ' || attempt || ' ended first' end),
                 updated_at = now()
             where run_id = $1 and attempt < $2 and status in ('running', 'pending')
               and ",
        attempt_running!(),
        "
         )
         insert into run_phases (run_id, attempt, phase_id, ordinal, phase_name, unit, status, carried_over,
                                 current, total, duration_seconds, started_at, finished_at, summary)
         select $1, $2, u.id, u.ordinal, u.name, u.unit,
                case when prev.phase_id is null then 'pending' else prev.status end,
                prev.phase_id is not null,
                coalesce(prev.current, 0), coalesce(prev.total, 0), prev.duration_seconds,
                prev.started_at, prev.finished_at, coalesce(prev.summary, '{}')
         from unnest($3::text[], $4::int4[], $5::text[], $6::text[]) as u(id, ordinal, name, unit)
         left join lateral (
             select p.* from run_phases p
             where p.run_id = $1 and p.attempt < $2 and p.phase_id = u.id
               and p.phase_id = any($7) and p.status in ('completed', 'warning')
             order by p.attempt desc
             limit 1
         ) prev on true
         where ",
        attempt_running!(),
        "
         on conflict (run_id, attempt, phase_id) do nothing"
    ))
    .bind(run_id)
    .bind(attempt)
    .bind(&ids)
    .bind(&ordinals)
    .bind(&names)
    .bind(&units)
    .bind(carried)
    .execute(db)
    .await?;
    Ok(result.rows_affected() > 0 || phases.is_empty())
}

/// Phases completed (or completed with warnings) in any earlier attempt of the run.
pub async fn completed_before(
    db: impl PgExecutor<'_>,
    run_id: Uuid,
    attempt: i32,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "select distinct phase_id from run_phases
         where run_id = $1 and attempt < $2 and status in ('completed', 'warning')",
    )
    .bind(run_id)
    .bind(attempt)
    .fetch_all(db)
    .await
}

/// `update run_phases p <set …>` of phase `$3` of attempt `$2` of run `$1`, fenced on that
/// attempt still running: zero rows means the lease is lost.
macro_rules! fenced_phase_update {
    ($set:literal) => {
        concat!(
            "update run_phases p ",
            $set,
            " from runs r
              where p.run_id = $1 and p.attempt = $2 and p.phase_id = $3
                and r.id = p.run_id and r.attempt = p.attempt and r.status = 'running'"
        )
    };
}

/// Marks a phase running with its total. False when the lease was lost.
pub async fn start(
    db: impl PgExecutor<'_>,
    run_id: Uuid,
    attempt: i32,
    phase_id: &str,
    total: i32,
) -> Result<bool, sqlx::Error> {
    let result = sqlx::query(fenced_phase_update!(
        "set status = 'running', total = $4, current = 0, started_at = now(), updated_at = now()"
    ))
    .bind(run_id)
    .bind(attempt)
    .bind(phase_id)
    .bind(total)
    .execute(db)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Records progress (never backwards). False when the lease was lost.
pub async fn progress(
    db: impl PgExecutor<'_>,
    run_id: Uuid,
    attempt: i32,
    phase_id: &str,
    current: i32,
    total: i32,
) -> Result<bool, sqlx::Error> {
    let result = sqlx::query(fenced_phase_update!(
        "set current = greatest(p.current, $4), total = greatest($5, $4), updated_at = now()"
    ))
    .bind(run_id)
    .bind(attempt)
    .bind(phase_id)
    .bind(current)
    .bind(total)
    .execute(db)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// How far a phase got when it ended, and when it started if its start was never written
/// (a nightly child writes its phases once, at their end).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhaseEnd {
    pub current: i32,
    pub total: i32,
    pub started_at: Option<DateTime<Utc>>,
}

impl PhaseEnd {
    /// `current` of `total`, the start already written.
    pub fn at(current: i32, total: i32) -> Self {
        Self {
            current,
            total,
            started_at: None,
        }
    }
}

/// Ends a phase with `status` (completed, warning, failed, skipped) and its last progress in
/// the same statement: a done phase shows `total` of `total`. False when the lease was lost.
pub async fn finish(
    db: impl PgExecutor<'_>,
    run_id: Uuid,
    attempt: i32,
    phase_id: &str,
    status: crate::domain::PhaseStatus,
    summary: &serde_json::Value,
    end: PhaseEnd,
) -> Result<bool, sqlx::Error> {
    let result = sqlx::query(fenced_phase_update!(
        "set status = $4, summary = $5, finished_at = now(), updated_at = now(),
             total = greatest($7, $6),
             current = case when $4 in ('completed', 'warning') then greatest($7, $6)
                            else greatest(p.current, $6) end,
             started_at = coalesce($8, p.started_at),
             duration_seconds = extract(epoch from now() - coalesce($8, p.started_at, now()))::float8"
    ))
    .bind(run_id)
    .bind(attempt)
    .bind(phase_id)
    .bind(status)
    .bind(summary)
    .bind(end.current)
    .bind(end.total)
    .bind(end.started_at)
    .execute(db)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// How one phase of an attempt stands when its rows are written whole (a nightly child's
/// phases are kept in memory and written once, with its end).
#[derive(Debug, Clone, PartialEq)]
pub struct EndedPhase {
    pub phase_id: &'static str,
    pub status: crate::domain::PhaseStatus,
    pub summary: serde_json::Value,
    pub current: i32,
    pub total: i32,
    pub started_at: DateTime<Utc>,
    /// None while it runs (an attempt that ends there marks it failed).
    pub finished_at: Option<DateTime<Utc>>,
}

/// Every phase row of an attempt, column by column, for [`write_attempt`] and the end of a
/// nightly child (`runs::finish_child`): the plan's phases, as `ended` says (a finished
/// phase shows `total` of `total`) and `pending` where it says nothing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AttemptRows {
    ids: Vec<&'static str>,
    ordinals: Vec<i32>,
    names: Vec<&'static str>,
    units: Vec<&'static str>,
    statuses: Vec<&'static str>,
    current: Vec<i32>,
    total: Vec<i32>,
    started: Vec<Option<DateTime<Utc>>>,
    finished: Vec<Option<DateTime<Utc>>>,
    summaries: Vec<serde_json::Value>,
}

impl AttemptRows {
    /// The rows of `plan` given the phases that started.
    pub fn new(plan: &[PhaseDef], ended: &[EndedPhase]) -> Self {
        let mut rows = Self::default();
        for def in plan {
            let end = ended.iter().find(|e| e.phase_id == def.id);
            rows.ids.push(def.id);
            rows.ordinals.push(def.ordinal);
            rows.names.push(def.name);
            rows.units.push(def.unit);
            match end {
                Some(e) => {
                    let done = e.finished_at.is_some() && e.status.is_done();
                    rows.statuses.push(e.status.as_str());
                    rows.current.push(if done {
                        e.total.max(e.current)
                    } else {
                        e.current
                    });
                    rows.total.push(e.total.max(e.current));
                    rows.started.push(Some(e.started_at));
                    rows.finished.push(e.finished_at);
                    rows.summaries.push(e.summary.clone());
                }
                None => {
                    rows.statuses
                        .push(crate::domain::PhaseStatus::Pending.as_str());
                    rows.current.push(0);
                    rows.total.push(0);
                    rows.started.push(None);
                    rows.finished.push(None);
                    rows.summaries.push(serde_json::json!({}));
                }
            }
        }
        rows
    }

    /// Binds `$3`–`$12` of [`insert_attempt_rows!`] (`$1`, `$2` are the run and attempt).
    pub fn bind<'q>(
        &'q self,
        query: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    ) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
        query
            .bind(&self.ids)
            .bind(&self.ordinals)
            .bind(&self.names)
            .bind(&self.units)
            .bind(&self.statuses)
            .bind(&self.current)
            .bind(&self.total)
            .bind(&self.started)
            .bind(&self.finished)
            .bind(&self.summaries)
    }
}

/// Writes an attempt's phase rows whole while the attempt still runs (a nightly child that
/// fails: then [`close_unfinished`] marks the running one failed and the rest skipped).
/// False when the lease was lost.
pub async fn write_attempt(
    db: impl PgExecutor<'_>,
    run_id: Uuid,
    attempt: i32,
    rows: &AttemptRows,
) -> Result<bool, sqlx::Error> {
    let query = sqlx::query(insert_attempt_rows!(attempt_running!()))
        .bind(run_id)
        .bind(attempt);
    let result = rows.bind(query).execute(db).await?;
    Ok(result.rows_affected() > 0 || rows.ids.is_empty())
}

/// The phase rows of one attempt, in display order.
pub async fn list(
    db: impl PgExecutor<'_>,
    run_id: Uuid,
    attempt: i32,
) -> Result<Vec<PhaseRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        "select ",
        phase_row_columns!(),
        " from run_phases
         where run_id = $1 and attempt = $2
         order by ordinal"
    ))
    .bind(run_id)
    .bind(attempt)
    .fetch_all(db)
    .await
}

/// Closes the unfinished phases of an attempt that ends without finishing them (hung phase,
/// failure, hand-back): `running` ones become `failed` with `reason`, `pending` ones `skipped`
/// with the same reason. Unfenced: the attempt is ending either way.
pub async fn close_unfinished(
    db: impl PgExecutor<'_>,
    run_id: Uuid,
    attempt: i32,
    reason: &str,
) -> Result<u64, sqlx::Error> {
    let result = sqlx::query(
        "update run_phases
         set status = case when status = 'running' then 'failed' else 'skipped' end,
             finished_at = case when status = 'running' then now() else finished_at end,
             duration_seconds = case when status = 'running'
                 then extract(epoch from now() - coalesce(started_at, now()))::float8
                 else duration_seconds end,
             summary = jsonb_build_object('error', $3::text),
             updated_at = now()
         where run_id = $1 and attempt = $2 and status in ('running', 'pending')",
    )
    .bind(run_id)
    .bind(attempt)
    .bind(reason)
    .execute(db)
    .await?;
    Ok(result.rows_affected())
}

/// The phase rows of every attempt of a run, attempt by attempt in display order (the log).
pub async fn list_all_attempts(
    db: impl PgExecutor<'_>,
    run_id: Uuid,
) -> Result<Vec<PhaseRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        "select ",
        phase_row_columns!(),
        " from run_phases
         where run_id = $1
         order by attempt, ordinal"
    ))
    .bind(run_id)
    .fetch_all(db)
    .await
}
