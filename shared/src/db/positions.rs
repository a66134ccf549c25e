//! `positions`: imported from the CSV in the onboarding transaction; phase 4 writes their
//! current values.

use crate::csv_import::ParsedPosition;
use crate::domain::{InvestmentClass, OptionType, PositionType};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use sqlx::{FromRow, PgConnection, PgExecutor};
use uuid::Uuid;

/// A position row.
#[derive(Debug, Clone, FromRow)]
pub struct Position {
    pub id: Uuid,
    pub portfolio_id: Uuid,
    pub symbol: String,
    pub quantity: Decimal,
    pub entry_price: Decimal,
    pub entry_date: NaiveDate,
    pub investment_class: InvestmentClass,
    pub investment_subtype: String,
    pub position_type: PositionType,
    pub underlying_symbol: Option<String>,
    pub strike_price: Option<Decimal>,
    pub expiration_date: Option<NaiveDate>,
    pub option_type: Option<OptionType>,
    pub exit_date: Option<NaiveDate>,
    pub exit_price: Option<Decimal>,
    pub source_row: i32,
    pub last_price: Option<f64>,
    pub price_date: Option<NaiveDate>,
    pub market_value: Option<Decimal>,
    pub unrealized_pnl: Option<Decimal>,
}

/// Inserts every parsed position in one statement; returns how many were inserted.
pub async fn insert_many(
    conn: &mut PgConnection,
    portfolio_id: Uuid,
    rows: &[ParsedPosition],
) -> Result<u64, sqlx::Error> {
    let ids: Vec<Uuid> = rows.iter().map(|_| Uuid::new_v4()).collect();
    let symbols: Vec<&str> = rows.iter().map(|r| r.symbol.as_str()).collect();
    let quantities: Vec<Decimal> = rows.iter().map(|r| r.quantity).collect();
    let entry_prices: Vec<Decimal> = rows.iter().map(|r| r.entry_price).collect();
    let entry_dates: Vec<NaiveDate> = rows.iter().map(|r| r.entry_date).collect();
    let classes: Vec<&str> = rows.iter().map(|r| r.investment_class.as_str()).collect();
    let subtypes: Vec<&str> = rows.iter().map(|r| r.investment_subtype.as_str()).collect();
    let types: Vec<&str> = rows.iter().map(|r| r.position_type.as_str()).collect();
    let underlyings: Vec<Option<&str>> = rows
        .iter()
        .map(|r| r.underlying_symbol.as_deref())
        .collect();
    let strikes: Vec<Option<Decimal>> = rows.iter().map(|r| r.strike_price).collect();
    let expiries: Vec<Option<NaiveDate>> = rows.iter().map(|r| r.expiration_date).collect();
    let option_types: Vec<Option<&str>> = rows
        .iter()
        .map(|r| r.option_type.map(|o| o.as_str()))
        .collect();
    let exit_dates: Vec<Option<NaiveDate>> = rows.iter().map(|r| r.exit_date).collect();
    let exit_prices: Vec<Option<Decimal>> = rows.iter().map(|r| r.exit_price).collect();
    let source_rows: Vec<i32> = rows
        .iter()
        .map(|r| i32::try_from(r.row).unwrap_or(i32::MAX))
        .collect();
    let result = sqlx::query(
        "insert into positions
            (id, portfolio_id, symbol, quantity, entry_price, entry_date, investment_class,
             investment_subtype, position_type, underlying_symbol, strike_price, expiration_date,
             option_type, exit_date, exit_price, source_row)
         select u.id, $1, u.symbol, u.quantity, u.entry_price, u.entry_date, u.class, u.subtype,
                u.ptype, u.underlying, u.strike, u.expiry, u.otype, u.exit_date, u.exit_price, u.source_row
         from unnest($2::uuid[], $3::text[], $4::numeric[], $5::numeric[], $6::date[], $7::text[],
                     $8::text[], $9::text[], $10::text[], $11::numeric[], $12::date[], $13::text[],
                     $14::date[], $15::numeric[], $16::int4[])
              as u(id, symbol, quantity, entry_price, entry_date, class, subtype, ptype, underlying,
                   strike, expiry, otype, exit_date, exit_price, source_row)",
    )
    .bind(portfolio_id)
    .bind(&ids)
    .bind(&symbols)
    .bind(&quantities)
    .bind(&entry_prices)
    .bind(&entry_dates)
    .bind(&classes)
    .bind(&subtypes)
    .bind(&types)
    .bind(&underlyings)
    .bind(&strikes)
    .bind(&expiries)
    .bind(&option_types)
    .bind(&exit_dates)
    .bind(&exit_prices)
    .bind(&source_rows)
    .execute(&mut *conn)
    .await?;
    Ok(result.rows_affected())
}

