//! `portfolios`: one per uploaded account.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use sqlx::{FromRow, PgExecutor};
use uuid::Uuid;

/// The unique constraint that makes an account name unique per user.
pub const ACCOUNT_NAME_UNIQUE: &str = "portfolios_account_name_unique";

/// A portfolio row.
#[derive(Debug, Clone, FromRow)]
pub struct Portfolio {
    pub id: Uuid,
    pub user_id: Uuid,
    pub name: String,
    pub account_name: String,
    pub account_type: String,
    pub description: Option<String>,
    pub equity_balance: Decimal,
    pub equity_balance_given: bool,
    pub created_at: DateTime<Utc>,
    /// Snapshots from this date on are stale (a restated price history): the next run
    /// recomputes them.
    pub recompute_from: Option<NaiveDate>,
}

/// Fields of a new portfolio.
#[derive(Debug, Clone)]
pub struct NewPortfolio<'a> {
    pub id: Uuid,
    pub user_id: Uuid,
    pub name: &'a str,
    pub account_name: &'a str,
    pub account_type: &'a str,
    pub description: Option<&'a str>,
    pub equity_balance: Decimal,
    pub equity_balance_given: bool,
}

/// Inserts a portfolio; a clash on the account name fails with [`ACCOUNT_NAME_UNIQUE`].
pub async fn insert(db: impl PgExecutor<'_>, p: &NewPortfolio<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into portfolios
            (id, user_id, name, account_name, account_type, description, equity_balance, equity_balance_given)
         values ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(p.id)
    .bind(p.user_id)
    .bind(p.name)
    .bind(p.account_name)
    .bind(p.account_type)
    .bind(p.description)
    .bind(p.equity_balance)
    .bind(p.equity_balance_given)
    .execute(db)
    .await?;
    Ok(())
}

/// The portfolio with this id, whoever owns it.
pub async fn find(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<Portfolio>, sqlx::Error> {
    sqlx::query_as("select * from portfolios where id = $1")
        .bind(id)
        .fetch_optional(db)
        .await
}

/// The portfolio with this id if `user_id` owns it.
pub async fn find_owned(
    db: impl PgExecutor<'_>,
    id: Uuid,
    user_id: Uuid,
) -> Result<Option<Portfolio>, sqlx::Error> {
    sqlx::query_as("select * from portfolios where id = $1 and user_id = $2")
        .bind(id)
        .bind(user_id)
        .fetch_optional(db)
        .await
}

/// Marks every portfolio holding `symbol` (directly or as an option's underlying) to recompute
/// its snapshots from `from` on; returns how many were marked.
pub async fn mark_recompute(
    db: impl PgExecutor<'_>,
    symbol: &str,
    from: NaiveDate,
) -> Result<u64, sqlx::Error> {
    let result = sqlx::query(
        "update portfolios p set recompute_from = least(coalesce(p.recompute_from, $2), $2)
         where exists (select 1 from positions x
                       where x.portfolio_id = p.id
                         and (x.symbol = $1 or x.underlying_symbol = $1))",
    )
    .bind(symbol)
    .bind(from)
    .execute(db)
    .await?;
    Ok(result.rows_affected())
}

/// Clears the recompute mark once snapshots from `covered_from` on were rewritten (a mark
/// set earlier than that, by a concurrent restatement, stays).
pub async fn clear_recompute(
    db: impl PgExecutor<'_>,
    id: Uuid,
    covered_from: NaiveDate,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update portfolios set recompute_from = null
         where id = $1 and recompute_from >= $2",
    )
    .bind(id)
    .bind(covered_from)
    .execute(db)
    .await?;
    Ok(())
}
