//! The status poll's read: a portfolio's newest run with its attempt's phases and the feed's
//! newest entries (what `runs::latest_for_portfolio`, `phases::list` and `activity::recent`
//! read, with their SQL), in ONE statement (the status page polls every 2 s, and under a busy night
//! each round trip to Postgres waits for a core: one statement instead of four keeps the
//! poll's tail short).

use super::activity::Entry;
use super::phases::PhaseRow;
use super::runs::Run;
use sqlx::types::Json;
use sqlx::{FromRow, PgExecutor};
use uuid::Uuid;

/// What the poll found.
#[derive(Debug, Clone)]
pub enum Latest {
    /// The portfolio does not exist, or the reader may not see it.
    Hidden,
    /// A readable portfolio without a run.
    NoRun,
    /// The newest run (the active one, else the latest), its attempt's phases in order and
    /// the newest non-debug activity entries, oldest first; `owner` owns the portfolio.
    Run {
        owner: Uuid,
        run: Box<Run>,
        phases: Vec<PhaseRow>,
        feed: Vec<Entry>,
    },
}

#[derive(FromRow)]
struct LatestRow {
    #[sqlx(flatten)]
    run: Run,
    /// `p.id` (the run's own `portfolio_id`, typed as nullable).
    status_portfolio_id: Uuid,
    portfolio_owner: Uuid,
    phase_rows: Json<Vec<PhaseRow>>,
    feed_rows: Json<Vec<Entry>>,
}

/// Reads the status rows of `portfolio_id` as `owner` sees it (`None`: an admin, who sees
/// every portfolio), with at most `feed_limit` feed entries. One statement when the
/// portfolio has a run; a second one only to tell "no run" from "not yours".
pub async fn latest(
    db: &sqlx::PgPool,
    portfolio_id: Uuid,
    owner: Option<Uuid>,
    feed_limit: i64,
) -> Result<Latest, sqlx::Error> {
    if let Some(found) = read(db, &[portfolio_id], owner, feed_limit).await?.pop() {
        return Ok(Latest::Run {
            owner: found.owner,
            run: found.run,
            phases: found.phases,
            feed: found.feed,
        });
    }
    Ok(if visible(db, portfolio_id, owner).await? {
        Latest::NoRun
    } else {
        Latest::Hidden
    })
}

/// The status rows of one portfolio of [`latest_many`] (what [`Latest::Run`] holds).
#[derive(Debug, Clone)]
pub struct Found {
    pub portfolio_id: Uuid,
    pub owner: Uuid,
    pub run: Box<Run>,
    pub phases: Vec<PhaseRow>,
    pub feed: Vec<Entry>,
}

/// Reads the status rows of every portfolio of `portfolio_ids` that has a run, as an admin
/// sees them (the caller checks who may read them: each names its owner), in ONE statement:
/// the status cache refreshes many portfolios at once after a change.
pub async fn latest_many(
    db: &sqlx::PgPool,
    portfolio_ids: &[Uuid],
    feed_limit: i64,
) -> Result<Vec<Found>, sqlx::Error> {
    read(db, portfolio_ids, None, feed_limit).await
}

async fn read(
    db: &sqlx::PgPool,
    portfolio_ids: &[Uuid],
    owner: Option<Uuid>,
    feed_limit: i64,
) -> Result<Vec<Found>, sqlx::Error> {
    let rows: Vec<LatestRow> = sqlx::query_as(concat!(
        "select r.*, p.id as status_portfolio_id, p.user_id as portfolio_owner,
                coalesce((select json_agg(ph order by ph.ordinal)
                          from (select ",
        phase_row_columns!(),
        " from run_phases
                                where run_id = r.id and attempt = r.attempt) ph),
                         '[]'::json) as phase_rows,
                coalesce((select json_agg(a order by a.id)
                          from (select ",
        activity_entry_columns!(),
        " from run_activity
                                where run_id = r.id and not debug
                                order by id desc
                                limit $3) a),
                         '[]'::json) as feed_rows
         from portfolios p
         cross join lateral (",
        active_else_latest_run!("p.id"),
        ") r
         where p.id = any($1) and ($2::uuid is null or p.user_id = $2)"
    ))
    .bind(portfolio_ids)
    .bind(owner)
    .bind(feed_limit)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| Found {
            portfolio_id: row.status_portfolio_id,
            owner: row.portfolio_owner,
            run: Box::new(row.run),
            phases: row.phase_rows.0,
            feed: row.feed_rows.0,
        })
        .collect())
}

async fn visible(
    db: impl PgExecutor<'_>,
    portfolio_id: Uuid,
    owner: Option<Uuid>,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "select exists (select 1 from portfolios
                        where id = $1 and ($2::uuid is null or user_id = $2))",
    )
    .bind(portfolio_id)
    .bind(owner)
    .fetch_one(db)
    .await
}
