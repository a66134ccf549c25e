//! The documented shapes of the analytics answers. The handlers build these objects as JSON
//! from the stored rows (the original frontend's field names beside ours); these types exist
//! for the OpenAPI document only, and the contract test checks real answers against them.
//! Objects may carry more fields than listed (the stored rows' own); the listed ones are
//! always there.
#![allow(dead_code)]

use chrono::NaiveDate;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use utoipa::ToSchema;
use uuid::Uuid;

/// The fields every analytics answer starts with.
#[derive(Serialize, ToSchema)]
pub struct Envelope {
    /// False until the portfolio's first calculation: the other fields are then empty.
    available: bool,
    portfolio_id: Uuid,
    /// The date of the results shown.
    calculation_date: Option<NaiveDate>,
}

/// `GET …/overview`.
#[derive(Serialize, ToSchema)]
pub struct Overview {
    #[serde(flatten)]
    envelope: Envelope,
    portfolio_name: String,
    last_updated: Option<NaiveDate>,
    equity_balance: Option<f64>,
    total_value: Option<f64>,
    net_asset_value: Option<f64>,
    cash_balance: Option<f64>,
    /// Gross exposure over equity.
    leverage: Option<f64>,
    exposures: Option<Exposures>,
    pnl: Option<Pnl>,
    position_count: Option<PositionCount>,
    concentration: Option<Concentration>,
    /// Sector name → share of gross exposure.
    sector_exposure: Option<Value>,
    betas: Option<Betas>,
    /// The portfolio's row of the volatility results (see `…/volatility`).
    volatility: Option<Value>,
    /// The headline tail-risk figures of the newest date (see `…/risk-metrics`).
    tail_risk: Option<TailRiskSummary>,
}

/// VaR 95 % in dollars, max drawdown and Sharpe of the newest calculation date.
#[derive(Serialize, ToSchema)]
pub struct TailRiskSummary {
    calculation_date: NaiveDate,
    /// One-day historical VaR at 95 % × equity (a positive number is a loss).
    var_95_dollars: Option<f64>,
    /// Worst drawdown over the whole history (≤ 0).
    max_drawdown: Option<f64>,
    sharpe: Option<f64>,
}

/// Exposures in dollars and as a percentage of equity.
#[derive(Serialize, ToSchema)]
pub struct Exposures {
    long_exposure: Option<f64>,
    short_exposure: Option<f64>,
    gross_exposure: Option<f64>,
    net_exposure: Option<f64>,
    long_percentage: Option<f64>,
    short_percentage: Option<f64>,
    gross_percentage: Option<f64>,
    net_percentage: Option<f64>,
}

/// P&L totals.
#[derive(Serialize, ToSchema)]
pub struct Pnl {
    total_pnl: Option<f64>,
    unrealized_pnl: Option<f64>,
    realized_pnl: Option<f64>,
    ytd_pnl: Option<f64>,
    mtd_pnl: Option<f64>,
    daily_pnl: Option<f64>,
    daily_return: Option<f64>,
    cumulative_return: Option<f64>,
}

/// Position counts.
#[derive(Serialize, ToSchema)]
pub struct PositionCount {
    total_positions: Option<i64>,
    long_count: Option<i64>,
    short_count: Option<i64>,
    option_count: Option<i64>,
}

/// Concentration measures.
#[derive(Serialize, ToSchema)]
pub struct Concentration {
    hhi: Option<f64>,
    effective_num_positions: Option<f64>,
    top_3_concentration: Option<f64>,
    top_10_concentration: Option<f64>,
}

/// Portfolio betas.
#[derive(Serialize, ToSchema)]
pub struct Betas {
    beta_calculated_90d: Option<f64>,
    beta_provider_1y: Option<f64>,
}

/// `GET …/factor-exposures`.
#[derive(Serialize, ToSchema)]
pub struct FactorExposures {
    #[serde(flatten)]
    envelope: Envelope,
    factors: Vec<PortfolioFactor>,
    /// Every position's factor betas.
    positions: Value,
    data_quality: Option<Value>,
    /// factor_model, calculation_method, completeness, total_active_factors,
    /// factors_calculated, has_market_beta (or `reason` when nothing is calculated).
    metadata: Value,
}

