//! A `runs` table at the size of years of history, for the queue's plan test and bench:
//! finished daily parents, their finished children, tonight's parked parent with a backlog
//! of queued children (a tenth in retry backoff), and a few running ones (two whose worker
//! died, one of them on its last attempt).

use sigmasight_shared::db::runs;
use sigmasight_shared::queue::BATCH_CHILD_PRIORITY;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// How much history and backlog to build.
#[derive(Debug, Clone, Copy)]
pub struct Size {
    /// Finished child runs.
    pub finished: i64,
    /// Queued children of tonight's parent.
    pub queued: i64,
    /// Finished daily parents the finished children belong to.
    pub parents: i64,
}

/// The size of the measurements: 1,000,000 finished, 100,000 queued.
pub const YEARS: Size = Size {
    finished: 1_000_000,
    queued: 100_000,
    parents: 1_000,
};

/// The id of tonight's parked parent.
pub async fn tonight(pool: &PgPool) -> anyhow::Result<Uuid> {
    Ok(sqlx::query_scalar("select md5('tonight')::uuid")
        .fetch_one(pool)
        .await?)
}

/// Fills `runs` (then analyzes it).
pub async fn fill(pool: &PgPool, size: Size) -> anyhow::Result<()> {
    finished(pool, size.finished, size.parents).await?;
    let queued = size.queued;
    for sql in [
        // Tonight's parent, parked while its children wait.
        "insert into runs (id, kind, status, source, attempt, run_at, started_at)
         values (md5('tonight')::uuid, 'daily', 'running', 'cron', 1, now(), now())"
            .to_owned(),
        // The backlog: its children, a tenth of them in retry backoff.
        format!(
            "insert into runs (id, kind, parent_id, status, source, priority, run_at)
             select gen_random_uuid(), 'portfolio_daily', md5('tonight')::uuid, 'queued', 'cron', 200,
                    case when i % 10 = 0 then now() + interval '5 minutes' else now() - make_interval(secs => i) end
             from generate_series(1, {queued}) i"
        ),
        // A few running with live leases, and two whose worker died.
        "insert into runs (id, kind, parent_id, status, source, priority, attempt, worker_id, lease_expires_at, started_at)
         select gen_random_uuid(), 'portfolio_daily', md5('tonight')::uuid, 'running', 'cron', 200,
                case when i = 1 then 3 else 1 end, 'w' || i,
                case when i <= 2 then now() - interval '1 minute' else now() + interval '30 seconds' end, now()
         from generate_series(1, 8) i"
            .to_owned(),
        "analyze runs".to_owned(),
    ] {
        sqlx::query(&sql).execute(pool).await?;
    }
    Ok(())
}

/// Past nights only: `parents` finished daily parents (one a day back from yesterday) and
/// `finished` finished children spread over them, one in fifty failed.
pub async fn finished(pool: &PgPool, finished: i64, parents: i64) -> anyhow::Result<()> {
    for sql in [
        // Finished daily parents, deterministic ids so children can point at them.
        format!(
            "insert into runs (id, kind, status, source, attempt, run_at, created_at, finished_at)
             select md5('parent' || i)::uuid, 'daily', 'completed', 'cron', 1,
                    now() - make_interval(days => i::int), now() - make_interval(days => i::int),
                    now() - make_interval(days => i::int)
             from generate_series(1, {parents}) i"
        ),
        // The finished children of those parents.
        format!(
            "insert into runs (id, kind, parent_id, status, source, attempt, run_at, created_at, finished_at)
             select gen_random_uuid(), 'portfolio_daily', md5('parent' || (1 + i % {parents}))::uuid,
                    case when i % 50 = 0 then 'failed' else 'completed' end, 'cron', 1,
                    now() - make_interval(days => (i % {parents})::int),
                    now() - make_interval(days => (i % {parents})::int),
                    now() - make_interval(days => (i % {parents})::int)
             from generate_series(1, {finished}) i"
        ),
    ] {
        sqlx::query(&sql).execute(pool).await?;
    }
    Ok(())
}

/// `per_run` activity entries for each finished child of [`finished`], at its end, as the
/// retention leaves them: one in `debug_every` (≥ 1) of the last 30 days' entries is a debug one,
/// older debug entries were pruned (older entries are info ones). Then analyzes the table.
pub async fn activity(pool: &PgPool, per_run: i64, debug_every: i64) -> anyhow::Result<()> {
    for sql in [
        format!(
            "insert into run_activity (run_id, attempt, ts, level, phase_id, message, debug)
             select r.id, 1, r.finished_at, 'info', 'phase_3',
                    'Creating snapshot for 2024-01-02... (' || k || '/' || {per_run} || ')',
                    k % {debug_every} = 0 and r.finished_at > now() - interval '30 days'
             from runs r, generate_series(1, {per_run}) k
             where r.kind = 'portfolio_daily' and r.finished_at is not null"
        ),
        "analyze run_activity".to_owned(),
    ] {
        sqlx::query(&sql).execute(pool).await?;
    }
    Ok(())
}

