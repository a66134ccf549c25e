//! Performance and tail risk of a portfolio's own snapshot series (ANALYTICS §7b): VaR and
//! CVaR (historical and normal), annualised return and volatility, Sharpe, Sortino, Calmar,
//! drawdowns, and the figures against the market (tracking error, information ratio, beta,
//! capture ratios).
//!
//! Pure: the caller passes the non-null daily returns ending at d (oldest first, at least
//! the last [`WINDOW_RETURNS`]; more only matters for the market overlap), SPY's returns, and
//! the [`DrawdownState`] carried from the previous date, so a night costs O(window) however
//! long the history is. A figure that cannot be computed is `None` with its reason in
//! [`TailRisk::null_reasons`], never 0.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Returns in the window (the last n ≤ this).
pub const WINDOW_RETURNS: usize = 252;
/// Minimum returns (n) and market overlap (m) behind the figures.
pub const MIN_RETURNS: usize = 60;
/// Trading days per year.
const YEAR: f64 = 252.0;
/// z_0.05 and z_0.01 of the standard normal, as §7b writes them.
pub const Z_95: f64 = -1.644_853_626_951_472_2;
/// z_0.01 of the standard normal.
pub const Z_99: f64 = -2.326_347_874_040_840_8;
/// Realised beta is clipped to ±this (§0).
const BETA_CLIP: f64 = 5.0;

/// The running state of the drawdown over the whole snapshot history up to a date: what a
/// night needs to extend max drawdown by one date without reading the history again.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct DrawdownState {
    /// max E_s so far (None before the first positive equity).
    pub peak_value: Option<f64>,
    /// Date of that peak (its first date on ties).
    pub peak_date: Option<NaiveDate>,
    /// min dd_t so far (≤ 0; 0 before any drawdown).
    pub max_drawdown: f64,
    /// Peak value of the worst drawdown.
    pub max_dd_peak_value: Option<f64>,
    /// Peak date of the worst drawdown.
    pub max_dd_peak_date: Option<NaiveDate>,
    /// Trough date of the worst drawdown (its first date on ties).
    pub max_dd_trough_date: Option<NaiveDate>,
    /// First date after the trough with E ≥ the worst drawdown's peak value.
    pub recovery_date: Option<NaiveDate>,
    /// dd on the last date seen.
    pub current_drawdown: Option<f64>,
    /// Last date folded in.
    pub last_date: Option<NaiveDate>,
}

impl DrawdownState {
    /// Folds one more (date, equity) in; dates must come in ascending order. A date whose
    /// running peak is not positive has no drawdown (E/peak is meaningless there).
    pub fn push(&mut self, date: NaiveDate, equity: f64) {
        self.last_date = Some(date);
        if !equity.is_finite() {
            self.current_drawdown = None;
            return;
        }
        if self.peak_value.is_none_or(|p| equity > p) {
            self.peak_value = Some(equity);
            self.peak_date = Some(date);
        }
        let peak = self.peak_value.unwrap_or(equity);
        if peak <= 0.0 {
            self.current_drawdown = None;
            return;
        }
        let dd = equity / peak - 1.0;
        self.current_drawdown = Some(dd);
        if dd < self.max_drawdown {
            self.max_drawdown = dd;
            self.max_dd_peak_value = Some(peak);
            self.max_dd_peak_date = self.peak_date;
            self.max_dd_trough_date = Some(date);
            self.recovery_date = None;
        } else if self.recovery_date.is_none()
            && self.max_dd_peak_value.is_some_and(|p| equity >= p)
        {
            self.recovery_date = Some(date);
        }
    }

    /// The state after folding every (date, equity) in, from an empty state.
    pub fn from_series(series: &[(NaiveDate, f64)]) -> Self {
        let mut s = Self::default();
        for &(d, e) in series {
            s.push(d, e);
        }
        s
    }
}

/// Everything §7b stores for one portfolio and date.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TailRisk {
    /// Returns in the window (≤ 252).
    pub n: usize,
    /// Dates with both a portfolio and a SPY return in the market window (≤ 252).
    pub m: usize,
    /// First and last date of the n returns.
    pub window_start: Option<NaiveDate>,
    /// Last date of the window.
    pub window_end: Option<NaiveDate>,
    /// First date of the m-date market window.
    pub market_window_start: Option<NaiveDate>,
    /// Last date of the market window.
    pub market_window_end: Option<NaiveDate>,
    /// Equity on d (the dollar figures' base).
    pub equity: f64,
    pub var_hist_95: Option<f64>,
    pub var_hist_99: Option<f64>,
    pub cvar_hist_95: Option<f64>,
    pub cvar_hist_99: Option<f64>,
    pub var_param_95: Option<f64>,
    pub var_param_99: Option<f64>,
    pub cvar_param_95: Option<f64>,
    pub cvar_param_99: Option<f64>,
    pub annualised_return: Option<f64>,
    pub annualised_volatility: Option<f64>,
    pub sharpe: Option<f64>,
    pub sortino: Option<f64>,
    pub calmar: Option<f64>,
    pub max_drawdown: Option<f64>,
    pub max_drawdown_peak_date: Option<NaiveDate>,
    pub max_drawdown_trough_date: Option<NaiveDate>,
    pub max_drawdown_recovery_date: Option<NaiveDate>,
    pub current_drawdown: Option<f64>,
    pub tracking_error: Option<f64>,
    pub information_ratio: Option<f64>,
    pub realised_beta: Option<f64>,
    pub up_capture: Option<f64>,
    pub down_capture: Option<f64>,
    /// Figure name → why it is null (only the null ones).
    pub null_reasons: BTreeMap<String, String>,
}

