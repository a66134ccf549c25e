//! Stress tests of phase 6 (ANALYTICS §7): the original's 22 factor-shock
//! scenarios, direct and correlated P&L, the rates term and the loss cap.

use ndarray::{Array2, ArrayView2};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// EWMA decay of the factor correlation.
pub const EWMA_LAMBDA: f64 = 0.94;
/// Calendar days of factor returns behind the correlation: (d − 282, d].
pub const EWMA_WINDOW_DAYS: i64 = 282;
/// Off-diagonal correlations are clipped to ±this.
pub const CORRELATION_CLIP: f64 = 0.95;
/// With fewer returns the correlation is the identity.
pub const EWMA_MIN_RETURNS: usize = 30;
/// TLT's modified duration (default of `SIGMASIGHT_TLT_DURATION`).
pub const DEFAULT_TLT_DURATION: f64 = 16.5;
/// A loss is capped at this share of equity.
pub const LOSS_CAP: f64 = 0.99;
/// Name of the rate factor in scenarios.
pub const INTEREST_RATE: &str = "Interest Rate";

/// The seven shockable factors: scenario name, portfolio factor exposure name, proxy ETF.
pub const SHOCK_FACTORS: [(&str, &str, &str); 7] = [
    ("Market", "Market Beta (90D)", "SPY"),
    ("Value", "Value", "VTV"),
    ("Growth", "Growth", "VUG"),
    ("Momentum", "Momentum", "MTUM"),
    ("Quality", "Quality", "QUAL"),
    ("Size", "Size", "IWM"),
    ("Low Volatility", "Low Volatility", "USMV"),
];

/// One scenario.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Scenario {
    /// Stable id (`market_down_10`).
    pub id: &'static str,
    /// Display name.
    pub name: &'static str,
    /// Category (`base`, `market_risk`, …).
    pub category: &'static str,
    /// Run by default (the historical ones are not).
    pub active: bool,
    /// (factor, shock): decimal returns, or a decimal rate change for Interest Rate.
    pub shocks: &'static [(&'static str, f64)],
}

const fn sc(
    id: &'static str,
    name: &'static str,
    category: &'static str,
    active: bool,
    shocks: &'static [(&'static str, f64)],
) -> Scenario {
    Scenario {
        id,
        name,
        category,
        active,
        shocks,
    }
}

/// The 22 scenarios of the original (19 active).
pub const SCENARIOS: [Scenario; 22] = [
    sc(
        "market_up_5",
        "Market Up 5%",
        "base",
        true,
        &[("Market", 0.05)],
    ),
    sc(
        "market_down_5",
        "Market Down 5%",
        "base",
        true,
        &[("Market", -0.05)],
    ),
    sc(
        "rates_up_50bp",
        "Rates Up 50bp",
        "base",
        true,
        &[(INTEREST_RATE, 0.005)],
    ),
    sc(
        "rates_down_50bp",
        "Rates Down 50bp",
        "base",
        true,
        &[(INTEREST_RATE, -0.005)],
    ),
    sc(
        "market_up_10",
        "Market Up 10%",
        "market_risk",
        true,
        &[("Market", 0.10)],
    ),
    sc(
        "market_down_10",
        "Market Down 10%",
        "market_risk",
        true,
        &[("Market", -0.10)],
    ),
    sc(
        "market_crash_35",
        "Market Crash 35%",
        "market_risk",
        true,
        &[("Market", -0.35)],
    ),
    sc(
        "market_rally_25",
        "Market Rally 25%",
        "market_risk",
        true,
        &[("Market", 0.25)],
    ),
    sc(
        "rates_up_25bp",
        "Rates Up 25bp",
        "interest_rate_risk",
        true,
        &[(INTEREST_RATE, 0.0025)],
    ),
    sc(
        "rates_down_25bp",
        "Rates Down 25bp",
        "interest_rate_risk",
        true,
        &[(INTEREST_RATE, -0.0025)],
    ),
    sc(
        "rates_up_100bp",
        "Rates Up 100bp",
        "interest_rate_risk",
        true,
        &[(INTEREST_RATE, 0.01)],
    ),
    sc(
        "rates_down_100bp",
        "Rates Down 100bp",
        "interest_rate_risk",
        true,
        &[(INTEREST_RATE, -0.01)],
    ),
    sc(
        "rate_spike_300bp",
        "Rate Spike 300bp",
        "interest_rate_risk",
        true,
        &[(INTEREST_RATE, 0.03)],
    ),
    sc(
        "value_rotation_20",
        "Value Rotation 20%",
        "factor_rotations",
        true,
        &[("Value", 0.2), ("Growth", -0.1)],
    ),
    sc(
        "growth_rally_15",
        "Growth Rally 15%",
        "factor_rotations",
        true,
        &[("Growth", 0.15), ("Momentum", 0.1)],
    ),
    sc(
        "small_cap_outperformance_10",
        "Small Cap Outperformance 10%",
        "factor_rotations",
        true,
        &[("Size", 0.1)],
    ),
    sc(
        "quality_flight_12",
        "Flight to Quality 12%",
        "factor_rotations",
        true,
        &[("Quality", 0.12), ("Market", -0.05)],
    ),
    sc(
        "vix_spike_150",
        "VIX Spike 150%",
        "volatility_risk",
        true,
        &[("Low Volatility", -0.25), ("Market", -0.15)],
    ),
    sc(
        "liquidity_crisis",
        "Liquidity Crisis",
        "volatility_risk",
        true,
        &[
            ("Market", -0.2),
            ("Low Volatility", -0.3),
            ("Quality", 0.15),
            ("Size", -0.1),
        ],
    ),
    sc(
        "financial_crisis_2008",
        "2008 Financial Crisis",
        "historical",
        false,
        &[
            ("Market", -0.45),
            ("Value", -0.3),
            ("Size", -0.25),
            ("Quality", 0.2),
            ("Low Volatility", -0.35),
        ],
    ),
    sc(
        "covid_crash_2020",
        "COVID-19 Crash 2020",
        "historical",
        false,
        &[
            ("Market", -0.35),
            ("Growth", 0.15),
            ("Value", -0.4),
            ("Size", -0.3),
            ("Quality", 0.1),
        ],
    ),
    sc(
        "dotcom_crash_2000",
        "Dot-com Crash 2000",
        "historical",
        false,
        &[
            ("Market", -0.45),
            ("Growth", -0.6),
            ("Value", 0.2),
            ("Momentum", -0.5),
            ("Quality", 0.15),
        ],
    ),
];

