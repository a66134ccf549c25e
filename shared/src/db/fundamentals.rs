//! `fundamentals` and `fundamentals_status`: reported periods with derived ratios (phase 2).

use crate::analytics::fundamentals::derive;
use crate::market_data::Fundamentals;
use chrono::NaiveDate;
use sqlx::{PgConnection, PgExecutor};

/// Replaces a symbol's stored periods with `f` (upserted by period) and records the fetch.
pub async fn upsert(
    conn: &mut PgConnection,
    symbol: &str,
    f: &Fundamentals,
) -> Result<u64, sqlx::Error> {
    let p = &f.periods;
    let col = |g: fn(&crate::market_data::FundamentalPeriod) -> Option<f64>| {
        p.iter().map(g).collect::<Vec<Option<f64>>>()
    };
    let derived: Vec<_> = p.iter().map(derive).collect();
    let dcol = |g: fn(&crate::analytics::fundamentals::Derived) -> Option<f64>| {
        derived.iter().map(g).collect::<Vec<Option<f64>>>()
    };
    let result = sqlx::query(
        "insert into fundamentals
            (symbol, period_type, period_end, fiscal_year, fiscal_quarter, revenue, gross_profit, operating_income,
             net_income, diluted_eps, total_assets, total_equity, current_assets, current_liabilities, total_debt,
             cash, operating_cash_flow, capital_expenditure, gross_margin, operating_margin, net_margin, net_debt,
             current_ratio, free_cash_flow)
         select $1, u.*
         from unnest($2::text[], $3::date[], $4::int4[], $5::int4[], $6::float8[], $7::float8[], $8::float8[],
                     $9::float8[], $10::float8[], $11::float8[], $12::float8[], $13::float8[], $14::float8[],
                     $15::float8[], $16::float8[], $17::float8[], $18::float8[], $19::float8[], $20::float8[],
                     $21::float8[], $22::float8[], $23::float8[], $24::float8[]) as u
         on conflict on constraint fundamentals_pk do update set
             fiscal_year = excluded.fiscal_year, fiscal_quarter = excluded.fiscal_quarter,
             revenue = excluded.revenue, gross_profit = excluded.gross_profit,
             operating_income = excluded.operating_income, net_income = excluded.net_income,
             diluted_eps = excluded.diluted_eps, total_assets = excluded.total_assets,
             total_equity = excluded.total_equity, current_assets = excluded.current_assets,
             current_liabilities = excluded.current_liabilities, total_debt = excluded.total_debt,
             cash = excluded.cash, operating_cash_flow = excluded.operating_cash_flow,
             capital_expenditure = excluded.capital_expenditure, gross_margin = excluded.gross_margin,
             operating_margin = excluded.operating_margin, net_margin = excluded.net_margin,
             net_debt = excluded.net_debt, current_ratio = excluded.current_ratio,
             free_cash_flow = excluded.free_cash_flow, fetched_at = now()",
    )
    .bind(symbol)
    .bind(p.iter().map(|x| x.period_type.as_str()).collect::<Vec<_>>())
    .bind(p.iter().map(|x| x.period_end).collect::<Vec<_>>())
    .bind(p.iter().map(|x| x.fiscal_year).collect::<Vec<_>>())
    .bind(p.iter().map(|x| x.fiscal_quarter).collect::<Vec<_>>())
    .bind(col(|x| x.revenue))
    .bind(col(|x| x.gross_profit))
    .bind(col(|x| x.operating_income))
    .bind(col(|x| x.net_income))
    .bind(col(|x| x.diluted_eps))
    .bind(col(|x| x.total_assets))
    .bind(col(|x| x.total_equity))
    .bind(col(|x| x.current_assets))
    .bind(col(|x| x.current_liabilities))
    .bind(col(|x| x.total_debt))
    .bind(col(|x| x.cash))
    .bind(col(|x| x.operating_cash_flow))
    .bind(col(|x| x.capital_expenditure))
    .bind(dcol(|d| d.gross_margin))
    .bind(dcol(|d| d.operating_margin))
    .bind(dcol(|d| d.net_margin))
    .bind(dcol(|d| d.net_debt))
    .bind(dcol(|d| d.current_ratio))
    .bind(dcol(|d| d.free_cash_flow))
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "insert into fundamentals_status (symbol, next_earnings_date, fetched_at) values ($1, $2, now())
         on conflict (symbol) do update set next_earnings_date = excluded.next_earnings_date, fetched_at = now()",
    )
    .bind(symbol)
    .bind(f.next_earnings_date)
    .execute(&mut *conn)
    .await?;
    Ok(result.rows_affected())
}

/// Symbols whose fundamentals are current on `today`: fetched, and not 3+ days past the next
/// earnings date.
pub async fn current_symbols(
    db: impl PgExecutor<'_>,
    symbols: &[String],
    today: NaiveDate,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "select symbol from fundamentals_status
         where symbol = any($1)
           and (next_earnings_date is null or $2 < next_earnings_date + 3)",
    )
    .bind(symbols)
    .bind(today)
    .fetch_all(db)
    .await
}