impl TailRisk {
    /// A return figure in dollars (× E_d).
    pub fn dollars(&self, v: Option<f64>) -> Option<f64> {
        v.map(|v| v * self.equity).filter(|v| v.is_finite())
    }
}

/// Inputs of [`compute`].
#[derive(Debug, Clone, Copy)]
pub struct TailInputs<'a> {
    /// Non-null portfolio daily returns up to d, oldest first.
    pub returns: &'a [(NaiveDate, f64)],
    /// SPY simple returns, oldest first (any range covering the returns').
    pub market: &'a [(NaiveDate, f64)],
    /// E_d.
    pub equity: f64,
    /// Annual risk-free rate (`SIGMASIGHT_RISK_FREE_RATE`); divided by 252 per day.
    pub risk_free_annual: f64,
    /// The drawdown state with d folded in.
    pub drawdown: &'a DrawdownState,
}

/// The α-quantile with linear interpolation between order statistics (numpy's default).
pub fn quantile_linear(values: &[f64], alpha: f64) -> Option<f64> {
    if values.is_empty() || !(0.0..=1.0).contains(&alpha) {
        return None;
    }
    let mut x = values.to_vec();
    x.sort_by(f64::total_cmp);
    let h = (x.len() - 1) as f64 * alpha;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(x.len() - 1);
    Some(x[lo] + (h - lo as f64) * (x[hi] - x[lo]))
}

fn mean(x: &[f64]) -> f64 {
    x.iter().sum::<f64>() / x.len() as f64
}

/// Sample standard deviation (ddof 1); None below 2 values.
/// Identical values give exactly 0 (no rounding residue that would make a flat series'
/// Sharpe enormous instead of null).
fn std1(x: &[f64]) -> Option<f64> {
    (x.len() >= 2).then(|| {
        if x.iter().all(|v| *v == x[0]) {
            return 0.0;
        }
        let m = mean(x);
        (x.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (x.len() - 1) as f64).sqrt()
    })
}

/// Keeps a finite value, else records why it is null.
struct Nulls(BTreeMap<String, String>);

impl Nulls {
    fn keep(&mut self, name: &str, v: Option<f64>, reason: &str) -> Option<f64> {
        match v.filter(|v| v.is_finite()) {
            Some(v) => Some(v),
            None => {
                self.0.insert(name.to_owned(), reason.to_owned());
                None
            }
        }
    }
    fn all(&mut self, names: &[&str], reason: &str) {
        for n in names {
            self.0.insert((*n).to_owned(), reason.to_owned());
        }
    }
}

const WINDOW_FIGURES: [&str; 16] = [
    "var_hist_95",
    "var_hist_99",
    "cvar_hist_95",
    "cvar_hist_99",
    "var_param_95",
    "var_param_99",
    "cvar_param_95",
    "cvar_param_99",
    "annualised_return",
    "annualised_volatility",
    "sharpe",
    "sortino",
    "calmar",
    "max_drawdown",
    "current_drawdown",
    "max_drawdown_recovery_date",
];
const MARKET_FIGURES: [&str; 5] = [
    "tracking_error",
    "information_ratio",
    "realised_beta",
    "up_capture",
    "down_capture",
];

/// Computes every §7b figure for the last date of `inputs.returns`.
pub fn compute(inputs: &TailInputs<'_>) -> TailRisk {
    let window = &inputs.returns[inputs.returns.len().saturating_sub(WINDOW_RETURNS)..];
    let mut out = TailRisk {
        n: window.len(),
        window_start: window.first().map(|p| p.0),
        window_end: window.last().map(|p| p.0),
        equity: inputs.equity,
        ..TailRisk::default()
    };
    let mut nulls = Nulls(BTreeMap::new());
    if window.len() < MIN_RETURNS {
        let reason = format!(
            "too little history: {} returns, need {MIN_RETURNS}",
            window.len()
        );
        nulls.all(&WINDOW_FIGURES, &reason);
        nulls.all(&MARKET_FIGURES, &reason);
        out.null_reasons = nulls.0;
        return out;
    }
    let r: Vec<f64> = window.iter().map(|p| p.1).collect();
    window_figures(&mut out, &mut nulls, &r, inputs);
    market_figures(&mut out, &mut nulls, inputs);
    out.null_reasons = nulls.0;
    out
}

