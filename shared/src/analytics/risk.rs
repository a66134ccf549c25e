//! Phase 6 as one pure function (ANALYTICS §7): from the positions, a price
//! table ending at the calculation date d, the snapshot equity on d and the
//! stored symbol betas, compute the portfolio's factor exposures, the
//! volatility of every position and of the portfolio, the correlation matrix
//! and every stress scenario.

use crate::analytics::correlations::{self, correlation_matrix, passes_filters, CorrelationResult};
use crate::analytics::exposures::{aggregate, PortfolioFactor, PositionFactor, RiskPosition};
use crate::analytics::factors::IR_BETA_FACTOR;
use crate::analytics::snapshots::{position_values, PositionInput, PriceTable, SnapshotParams};
use crate::analytics::stress::{
    ewma_correlation, run_scenario, ScenarioResult, StressInputs, EWMA_LAMBDA, EWMA_WINDOW_DAYS,
    SCENARIOS, SHOCK_FACTORS,
};
use crate::analytics::volatility::{vol_metrics, VolMetrics};
use crate::domain::InvestmentClass;
use chrono::{Duration, NaiveDate};
use ndarray::Array2;
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use uuid::Uuid;

/// Calendar days of closes phase 6 needs before d (273 returns for the
/// percentile, 282 days for the factor correlation, plus holidays).
pub const PRICE_LOOKBACK_DAYS: i64 = 430;

/// The volatility of one position (`position_id` set) or of the portfolio (`None`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VolRow {
    pub position_id: Option<Uuid>,
    pub symbol: Option<String>,
    #[serde(flatten)]
    pub metrics: VolMetrics,
}

/// What phase 6 needs besides the positions and prices.
#[derive(Debug, Clone, PartialEq)]
pub struct RiskParams {
    /// The calculation date d.
    pub date: NaiveDate,
    /// Equity E_d (the snapshot's on d).
    pub equity: f64,
    /// Option pricing parameters (as phase 3).
    pub snapshot: SnapshotParams,
    /// Modified duration of the rate proxy.
    pub duration: f64,
}

/// Everything phase 6 stores.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RiskOutput {
    pub factors: Vec<PortfolioFactor>,
    pub position_factors: Vec<PositionFactor>,
    /// The portfolio's row first, then one per PUBLIC/OPTIONS position active on d.
    pub volatility: Vec<VolRow>,
    pub correlation: CorrelationResult,
    /// `[{symbol, market_value, reason}]`: symbols left out of the matrix.
    pub correlation_excluded: Value,
    pub stress: Vec<ScenarioResult>,
    /// Correlation date, returns behind it, duration, equity.
    pub stress_metadata: Value,
    /// Warnings for the activity feed.
    pub warnings: Vec<String>,
}

impl RiskOutput {
    /// Items computed: 13 factors, the volatility rows, the matrix, the scenarios.
    pub fn items(&self) -> usize {
        self.factors.len() + self.volatility.len() + 1 + self.stress.len()
    }
}

/// Simple returns aligned on `closes` (index 0 has none).
fn simple_returns(closes: &[Option<f64>]) -> Vec<Option<f64>> {
    let mut out = vec![None; closes.len()];
    for i in 1..closes.len() {
        if let (Some(a), Some(b)) = (closes[i - 1], closes[i]) {
            if a > 0.0 && b > 0.0 {
                out[i] = Some(b / a - 1.0);
            }
        }
    }
    out
}

/// Computes phase 6. `beta(symbol, factor)` looks a stored symbol beta up.
pub fn compute(
    positions: &[PositionInput],
    table: &PriceTable,
    params: &RiskParams,
    beta: impl Fn(&str, &str) -> Option<f64>,
) -> RiskOutput {
    let d = params.date;
    let mut warnings = Vec::new();
    let end = table.dates.partition_point(|x| *x <= d);
    let (risk, public_mv) = risk_positions(positions, table, params, &mut warnings);
    let (factors, position_factors) = factor_exposures(&risk, params.equity, &beta, &mut warnings);
    let returns: HashMap<&str, Vec<Option<f64>>> = table
        .closes
        .iter()
        .map(|(s, c)| (s.as_str(), simple_returns(&c[..end.min(c.len())])))
        .collect();
    let volatility = volatility_rows(&risk, &returns);
    let (correlation, excluded) = correlations_of(table, end, &public_mv, &mut warnings);
    let (stress, stress_metadata) =
        stress_tests(table, end, params, &returns, &factors, &mut warnings);
    RiskOutput {
        factors,
        position_factors,
        volatility,
        correlation,
        correlation_excluded: Value::Array(excluded),
        stress,
        stress_metadata,
        warnings,
    }
}

