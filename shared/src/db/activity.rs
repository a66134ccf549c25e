//! `run_activity`: the activity entries of every attempt. Never capped per run: the feed shows
//! the last 50 non-debug entries, the download everything; debug entries older than the
//! retention are pruned ([`prune_debug`]).

use crate::domain::ActivityLevel;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{FromRow, PgExecutor};
use uuid::Uuid;

/// An entry to write.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEntry {
    pub ts: DateTime<Utc>,
    pub level: ActivityLevel,
    pub phase_id: Option<&'static str>,
    pub message: String,
    pub debug: bool,
}

/// A stored entry.
#[derive(Debug, Clone, FromRow, Serialize, Deserialize)]
pub struct Entry {
    pub id: i64,
    pub run_id: Uuid,
    pub attempt: i32,
    pub ts: DateTime<Utc>,
    pub level: ActivityLevel,
    pub phase_id: Option<String>,
    pub message: String,
    pub debug: bool,
}

/// Entries as the five arrays of [`insert_entries!`].
#[derive(Debug, Clone, Default)]
pub struct EntryColumns<'a> {
    ts: Vec<DateTime<Utc>>,
    levels: Vec<&'static str>,
    phases: Vec<Option<&'static str>>,
    messages: Vec<&'a str>,
    debug: Vec<bool>,
}

impl<'a> EntryColumns<'a> {
    /// The columns of `entries`, in their order.
    pub fn new(entries: &'a [NewEntry]) -> Self {
        Self {
            ts: entries.iter().map(|e| e.ts).collect(),
            levels: entries.iter().map(|e| e.level.as_str()).collect(),
            phases: entries.iter().map(|e| e.phase_id).collect(),
            messages: entries.iter().map(|e| e.message.as_str()).collect(),
            debug: entries.iter().map(|e| e.debug).collect(),
        }
    }

    /// Binds the five arrays, in order, as the query's next parameters.
    pub fn bind<'q>(
        &'q self,
        query: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    ) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
        query
            .bind(&self.ts)
            .bind(&self.levels)
            .bind(&self.phases)
            .bind(&self.messages)
            .bind(&self.debug)
    }
}

/// Writes a batch in one statement, fenced on the attempt still running.
/// Returns false when the lease was lost (nothing written).
pub async fn insert_batch(
    db: impl PgExecutor<'_>,
    run_id: Uuid,
    attempt: i32,
    entries: &[NewEntry],
) -> Result<bool, sqlx::Error> {
    if entries.is_empty() {
        return Ok(true);
    }
    let columns = EntryColumns::new(entries);
    let query = sqlx::query(insert_entries!(
        "$3",
        "$4",
        "$5",
        "$6",
        "$7",
        attempt_running!()
    ))
    .bind(run_id)
    .bind(attempt);
    let result = columns.bind(query).execute(db).await?;
    Ok(result.rows_affected() > 0)
}

/// Writes one entry outside any attempt's fence (reaper and API messages).
pub async fn insert_unfenced(
    db: impl PgExecutor<'_>,
    run_id: Uuid,
    attempt: i32,
    level: ActivityLevel,
    message: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into run_activity (run_id, attempt, ts, level, message)
         values ($1, $2, now(), $3, $4)",
    )
    .bind(run_id)
    .bind(attempt)
    .bind(level)
    .bind(message)
    .execute(db)
    .await?;
    Ok(())
}

/// The newest `limit` non-debug entries of a run (all attempts), oldest first.
pub async fn recent(
    db: impl PgExecutor<'_>,
    run_id: Uuid,
    limit: i64,
) -> Result<Vec<Entry>, sqlx::Error> {
    sqlx::query_as(concat!(
        "select * from (
             select ",
        activity_entry_columns!(),
        " from run_activity
             where run_id = $1 and not debug
             order by id desc
             limit $2
         ) newest
         order by id"
    ))
    .bind(run_id)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// Every entry of a run, oldest first; debug entries only when asked.
pub async fn all(
    db: impl PgExecutor<'_>,
    run_id: Uuid,
    include_debug: bool,
) -> Result<Vec<Entry>, sqlx::Error> {
    sqlx::query_as(concat!(
        "select ",
        activity_entry_columns!(),
        " from run_activity
         where run_id = $1 and ($2 or not debug)
         order by id"
    ))
    .bind(run_id)
    .bind(include_debug)
    .fetch_all(db)
    .await
}

/// Deletes the oldest debug entries, at most `$2` of those older than `$1` days.
///
/// Walks `run_activity_debug_ts_idx` in its order and stops at the cutoff, so it reads a
/// few index pages when nothing is due whatever the table's size. The `order by` is what
/// keeps it there: without it, on years of history (entries older than the cutoff are
/// plenty, debug ones plenty, but none both) the planner expects a sequential scan to
/// meet `$2` matches early and chooses it, which reads the whole table to find none
/// (0.9 s on 10,000,000 entries, at every worker's start and hourly). Checked from its plan
/// by the `queue_plans` test.
pub const PRUNE_DEBUG_SQL: &str = "delete from run_activity where id in (
     select id from run_activity
     where debug and ts < now() - make_interval(days => $1)
     order by ts
     limit $2)";

/// Deletes at most `batch` debug entries older than `days` days, in a transaction of its
/// own, in one worker at a time (a transaction-scoped advisory lock): `None` when another
/// worker holds it. Info entries, warnings and errors are never deleted.
pub async fn prune_debug_batch(
    pool: &sqlx::PgPool,
    days: u32,
    batch: i64,
) -> Result<Option<u64>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let mine: bool =
        sqlx::query_scalar("select pg_try_advisory_xact_lock(hashtext('sigmasight.prune_debug'))")
            .fetch_one(&mut *tx)
            .await?;
    if !mine {
        return Ok(None);
    }
    let n = sqlx::query(PRUNE_DEBUG_SQL)
        .bind(i32::try_from(days).unwrap_or(i32::MAX))
        .bind(batch)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    tx.commit().await?;
    Ok(Some(n))
}

/// Deletes every debug entry older than `days` days, [`prune_debug_batch`] after batch,
/// each committed on its own (a prune cut short keeps what it did), resting after each
/// batch three times as long as it took (at least `rest`), so a backlog of millions is
/// deleted beside a night's work rather than in its way. Stops when another worker prunes.
/// Returns how many were deleted.
pub async fn prune_debug(
    pool: &sqlx::PgPool,
    days: u32,
    batch: i64,
    rest: std::time::Duration,
) -> Result<u64, sqlx::Error> {
    let mut deleted = 0;
    loop {
        let started = std::time::Instant::now();
        let Some(n) = prune_debug_batch(pool, days, batch).await? else {
            break;
        };
        deleted += n;
        // A short batch was the last one.
        if n == 0 || i64::try_from(n).unwrap_or(i64::MAX) < batch {
            break;
        }
        tokio::time::sleep((started.elapsed() * 3).max(rest)).await;
    }
    Ok(deleted)
}
