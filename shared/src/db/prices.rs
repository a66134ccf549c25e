//! `market_prices` and `symbol_availability`: the price cache keyed (symbol, date) and the
//! memory of symbols a provider could not supply.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{FromRow, PgConnection, PgExecutor};
use uuid::Uuid;

/// What the cache holds for one symbol.
#[derive(Debug, Clone, FromRow, PartialEq)]
pub struct Coverage {
    pub symbol: String,
    pub first_date: NaiveDate,
    pub last_date: NaiveDate,
    pub days: i64,
    /// The provider of the newest row (a symbol's history comes from one provider).
    pub source: String,
    /// The newest stored close (a gap fill compares the provider's close there).
    pub last_close: f64,
    /// The start the stored history was last asked from in full ([`remember_history_from`]).
    pub history_from: Option<NaiveDate>,
}

/// Coverage of every listed symbol, in one query (symbols with no rows are absent).
pub async fn coverage(
    db: impl PgExecutor<'_>,
    symbols: &[String],
) -> Result<Vec<Coverage>, sqlx::Error> {
    sqlx::query_as(
        "select c.symbol, c.first_date, c.last_date, c.days, m.source, m.close as last_close,
                a.history_from
         from (select symbol, min(price_date) as first_date, max(price_date) as last_date,
                      count(*) as days
               from market_prices
               where symbol = any($1)
               group by symbol) c
         join market_prices m on m.symbol = c.symbol and m.price_date = c.last_date
         left join symbol_availability a on a.symbol = c.symbol",
    )
    .bind(symbols)
    .fetch_all(db)
    .await
}

/// Upserts one symbol's bars in one statement; returns rows written.
pub async fn upsert_bars(
    conn: &mut PgConnection,
    symbol: &str,
    source: &str,
    dates: &[NaiveDate],
    closes: &[f64],
    volumes: &[i64],
) -> Result<u64, sqlx::Error> {
    let symbols = vec![symbol.to_owned(); dates.len()];
    upsert_bars_of_many(conn, source, &symbols, dates, closes, volumes).await
}

/// Upserts the bars of many symbols from one provider in one statement (a night's bulk
/// fetch; [`upsert_bars`] is its one-symbol case); `symbols`, `dates`, `closes` and `volumes`
/// are parallel. Returns rows written.
pub async fn upsert_bars_of_many(
    conn: &mut PgConnection,
    source: &str,
    symbols: &[String],
    dates: &[NaiveDate],
    closes: &[f64],
    volumes: &[i64],
) -> Result<u64, sqlx::Error> {
    let result = sqlx::query(
        "insert into market_prices (symbol, price_date, close, volume, source)
         select u.s, u.d, u.c, u.v, $1
         from unnest($2::text[], $3::date[], $4::float8[], $5::int8[]) as u(s, d, c, v)
         on conflict on constraint market_prices_pk
         do update set close = excluded.close, volume = excluded.volume,
                       source = excluded.source, fetched_at = now()",
    )
    .bind(source)
    .bind(symbols)
    .bind(dates)
    .bind(closes)
    .bind(volumes)
    .execute(&mut *conn)
    .await?;
    Ok(result.rows_affected())
}

/// Replaces every stored bar of `symbol` with these (a restated or re-sourced history), in
/// the caller's transaction; returns rows written.
pub async fn replace_bars(
    conn: &mut PgConnection,
    symbol: &str,
    source: &str,
    dates: &[NaiveDate],
    closes: &[f64],
    volumes: &[i64],
) -> Result<u64, sqlx::Error> {
    sqlx::query("delete from market_prices where symbol = $1")
        .bind(symbol)
        .execute(&mut *conn)
        .await?;
    upsert_bars(conn, symbol, source, dates, closes, volumes).await
}

/// One close.
#[derive(Debug, Clone, FromRow)]
pub struct Close {
    pub symbol: String,
    pub price_date: NaiveDate,
    pub close: f64,
}

/// Every close of the listed symbols in [start, end], in one query.
pub async fn closes(
    db: impl PgExecutor<'_>,
    symbols: &[String],
    start: NaiveDate,
    end: NaiveDate,
) -> Result<Vec<Close>, sqlx::Error> {
    sqlx::query_as(
        "select symbol, price_date, close
         from market_prices
         where symbol = any($1) and price_date between $2 and $3
         order by symbol, price_date",
    )
    .bind(symbols)
    .bind(start)
    .bind(end)
    .fetch_all(db)
    .await
}