/// A symbol's simple returns, or none.
fn series<'a>(returns: &'a HashMap<&str, Vec<Option<f64>>>, symbol: &str) -> &'a [Option<f64>] {
    returns.get(symbol).map_or(&[], Vec::as_slice)
}

/// The PUBLIC/OPTIONS positions valued on d (with their beta symbol and exposure), and the
/// market value per PUBLIC symbol.
fn risk_positions(
    positions: &[PositionInput],
    table: &PriceTable,
    params: &RiskParams,
    warnings: &mut Vec<String>,
) -> (Vec<RiskPosition>, BTreeMap<String, f64>) {
    let d = params.date;
    let by_id: HashMap<Uuid, &PositionInput> = positions.iter().map(|p| (p.id, p)).collect();
    let values = position_values(positions, table, d, &params.snapshot);
    let mut risk = Vec::new();
    let mut public_mv: BTreeMap<String, f64> = BTreeMap::new();
    for v in &values {
        let Some(p) = by_id.get(&v.position_id) else {
            continue;
        };
        if p.investment_class == InvestmentClass::Private {
            continue;
        }
        let beta_symbol = if p.position_type.is_option() {
            p.underlying_symbol
                .clone()
                .unwrap_or_else(|| p.symbol.clone())
        } else {
            p.symbol.clone()
        };
        let Some(exposure) = v.exposure else {
            warnings.push(format!(
                "{} has no price on {d}: left out of risk",
                p.symbol
            ));
            continue;
        };
        if !p.position_type.is_option() {
            if let Some(mv) = v.market_value {
                *public_mv.entry(p.symbol.clone()).or_default() += mv;
            }
        }
        risk.push(RiskPosition {
            position_id: p.id,
            symbol: p.symbol.clone(),
            beta_symbol,
            exposure,
        });
    }
    (risk, public_mv)
}

/// Factor exposures, with a warning per symbol missing betas.
fn factor_exposures(
    risk: &[RiskPosition],
    equity: f64,
    beta: &impl Fn(&str, &str) -> Option<f64>,
    warnings: &mut Vec<String>,
) -> (Vec<PortfolioFactor>, Vec<PositionFactor>) {
    let (factors, position_factors) = aggregate(risk, equity, beta);
    let mut missing: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for f in &factors {
        for s in &f.missing_symbols {
            missing
                .entry(s.as_str())
                .or_default()
                .push(f.factor.as_str());
        }
    }
    for (symbol, names) in missing {
        warnings.push(format!(
            "No {} for {symbol}: counted as 0",
            if names.len() == factors.len() {
                "factor betas".to_owned()
            } else {
                names.join(", ")
            }
        ));
    }
    (factors, position_factors)
}

/// Volatility: positions on their (underlying's) returns, the portfolio on SPY's days.
fn volatility_rows(
    risk: &[RiskPosition],
    returns: &HashMap<&str, Vec<Option<f64>>>,
) -> Vec<VolRow> {
    let gross: f64 = risk.iter().map(|r| r.exposure.abs()).sum();
    let spy = series(returns, "SPY");
    let portfolio_series: Vec<f64> = (0..spy.len())
        .filter(|i| spy[*i].is_some())
        .map(|i| {
            risk.iter()
                .map(|r| {
                    let w = if gross > 0.0 { r.exposure / gross } else { 0.0 };
                    w * series(returns, &r.beta_symbol)
                        .get(i)
                        .copied()
                        .flatten()
                        .unwrap_or(0.0)
                })
                .sum()
        })
        .collect();
    let mut volatility = vec![VolRow {
        position_id: None,
        symbol: None,
        metrics: vol_metrics(&portfolio_series),
    }];
    let mut by_symbol: HashMap<&str, VolMetrics> = HashMap::new();
    for r in risk {
        let metrics = by_symbol
            .entry(r.beta_symbol.as_str())
            .or_insert_with(|| {
                let own: Vec<f64> = series(returns, &r.beta_symbol)
                    .iter()
                    .flatten()
                    .copied()
                    .collect();
                vol_metrics(&own)
            })
            .clone();
        volatility.push(VolRow {
            position_id: Some(r.position_id),
            symbol: Some(r.symbol.clone()),
            metrics,
        });
    }
    volatility
}

