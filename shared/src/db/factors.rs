//! `symbol_factor_exposures`: phase 1.5 results per (symbol, factor, calculation date).

use chrono::NaiveDate;
use serde::Serialize;
use sqlx::{FromRow, PgConnection, PgExecutor};
use uuid::Uuid;

/// One stored factor result.
#[derive(Debug, Clone, PartialEq, FromRow, Serialize)]
pub struct FactorExposure {
    pub symbol: String,
    pub factor: String,
    pub calculation_date: NaiveDate,
    pub method: String,
    pub beta: Option<f64>,
    pub r_squared: Option<f64>,
    pub observations: i32,
    pub window_returns: i32,
    pub t_stat: Option<f64>,
    pub p_value: Option<f64>,
    pub std_error: Option<f64>,
    pub alpha: Option<f64>,
    pub label: Option<String>,
    pub reason: Option<String>,
}

/// Upserts many rows in one statement.
pub async fn upsert_many(
    conn: &mut PgConnection,
    run_id: Uuid,
    rows: &[FactorExposure],
) -> Result<u64, sqlx::Error> {
    let text = |f: fn(&FactorExposure) -> &str| rows.iter().map(f).collect::<Vec<&str>>();
    let opt =
        |f: fn(&FactorExposure) -> Option<f64>| rows.iter().map(f).collect::<Vec<Option<f64>>>();
    let result = sqlx::query(
        "insert into symbol_factor_exposures
            (symbol, factor, calculation_date, method, beta, r_squared, observations, window_returns,
             t_stat, p_value, std_error, alpha, label, reason, run_id)
         select u.symbol, u.factor, u.d, u.method, u.beta, u.r2, u.obs, u.win, u.t, u.p, u.se, u.alpha,
                u.label, u.reason, $1
         from unnest($2::text[], $3::text[], $4::date[], $5::text[], $6::float8[], $7::float8[], $8::int4[],
                     $9::int4[], $10::float8[], $11::float8[], $12::float8[], $13::float8[], $14::text[], $15::text[])
              as u(symbol, factor, d, method, beta, r2, obs, win, t, p, se, alpha, label, reason)
         on conflict on constraint symbol_factor_exposures_pk do update set
             method = excluded.method, beta = excluded.beta, r_squared = excluded.r_squared,
             observations = excluded.observations, window_returns = excluded.window_returns,
             t_stat = excluded.t_stat, p_value = excluded.p_value, std_error = excluded.std_error,
             alpha = excluded.alpha, label = excluded.label, reason = excluded.reason,
             run_id = excluded.run_id, updated_at = now()",
    )
    .bind(run_id)
    .bind(text(|r| r.symbol.as_str()))
    .bind(text(|r| r.factor.as_str()))
    .bind(rows.iter().map(|r| r.calculation_date).collect::<Vec<_>>())
    .bind(text(|r| r.method.as_str()))
    .bind(opt(|r| r.beta))
    .bind(opt(|r| r.r_squared))
    .bind(rows.iter().map(|r| r.observations).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.window_returns).collect::<Vec<_>>())
    .bind(opt(|r| r.t_stat))
    .bind(opt(|r| r.p_value))
    .bind(opt(|r| r.std_error))
    .bind(opt(|r| r.alpha))
    .bind(rows.iter().map(|r| r.label.as_deref()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.reason.as_deref()).collect::<Vec<_>>())
    .execute(&mut *conn)
    .await?;
    Ok(result.rows_affected())
}

/// Symbols that already have at least `rows_per_symbol` computed (non-provider) rows for
/// `date` (cached: they cost nothing).
pub async fn complete_symbols(
    db: impl PgExecutor<'_>,
    symbols: &[String],
    date: NaiveDate,
    rows_per_symbol: i64,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "select symbol from symbol_factor_exposures
         where symbol = any($1) and calculation_date = $2 and method <> 'provider'
         group by symbol
         having count(*) >= $3",
    )
    .bind(symbols)
    .bind(date)
    .bind(rows_per_symbol)
    .fetch_all(db)
    .await
}

/// Writes the `provider` row (Provider Beta (1Y), from the stored profile when its beta is
/// present and not 0) of every listed symbol for `date`, in one statement.
pub async fn upsert_provider_betas(
    conn: &mut PgConnection,
    run_id: Uuid,
    symbols: &[String],
    date: NaiveDate,
) -> Result<u64, sqlx::Error> {
    let result = sqlx::query(
        "insert into symbol_factor_exposures
            (symbol, factor, calculation_date, method, beta, observations, window_returns, reason, run_id)
         select s.symbol, 'Provider Beta (1Y)', $2, 'provider',
                case when p.beta is not null and p.beta <> 0 then greatest(-5, least(5, p.beta)) end,
                252, 252,
                case when p.symbol is null then 'no provider has a company profile'
                     when p.beta is null or p.beta = 0 then 'the profile has no beta' end,
                $3
         from unnest($1::text[]) as s(symbol)
         left join company_profiles p on p.symbol = s.symbol
         on conflict on constraint symbol_factor_exposures_pk do update set
             beta = excluded.beta, reason = excluded.reason, run_id = excluded.run_id, updated_at = now()",
    )
    .bind(symbols)
    .bind(date)
    .bind(run_id)
    .execute(&mut *conn)
    .await?;
    Ok(result.rows_affected())
}

/// The rows of `symbol` for its newest calculation date on or before `date` (any date when None).
pub async fn latest_for_symbol(
    db: impl PgExecutor<'_>,
    symbol: &str,
    date: Option<NaiveDate>,
) -> Result<Vec<FactorExposure>, sqlx::Error> {
    sqlx::query_as(
        "select symbol, factor, calculation_date, method, beta, r_squared, observations, window_returns,
                t_stat, p_value, std_error, alpha, label, reason
         from symbol_factor_exposures
         where symbol = $1
           and calculation_date = (
               select max(calculation_date) from symbol_factor_exposures
               where symbol = $1 and ($2::date is null or calculation_date <= $2))
         order by method, factor",
    )
    .bind(symbol)
    .bind(date)
    .fetch_all(db)
    .await
}

/// Every stored beta of `symbols` from each (symbol, factor)'s newest calculation on or before
/// `date`: (symbol, factor, beta).
pub async fn latest_betas(
    db: impl PgExecutor<'_>,
    symbols: &[String],
    date: NaiveDate,
) -> Result<Vec<(String, String, Option<f64>)>, sqlx::Error> {
    sqlx::query_as(
        "select distinct on (symbol, factor) symbol, factor, beta
         from symbol_factor_exposures
         where symbol = any($1) and calculation_date <= $2
         order by symbol, factor, calculation_date desc",
    )
    .bind(symbols)
    .bind(date)
    .fetch_all(db)
    .await
}