fn window_figures(out: &mut TailRisk, nulls: &mut Nulls, r: &[f64], inputs: &TailInputs<'_>) {
    let n = r.len() as f64;
    let rf = inputs.risk_free_annual / YEAR;
    let (mu, sigma) = (mean(r), std1(r).unwrap_or(f64::NAN));
    let hist = |alpha: f64| {
        let q = quantile_linear(r, alpha)?;
        let tail: Vec<f64> = r.iter().copied().filter(|v| *v <= q).collect();
        Some((-q, -mean(&tail)))
    };
    let (h95, h99) = (hist(0.05), hist(0.01));
    let pdf = |z: f64| (-z * z / 2.0).exp() / (2.0 * std::f64::consts::PI).sqrt();
    let why = "not finite";
    out.var_hist_95 = nulls.keep("var_hist_95", h95.map(|h| h.0), why);
    out.cvar_hist_95 = nulls.keep("cvar_hist_95", h95.map(|h| h.1), why);
    out.var_hist_99 = nulls.keep("var_hist_99", h99.map(|h| h.0), why);
    out.cvar_hist_99 = nulls.keep("cvar_hist_99", h99.map(|h| h.1), why);
    out.var_param_95 = nulls.keep("var_param_95", Some(-(mu + Z_95 * sigma)), why);
    out.var_param_99 = nulls.keep("var_param_99", Some(-(mu + Z_99 * sigma)), why);
    let pcvar = |z: f64, a: f64| -(mu - sigma * pdf(z) / a);
    out.cvar_param_95 = nulls.keep("cvar_param_95", Some(pcvar(Z_95, 0.05)), why);
    out.cvar_param_99 = nulls.keep("cvar_param_99", Some(pcvar(Z_99, 0.01)), why);
    let growth: f64 = r.iter().map(|v| 1.0 + v).product();
    out.annualised_return = nulls.keep(
        "annualised_return",
        Some(growth.powf(YEAR / n) - 1.0),
        "growth over the window is not positive",
    );
    out.annualised_volatility = nulls.keep("annualised_volatility", Some(sigma * YEAR.sqrt()), why);
    let excess: Vec<f64> = r.iter().map(|v| v - rf).collect();
    let ex_mean = mean(&excess);
    let ex_sd = std1(&excess).filter(|s| *s > 0.0);
    out.sharpe = nulls.keep(
        "sharpe",
        ex_sd.map(|s| ex_mean / s * YEAR.sqrt()),
        "zero volatility",
    );
    let dd = (excess.iter().map(|v| v.min(0.0).powi(2)).sum::<f64>() / n).sqrt();
    out.sortino = nulls.keep(
        "sortino",
        (dd > 0.0).then(|| ex_mean / dd * YEAR.sqrt()),
        "no return below the risk-free rate (downside deviation 0)",
    );
    drawdown_figures(out, nulls, inputs.drawdown);
}

fn drawdown_figures(out: &mut TailRisk, nulls: &mut Nulls, dd: &DrawdownState) {
    out.max_drawdown = nulls.keep(
        "max_drawdown",
        dd.peak_value.filter(|p| *p > 0.0).map(|_| dd.max_drawdown),
        "no positive equity in the history",
    );
    out.max_drawdown_peak_date = dd.max_dd_peak_date;
    out.max_drawdown_trough_date = dd.max_dd_trough_date;
    out.max_drawdown_recovery_date = dd.recovery_date;
    if dd.max_dd_trough_date.is_none() {
        nulls.all(&["max_drawdown_recovery_date"], "no drawdown");
    } else if dd.recovery_date.is_none() {
        nulls.all(&["max_drawdown_recovery_date"], "not recovered");
    }
    out.current_drawdown = nulls.keep(
        "current_drawdown",
        dd.current_drawdown,
        "no positive equity in the history",
    );
    let calmar = match (out.annualised_return, out.max_drawdown) {
        (Some(a), Some(m)) if m < 0.0 => Some(a / m.abs()),
        _ => None,
    };
    out.calmar = nulls.keep("calmar", calmar, "max drawdown is 0");
}

