//! Database access: the pool, the embedded migrations and one module per table group.
//! Every query lives here as a named function; handlers and phases never write SQL.

// SQL written once for several statements (textual macros, so `concat!` builds each
// statement at compile time; defined before the modules that use them).

/// The newest run of the portfolio `$portfolio` (a parameter or a column): its active
/// (queued or running) run, else the one created last.
macro_rules! active_else_latest_run {
    ($portfolio:literal) => {
        concat!(
            "(select * from runs where portfolio_id = ",
            $portfolio,
            " and status in ('queued', 'running') limit 1)
             union all
             (select * from runs where portfolio_id = ",
            $portfolio,
            " order by created_at desc, id desc limit 1)
             limit 1"
        )
    };
}

/// The columns of a [`phases::PhaseRow`].
macro_rules! phase_row_columns {
    () => {
        "run_id, attempt, phase_id, ordinal, phase_name, status, current, total, unit,
         started_at, finished_at, duration_seconds, carried_over, summary"
    };
}

/// The columns of an [`activity::Entry`].
macro_rules! activity_entry_columns {
    () => {
        "id, run_id, attempt, ts, level, phase_id, message, debug"
    };
}

/// Holds while attempt `$2` of run `$1` is still running: the fence of a write that needs no
/// lock on the run's row (it is checked in the write's own statement).
macro_rules! attempt_running {
    () => {
        "exists (select 1 from runs where id = $1 and attempt = $2 and status = 'running')"
    };
}

/// The run's row while attempt `$attempt` of run `$run` is still running, held `for share`
/// until the transaction commits: a write that reads it (a CTE `fence`) commits only while
/// the lease is the attempt's, and a takeover waits for it.
macro_rules! hold_run {
    ($run:literal, $attempt:literal) => {
        concat!(
            "select 1 from runs where id = ",
            $run,
            " and attempt = ",
            $attempt,
            " and status = 'running' for share"
        )
    };
}

/// Inserts the phase rows of attempt `$2` of run `$1` whole, as they ended (`$3` ids, `$4`
/// ordinals, `$5` names, `$6` units, `$7` statuses, `$8` current, `$9` total, `$10` started,
/// `$11` finished, `$12` summaries), where `$fence` holds: a nightly child writes its
/// phases once, with its end ([`phases::AttemptRows`]).
macro_rules! insert_attempt_rows {
    ($fence:expr) => {
        concat!(
            "insert into run_phases (run_id, attempt, phase_id, ordinal, phase_name, unit, status,
                                     current, total, started_at, finished_at, duration_seconds, summary)
             select $1, $2, u.id, u.ordinal, u.name, u.unit, u.status, u.current, u.total,
                    u.started, u.finished, extract(epoch from u.finished - u.started)::float8,
                    u.summary
             from unnest($3::text[], $4::int4[], $5::text[], $6::text[], $7::text[], $8::int4[],
                         $9::int4[], $10::timestamptz[], $11::timestamptz[], $12::jsonb[])
                  as u(id, ordinal, name, unit, status, current, total, started, finished, summary)
             where ",
            $fence,
            " on conflict (run_id, attempt, phase_id) do nothing"
        )
    };
}