/// Every position of a portfolio, in CSV order.
pub async fn list_for_portfolio(
    db: impl PgExecutor<'_>,
    portfolio_id: Uuid,
) -> Result<Vec<Position>, sqlx::Error> {
    sqlx::query_as(
        "select id, portfolio_id, symbol, quantity, entry_price, entry_date, investment_class,
                investment_subtype, position_type, underlying_symbol, strike_price, expiration_date,
                option_type, exit_date, exit_price, source_row, last_price, price_date,
                market_value, unrealized_pnl
         from positions
         where portfolio_id = $1
         order by source_row",
    )
    .bind(portfolio_id)
    .fetch_all(db)
    .await
}

/// Current values of one position, written by phase 4.
#[derive(Debug, Clone)]
pub struct ValueUpdate {
    pub position_id: Uuid,
    pub last_price: Option<f64>,
    pub price_date: Option<NaiveDate>,
    pub market_value: Option<f64>,
    pub unrealized_pnl: Option<f64>,
    pub delta: Option<f64>,
}

/// Writes current values for many positions in one statement, fenced on attempt `attempt`
/// of run `run_id` still running (it holds the run's row `for share` until it commits).
/// False when the lease was lost: nothing written.
pub async fn update_values(
    db: impl PgExecutor<'_>,
    (run_id, attempt): (Uuid, i32),
    portfolio_id: Uuid,
    rows: &[ValueUpdate],
) -> Result<bool, sqlx::Error> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.position_id).collect();
    let prices: Vec<Option<f64>> = rows.iter().map(|r| r.last_price).collect();
    let dates: Vec<Option<NaiveDate>> = rows.iter().map(|r| r.price_date).collect();
    let mvs: Vec<Option<f64>> = rows.iter().map(|r| r.market_value).collect();
    let pnls: Vec<Option<f64>> = rows.iter().map(|r| r.unrealized_pnl).collect();
    let deltas: Vec<Option<f64>> = rows.iter().map(|r| r.delta).collect();
    sqlx::query_scalar(
        concat!("with fence as (", hold_run!("$8", "$9"), "),
         updated as (
             update positions p
             set last_price = u.price, price_date = u.price_date, market_value = round(u.mv::numeric, 2),
                 unrealized_pnl = round(u.pnl::numeric, 2), delta = u.delta, values_updated_at = now()
             from unnest($2::uuid[], $3::float8[], $4::date[], $5::float8[], $6::float8[], $7::float8[])
                  as u(id, price, price_date, mv, pnl, delta)
             where p.id = u.id and p.portfolio_id = $1 and exists (select 1 from fence))
         select exists (select 1 from fence)"),
    )
    .bind(portfolio_id)
    .bind(&ids)
    .bind(&prices)
    .bind(&dates)
    .bind(&mvs)
    .bind(&pnls)
    .bind(&deltas)
    .bind(run_id)
    .bind(attempt)
    .fetch_one(db)
    .await
}

/// The symbols with market data that the listed portfolios (all when `None`) need, each with
/// the earliest entry date of the positions holding it (an option's: its underlying's), by
/// symbol: the daily batch's universe.
pub async fn universe(
    db: impl PgExecutor<'_>,
    only: Option<&[Uuid]>,
) -> Result<Vec<(String, NaiveDate)>, sqlx::Error> {
    sqlx::query_as(
        "select case when investment_class = 'OPTIONS' then underlying_symbol else symbol end as s,
                min(entry_date)
         from positions
         where investment_class <> 'PRIVATE'
           and ($1::uuid[] is null or portfolio_id = any($1))
           and (investment_class <> 'OPTIONS' or underlying_symbol is not null)
         group by 1
         order by 1",
    )
    .bind(only)
    .fetch_all(db)
    .await
}

/// Options active on `date` and the unrealized P&L phase 4 stored for open positions.
pub async fn overview_counts(
    db: impl PgExecutor<'_>,
    portfolio_id: Uuid,
    date: NaiveDate,
) -> Result<(i64, f64), sqlx::Error> {
    sqlx::query_as(
        "select count(*) filter (where investment_class = 'OPTIONS' and entry_date <= $2
                                   and (exit_date is null or exit_date > $2)
                                   and (expiration_date is null or expiration_date >= $2)),
                coalesce(sum(unrealized_pnl) filter (where exit_date is null or exit_date > $2), 0)::float8
         from positions where portfolio_id = $1",
    )
    .bind(portfolio_id)
    .bind(date)
    .fetch_one(db)
    .await
}