/// Correlations: PUBLIC symbols with enough weight (largest first), log returns over the
/// last 90 days; the symbols left out, with why.
fn correlations_of(
    table: &PriceTable,
    end: usize,
    public_mv: &BTreeMap<String, f64>,
    warnings: &mut Vec<String>,
) -> (CorrelationResult, Vec<Value>) {
    let g: f64 = public_mv.values().map(|v| v.abs()).sum();
    let mut symbols = Vec::new();
    let mut abs_mv = Vec::new();
    let mut excluded = Vec::new();
    let mut by_size: Vec<(&String, &f64)> = public_mv.iter().collect();
    by_size.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()).then(a.0.cmp(b.0)));
    for (s, mv) in by_size {
        if passes_filters(*mv, g) {
            symbols.push(s.clone());
            abs_mv.push(mv.abs());
        } else {
            let reason = if mv.abs() < correlations::MIN_ABS_MARKET_VALUE {
                "market value below 10,000"
            } else {
                "weight below 1%"
            };
            excluded.push(json!({"symbol": s, "market_value": mv, "reason": reason}));
        }
    }
    let first = end.saturating_sub(correlations::WINDOW_RETURNS).max(1);
    let log_returns: Vec<Vec<Option<f64>>> = symbols
        .iter()
        .map(|s| {
            let closes = table.closes.get(s);
            (first..end)
                .map(|i| {
                    let c = closes?;
                    match (c.get(i - 1).copied().flatten(), c.get(i).copied().flatten()) {
                        (Some(a), Some(b)) if a > 0.0 && b > 0.0 => Some((b / a).ln()),
                        _ => None,
                    }
                })
                .collect()
        })
        .collect();
    let correlation = correlation_matrix(&symbols, &log_returns, &abs_mv);
    for s in &correlation.dropped {
        excluded.push(json!({"symbol": s, "reason": "fewer than 20 returns in the window"}));
    }
    if correlation.psd_repaired {
        warnings.push(format!(
            "Correlation matrix was not positive semi-definite (smallest eigenvalue {:.3e}): repaired",
            correlation.min_eigenvalue.unwrap_or(f64::NAN)
        ));
    }
    (correlation, excluded)
}

