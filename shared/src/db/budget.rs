//! `provider_budgets` and `deferred_symbols`: the providers' per-minute rate, daily quota and
//! 429 pause for the whole deployment, and the symbols that wait for a quota.
//!
//! A request takes its slot with [`take`], one statement on the provider's row under Postgres's
//! clock (so the workers' clocks never disagree about it): the slot is the later of the row's
//! `next_at`, its `paused_until` and now, and `next_at` moves on by the spacing. The row lock is
//! held for that statement only; the caller then sleeps until its slot, outside any
//! transaction, and sends the request.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgExecutor;
use std::time::Duration;
use uuid::Uuid;

/// What [`take`] granted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Taken {
    /// Send after waiting `wait` (zero: at once), at `slot` on Postgres's clock.
    After { wait: Duration, slot: DateTime<Utc> },
    /// The day's quota is spent; it resets at the start of the day after `day` (UTC).
    Spent { day: NaiveDate },
}

/// Takes one request of `provider`'s budget: a slot `spacing` after the previous one (zero:
/// no rate limit) and one of `per_day` requests of the current UTC day (0: no quota).
pub async fn take(
    db: impl PgExecutor<'_>,
    provider: &str,
    spacing: Duration,
    per_day: u32,
) -> Result<Taken, sqlx::Error> {
    // The select beside the upsert sees the row as it was: when the quota refused the update,
    // that row's day is the one spent.
    let (wait, slot, day): (Option<f64>, Option<DateTime<Utc>>, Option<NaiveDate>) = sqlx::query_as(
        "with taken as (
             insert into provider_budgets as b (provider, next_at, day, used_today)
             values ($1, clock_timestamp() + make_interval(secs => $2),
                     (clock_timestamp() at time zone 'UTC')::date, 1)
             on conflict on constraint provider_budgets_pk do update set
                 next_at = greatest(b.next_at, b.paused_until, clock_timestamp())
                     + make_interval(secs => $2),
                 used_today = case when b.day = excluded.day then b.used_today else 0 end + 1,
                 day = excluded.day
             where $3 = 0 or b.day <> excluded.day or b.used_today < $3
             returning extract(epoch from b.next_at - make_interval(secs => $2) - clock_timestamp())::float8
                 as wait,
                 b.next_at - make_interval(secs => $2) as slot
         )
         select (select wait from taken), (select slot from taken),
                (select day from provider_budgets where provider = $1)",
    )
    .bind(provider)
    .bind(spacing.as_secs_f64())
    .bind(i64::from(per_day))
    .fetch_one(db)
    .await?;
    Ok(match (wait, slot) {
        (Some(wait), Some(slot)) => Taken::After {
            wait: Duration::from_secs_f64(wait.max(0.0)),
            slot,
        },
        _ => Taken::Spent {
            day: day.unwrap_or_else(|| Utc::now().date_naive()),
        },
    })
}

/// Pauses `provider` for every worker for `wait` from now (a later pause already set stays).
pub async fn pause(
    db: impl PgExecutor<'_>,
    provider: &str,
    wait: Duration,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into provider_budgets as b (provider, paused_until)
         values ($1, clock_timestamp() + make_interval(secs => $2))
         on conflict on constraint provider_budgets_pk do update set
             paused_until = greatest(b.paused_until, excluded.paused_until)",
    )
    .bind(provider)
    .bind(wait.as_secs_f64())
    .execute(db)
    .await?;
    Ok(())
}

/// One provider's budget as it stands, read under Postgres's clock.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Standing {
    pub provider: String,
    /// Seconds until the next free slot (0 when free now).
    pub ahead_secs: f64,
    /// Seconds the provider stays paused (0 when not).
    pub paused_secs: f64,
    /// Requests counted today (UTC).
    pub used_today: i32,
}

/// Every provider's budget.
pub async fn standings(db: impl PgExecutor<'_>) -> Result<Vec<Standing>, sqlx::Error> {
    sqlx::query_as(
        "select provider,
                greatest(0, extract(epoch from next_at - clock_timestamp()))::float8 as ahead_secs,
                greatest(0, extract(epoch from paused_until - clock_timestamp()))::float8 as paused_secs,
                case when day = (clock_timestamp() at time zone 'UTC')::date then used_today else 0 end
                    as used_today
         from provider_budgets
         order by provider",
    )
    .fetch_all(db)
    .await
}

/// Remembers `symbols` as waiting for a quota that resets at `resets_at`.
pub async fn defer(
    db: impl PgExecutor<'_>,
    symbols: &[String],
    resets_at: DateTime<Utc>,
    run_id: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into deferred_symbols (symbol, resets_at, run_id)
         select unnest($1::text[]), $2, $3
         on conflict on constraint deferred_symbols_pk
         do update set resets_at = excluded.resets_at, run_id = excluded.run_id",
    )
    .bind(symbols)
    .bind(resets_at)
    .bind(run_id)
    .execute(db)
    .await?;
    Ok(())
}

/// Forgets `symbol` as deferred (its prices came in).
pub async fn undefer(db: impl PgExecutor<'_>, symbol: &str) -> Result<(), sqlx::Error> {
    sqlx::query("delete from deferred_symbols where symbol = $1")
        .bind(symbol)
        .execute(db)
        .await?;
    Ok(())
}

/// The symbols of the list that wait for a quota.
pub async fn deferred(
    db: impl PgExecutor<'_>,
    symbols: &[String],
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("select symbol from deferred_symbols where symbol = any($1) order by symbol")
        .bind(symbols)
        .fetch_all(db)
        .await
}

/// How many symbols wait for a quota, in all.
pub async fn deferred_count(db: impl PgExecutor<'_>) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("select count(*) from deferred_symbols")
        .fetch_one(db)
        .await
}
