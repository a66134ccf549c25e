//! The daily batch's job contract: parameters and idempotent enqueue (one job per trading
//! date, whatever number of schedulers run).

use crate::db::runs::{self, NewRun, Run};
use crate::domain::{RunKind, RunSource};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use sqlx::PgExecutor;
use uuid::Uuid;

/// Parameters of a daily (or admin) batch and of its per-portfolio children.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct BatchParams {
    /// The trading date the batch brings portfolios up to (default: the last trading day).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<NaiveDate>,
    /// Recompute snapshots even for dates a portfolio already has.
    #[serde(default)]
    pub force_rerun: bool,
    /// With force_rerun: first date to recompute (default: the earliest entry date).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_date: Option<NaiveDate>,
    /// With force_rerun: last date to recompute (default: `date`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_date: Option<NaiveDate>,
    /// Only these portfolios (always respected); all when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub portfolio_ids: Option<Vec<Uuid>>,
}

/// The idempotency key of the nightly job for `date`.
pub fn nightly_key(date: NaiveDate) -> String {
    format!("daily:{date}")
}

/// Enqueues a daily batch. With a key, a second insert for the same key is a no-op (None).
pub async fn enqueue_daily(
    db: impl PgExecutor<'_>,
    params: &BatchParams,
    source: RunSource,
    key: Option<String>,
    max_attempts: i32,
) -> Result<Option<Run>, sqlx::Error> {
    let new = NewRun {
        id: Uuid::now_v7(),
        kind: RunKind::Daily,
        parent_id: None,
        portfolio_id: None,
        source,
        params: serde_json::to_value(params).unwrap_or_default(),
        priority: super::DAILY_PRIORITY,
        max_attempts,
        idempotency_key: key,
    };
    runs::insert_idempotent(db, &new).await
}