/// One symbol's closes in a date range: two arrays of the same length, by date.
#[derive(Debug, Clone, FromRow)]
pub struct Series {
    pub symbol: String,
    pub dates: Vec<NaiveDate>,
    pub closes: Vec<f64>,
}

/// Every close of the listed symbols in [start, end], one row per symbol: the same index-only
/// scan as [`closes`], but a run's thousands of closes cross the wire and are decoded as a
/// few dozen arrays instead of one row each.
pub async fn series(
    db: impl PgExecutor<'_>,
    symbols: &[String],
    start: NaiveDate,
    end: NaiveDate,
) -> Result<Vec<Series>, sqlx::Error> {
    sqlx::query_as(
        "select symbol, array_agg(price_date order by price_date) as dates,
                array_agg(close order by price_date) as closes
         from market_prices
         where symbol = any($1) and price_date between $2 and $3
         group by symbol",
    )
    .bind(symbols)
    .bind(start)
    .bind(end)
    .fetch_all(db)
    .await
}

/// A remembered availability verdict.
#[derive(Debug, Clone, FromRow)]
pub struct Availability {
    pub symbol: String,
    pub available: bool,
    pub reason: Option<String>,
    pub checked_at: DateTime<Utc>,
    pub run_id: Option<Uuid>,
}

/// Remembers that `symbol` is (un)available, as checked by `run_id`.
pub async fn remember_availability(
    db: impl PgExecutor<'_>,
    symbol: &str,
    available: bool,
    reason: Option<&str>,
    provider: &str,
    run_id: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into symbol_availability (symbol, available, reason, provider, run_id, checked_at)
         values ($1, $2, $3, $4, $5, now())
         on conflict (symbol)
         do update set available = excluded.available, reason = excluded.reason,
                       provider = excluded.provider, run_id = excluded.run_id, checked_at = now()",
    )
    .bind(symbol)
    .bind(available)
    .bind(reason)
    .bind(provider)
    .bind(run_id)
    .execute(db)
    .await?;
    Ok(())
}

/// Remembers that `symbol`'s stored history was just asked from `start` in full (the
/// availability row must exist: [`remember_availability`] first).
pub async fn remember_history_from(
    db: impl PgExecutor<'_>,
    symbol: &str,
    start: NaiveDate,
) -> Result<(), sqlx::Error> {
    sqlx::query("update symbol_availability set history_from = $2 where symbol = $1")
        .bind(symbol)
        .bind(start)
        .execute(db)
        .await?;
    Ok(())
}

/// Remembers that every one of `symbols` is available from `provider`, as checked by
/// `run_id`, in one statement (the rows [`remember_availability`] writes for each).
pub async fn remember_available(
    db: impl PgExecutor<'_>,
    symbols: &[String],
    provider: &str,
    run_id: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into symbol_availability (symbol, available, reason, provider, run_id, checked_at)
         select s, true, null, $2, $3, now()
         from unnest($1::text[]) as s
         on conflict (symbol)
         do update set available = excluded.available, reason = excluded.reason,
                       provider = excluded.provider, run_id = excluded.run_id, checked_at = now()",
    )
    .bind(symbols)
    .bind(provider)
    .bind(run_id)
    .execute(db)
    .await?;
    Ok(())
}

/// Symbols of the list remembered as unavailable within `ttl` (not asked again).
pub async fn recently_unavailable(
    db: impl PgExecutor<'_>,
    symbols: &[String],
    ttl: std::time::Duration,
) -> Result<Vec<Availability>, sqlx::Error> {
    sqlx::query_as(
        "select symbol, available, reason, checked_at, run_id
         from symbol_availability
         where symbol = any($1) and not available
           and checked_at > now() - make_interval(secs => $2)",
    )
    .bind(symbols)
    .bind(ttl.as_secs_f64())
    .fetch_all(db)
    .await
}

/// Availability verdicts for the listed symbols.
pub async fn availability(
    db: impl PgExecutor<'_>,
    symbols: &[String],
) -> Result<Vec<Availability>, sqlx::Error> {
    sqlx::query_as(
        "select symbol, available, reason, checked_at, run_id
         from symbol_availability
         where symbol = any($1)",
    )
    .bind(symbols)
    .fetch_all(db)
    .await
}
