//! The deployment's provider budgets in Postgres: spacing, daily quota and 429 pause, taken by
//! concurrent sessions as several workers would.

use sigmasight_shared::db::budget::{self, Taken};
use sigmasight_shared::db::MIGRATOR;
use sqlx::PgPool;
use std::time::Duration;

fn waited(t: Taken) -> Duration {
    match t {
        Taken::After { wait, .. } => wait,
        Taken::Spent { day } => panic!("spent on {day}"),
    }
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn concurrent_takes_get_distinct_slots_at_least_the_spacing_apart(pool: PgPool) {
    let spacing = Duration::from_millis(20);
    let mut tasks = Vec::new();
    // Four "workers", 25 requests each, all at once.
    for _ in 0..4 {
        let pool = pool.clone();
        tasks.push(tokio::spawn(async move {
            let mut slots = Vec::new();
            for _ in 0..25 {
                match budget::take(&pool, "fmp", spacing, 0).await {
                    Ok(Taken::After { slot, .. }) => slots.push(slot),
                    other => panic!("{other:?}"),
                }
            }
            slots
        }));
    }
    let mut slots = Vec::new();
    for t in tasks {
        slots.extend(t.await.unwrap_or_else(|e| panic!("{e}")));
    }
    slots.sort();
    assert_eq!(slots.len(), 100);
    let spacing = chrono::Duration::milliseconds(20);
    for pair in slots.windows(2) {
        // One clock (Postgres's) for every worker: each slot at least the spacing after the
        // one before.
        assert!(pair[1] - pair[0] >= spacing, "{} then {}", pair[0], pair[1]);
    }
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_spent_quota_is_refused_until_the_day_changes(pool: PgPool) {
    for _ in 0..2 {
        assert!(budget::take(&pool, "fmp", Duration::ZERO, 2)
            .await
            .is_ok_and(|t| matches!(t, Taken::After { .. })));
    }
    let today: chrono::NaiveDate =
        sqlx::query_scalar("select (clock_timestamp() at time zone 'UTC')::date")
            .fetch_one(&pool)
            .await
            .unwrap_or_default();
    assert_eq!(
        budget::take(&pool, "fmp", Duration::ZERO, 2).await.ok(),
        Some(Taken::Spent { day: today })
    );
    assert_eq!(
        budget::take(&pool, "polygon", Duration::ZERO, 2)
            .await
            .ok()
            .map(waited),
        Some(Duration::ZERO),
        "each provider has its own quota"
    );
    // The clock passing midnight, as the row sees it: the day stored becomes yesterday.
    sqlx::query("update provider_budgets set day = day - 1 where provider = 'fmp'")
        .execute(&pool)
        .await
        .unwrap_or_default();
    assert!(budget::take(&pool, "fmp", Duration::ZERO, 2)
        .await
        .is_ok_and(|t| matches!(t, Taken::After { .. })));
    let standings = budget::standings(&pool).await.unwrap_or_default();
    let fmp = standings.iter().find(|s| s.provider == "fmp");
    assert_eq!(fmp.map(|s| s.used_today), Some(1), "{standings:?}");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_pause_holds_every_request_of_the_provider_until_it_ends(pool: PgPool) {
    budget::pause(&pool, "polygon", Duration::from_secs(5))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // A shorter pause after it does not shorten it.
    budget::pause(&pool, "polygon", Duration::from_secs(1))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let wait = waited(
        budget::take(&pool, "polygon", Duration::from_millis(10), 0)
            .await
            .unwrap_or_else(|e| panic!("{e}")),
    );
    assert!(
        wait > Duration::from_millis(4900) && wait <= Duration::from_secs(5),
        "{wait:?}"
    );
    let standings = budget::standings(&pool).await.unwrap_or_default();
    assert!(standings[0].paused_secs > 4.0, "{standings:?}");
    assert_eq!(
        budget::take(&pool, "fmp", Duration::from_millis(10), 0)
            .await
            .ok()
            .map(waited),
        Some(Duration::ZERO),
        "another provider is not paused"
    );
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn deferred_symbols_are_remembered_and_forgotten_once_served(pool: PgPool) {
    let run = uuid::Uuid::now_v7();
    let at = chrono::Utc::now() + chrono::Duration::hours(3);
    let symbols = vec!["AAPL".to_owned(), "MSFT".to_owned()];
    budget::defer(&pool, &symbols, at, run)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    budget::defer(&pool, &symbols[..1], at, run)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(budget::deferred_count(&pool).await.ok(), Some(2));
    budget::undefer(&pool, "AAPL")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let all = vec!["AAPL".to_owned(), "MSFT".to_owned(), "NVDA".to_owned()];
    assert_eq!(
        budget::deferred(&pool, &all).await.unwrap_or_default(),
        ["MSFT"]
    );
}
