//! `company_profiles`: the latest profile per symbol (phase 0), refreshed after 24 h.

use crate::market_data::CompanyProfile;
use sqlx::{FromRow, PgConnection, PgExecutor};

/// Upserts one profile.
pub async fn upsert(
    conn: &mut PgConnection,
    p: &CompanyProfile,
    provider: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into company_profiles
            (symbol, name, sector, industry, exchange, country, market_cap, beta, trailing_pe, forward_pe,
             dividend_yield, week_52_high, week_52_low, is_etf, is_fund, provider, fetched_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, now())
         on conflict (symbol) do update set
             name = excluded.name, sector = excluded.sector, industry = excluded.industry,
             exchange = excluded.exchange, country = excluded.country, market_cap = excluded.market_cap,
             beta = excluded.beta, trailing_pe = excluded.trailing_pe, forward_pe = excluded.forward_pe,
             dividend_yield = excluded.dividend_yield, week_52_high = excluded.week_52_high,
             week_52_low = excluded.week_52_low, is_etf = excluded.is_etf, is_fund = excluded.is_fund,
             provider = excluded.provider, fetched_at = now()",
    )
    .bind(&p.symbol)
    .bind(&p.name)
    .bind(&p.sector)
    .bind(&p.industry)
    .bind(&p.exchange)
    .bind(&p.country)
    .bind(p.market_cap)
    .bind(p.beta)
    .bind(p.trailing_pe)
    .bind(p.forward_pe)
    .bind(p.dividend_yield)
    .bind(p.week_52_high)
    .bind(p.week_52_low)
    .bind(p.is_etf)
    .bind(p.is_fund)
    .bind(provider)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Symbols whose profile was fetched less than 24 hours ago (no refresh needed).
pub async fn fresh_symbols(
    db: impl PgExecutor<'_>,
    symbols: &[String],
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "select symbol from company_profiles
         where symbol = any($1) and fetched_at > now() - interval '24 hours'",
    )
    .bind(symbols)
    .fetch_all(db)
    .await
}

/// A stored profile's beta, ETF flag and sector, as phases 1.5, 2, 3 and 5 need them.
#[derive(Debug, Clone, FromRow, PartialEq)]
pub struct ProfileFacts {
    pub symbol: String,
    pub beta: Option<f64>,
    pub is_etf: bool,
    pub sector: Option<String>,
}

/// Beta and ETF flag of the listed symbols that have a profile.
pub async fn facts(
    db: impl PgExecutor<'_>,
    symbols: &[String],
) -> Result<Vec<ProfileFacts>, sqlx::Error> {
    sqlx::query_as(
        "select symbol, beta, is_etf, sector from company_profiles where symbol = any($1)",
    )
    .bind(symbols)
    .fetch_all(db)
    .await
}
