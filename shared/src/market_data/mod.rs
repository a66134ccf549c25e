//! Market-data provider contract.
//!
//! A [`MarketDataProvider`] returns daily closing prices for one symbol over a
//! date range in a single call. Implementations: [`synthetic::SyntheticMarket`]
//! (deterministic, offline, with planted factor loadings), the HTTP clients [`fmp`],
//! [`polygon`] and [`yahoo`], and [`file`] (a directory of CSVs). [`chain`] puts several in a
//! per-symbol fallback chain with retries, rate limits and a circuit breaker; [`measure`] counts
//! and times every provider request.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

pub mod budget;
pub mod chain;
pub mod file;
pub mod fmp;
pub mod http;
pub mod measure;
pub mod polygon;
pub mod synthetic;
pub mod yahoo;

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

/// Why a provider could not answer. The chain (see [`chain`]) tells these apart: they decide
/// whether the next provider is asked, whether the request is retried, and whether the
/// provider is skipped for the rest of the run.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProviderError {
    /// The provider does not have this symbol, or this kind of data for it (an empty answer,
    /// Yahoo's 404, FMP's 402 for the symbol): ask the next provider.
    #[error("{symbol}: {reason}")]
    NotFound {
        /// The symbol as requested.
        symbol: String,
        /// Human-readable explanation from the provider.
        reason: String,
    },
    /// A temporary failure (timeout, connection error, 5xx, 429, malformed body): retry with
    /// backoff, honouring `retry_after` when the provider sent one.
    #[error("{reason}")]
    Transient {
        /// What went wrong, bounded and without secrets.
        reason: String,
        /// The provider's `Retry-After`, when it sent one.
        retry_after: Option<std::time::Duration>,
        /// The provider said we asked too often (429, FMP's "Limit Reach"): the chain pauses
        /// it for every worker.
        rate_limited: bool,
    },
    /// The provider's daily quota for the deployment is spent until `resets_at`: the chain
    /// skips it until then; data no other provider serves is deferred, not failed.
    #[error("{reason}")]
    Exhausted {
        reason: String,
        resets_at: chrono::DateTime<chrono::Utc>,
    },
    /// The provider refuses us (401/403: a wrong key, an account it will not serve): no
    /// request of any kind goes to it for the rest of the run, and it is never retried.
    #[error("{0}")]
    Refused(String),
    /// The provider itself is failing for this kind of data (its plan lacks the endpoint, a
    /// wrong base URL): skip it for this kind of data for the rest of the run.
    #[error("{0}")]
    Failing(String),
    /// The provider's data for this symbol is unusable and asking again will not help (a bad
    /// price file): ask the next provider; never marks the symbol unavailable.
    #[error("{0}")]
    Invalid(String),
}

impl ProviderError {
    /// A transient failure without `Retry-After`.
    pub fn transient(reason: impl Into<String>) -> Self {
        Self::Transient {
            reason: reason.into(),
            retry_after: None,
            rate_limited: false,
        }
    }

    /// A provider's "too many requests", with its `Retry-After` when it sent one.
    pub fn rate_limited(
        reason: impl Into<String>,
        retry_after: Option<std::time::Duration>,
    ) -> Self {
        Self::Transient {
            reason: reason.into(),
            retry_after,
            rate_limited: true,
        }
    }

    /// Whether the same request may succeed if retried later.
    pub fn is_transient(&self) -> bool {
        matches!(self, ProviderError::Transient { .. })
    }
}

/// The kinds of data a provider may serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataKind {
    /// Daily bars.
    Prices,
    /// Company profiles (sector, industry, beta, P/E).
    Profiles,
    /// Income, balance-sheet and cash-flow statements.
    Fundamentals,
    /// One date's bars of every symbol in one request (Polygon's grouped daily): a
    /// provider's bulk endpoint, with its own breaker, so a plan without it still serves
    /// [`DataKind::Prices`] per symbol.
    DailyBulk,
}

impl DataKind {
    /// Plural noun for messages ("company profiles").
    pub fn noun(self) -> &'static str {
        match self {
            DataKind::Prices => "prices",
            DataKind::Profiles => "company profiles",
            DataKind::Fundamentals => "fundamentals",
            DataKind::DailyBulk => "one date's bars of every symbol",
        }
    }
}

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

/// A source of daily price history, and optionally of profiles and fundamentals.
#[async_trait::async_trait]
pub trait MarketDataProvider: Send + Sync {
    /// Short stable identifier of the provider (e.g. `"synthetic"`, `"fmp"`).
    fn name(&self) -> &'static str;

    /// Whether this provider is reached over the network: its requests then take the
    /// deployment's budget (rate, daily quota, 429 pause); a local one's (synthetic, file)
    /// cost nothing.
    fn remote(&self) -> bool {
        false
    }

    /// Whether this provider serves `kind` at all (a chain skips those that do not).
    fn serves(&self, kind: DataKind) -> bool {
        kind == DataKind::Prices
    }

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

    /// The bars of `date` of those of `symbols` (our spelling) the provider has, from its
    /// bulk endpoint: ONE request for every symbol, keyed back by the spelling asked. Only
    /// providers whose [`serves`](Self::serves) says [`DataKind::DailyBulk`] have one; a
    /// symbol absent from the answer is not an error (the caller asks it per symbol).
    async fn grouped_daily(
        &self,
        date: NaiveDate,
        symbols: &[String],
    ) -> Result<Vec<(String, DailyBar)>, ProviderError> {
        let _ = (date, symbols);
        Err(ProviderError::Failing(format!(
            "{} has no bulk endpoint",
            self.name()
        )))
    }

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
