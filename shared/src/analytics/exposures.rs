//! Portfolio factor exposures of phase 6 (ANALYTICS §7): position betas
//! weighted by signed, delta-adjusted exposure over equity.

use crate::analytics::factors::{IR_BETA_FACTOR, MARKET_BETA_FACTOR, RIDGE_ETFS, SPREADS};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Name of the provider beta factor.
pub const PROVIDER_BETA_FACTOR: &str = "Provider Beta (1Y)";

/// The 13 portfolio factors, in display order.
pub fn portfolio_factors() -> Vec<&'static str> {
    let mut f = vec![MARKET_BETA_FACTOR, PROVIDER_BETA_FACTOR, IR_BETA_FACTOR];
    f.extend(RIDGE_ETFS.iter().map(|(name, _)| *name));
    f.extend(SPREADS.iter().map(|(name, _, _)| *name));
    f
}

/// A PUBLIC or OPTIONS position active on d.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RiskPosition {
    pub position_id: Uuid,
    /// The position's symbol.
    pub symbol: String,
    /// Whose betas and returns it carries (the underlying for an option).
    pub beta_symbol: String,
    /// Signed exposure e (delta-adjusted for options).
    pub exposure: f64,
}

/// One factor of one position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PositionFactor {
    pub position_id: Uuid,
    pub symbol: String,
    pub factor: String,
    /// The symbol's beta (`None`: not available, counted as 0).
    pub beta: Option<f64>,
    /// e / E (`None` when E ≤ 0).
    pub weight: Option<f64>,
    /// e · β.
    pub exposure_dollar: f64,
}

/// One factor of the portfolio.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PortfolioFactor {
    pub factor: String,
    /// Σ w_i β_i (`None` when E ≤ 0).
    pub beta: Option<f64>,
    /// Σ e_i β_i = β · E.
    pub exposure_dollar: f64,
    /// Positions whose beta was missing (counted as 0).
    pub missing_symbols: Vec<String>,
    /// Positions with a beta.
    pub positions_used: usize,
}

/// Aggregates position betas into the 13 portfolio factors. `beta(symbol,
/// factor)` looks a stored symbol beta up.
pub fn aggregate(
    positions: &[RiskPosition],
    equity: f64,
    beta: impl Fn(&str, &str) -> Option<f64>,
) -> (Vec<PortfolioFactor>, Vec<PositionFactor>) {
    let weight = |e: f64| (equity > 0.0).then(|| e / equity);
    let mut portfolio = Vec::new();
    let mut per_position = Vec::new();
    for factor in portfolio_factors() {
        let mut dollars = 0.0;
        let mut missing = Vec::new();
        let mut used = 0;
        for p in positions {
            let b = beta(&p.beta_symbol, factor).filter(|b| b.is_finite());
            match b {
                Some(b) => {
                    dollars += p.exposure * b;
                    used += 1;
                }
                None => missing.push(p.symbol.clone()),
            }
            per_position.push(PositionFactor {
                position_id: p.position_id,
                symbol: p.symbol.clone(),
                factor: factor.to_owned(),
                beta: b,
                weight: weight(p.exposure),
                exposure_dollar: p.exposure * b.unwrap_or(0.0),
            });
        }
        portfolio.push(PortfolioFactor {
            factor: factor.to_owned(),
            beta: weight(dollars),
            exposure_dollar: dollars,
            missing_symbols: missing,
            positions_used: used,
        });
    }
    (portfolio, per_position)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_portfolio_beta_is_the_exposure_weighted_sum_over_equity() {
        let pos = |s: &str, e: f64| RiskPosition {
            position_id: Uuid::nil(),
            symbol: s.to_owned(),
            beta_symbol: s.to_owned(),
            exposure: e,
        };
        let positions = [pos("A", 60_000.0), pos("B", -20_000.0), pos("C", 10_000.0)];
        let (pf, rows) = aggregate(&positions, 100_000.0, |s, f| match (s, f) {
            ("A", MARKET_BETA_FACTOR) => Some(1.2),
            ("B", MARKET_BETA_FACTOR) => Some(0.8),
            _ => None,
        });
        assert_eq!(pf.len(), 13);
        let market = &pf[0];
        // 0.6·1.2 − 0.2·0.8 = 0.56; C has no beta.
        assert!((market.beta.expect("beta") - 0.56).abs() < 1e-12);
        assert!((market.exposure_dollar - 56_000.0).abs() < 1e-9);
        assert_eq!(market.missing_symbols, vec!["C"]);
        assert_eq!(rows.len(), 39);
        let (pf, _) = aggregate(&positions, -1.0, |_, _| Some(1.0));
        assert_eq!(pf[0].beta, None);
        assert!((pf[0].exposure_dollar - 50_000.0).abs() < 1e-9);
    }
}