impl Scenario {
    /// Looks a scenario up by id.
    pub fn by_id(id: &str) -> Option<&'static Scenario> {
        SCENARIOS.iter().find(|s| s.id == id)
    }

    /// The shocks in words: `Market -10.0%, Rates +50bp`.
    pub fn description(&self) -> String {
        self.shocks
            .iter()
            .map(|(f, v)| {
                if *f == INTEREST_RATE {
                    format!("Rates {:+.0}bp", v * 10_000.0)
                } else {
                    format!("{f} {:+.1}%", v * 100.0)
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// `mild` | `moderate` | `severe` | `extreme`, by the largest shock (a rate shock
    /// counts as its move in TLT at the default duration).
    pub fn severity(&self) -> &'static str {
        let largest = self
            .shocks
            .iter()
            .map(|(f, v)| {
                if *f == INTEREST_RATE {
                    (v * DEFAULT_TLT_DURATION).abs()
                } else {
                    v.abs()
                }
            })
            .fold(0.0, f64::max);
        match largest {
            x if x <= 0.0825 + 1e-12 => "mild",
            x if x <= 0.165 + 1e-12 => "moderate",
            x if x <= 0.35 + 1e-12 => "severe",
            _ => "extreme",
        }
    }
}

/// What a scenario needs of the portfolio.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StressInputs {
    /// Equity E_d (the cap's base).
    pub equity: f64,
    /// Modified duration D of the rate proxy.
    pub duration: f64,
    /// Dollar exposure to each of [`SHOCK_FACTORS`], in order (null betas count as 0).
    pub exposures: [f64; 7],
    /// Dollar exposure of the Interest Rate Beta factor.
    pub ir_exposure: f64,
    /// Correlation of the seven factors' proxies (identity when unknown).
    pub correlation: [[f64; 7]; 7],
}

/// One factor's part in a scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FactorImpact {
    /// The shock (decimal return, or decimal rate change for Interest Rate).
    pub shock: f64,
    /// The portfolio's dollar exposure to the factor.
    pub exposure_dollar: f64,
    /// exposure · shock (for Interest Rate, the rates term).
    pub direct_pnl: f64,
}

/// A scenario's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioResult {
    pub id: String,
    pub name: String,
    pub category: String,
    pub active: bool,
    /// Direct P&L after the cap.
    pub direct_pnl: f64,
    /// Correlated P&L after the cap.
    pub correlated_pnl: f64,
    /// correlated − direct (after the cap).
    pub correlation_effect: f64,
    /// Either P&L hit the cap.
    pub capped: bool,
    pub direct_pnl_raw: f64,
    pub correlated_pnl_raw: f64,
    /// Per shocked factor.
    pub factor_impacts: BTreeMap<String, FactorImpact>,
}

