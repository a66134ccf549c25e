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
/// A company profile (ANALYTICS §4): who the company is and its headline numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompanyProfile {
    pub symbol: String,
    pub name: String,
    pub sector: Option<String>,
    pub industry: Option<String>,
    pub exchange: Option<String>,
    pub country: Option<String>,
    pub market_cap: Option<f64>,
    /// The provider's beta (1 year); 0 or absent means none.
    pub beta: Option<f64>,
    pub trailing_pe: Option<f64>,
    pub forward_pe: Option<f64>,
    pub dividend_yield: Option<f64>,
    pub week_52_high: Option<f64>,
    pub week_52_low: Option<f64>,
    pub is_etf: bool,
    pub is_fund: bool,
}

/// One reported period of income statement, balance sheet and cash flow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FundamentalPeriod {
    /// `quarterly` or `annual`.
    pub period_type: String,
    pub period_end: NaiveDate,
    pub fiscal_year: i32,
    pub fiscal_quarter: Option<i32>,
    pub revenue: Option<f64>,
    pub gross_profit: Option<f64>,
    pub operating_income: Option<f64>,
    pub net_income: Option<f64>,
    pub diluted_eps: Option<f64>,
    pub total_assets: Option<f64>,
    pub total_equity: Option<f64>,
    pub current_assets: Option<f64>,
    pub current_liabilities: Option<f64>,
    pub total_debt: Option<f64>,
    pub cash: Option<f64>,
    pub operating_cash_flow: Option<f64>,
    /// Capital expenditure, as a positive amount spent.
    pub capital_expenditure: Option<f64>,
}

/// A company's reported periods and its next earnings date.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fundamentals {
    pub periods: Vec<FundamentalPeriod>,
    pub next_earnings_date: Option<NaiveDate>,
}

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

    /// The company profile of `symbol` as of `as_of` (52-week range, market cap).
    async fn company_profile(
        &self,
        symbol: &str,
        as_of: NaiveDate,
    ) -> Result<CompanyProfile, ProviderError> {
        let _ = as_of;
        Err(ProviderError::NotFound {
            symbol: symbol.to_owned(),
            reason: format!("{} has no company profiles", self.name()),
        })
    }

    /// Quarterly and annual fundamentals of `symbol` reported by `as_of`.
    async fn fundamentals(
        &self,
        symbol: &str,
        as_of: NaiveDate,
    ) -> Result<Fundamentals, ProviderError> {
        let _ = as_of;
        Err(ProviderError::NotFound {
            symbol: symbol.to_owned(),
            reason: format!("{} has no fundamentals", self.name()),
        })
    }
}
