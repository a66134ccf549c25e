//! Realised volatility, the HAR forecast, trend and percentile of phase 6
//! (ANALYTICS §7), for one position or the portfolio's return series.
//!
//! Every function takes the simple daily returns ending at the calculation
//! date, oldest first. The metrics of [`vol_metrics`] use the last
//! n ≤ 252 returns; the percentile also looks at the 252 trading days before
//! the calculation date, so callers pass up to [`HISTORY_RETURNS`] returns.

use crate::analytics::regression::{ols_multi, ols_simple};
use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};

/// Annualisation factor √252.
pub fn annualise() -> f64 {
    252.0_f64.sqrt()
}
/// Returns the HAR model, realised vols and trend look at (the last n ≤ this).
pub const WINDOW_RETURNS: usize = 252;
/// Returns a caller should pass so the percentile has its full lookback:
/// 252 days before d, each needing 21 returns for its rolling vol, plus d.
pub const HISTORY_RETURNS: usize = WINDOW_RETURNS + 21;
/// Minimum regression rows of the HAR model.
pub const HAR_MIN_ROWS: usize = 60;
/// Forecast horizon of `expected_vol_21d`, in trading days.
pub const HAR_HORIZON: usize = 21;
/// Rolling window of the trend and percentile volatility.
pub const ROLLING_WINDOW: usize = 21;
/// Minimum rolling values behind a percentile.
pub const PERCENTILE_MIN_VALUES: usize = 100;
/// Trading days before d the percentile compares with.
pub const PERCENTILE_LOOKBACK: usize = 252;

/// A fitted HAR (Corsi) model and its forecasts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HarFit {
    /// [const, daily, weekly, monthly].
    pub coefficients: [f64; 4],
    /// In-sample R².
    pub r_squared: f64,
    /// Regression rows.
    pub rows: usize,
    /// One-day-ahead forecast (annualised).
    pub expected_vol_1d: f64,
    /// Mean of the 21 forecasts iterated forward (annualised).
    pub expected_vol_21d: f64,
}

/// Direction of the 21-day rolling volatility.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trend {
    /// `increasing`, `decreasing` or `stable`.
    pub label: &'static str,
    /// Slope of the OLS line through the last 21 rolling values, per day.
    pub slope: f64,
    /// Its R² (the trend's strength).
    pub strength: f64,
}

/// Everything phase 6 stores about one return series.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct VolMetrics {
    /// Std (ddof 1) of the last 21 returns · √252.
    pub realized_vol_21d: Option<f64>,
    /// Std (ddof 1) of the last 63 returns · √252.
    pub realized_vol_63d: Option<f64>,
    /// HAR one-day forecast.
    pub expected_vol_1d: Option<f64>,
    /// HAR 21-day forecast.
    pub expected_vol_21d: Option<f64>,
    /// HAR coefficients [const, d, w, m].
    pub har_coefficients: Option<[f64; 4]>,
    /// HAR in-sample R².
    pub model_r_squared: Option<f64>,
    /// `increasing` | `decreasing` | `stable`.
    pub vol_trend: Option<String>,
    /// R² of the trend line.
    pub vol_trend_strength: Option<f64>,
    /// Share (0–1) of the 21-day vols of the 252 days before d strictly below today's.
    pub vol_percentile: Option<f64>,
    /// Returns in the window (≤ 252).
    pub observations: usize,
}

fn std_ddof1(v: &[f64]) -> Option<f64> {
    if v.len() < 2 {
        return None;
    }
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    let s = var.sqrt();
    s.is_finite().then_some(s)
}

/// Std (ddof 1) of the last `window` returns · √252; `None` with fewer.
pub fn realized_vol(returns: &[f64], window: usize) -> Option<f64> {
    if window < 2 || returns.len() < window {
        return None;
    }
    std_ddof1(&returns[returns.len() - window..]).map(|s| s * annualise())
}