/// The rates term: exposure_IR · (−D · Δr).
pub fn rates_term(ir_exposure: f64, duration: f64, delta_r: f64) -> f64 {
    ir_exposure * (-duration * delta_r)
}

fn factor_index(name: &str) -> Option<usize> {
    SHOCK_FACTORS.iter().position(|(f, _, _)| *f == name)
}

/// Applies the loss cap: below −0.99·E → −0.99·E (never when E ≤ 0).
pub fn cap_loss(pnl: f64, equity: f64) -> (f64, bool) {
    let floor = -LOSS_CAP * equity;
    if equity > 0.0 && pnl < floor {
        (floor, true)
    } else {
        (pnl, false)
    }
}

/// Runs one scenario.
pub fn run_scenario(scenario: &Scenario, inputs: &StressInputs) -> ScenarioResult {
    let mut shocks = [0.0; 7];
    let mut rate_change = 0.0;
    let mut factor_impacts = BTreeMap::new();
    for (factor, shock) in scenario.shocks {
        if *factor == INTEREST_RATE {
            rate_change += shock;
            factor_impacts.insert(
                INTEREST_RATE.to_owned(),
                FactorImpact {
                    shock: *shock,
                    exposure_dollar: inputs.ir_exposure,
                    direct_pnl: rates_term(inputs.ir_exposure, inputs.duration, *shock),
                },
            );
        } else if let Some(i) = factor_index(factor) {
            shocks[i] += shock;
            factor_impacts.insert(
                (*factor).to_owned(),
                FactorImpact {
                    shock: *shock,
                    exposure_dollar: inputs.exposures[i],
                    direct_pnl: inputs.exposures[i] * shock,
                },
            );
        }
    }
    let rates = rates_term(inputs.ir_exposure, inputs.duration, rate_change);
    let direct_raw: f64 = (0..7).map(|s| inputs.exposures[s] * shocks[s]).sum::<f64>() + rates;
    let correlated_raw: f64 = (0..7)
        .flat_map(|f| (0..7).map(move |s| (f, s)))
        .map(|(f, s)| inputs.exposures[f] * shocks[s] * inputs.correlation[s][f])
        .sum::<f64>()
        + rates;
    let (direct, direct_capped) = cap_loss(direct_raw, inputs.equity);
    let (correlated, correlated_capped) = cap_loss(correlated_raw, inputs.equity);
    ScenarioResult {
        id: scenario.id.to_owned(),
        name: scenario.name.to_owned(),
        category: scenario.category.to_owned(),
        active: scenario.active,
        direct_pnl: direct,
        correlated_pnl: correlated,
        correlation_effect: correlated - direct,
        capped: direct_capped || correlated_capped,
        direct_pnl_raw: direct_raw,
        correlated_pnl_raw: correlated_raw,
        factor_impacts,
    }
}

/// The 7×7 identity.
pub fn identity7() -> [[f64; 7]; 7] {
    let mut m = [[0.0; 7]; 7];
    for (i, row) in m.iter_mut().enumerate() {
        row[i] = 1.0;
    }
    m
}