/// Stress: EWMA correlation of the seven proxies over (d − 282, d], then every scenario.
fn stress_tests(
    table: &PriceTable,
    end: usize,
    params: &RiskParams,
    returns: &HashMap<&str, Vec<Option<f64>>>,
    factors: &[PortfolioFactor],
    warnings: &mut Vec<String>,
) -> (Vec<ScenarioResult>, Value) {
    let d = params.date;
    let window_start = d - Duration::days(EWMA_WINDOW_DAYS);
    let proxies: Vec<&[Option<f64>]> = SHOCK_FACTORS
        .iter()
        .map(|(_, _, etf)| series(returns, etf))
        .collect();
    let rows: Vec<[f64; 7]> = (1..end)
        .filter(|i| table.dates[*i] > window_start)
        .filter_map(|i| {
            let mut row = [0.0; 7];
            for (k, r) in proxies.iter().enumerate() {
                row[k] = r.get(i).copied().flatten()?;
            }
            Some(row)
        })
        .collect();
    let matrix = Array2::from_shape_fn((rows.len(), 7), |(i, k)| rows[i][k]);
    let ewma = ewma_correlation(matrix.view(), EWMA_LAMBDA);
    let mut correlation7 = [[0.0; 7]; 7];
    for (a, row) in correlation7.iter_mut().enumerate() {
        for (b, cell) in row.iter_mut().enumerate() {
            *cell = ewma[[a, b]];
        }
    }
    let dollars = |name: &str| {
        factors
            .iter()
            .find(|f| f.factor == name)
            .map_or(0.0, |f| f.exposure_dollar)
    };
    let inputs = StressInputs {
        equity: params.equity,
        duration: params.duration,
        exposures: SHOCK_FACTORS.map(|(_, exposure, _)| dollars(exposure)),
        ir_exposure: dollars(IR_BETA_FACTOR),
        correlation: correlation7,
    };
    if params.equity <= 0.0 {
        warnings.push(format!(
            "Equity on {d} is {:.2}: stress losses are not capped",
            params.equity
        ));
    }
    let stress: Vec<ScenarioResult> = SCENARIOS.iter().map(|s| run_scenario(s, &inputs)).collect();
    let metadata = json!({
        "correlation_matrix_date": d,
        "correlation_returns": rows.len(),
        "correlation_identity": rows.len() < crate::analytics::stress::EWMA_MIN_RETURNS,
        "duration": params.duration,
        "equity": params.equity,
    });
    (stress, metadata)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytics::factors::MARKET_BETA_FACTOR;
    use crate::calendar::trading_days;
    use crate::domain::{OptionType, PositionType};

    fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("date")
    }

    fn position(symbol: &str, qty: f64, entry: f64) -> PositionInput {
        PositionInput::stock(symbol, qty, entry, ymd(2025, 6, 2))
    }

    /// 300 trading days of closed-form prices: the market, a high-beta and a low-beta stock,
    /// the factor ETFs; NODATA has none.
    fn table() -> PriceTable {
        let dates = trading_days(ymd(2025, 1, 2), ymd(2026, 3, 31));
        let series = |f: &dyn Fn(f64) -> f64, p0: f64| -> Vec<Option<f64>> {
            let mut p = p0;
            (0..dates.len())
                .map(|t| {
                    p *= 1.0 + f(t as f64);
                    Some(p)
                })
                .collect()
        };
        let m = |t: f64| 0.01 * (0.7 * t).sin() + 0.004 * (2.3 * t).cos();
        let mut closes = HashMap::new();
        closes.insert("SPY".to_owned(), series(&m, 100.0));
        closes.insert(
            "AAA".to_owned(),
            series(&|t| 1.5 * m(t) + 0.006 * (1.3 * t).sin(), 50.0),
        );
        closes.insert(
            "BBB".to_owned(),
            series(&|t| 0.5 * m(t) + 0.004 * (3.1 * t).cos(), 80.0),
        );
        for (k, etf) in ["VTV", "VUG", "MTUM", "QUAL", "IWM", "USMV", "TLT"]
            .iter()
            .enumerate()
        {
            let k = k as f64;
            closes.insert(
                (*etf).to_owned(),
                series(
                    &move |t| 0.8 * m(t) + 0.003 * (0.9 * t * (k + 1.0) + k).sin(),
                    40.0,
                ),
            );
        }
        PriceTable { dates, closes }
    }

    fn positions() -> Vec<PositionInput> {
        let mut call = position("AAA_C", 10.0, 3.0);
        call.investment_class = InvestmentClass::Options;
        call.position_type = PositionType::Lc;
        call.underlying_symbol = Some("AAA".to_owned());
        call.strike_price = Some(50.0);
        call.expiration_date = Some(ymd(2026, 9, 18));
        call.option_type = Some(OptionType::Call);
        let mut private = position("FUND", 1.0, 100_000.0);
        private.investment_class = InvestmentClass::Private;
        vec![
            position("AAA", 1000.0, 50.0),
            position("BBB", -500.0, 80.0),
            call,
            private,
            position("NODATA", 100.0, 10.0),
        ]
    }

    fn params(equity: f64) -> RiskParams {
        RiskParams {
            date: ymd(2026, 3, 31),
            equity,
            snapshot: SnapshotParams::new(equity),
            duration: 16.5,
        }
    }

    fn betas(s: &str, f: &str) -> Option<f64> {
        match (s, f) {
            ("AAA", MARKET_BETA_FACTOR) => Some(1.5),
            ("BBB", MARKET_BETA_FACTOR) => Some(0.5),
            (_, IR_BETA_FACTOR) => Some(-0.1),
            _ => None,
        }
    }

    #[test]
    fn risk_covers_public_and_options_and_leaves_private_and_unpriced_out() {
        let (pos, table) = (positions(), table());
        let out = compute(&pos, &table, &params(200_000.0), betas);
        let values = position_values(&pos, &table, ymd(2026, 3, 31), &params(0.0).snapshot);
        let e = |i: usize| values[i].exposure.expect("exposure");
        // Market: AAA and the call carry AAA's 1.5, BBB 0.5.
        let market = &out.factors[0];
        let want = 1.5 * e(0) + 0.5 * e(1) + 1.5 * e(2);
        assert!((market.exposure_dollar - want).abs() < 1e-6, "{market:?}");
        assert!((market.beta.expect("beta") - want / 200_000.0).abs() < 1e-12);
        // Volatility: the portfolio, then AAA, BBB and the call (on AAA's returns).
        assert_eq!(out.volatility.len(), 4);
        assert_eq!(out.volatility[3].metrics, out.volatility[1].metrics);
        assert!(out.volatility[0].metrics.expected_vol_21d.is_some());
        // Correlations: the two stocks, largest |mv| first.
        assert_eq!(out.correlation.symbols, vec!["AAA", "BBB"]);
        assert!(out.correlation.matrix[0][1] > 0.5);
        // Stress: direct P&L is Σ exposure × shock.
        let down = out
            .stress
            .iter()
            .find(|s| s.id == "market_down_10")
            .expect("scenario");
        assert!((down.direct_pnl - -0.1 * want).abs() < 1e-6);
        assert_eq!(out.items(), 13 + 4 + 1 + 22);
        assert!(out
            .warnings
            .iter()
            .any(|w| w.starts_with("NODATA has no price")));
        assert!(out.warnings.iter().any(|w| w.contains("for BBB")));
        assert_eq!(out.stress_metadata["correlation_identity"], false);
    }

    #[test]
    fn with_no_equity_betas_are_null_and_losses_uncapped() {
        let out = compute(&positions(), &table(), &params(-10.0), betas);
        assert!(out.factors.iter().all(|f| f.beta.is_none()));
        assert!(out.factors[0].exposure_dollar > 0.0);
        assert!(out.stress.iter().all(|s| !s.capped));
        assert!(out.warnings.iter().any(|w| w.contains("not capped")));
    }
}