/// One portfolio factor (beside the stored fields: `factor`, `exposure_dollar`, …).
#[derive(Serialize, ToSchema)]
pub struct PortfolioFactor {
    name: String,
    /// Null when it could not be computed (too little history).
    beta: Option<f64>,
}

/// `GET …/positions/factor-exposures`.
#[derive(Serialize, ToSchema)]
pub struct PositionFactorExposures {
    #[serde(flatten)]
    envelope: Envelope,
    total: i64,
    limit: i64,
    offset: i64,
    /// `[{position_id, symbol, exposures: {factor: beta}}]`.
    positions: Value,
    data_quality: Option<Value>,
}

/// `GET …/volatility`.
#[derive(Serialize, ToSchema)]
pub struct Volatility {
    #[serde(flatten)]
    envelope: Envelope,
    data: Option<VolatilityData>,
    /// The portfolio's stored row (all fields).
    portfolio: Option<Value>,
    /// Every position's stored row.
    positions: Vec<Value>,
    metadata: Value,
}

/// The portfolio's realised and forecast volatility (HAR model).
#[derive(Serialize, ToSchema)]
pub struct VolatilityData {
    realized_volatility_21d: Option<f64>,
    realized_volatility_63d: Option<f64>,
    expected_volatility_1d: Option<f64>,
    expected_volatility_21d: Option<f64>,
    volatility_trend: Option<String>,
    volatility_trend_strength: Option<f64>,
    volatility_percentile: Option<f64>,
    har_coefficients: Option<Value>,
    model_r_squared: Option<f64>,
    observations: Option<i64>,
}

/// `GET …/correlation-matrix`.
#[derive(Serialize, ToSchema)]
pub struct CorrelationMatrix {
    #[serde(flatten)]
    envelope: Envelope,
    data: Option<CorrelationData>,
    data_quality: Option<Value>,
    metadata: Value,
}

/// The matrix in both forms and its summaries.
#[derive(Serialize, ToSchema)]
pub struct CorrelationData {
    /// `{SYMBOL: {SYMBOL: ρ}}`.
    matrix: BTreeMap<String, BTreeMap<String, Option<f64>>>,
    average_correlation: Option<f64>,
    overall_correlation: Option<f64>,
    effective_positions: Option<f64>,
    position_symbols: Vec<String>,
    /// The same matrix as rows, in `position_symbols` order.
    correlation_matrix: Vec<Vec<f64>>,
    psd_repaired: Option<bool>,
    min_eigenvalue: Option<f64>,
    /// Symbols left out, with the reason.
    excluded: Option<Value>,
    /// Every pair with its overlap and flag.
    pairs: Option<Value>,
    min_overlap: i64,
    data_quality: Value,
}

/// `GET …/stress-test`.
#[derive(Serialize, ToSchema)]
pub struct StressTest {
    #[serde(flatten)]
    envelope: Envelope,
    data: Option<StressData>,
    data_quality: Option<Value>,
    /// `scenarios_requested` when filtered; `reason` when nothing is calculated.
    metadata: Option<Value>,
}

/// The scenarios' results.
#[derive(Serialize, ToSchema)]
pub struct StressData {
    scenarios: Vec<StressScenario>,
    portfolio_value: f64,
    calculation_date: NaiveDate,
}

/// One scenario (beside the stored fields: direct and correlated P&L, factor impacts, cap).
#[derive(Serialize, ToSchema)]
pub struct StressScenario {
    id: String,
    name: String,
    description: Option<String>,
    severity: Option<String>,
    /// Always `correlated`: the impact is the correlated P&L.
    impact_type: String,
    impact: StressImpact,
}

/// A scenario's impact on the portfolio.
#[derive(Serialize, ToSchema)]
pub struct StressImpact {
    dollar_impact: f64,
    percentage_impact: Option<f64>,
    new_portfolio_value: f64,
}
