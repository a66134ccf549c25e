//! The nightly schedule: at each cron fire time (UTC), insert the daily batch for the last
//! trading day. Every worker replica runs it; the run's idempotency key (`daily:<date>`)
//! makes the database keep exactly one job per trading date, with no leader. On start the
//! most recent fire is enqueued too, so a missed night is caught up (the daily job brings
//! every portfolio up from its own latest snapshot, whatever the number of missed days).

use chrono::{DateTime, NaiveDate, Utc};
use croner::Cron;
use sigmasight_shared::calendar;
use sigmasight_shared::queue::daily::{enqueue_daily, nightly_key, BatchParams};
use sqlx::PgPool;
use std::str::FromStr;
use tracing::{info, warn};

/// Parses a cron expression (5 fields, UTC).
pub fn parse(expr: &str) -> anyhow::Result<Cron> {
    Cron::from_str(expr).map_err(|e| anyhow::anyhow!("SIGMASIGHT_DAILY_CRON {expr:?}: {e}"))
}

/// The trading date a fire at `fire` is for.
pub fn date_for(fire: DateTime<Utc>) -> NaiveDate {
    calendar::last_trading_day(fire)
}

/// The trading date of the most recent fire at or before `now` (what start-up catches up).
pub fn due_now(cron: &Cron, now: DateTime<Utc>) -> Option<NaiveDate> {
    cron.find_previous_occurrence(&now, true).ok().map(date_for)
}

/// Inserts the nightly job for `date` unless it exists. True when this call inserted it.
pub async fn enqueue_for(
    pool: &PgPool,
    date: NaiveDate,
    max_attempts: i32,
) -> Result<bool, sqlx::Error> {
    let params = BatchParams {
        date: Some(date),
        ..BatchParams::default()
    };
    let inserted = enqueue_daily(
        pool,
        &params,
        sigmasight_shared::domain::RunSource::Cron,
        Some(nightly_key(date)),
        max_attempts,
    )
    .await?;
    match &inserted {
        Some(run) => info!(run.id = %run.id, %date, "nightly batch enqueued"),
        None => info!(%date, "nightly batch already enqueued by another scheduler"),
    }
    Ok(inserted.is_some())
}

/// Runs forever: catch up, then sleep until each fire time and enqueue.
pub async fn run(pool: PgPool, cron: Cron, max_attempts: i32) {
    if let Some(date) = due_now(&cron, Utc::now()) {
        if let Err(e) = enqueue_for(&pool, date, max_attempts).await {
            warn!(error = %e, "could not enqueue the nightly batch at start");
        }
    }
    loop {
        let now = Utc::now();
        let Ok(next) = cron.find_next_occurrence(&now, false) else {
            warn!("the cron expression has no next fire time; scheduler stops");
            return;
        };
        let wait = (next - now).to_std().unwrap_or_default();
        tokio::time::sleep(wait).await;
        if let Err(e) = enqueue_for(&pool, date_for(next), max_attempts).await {
            warn!(error = %e, "could not enqueue the nightly batch");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0)
            .single()
            .unwrap_or_default()
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
    }

    #[test]
    fn the_default_schedule_runs_weekday_evenings_for_that_trading_day() {
        let cron = parse("30 23 * * 1-5").unwrap_or_else(|e| panic!("{e}"));
        // Wednesday 2026-11-25 after 23:30 UTC: that day's batch.
        assert_eq!(
            due_now(&cron, at(2026, 11, 25, 23, 45)),
            Some(date(2026, 11, 25))
        );
        // Before the fire it is still the previous night's.
        assert_eq!(
            due_now(&cron, at(2026, 11, 25, 12, 0)),
            Some(date(2026, 11, 24))
        );
        // Saturday: Friday night's fire, for Friday.
        assert_eq!(
            due_now(&cron, at(2026, 11, 28, 10, 0)),
            Some(date(2026, 11, 27))
        );
        // Thanksgiving 2026-11-26 fires, but is a holiday: the job is Wednesday's (already queued).
        assert_eq!(
            due_now(&cron, at(2026, 11, 26, 23, 45)),
            Some(date(2026, 11, 25))
        );
    }

    #[test]
    fn a_bad_expression_is_refused_with_its_variable_named() {
        let err = parse("every night")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("SIGMASIGHT_DAILY_CRON"), "{err}");
    }
}
