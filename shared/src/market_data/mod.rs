//! Market-data provider contract.
//!
//! A [`MarketDataProvider`] returns daily closing prices for one symbol over a
//! date range in a single call. Implementations: [`synthetic::SyntheticMarket`]
//! (deterministic, offline, with planted factor loadings).

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

pub mod synthetic;

/// One daily bar: the close and traded volume of a symbol on a trading day.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DailyBar {
    /// The trading day (New York date).
    pub date: NaiveDate,
    /// Closing price (split/dividend-adjusted), strictly positive.
    pub close: f64,
    /// Shares traded that day.
    pub volume: i64,
}

/// Why a provider could not return history.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProviderError {
    /// The symbol is unknown or delisted: do not retry it in this run.
    #[error("{symbol}: {reason}")]
    NotFound {
        /// The symbol as requested.
        symbol: String,
        /// Human-readable explanation from the provider.
        reason: String,
    },
    /// A temporary failure (rate limit, timeout, 5xx): retry later.
    #[error("transient: {0}")]
    Transient(String),
    /// A permanent failure unrelated to the symbol (bad credentials,
    /// malformed response): retrying will not help.
    #[error("{0}")]
    Fatal(String),
}

impl ProviderError {
    /// Whether the same request may succeed if retried later.
    pub fn is_transient(&self) -> bool {
        matches!(self, ProviderError::Transient(_))
    }
}

/// A source of daily price history.
#[async_trait::async_trait]
pub trait MarketDataProvider: Send + Sync {
    /// Short stable identifier of the provider (e.g. `"synthetic"`).
    fn name(&self) -> &'static str;

    /// Daily bars for `symbol` from `start` to `end`, both inclusive.
    ///
    /// Callers make ONE call per symbol for the whole range. Bars are only on
    /// trading days (see [`crate::calendar`]) and ascending by date. The
    /// result may start later than `start` (the symbol listed later) and is
    /// empty when `start > end`.
    async fn daily_history(
        &self,
        symbol: &str,
        start: NaiveDate,
        end: NaiveDate,
    ) -> Result<Vec<DailyBar>, ProviderError>;
}