/// EWMA correlation of `returns` (rows oldest → newest, one column per
/// series): weights λ^k with k = 0 for the newest row, normalised; weighted
/// means removed; off-diagonal clipped to ±0.95. Identity with fewer than 30
/// rows; a column with no variance correlates 0 with the others.
pub fn ewma_correlation(returns: ArrayView2<f64>, lambda: f64) -> Array2<f64> {
    let (t, k) = returns.dim();
    let mut out = Array2::<f64>::eye(k);
    if t < EWMA_MIN_RETURNS {
        return out;
    }
    let raw: Vec<f64> = (0..t).map(|i| lambda.powi((t - 1 - i) as i32)).collect();
    let total: f64 = raw.iter().sum();
    let w: Vec<f64> = raw.iter().map(|x| x / total).collect();
    let means: Vec<f64> = (0..k)
        .map(|j| (0..t).map(|i| w[i] * returns[[i, j]]).sum())
        .collect();
    let mut cov = Array2::<f64>::zeros((k, k));
    for a in 0..k {
        for b in a..k {
            let c: f64 = (0..t)
                .map(|i| w[i] * (returns[[i, a]] - means[a]) * (returns[[i, b]] - means[b]))
                .sum();
            cov[[a, b]] = c;
            cov[[b, a]] = c;
        }
    }
    for a in 0..k {
        for b in 0..k {
            if a == b {
                continue;
            }
            let rho = cov[[a, b]] / (cov[[a, a]] * cov[[b, b]]).sqrt();
            out[[a, b]] = if rho.is_finite() {
                rho.clamp(-CORRELATION_CLIP, CORRELATION_CLIP)
            } else {
                0.0
            };
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(market: f64, ir: f64, equity: f64) -> StressInputs {
        let mut exposures = [0.0; 7];
        exposures[0] = market;
        StressInputs {
            equity,
            duration: DEFAULT_TLT_DURATION,
            exposures,
            ir_exposure: ir,
            correlation: identity7(),
        }
    }

    fn scenario(id: &str) -> &'static Scenario {
        SCENARIOS.iter().find(|s| s.id == id).expect("scenario")
    }

    #[test]
    fn scenarios_describe_their_shocks_and_grade_their_severity() {
        let s = scenario("quality_flight_12");
        assert_eq!(s.description(), "Quality +12.0%, Market -5.0%");
        assert_eq!(scenario("rates_up_50bp").description(), "Rates +50bp");
        assert_eq!(scenario("market_down_5").severity(), "mild");
        assert_eq!(scenario("market_down_10").severity(), "moderate");
        assert_eq!(scenario("market_crash_35").severity(), "severe");
        assert_eq!(scenario("dotcom_crash_2000").severity(), "extreme");
        assert_eq!(Scenario::by_id("nope"), None);
    }

    #[test]
    fn there_are_22_scenarios_19_active() {
        assert_eq!(SCENARIOS.len(), 22);
        assert_eq!(SCENARIOS.iter().filter(|s| s.active).count(), 19);
    }

    #[test]
    fn market_down_10_on_the_production_exposure_is_the_known_answer() {
        let r = run_scenario(scenario("market_down_10"), &inputs(499_992.78, 0.0, 3e6));
        assert!((r.direct_pnl - -49_999.278).abs() < 1e-6);
        assert!(!r.capped);
    }

    #[test]
    fn rates_up_50bp_converts_the_rate_change_through_duration() {
        let r = run_scenario(scenario("rates_up_50bp"), &inputs(0.0, -11_614.14, 1e6));
        assert!((r.direct_pnl - 958.17).abs() < 0.005, "{}", r.direct_pnl);
        let ir = &r.factor_impacts[INTEREST_RATE];
        assert_eq!(ir.shock, 0.005);
        assert!((ir.direct_pnl - r.direct_pnl).abs() < 1e-9);
    }

    #[test]
    fn losses_are_capped_at_99_percent_of_equity_and_the_raw_value_kept() {
        let r = run_scenario(
            scenario("market_crash_35"),
            &inputs(400_000.0, 0.0, 100_000.0),
        );
        assert!(r.capped);
        assert!((r.direct_pnl - -99_000.0).abs() < 1e-9);
        assert!((r.direct_pnl_raw - -140_000.0).abs() < 1e-9);
        let r = run_scenario(scenario("market_crash_35"), &inputs(400_000.0, 0.0, -5.0));
        assert!(!r.capped && (r.direct_pnl - -140_000.0).abs() < 1e-9);
    }

    #[test]
    fn correlated_pnl_spreads_a_shock_over_correlated_factors() {
        let mut i = inputs(100_000.0, 0.0, 1e6);
        i.exposures[1] = 50_000.0; // Value
        i.correlation[0][1] = 0.5;
        i.correlation[1][0] = 0.5;
        let r = run_scenario(scenario("market_down_10"), &i);
        assert!((r.direct_pnl - -10_000.0).abs() < 1e-9);
        // Market: 100k · −0.1 · 1; Value: 50k · −0.1 · 0.5.
        assert!((r.correlated_pnl - -12_500.0).abs() < 1e-9);
        assert!((r.correlation_effect - -2_500.0).abs() < 1e-9);
    }

    #[test]
    fn ewma_reproduces_the_known_answer_of_analytics_8() {
        let r = Array2::from_shape_fn((252, 4), |(t, j)| {
            let (t, j) = (t as f64, j as f64);
            (0.6 + 0.1 * j) * 0.01 * (0.7 * t).sin()
                + 0.004 * (0.3 * t * (j + 1.0) + j).sin()
                + 0.003 * (1.7 * t + 2.0 * j).cos()
        });
        let c = ewma_correlation(r.view(), EWMA_LAMBDA);
        assert!((c[[0, 1]] - 0.567315577580942).abs() < 1e-12);
        assert!((c[[2, 3]] - 0.765840876244018).abs() < 1e-12);
        let short = r
            .rows()
            .into_iter()
            .take(29)
            .flatten()
            .copied()
            .collect::<Vec<f64>>();
        let short = Array2::from_shape_vec((29, 4), short).expect("shape");
        assert_eq!(
            ewma_correlation(short.view(), EWMA_LAMBDA),
            Array2::<f64>::eye(4)
        );
    }
}
