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
    let row: Option<LatestRow> = sqlx::query_as(concat!(
        "select r.*, p.user_id as portfolio_owner,
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
        active_else_latest_run!(),
        ") r
         where p.id = $1 and ($2::uuid is null or p.user_id = $2)"
    ))
    .bind(portfolio_id)
    .bind(owner)
    .bind(feed_limit)
    .fetch_optional(db)
    .await?;
    if let Some(LatestRow {
        run,
        portfolio_owner,
        phase_rows: Json(phases),
        feed_rows: Json(feed),
    }) = row
    {
        return Ok(Latest::Run {
            owner: portfolio_owner,
            run: Box::new(run),
            phases,
            feed,
        });
    }
    Ok(if visible(db, portfolio_id, owner).await? {
        Latest::NoRun
    } else {
        Latest::Hidden
    })
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