/// The 21-day rolling vols: element k is the vol of returns k..k+21 (so it
/// belongs to return index k + 20).
pub fn rolling_vols(returns: &[f64]) -> Vec<f64> {
    returns
        .windows(ROLLING_WINDOW)
        .map(|w| std_ddof1(w).map_or(f64::NAN, |s| s * annualise()))
        .collect()
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// The HAR regressors of RV at index t: [1, RV_t, mean RV_{t−4..t}, mean RV_{t−21..t}].
fn har_row(rv: &[f64], t: usize) -> [f64; 4] {
    [1.0, rv[t], mean(&rv[t - 4..=t]), mean(&rv[t - 21..=t])]
}

fn dot(a: &[f64; 4], b: &[f64; 4]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// HAR (Corsi) on RV_t = |r_t|·√252: one row per t = 21 … n−2, y = RV_{t+1},
/// OLS; the forecasts of ANALYTICS §7. `None` with fewer than 60 rows or a
/// singular design.
pub fn har(returns: &[f64]) -> Option<HarFit> {
    let n = returns.len();
    if n < 23 {
        return None;
    }
    let mut rv: Vec<f64> = returns.iter().map(|r| r.abs() * annualise()).collect();
    let rows = n - 22;
    if rows < HAR_MIN_ROWS {
        return None;
    }
    let mut x = Array2::<f64>::zeros((rows, 3));
    let mut y = Array1::<f64>::zeros(rows);
    for (i, t) in (21..=n - 2).enumerate() {
        let row = har_row(&rv, t);
        for j in 0..3 {
            x[[i, j]] = row[j + 1];
        }
        y[i] = rv[t + 1];
    }
    let fit = ols_multi(x.view(), y.view())?;
    let coefficients = [
        fit.coefficients[0],
        fit.coefficients[1],
        fit.coefficients[2],
        fit.coefficients[3],
    ];
    let mut forecasts = Vec::with_capacity(HAR_HORIZON);
    for _ in 0..HAR_HORIZON {
        let f = dot(&coefficients, &har_row(&rv, rv.len() - 1));
        forecasts.push(f);
        rv.push(f);
    }
    let expected_vol_1d = forecasts[0];
    let expected_vol_21d = mean(&forecasts);
    (expected_vol_1d.is_finite() && expected_vol_21d.is_finite()).then_some(HarFit {
        coefficients,
        r_squared: fit.r_squared,
        rows,
        expected_vol_1d,
        expected_vol_21d,
    })
}

/// OLS of the last 21 rolling vols on 0 … 20; `None` with fewer than 21.
pub fn trend(returns: &[f64]) -> Option<Trend> {
    let v = rolling_vols(returns);
    if v.len() < ROLLING_WINDOW {
        return None;
    }
    let last = &v[v.len() - ROLLING_WINDOW..];
    let x: Vec<f64> = (0..ROLLING_WINDOW).map(|i| i as f64).collect();
    let fit = ols_simple(&x, last)?;
    let r2 = if fit.r_squared.is_finite() {
        fit.r_squared
    } else {
        0.0
    };
    let label = if fit.beta > 0.001 && r2 > 0.3 {
        "increasing"
    } else if fit.beta < -0.001 && r2 > 0.3 {
        "decreasing"
    } else {
        "stable"
    };
    Some(Trend {
        label,
        slope: fit.beta,
        strength: r2,
    })
}

/// Share of the 21-day vols over the 252 trading days before d (the last
/// return) strictly below the vol on d; `None` with fewer than 100 values.
pub fn percentile(returns: &[f64]) -> Option<f64> {
    let n = returns.len();
    let v = rolling_vols(returns);
    let today = *v.last()?;
    // v[k] belongs to return index k + 20; days before d are t = n−253 … n−2.
    let first_t = n
        .saturating_sub(PERCENTILE_LOOKBACK + 1)
        .max(ROLLING_WINDOW - 1);
    let before: Vec<f64> = (first_t..n - 1)
        .map(|t| v[t + 1 - ROLLING_WINDOW])
        .filter(|x| x.is_finite())
        .collect();
    if before.len() < PERCENTILE_MIN_VALUES || !today.is_finite() {
        return None;
    }
    Some(before.iter().filter(|x| **x < today).count() as f64 / before.len() as f64)
}

/// All of ANALYTICS §7's volatility metrics of `history` (returns ending at
/// d, oldest first; up to [`HISTORY_RETURNS`] are used).
pub fn vol_metrics(history: &[f64]) -> VolMetrics {
    let history = &history[history.len().saturating_sub(HISTORY_RETURNS)..];
    let window = &history[history.len().saturating_sub(WINDOW_RETURNS)..];
    let har = har(window);
    let trend = trend(window);
    VolMetrics {
        realized_vol_21d: realized_vol(window, 21),
        realized_vol_63d: realized_vol(window, 63),
        expected_vol_1d: har.as_ref().map(|h| h.expected_vol_1d),
        expected_vol_21d: har.as_ref().map(|h| h.expected_vol_21d),
        har_coefficients: har.as_ref().map(|h| h.coefficients),
        model_r_squared: har.as_ref().map(|h| h.r_squared),
        vol_trend: trend.as_ref().map(|t| t.label.to_owned()),
        vol_trend_strength: trend.as_ref().map(|t| t.strength),
        vol_percentile: percentile(history),
        observations: window.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known_answer_returns() -> Vec<f64> {
        (0..252)
            .map(|t| {
                let t = t as f64;
                0.01 * (0.9 * t).sin() * (1.0 + 0.5 * (0.05 * t).sin()) + 0.002 * (3.1 * t).cos()
            })
            .collect()
    }

    #[test]
    fn har_reproduces_the_known_answer_of_analytics_8() {
        let fit = har(&known_answer_returns()).expect("fit");
        assert_eq!(fit.rows, 230);
        let want = [0.01284217, -0.16728929, -0.10339385, 1.11974549];
        for (got, want) in fit.coefficients.iter().zip(want) {
            assert!((got - want).abs() < 5e-8, "{:?}", fit.coefficients);
        }
        assert!((fit.expected_vol_1d - 0.0864102920835930).abs() < 1e-12);
        assert!((fit.expected_vol_21d - 0.0843405083529641).abs() < 1e-12);
    }

    #[test]
    fn har_needs_sixty_rows() {
        let r = known_answer_returns();
        assert!(har(&r[..81]).is_none(), "81 returns give 59 rows");
        assert_eq!(har(&r[..82]).map(|f| f.rows), Some(60));
    }

    #[test]
    fn realized_vol_is_the_sample_std_of_the_last_window_annualised() {
        let r = [0.01, -0.01, 0.02, 0.0];
        // last 3: -0.01, 0.02, 0.0: mean 1/300, sample var = 0.00023333.
        let want = (0.000_233_333_333_333_333_3_f64).sqrt() * 252f64.sqrt();
        assert!((realized_vol(&r, 3).expect("vol") - want).abs() < 1e-12);
        assert_eq!(realized_vol(&r, 5), None);
    }

    #[test]
    fn a_rising_volatility_trends_up_and_a_flat_one_is_stable() {
        let rising: Vec<f64> = (0..120)
            .map(|t| 0.002 * (1.0 + t as f64 / 10.0) * if t % 2 == 0 { 1.0 } else { -1.0 })
            .collect();
        assert_eq!(trend(&rising).map(|t| t.label), Some("increasing"));
        let flat: Vec<f64> = (0..120)
            .map(|t| if t % 2 == 0 { 0.01 } else { -0.01 })
            .collect();
        assert_eq!(trend(&flat).map(|t| t.label), Some("stable"));
        let falling: Vec<f64> = rising.iter().rev().copied().collect();
        assert_eq!(trend(&falling).map(|t| t.label), Some("decreasing"));
    }

    #[test]
    fn the_percentile_counts_the_days_before_d_strictly_below_today() {
        // Calm for 200 days, then a shock on d: today is above every earlier value.
        let mut r: Vec<f64> = (0..200)
            .map(|t| if t % 2 == 0 { 0.01 } else { -0.01 })
            .collect();
        r.push(0.08);
        assert_eq!(percentile(&r), Some(1.0));
        // Too little history: fewer than 100 rolling values before d.
        assert_eq!(percentile(&r[r.len() - 110..]), None);
    }
}