/// Inserts activity entries of attempt `$2` of run `$1` in their order, given as five arrays
/// (ts, level, phase, message, debug: [`activity::EntryColumns`]), where `$fence` holds.
macro_rules! insert_entries {
    ($ts:literal, $level:literal, $phase:literal, $message:literal, $debug:literal, $fence:expr) => {
        concat!(
            "insert into run_activity (run_id, attempt, ts, level, phase_id, message, debug)
             select $1, $2, u.ts, u.level, u.phase_id, u.message, u.debug
             from unnest(",
            $ts,
            "::timestamptz[], ",
            $level,
            "::text[], ",
            $phase,
            "::text[], ",
            $message,
            "::text[], ",
            $debug,
            "::bool[])
                  with ordinality as u(ts, level, phase_id, message, debug, n)
             where ",
            $fence,
            "
             order by u.n"
        )
    };
}

pub mod activity;
pub mod budget;
pub mod factors;
pub mod fundamentals;
pub mod metrics;
pub mod misses;
pub mod phases;
pub mod portfolios;
pub mod positions;
pub mod prices;
pub mod profiles;
pub mod risk;
pub mod runs;
pub mod snapshots;
pub mod status;
pub mod tags;
pub mod tail_risk;
pub mod users;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;
use std::str::FromStr;
use std::time::Duration;

/// The schema: `migrations/` at the workspace root, embedded at build time.
pub static MIGRATOR: Migrator = sqlx::migrate!("../migrations");

/// Whose sessions a pool opens: the settings Postgres is given at each connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Session {
    /// The api's: Postgres's defaults. A commit returns once it is on disk (its answers
    /// promise it), and each statement is planned as Postgres chooses.
    Api,
    /// The worker's. Commits return before they are flushed (`synchronous_commit = off`): a
    /// run's progress rows, activity and results are rewritten by its next attempt if a
    /// Postgres crash loses their last fraction of a second. A run's end ([`runs::finish`],
    /// [`runs::requeue`], [`runs::finish_child`]) commits durably whatever the session, which
    /// flushes everything the session wrote before it too (the WAL is one sequence).
    ///
    /// And every statement runs on its generic plan (`plan_cache_mode =
    /// force_generic_plan`): the worker sends the same few dozen statements thousands of
    /// times a night, each prepared once per connection. Left to choose, Postgres judged
    /// the generic plan of phase 6's write dearer than one made for each child's values and
    /// planned it anew at every child (0.51 ms of its 3.0 ms); the others it had settled on
    /// their generic plans after five runs anyway. The queue's statements are checked on
    /// their generic plans too (`tests/e2e/queue_plans.rs`).
    Worker,
}

/// Connects, retrying with backoff for up to `wait` (Postgres may still be starting).
pub async fn connect(
    url: &str,
    max_connections: u32,
    wait: Duration,
) -> Result<PgPool, sqlx::Error> {
    connect_with(url, max_connections, wait, Session::Api).await
}

/// [`connect`] with the sessions' settings.
pub async fn connect_with(
    url: &str,
    max_connections: u32,
    wait: Duration,
    session: Session,
) -> Result<PgPool, sqlx::Error> {
    let mut options = PgConnectOptions::from_str(url)?.application_name("sigmasight");
    if session == Session::Worker {
        options = options.options([
            ("synchronous_commit", "off"),
            ("plan_cache_mode", "force_generic_plan"),
        ]);
    }
    let deadline = tokio::time::Instant::now() + wait;
    let mut delay = Duration::from_millis(100);
    loop {
        let attempt = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options.clone())
            .await;
        match attempt {
            Ok(pool) => return Ok(pool),
            Err(e) if tokio::time::Instant::now() < deadline => {
                tracing::warn!(error = %e, "database not reachable yet; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Applies pending migrations (idempotent; concurrent callers serialise on sqlx's lock).
pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    MIGRATOR.run(pool).await
}

/// True when `err` is a unique violation of the named constraint or index.
pub fn is_unique_violation(err: &sqlx::Error, constraint: &str) -> bool {
    match err {
        sqlx::Error::Database(db) => {
            db.code().as_deref() == Some("23505") && db.constraint() == Some(constraint)
        }
        _ => false,
    }
}

/// What both binaries do at start: connect (waiting up to 30 s for Postgres) and migrate.
pub async fn connect_and_migrate(
    config: &crate::config::DatabaseConfig,
    session: Session,
) -> anyhow::Result<PgPool> {
    use anyhow::Context as _;
    let pool = connect_with(
        &config.url,
        config.max_connections,
        Duration::from_secs(30),
        session,
    )
    .await
    .context("connecting to DATABASE_URL")?;
    migrate(&pool).await.context("running migrations")?;
    Ok(pool)
}
