//! The deployment's provider budgets, held in Postgres (`db::budget`): every worker process
//! takes each request's slot and daily count from the same row, and a 429 pauses the provider
//! for all of them.

use async_trait::async_trait;
use sigmasight_shared::db::budget::{self, Taken};
use sigmasight_shared::market_data::budget::{quota_resets_at, Budget, Grant, Limits};
use sqlx::PgPool;
use std::time::Duration;

/// [`Budget`] over the `provider_budgets` table.
pub struct PgBudget {
    pool: PgPool,
}

impl PgBudget {
    /// The budgets of the database behind `pool`.
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

#[async_trait]
impl Budget for PgBudget {
    async fn take(&self, provider: &'static str, limits: Limits) -> Result<Grant, String> {
        let taken = budget::take(&self.pool, provider, limits.spacing(), limits.per_day)
            .await
            .map_err(|e| e.to_string())?;
        Ok(match taken {
            Taken::After { wait, .. } => Grant::After(wait),
            Taken::Spent { day } => Grant::Spent {
                resets_at: quota_resets_at(day),
            },
        })
    }

    async fn pause(&self, provider: &'static str, wait: Duration) -> Result<(), String> {
        budget::pause(&self.pool, provider, wait)
            .await
            .map_err(|e| e.to_string())
    }
}

/// What each budgeted provider of `chain` has left, for the gauges and the operator's check.
#[derive(Debug, Clone, PartialEq)]
pub struct Left {
    pub provider: &'static str,
    pub limits: Limits,
    /// Requests left in the next 60 s (`None`: no rate limit).
    pub minute: Option<u32>,
    /// Requests left today, UTC (`None`: no quota).
    pub day: Option<u32>,
    /// Seconds the provider stays paused after a 429.
    pub paused_secs: f64,
}

/// Every remote member's budget left, read from Postgres.
pub async fn left(
    pool: &PgPool,
    chain: &sigmasight_shared::market_data::chain::ProviderChain,
) -> Result<Vec<Left>, sqlx::Error> {
    let standings = budget::standings(pool).await?;
    Ok(chain
        .members()
        .iter()
        .filter(|m| m.provider().remote())
        .map(|m| {
            let limits = m.limits();
            let row = standings.iter().find(|s| s.provider == m.name());
            let ahead = row.map_or(0.0, |r| r.ahead_secs.max(r.paused_secs));
            let used = row.map_or(0, |r| u32::try_from(r.used_today).unwrap_or(0));
            Left {
                provider: m.name(),
                limits,
                minute: (limits.per_minute > 0)
                    .then(|| limits.left_this_minute(Duration::from_secs_f64(ahead))),
                day: (limits.per_day > 0).then(|| limits.per_day.saturating_sub(used)),
                paused_secs: row.map_or(0.0, |r| r.paused_secs),
            }
        })
        .collect())
}

/// Sets the budget gauges from Postgres every 5 s, for as long as the worker runs.
pub async fn export_gauges(
    pool: PgPool,
    chain: std::sync::Arc<sigmasight_shared::market_data::chain::ProviderChain>,
) {
    use sigmasight_shared::metrics::{PROVIDER_BUDGET_REMAINING, PROVIDER_DEFERRED};
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tick.tick().await;
        if let Ok(all) = left(&pool, &chain).await {
            for l in all {
                for (window, value) in [("minute", l.minute), ("day", l.day)] {
                    if let Some(v) = value {
                        metrics::gauge!(PROVIDER_BUDGET_REMAINING, "provider" => l.provider, "window" => window)
                            .set(f64::from(v));
                    }
                }
            }
        }
        if let Ok(n) = budget::deferred_count(&pool).await {
            metrics::gauge!(PROVIDER_DEFERRED).set(n as f64);
        }
    }
}

/// The operator's view of each budgeted provider: what is left this minute and today.
pub fn describe(left: &[Left]) -> Vec<String> {
    left.iter()
        .map(|l| {
            let minute = match l.minute {
                Some(n) => format!("{n} of {} left this minute", l.limits.per_minute),
                None => "no rate limit".to_owned(),
            };
            let day = match l.day {
                Some(n) => format!(
                    "{n} of {} left today (resets {})",
                    l.limits.per_day,
                    quota_resets_at(chrono::Utc::now().date_naive()).format("%Y-%m-%d %H:%M UTC")
                ),
                None => "no daily quota".to_owned(),
            };
            let paused = if l.paused_secs > 0.0 {
                format!(", paused {:.0} s after a 429", l.paused_secs)
            } else {
                String::new()
            };
            format!("budget {:<8} {minute}, {day}{paused}", l.provider)
        })
        .collect()
}
