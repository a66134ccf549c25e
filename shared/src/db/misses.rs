//! `symbol_data_misses`: symbols the provider chain had no profile or fundamentals for,
//! remembered for the unavailable TTL so they are not asked again by every run.

use sqlx::PgExecutor;

/// Remembers that no provider had `kind` (`profile` or `fundamentals`) for `symbol`.
pub async fn remember(
    db: impl PgExecutor<'_>,
    symbol: &str,
    kind: &str,
    reason: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into symbol_data_misses (symbol, kind, reason, checked_at)
         values ($1, $2, $3, now())
         on conflict on constraint symbol_data_misses_pk
         do update set reason = excluded.reason, checked_at = now()",
    )
    .bind(symbol)
    .bind(kind)
    .bind(reason)
    .execute(db)
    .await?;
    Ok(())
}

/// Symbols of the list with a miss of `kind` younger than `ttl`.
pub async fn recent(
    db: impl PgExecutor<'_>,
    symbols: &[String],
    kind: &str,
    ttl: std::time::Duration,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "select symbol from symbol_data_misses
         where symbol = any($1) and kind = $2
           and checked_at > now() - make_interval(secs => $3)",
    )
    .bind(symbols)
    .bind(kind)
    .bind(ttl.as_secs_f64())
    .fetch_all(db)
    .await
}
