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