/// The parameters a queue statement takes.
#[derive(Debug, Clone, Copy)]
pub enum Binds {
    None,
    /// A claim: worker id, lease seconds and the priority it claims ahead of (`i32::MAX`:
    /// any run; [`BATCH_CHILD_PRIORITY`]: a worker whose batch slots are taken).
    Claim(i32),
    /// A parent run's id.
    Parent(Uuid),
    /// The debug entries' prune: retention days and batch size (30 and 10,000, as a worker
    /// binds them by default).
    Prune,
}

impl Binds {
    /// The values [`bind`] binds, as an `EXECUTE`'s argument list.
    fn literals(self) -> String {
        match self {
            Self::None => String::new(),
            Self::Claim(ahead_of) => format!("('w-new', 30.0, {ahead_of})"),
            Self::Parent(id) => format!("('{id}')"),
            Self::Prune => "(30, 10000)".to_owned(),
        }
    }
}

/// The queue's statements, each with what it is and its parameters (`tonight` the parked
/// parent of [`fill`]).
pub fn statements(tonight: Uuid) -> [(&'static str, &'static str, Binds); 11] {
    let parent = Binds::Parent(tonight);
    let (any, ahead) = (Binds::Claim(i32::MAX), Binds::Claim(BATCH_CHILD_PRIORITY));
    [
        ("claim: takeover", runs::CLAIM_TAKEOVER_SQL, any),
        ("claim: due run", runs::CLAIM_DUE_SQL, any),
        (
            "claim: takeover, batch slots taken",
            runs::CLAIM_TAKEOVER_SQL,
            ahead,
        ),
        (
            "claim: due run, batch slots taken",
            runs::CLAIM_DUE_SQL,
            ahead,
        ),
        (
            "reaper: exhausted leases",
            runs::FAIL_EXHAUSTED_SQL,
            Binds::None,
        ),
        (
            "reaper: orphaned parents",
            runs::ORPHANED_PARENTS_SQL,
            Binds::None,
        ),
        (
            "a child's end counted on its parent",
            runs::CHILD_ENDED_SQL,
            parent,
        ),
        (
            "parent completion (every child counted)",
            runs::COMPLETE_PARENT_SQL,
            parent,
        ),
        (
            "a parent's children by status",
            runs::CHILDREN_COUNTS_SQL,
            parent,
        ),
        (
            "metrics: active runs by kind and status",
            runs::QUEUE_ACTIVE_SQL,
            Binds::None,
        ),
        ("metrics: the due backlog", runs::QUEUE_DUE_SQL, Binds::None),
    ]
}

/// `EXPLAIN (<options>, FORMAT JSON)` of `sql` with `binds` bound as the application binds
/// them: Postgres's JSON plan document, planned with the parameters' values.
pub async fn explain(
    conn: &mut PgConnection,
    options: &str,
    sql: &str,
    binds: Binds,
) -> anyhow::Result<serde_json::Value> {
    let explain = format!("explain ({options}format json) {sql}");
    Ok(bind(sqlx::query_scalar(&explain), binds)
        .fetch_one(conn)
        .await?)
}

/// The plan a worker's session runs `sql` on ([`sigmasight_shared::db::Session::Worker`]:
/// `force_generic_plan`): `sql` prepared, then `EXPLAIN (FORMAT JSON) EXECUTE` of it with
/// `binds`, which the plan does not know.
pub async fn explain_generic(
    conn: &mut PgConnection,
    sql: &str,
    binds: Binds,
) -> anyhow::Result<serde_json::Value> {
    sqlx::query(&format!("prepare plan_check as {sql}"))
        .execute(&mut *conn)
        .await?;
    sqlx::query("set plan_cache_mode = force_generic_plan")
        .execute(&mut *conn)
        .await?;
    // A utility statement takes no parameters: the values are written out.
    let execute = format!(
        "explain (format json) execute plan_check{}",
        binds.literals()
    );
    let plan = sqlx::query_scalar(&execute).fetch_one(&mut *conn).await;
    for undo in ["deallocate plan_check", "reset plan_cache_mode"] {
        sqlx::query(undo).execute(&mut *conn).await?;
    }
    Ok(plan?)
}

type JsonQuery<'q> =
    sqlx::query::QueryScalar<'q, sqlx::Postgres, serde_json::Value, sqlx::postgres::PgArguments>;

/// `binds` bound to `q`.
fn bind(q: JsonQuery<'_>, binds: Binds) -> JsonQuery<'_> {
    match binds {
        Binds::None => q,
        Binds::Claim(ahead_of) => q.bind("w-new").bind(30.0_f64).bind(ahead_of),
        Binds::Parent(id) => q.bind(id),
        Binds::Prune => q.bind(30_i32).bind(10_000_i64),
    }
}
