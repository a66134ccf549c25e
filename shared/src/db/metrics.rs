//! `symbol_metrics`: phase 1.75 results per (symbol, date), read with profile fields joined.

use crate::analytics::metrics::SymbolMetrics;
use chrono::NaiveDate;
use serde::Serialize;
use sqlx::{FromRow, PgConnection, PgExecutor};
use uuid::Uuid;

/// Upserts many rows in one statement; each row is a symbol and its metrics (dated by
/// `SymbolMetrics::date`).
pub async fn upsert_many(
    conn: &mut PgConnection,
    run_id: Uuid,
    rows: &[(String, SymbolMetrics)],
) -> Result<u64, sqlx::Error> {
    let opt = |f: fn(&SymbolMetrics) -> Option<f64>| {
        rows.iter().map(|(_, m)| f(m)).collect::<Vec<Option<f64>>>()
    };
    let result = sqlx::query(
        "insert into symbol_metrics
            (symbol, metric_date, close, return_1d, return_mtd, return_ytd, return_1m, return_3m, return_1y,
             volatility_21d, volatility_63d, run_id)
         select u.symbol, u.d, u.close, u.r1d, u.mtd, u.ytd, u.r1m, u.r3m, u.r1y, u.v21, u.v63, $1
         from unnest($2::text[], $3::date[], $4::float8[], $5::float8[], $6::float8[], $7::float8[], $8::float8[],
                     $9::float8[], $10::float8[], $11::float8[], $12::float8[])
              as u(symbol, d, close, r1d, mtd, ytd, r1m, r3m, r1y, v21, v63)
         on conflict on constraint symbol_metrics_pk do update set
             close = excluded.close, return_1d = excluded.return_1d, return_mtd = excluded.return_mtd,
             return_ytd = excluded.return_ytd, return_1m = excluded.return_1m, return_3m = excluded.return_3m,
             return_1y = excluded.return_1y, volatility_21d = excluded.volatility_21d,
             volatility_63d = excluded.volatility_63d, run_id = excluded.run_id, updated_at = now()",
    )
    .bind(run_id)
    .bind(rows.iter().map(|(s, _)| s.as_str()).collect::<Vec<_>>())
    .bind(rows.iter().map(|(_, m)| m.date).collect::<Vec<_>>())
    .bind(opt(|r| r.close))
    .bind(opt(|r| r.return_1d))
    .bind(opt(|r| r.return_mtd))
    .bind(opt(|r| r.return_ytd))
    .bind(opt(|r| r.return_1m))
    .bind(opt(|r| r.return_3m))
    .bind(opt(|r| r.return_1y))
    .bind(opt(|r| r.volatility_21d))
    .bind(opt(|r| r.volatility_63d))
    .execute(&mut *conn)
    .await?;
    Ok(result.rows_affected())
}

/// Symbols with a metrics row for `date` (cached).
pub async fn symbols_with_date(
    db: impl PgExecutor<'_>,
    symbols: &[String],
    date: NaiveDate,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "select symbol from symbol_metrics where symbol = any($1) and metric_date = $2",
    )
    .bind(symbols)
    .bind(date)
    .fetch_all(db)
    .await
}

/// Metrics with profile fields, as the read endpoint returns them.
#[derive(Debug, Clone, PartialEq, FromRow, Serialize, utoipa::ToSchema)]
pub struct MetricsWithProfile {
    pub symbol: String,
    pub metric_date: NaiveDate,
    pub close: Option<f64>,
    pub return_1d: Option<f64>,
    pub return_mtd: Option<f64>,
    pub return_ytd: Option<f64>,
    pub return_1m: Option<f64>,
    pub return_3m: Option<f64>,
    pub return_1y: Option<f64>,
    pub volatility_21d: Option<f64>,
    pub volatility_63d: Option<f64>,
    pub company_name: Option<String>,
    pub sector: Option<String>,
    pub industry: Option<String>,
    pub market_cap: Option<f64>,
    pub pe_ratio: Option<f64>,
}

/// The newest metrics of `symbol` on or before `date` (any date when None), profile joined.
pub async fn latest_with_profile(
    db: impl PgExecutor<'_>,
    symbol: &str,
    date: Option<NaiveDate>,
) -> Result<Option<MetricsWithProfile>, sqlx::Error> {
    sqlx::query_as(
        "select m.symbol, m.metric_date, m.close, m.return_1d, m.return_mtd, m.return_ytd, m.return_1m,
                m.return_3m, m.return_1y, m.volatility_21d, m.volatility_63d,
                p.name as company_name, p.sector, p.industry, p.market_cap, p.trailing_pe as pe_ratio
         from symbol_metrics m
         left join company_profiles p on p.symbol = m.symbol
         where m.symbol = $1 and ($2::date is null or m.metric_date <= $2)
         order by m.metric_date desc
         limit 1",
    )
    .bind(symbol)
    .bind(date)
    .fetch_optional(db)
    .await
}