fn market_figures(out: &mut TailRisk, nulls: &mut Nulls, inputs: &TailInputs<'_>) {
    let market: BTreeMap<NaiveDate, f64> = inputs.market.iter().copied().collect();
    let both: Vec<(NaiveDate, f64, f64)> = inputs
        .returns
        .iter()
        .filter_map(|&(d, r)| market.get(&d).map(|&s| (d, r, s)))
        .collect();
    let both = &both[both.len().saturating_sub(WINDOW_RETURNS)..];
    out.m = both.len();
    out.market_window_start = both.first().map(|p| p.0);
    out.market_window_end = both.last().map(|p| p.0);
    if both.len() < MIN_RETURNS {
        let reason = format!(
            "too little overlap with SPY: {} dates, need {MIN_RETURNS}",
            both.len()
        );
        nulls.all(&MARKET_FIGURES, &reason);
        return;
    }
    let r: Vec<f64> = both.iter().map(|p| p.1).collect();
    let s: Vec<f64> = both.iter().map(|p| p.2).collect();
    let active: Vec<f64> = both.iter().map(|p| p.1 - p.2).collect();
    let te = std1(&active).map(|v| v * YEAR.sqrt());
    out.tracking_error = nulls.keep("tracking_error", te, "not finite");
    out.information_ratio = nulls.keep(
        "information_ratio",
        te.filter(|t| *t > 0.0).map(|t| mean(&active) * YEAR / t),
        "tracking error is 0",
    );
    let (mr, ms) = (mean(&r), mean(&s));
    let sxx: f64 = s.iter().map(|v| (v - ms).powi(2)).sum();
    let sxy: f64 = r.iter().zip(&s).map(|(a, b)| (a - mr) * (b - ms)).sum();
    out.realised_beta = nulls.keep(
        "realised_beta",
        (sxx > 0.0).then(|| (sxy / sxx).clamp(-BETA_CLIP, BETA_CLIP)),
        "SPY did not move",
    );
    let capture = |up: bool| {
        let pick = |v: &(NaiveDate, f64, f64)| if up { v.2 > 0.0 } else { v.2 < 0.0 };
        let (pr, ps): (Vec<f64>, Vec<f64>) =
            both.iter().filter(|v| pick(v)).map(|v| (v.1, v.2)).unzip();
        (!ps.is_empty()).then(|| mean(&pr) / mean(&ps))
    };
    out.up_capture = nulls.keep("up_capture", capture(true), "no day with SPY up");
    out.down_capture = nulls.keep("down_capture", capture(false), "no day with SPY down");
}

/// Returns up to a date passed along for the market overlap: the window and 20 more, so a
/// few dates without a SPY return still leave m = 252, bounded so a night stays O(window).
pub const OVERLAP_RETURNS: usize = WINDOW_RETURNS + 20;

/// One snapshot as the series reads it: (date, equity, daily return).
pub type SnapshotPoint = (NaiveDate, f64, Option<f64>);

/// The figures of each of `dates` (ascending) and the drawdown state after it, from the
/// snapshots (ascending; covering every date after `prior`'s and the window of the first
/// date) and SPY's returns. `prior` is the state after an earlier date, from which the fold
/// continues; without it the fold starts at the first snapshot given. A date without a
/// snapshot is skipped.
pub fn compute_series(
    snapshots: &[SnapshotPoint],
    market: &[(NaiveDate, f64)],
    dates: &[NaiveDate],
    prior: Option<(NaiveDate, DrawdownState)>,
    risk_free_annual: f64,
) -> Vec<(NaiveDate, TailRisk, DrawdownState)> {
    let (mut folded_to, mut state) = match prior {
        Some((d, s)) => (Some(d), s),
        None => (None, DrawdownState::default()),
    };
    let returns: Vec<(NaiveDate, f64)> = snapshots
        .iter()
        .filter_map(|&(d, _, r)| r.filter(|r| r.is_finite()).map(|r| (d, r)))
        .collect();
    let (mut next_snapshot, mut returns_end) = (0, 0);
    let mut out = Vec::with_capacity(dates.len());
    for &d in dates {
        let mut equity = None;
        while next_snapshot < snapshots.len() && snapshots[next_snapshot].0 <= d {
            let (sd, e, _) = snapshots[next_snapshot];
            if folded_to.is_none_or(|f| sd > f) {
                state.push(sd, e);
                folded_to = Some(sd);
            }
            if sd == d {
                equity = Some(e);
            }
            next_snapshot += 1;
        }
        while returns_end < returns.len() && returns[returns_end].0 <= d {
            returns_end += 1;
        }
        let Some(equity) = equity else { continue };
        let from = returns_end.saturating_sub(OVERLAP_RETURNS);
        let figures = compute(&TailInputs {
            returns: &returns[from..returns_end],
            market,
            equity,
            risk_free_annual,
            drawdown: &state,
        });
        out.push((d, figures, state));
    }
    out
}

#[cfg(test)]
#[path = "tail_risk_tests.rs"]
mod tests;
