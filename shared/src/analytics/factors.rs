//! Per-symbol factor exposures of phase 1.5 (ANALYTICS §1–2).
//!
//! [`analyze_symbol`] turns a [`PriceTable`] holding the symbol and the eight
//! factor ETFs into the rows the phase stores: six ridge betas on the style
//! ETFs, four spread betas, the 90-day market beta on SPY and the interest
//! rate beta on TLT. Every row carries its window and the observations used;
//! a beta that cannot be computed is `None` with a reason, never 0. The
//! provider beta (1Y) comes from the company profile, not from prices, and is
//! not computed here.

use ndarray::Array2;
use serde::Serialize;

use crate::analytics::regression::{ols_simple, ridge_standardized, OlsFit};
use crate::analytics::returns::aligned_returns;
use crate::analytics::snapshots::PriceTable;

/// Style factors of the ridge model and their ETF proxies, in column order.
pub const RIDGE_ETFS: [(&str, &str); 6] = [
    ("Value", "VTV"),
    ("Growth", "VUG"),
    ("Momentum", "MTUM"),
    ("Quality", "QUAL"),
    ("Size", "IWM"),
    ("Low Volatility", "USMV"),
];
/// Spread factors: name, long ETF, short ETF (`r(long) − r(short)`).
pub const SPREADS: [(&str, &str, &str); 4] = [
    ("Growth-Value Spread", "VUG", "VTV"),
    ("Momentum Spread", "MTUM", "SPY"),
    ("Size Spread", "IWM", "SPY"),
    ("Quality Spread", "QUAL", "SPY"),
];
/// The eight factor ETFs every run's symbol scope includes.
pub const FACTOR_ETFS: [&str; 8] = ["SPY", "VTV", "VUG", "MTUM", "QUAL", "IWM", "USMV", "TLT"];
/// Name of the market-beta row.
pub const MARKET_BETA_FACTOR: &str = "Market Beta (90D)";
/// Name of the interest-rate-beta row.
pub const IR_BETA_FACTOR: &str = "Interest Rate Beta";
/// Ridge window (trading-day returns) and minimum observations.
pub const RIDGE_WINDOW: usize = 90;
/// Minimum observations of the ridge model (it also needs more than 6).
pub const RIDGE_MIN_OBS: usize = 30;
/// Ridge penalty on the standardised regressors.
pub const RIDGE_ALPHA: f64 = 1.0;
/// Spread window (trading-day returns).
pub const SPREAD_WINDOW: usize = 180;
/// Minimum observations of a spread regression.
pub const SPREAD_MIN_OBS: usize = 60;
/// Window of the market and interest-rate OLS betas.
pub const OLS_WINDOW: usize = 90;
/// Minimum observations of the market and interest-rate OLS betas.
pub const OLS_MIN_OBS: usize = 30;
/// Betas are clipped to ±this.
pub const BETA_CAP: f64 = 5.0;

/// One stored factor exposure of one symbol on one calculation date.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FactorRow {
    /// Factor name (`"Value"`, `"Growth-Value Spread"`, `"Market Beta (90D)"`, …).
    pub factor: &'static str,
    /// `"ridge"`, `"spread"`, `"ols_market"` or `"ols_ir"`.
    pub method: &'static str,
    /// Beta clipped to ±5; `None` when not computable (see `reason`).
    pub beta: Option<f64>,
    /// In-sample R² (ridge: one value shared by the six rows).
    pub r_squared: Option<f64>,
    /// Aligned returns used.
    pub observations: i32,
    /// Window in trading-day returns.
    pub window: i32,
    /// t statistic of the beta (OLS methods).
    pub t_stat: Option<f64>,
    /// Two-sided p-value of the beta (OLS methods).
    pub p_value: Option<f64>,
    /// Standard error of the beta (OLS methods).
    pub std_error: Option<f64>,
    /// Intercept (OLS methods).
    pub alpha: Option<f64>,
    /// Spread tilt ([`tilt_label`]) or IR sensitivity ([`ir_label`]).
    pub label: Option<String>,
    /// Why `beta` is `None`.
    pub reason: Option<String>,
}

impl FactorRow {
    fn empty(factor: &'static str, method: &'static str, window: usize, obs: usize) -> Self {
        Self {
            factor,
            method,
            beta: None,
            r_squared: None,
            observations: to_i32(obs),
            window: to_i32(window),
            t_stat: None,
            p_value: None,
            std_error: None,
            alpha: None,
            label: None,
            reason: None,
        }
    }

    fn failed(mut self, reason: String) -> Self {
        self.reason = Some(reason);
        self
    }
}

fn to_i32(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

/// Spread tilt by |β|: > 0.5 `"strong"`, > 0.2 `"moderate"`, else `"neutral"`.
pub fn tilt_label(beta: f64) -> &'static str {
    let b = beta.abs();
    if b > 0.5 {
        "strong"
    } else if b > 0.2 {
        "moderate"
    } else {
        "neutral"
    }
}

/// Interest-rate sensitivity by |β|: < 0.05 very low, < 0.15 low, < 0.3
/// moderate, < 0.5 high, else very high.
pub fn ir_label(beta: f64) -> &'static str {
    let b = beta.abs();
    if b < 0.05 {
        "very low"
    } else if b < 0.15 {
        "low"
    } else if b < 0.3 {
        "moderate"
    } else if b < 0.5 {
        "high"
    } else {
        "very high"
    }
}

fn too_little(n: usize, min: usize) -> String {
    format!("too little history: {n} returns, need {min}")
}

/// Why some symbols have no prices (`"unavailable: unknown to file"`), by symbol: what a
/// "no prices for …" reason names beside each symbol.
pub type MissingNotes = std::collections::BTreeMap<String, String>;

/// Whether `table` holds no close of `symbol` up to index `end`.
pub fn has_no_prices(table: &PriceTable, symbol: &str, end: usize) -> bool {
    table
        .closes
        .get(symbol)
        .is_none_or(|c| c.iter().take(end.saturating_add(1)).all(Option::is_none))
}

/// The symbols of `needed` that have no prices up to `end`, as a reason naming each (with its
/// note, when `notes` has one).
fn missing_reason(
    table: &PriceTable,
    needed: &[&str],
    end: usize,
    notes: &MissingNotes,
) -> Option<String> {
    let missing: Vec<String> = needed
        .iter()
        .filter(|s| has_no_prices(table, s, end))
        .map(|s| match notes.get(*s) {
            Some(note) => format!("{s} ({note})"),
            None => (*s).to_owned(),
        })
        .collect();
    (!missing.is_empty()).then(|| format!("no prices for {}", missing.join(", ")))
}

/// All factor rows of one symbol for the calculation date at index `end` of
/// `table` (which must hold the symbol and the 8 ETFs SPY VTV VUG MTUM QUAL
/// IWM USMV TLT): 6 ridge rows, 4 spread rows, "Market Beta (90D)" and
/// "Interest Rate Beta", in that order (ANALYTICS §2). Non-finite → None
/// with a reason, never 0.
pub fn analyze_symbol(table: &PriceTable, symbol: &str, end: usize) -> Vec<FactorRow> {
    analyze_symbol_noting(table, symbol, end, &MissingNotes::new())
}

/// [`analyze_symbol`], with a row left empty for want of a symbol's prices saying why that
/// symbol has none (`notes`).
pub fn analyze_symbol_noting(
    table: &PriceTable,
    symbol: &str,
    end: usize,
    notes: &MissingNotes,
) -> Vec<FactorRow> {
    let mut rows = ridge_rows(table, symbol, end, notes);
    for (factor, long, short) in SPREADS {
        rows.push(spread_row(table, symbol, end, notes, (factor, long, short)));
    }
    rows.push(ols_row(
        table,
        symbol,
        end,
        notes,
        (MARKET_BETA_FACTOR, "ols_market", "SPY"),
    ));
    let mut ir = ols_row(table, symbol, end, notes, (IR_BETA_FACTOR, "ols_ir", "TLT"));
    ir.label = ir.beta.map(|b| ir_label(b).to_string());
    rows.push(ir);
    rows
}

fn ridge_rows(
    table: &PriceTable,
    symbol: &str,
    end: usize,
    notes: &MissingNotes,
) -> Vec<FactorRow> {
    let mut symbols = vec![symbol];
    symbols.extend(RIDGE_ETFS.iter().map(|(_, etf)| *etf));
    let (_, cols) = aligned_returns(table, &symbols, end, RIDGE_WINDOW);
    let n = cols.first().map_or(0, Vec::len);
    let base = |factor| FactorRow::empty(factor, "ridge", RIDGE_WINDOW, n);
    let min = RIDGE_MIN_OBS.max(RIDGE_ETFS.len() + 1);
    let failure = if let Some(reason) = missing_reason(table, &symbols, end, notes) {
        Err(reason)
    } else if n < min {
        Err(too_little(n, min))
    } else {
        let x = Array2::from_shape_fn((n, RIDGE_ETFS.len()), |(i, j)| cols[j + 1][i]);
        let y = ndarray::ArrayView1::from(&cols[0]);
        ridge_standardized(x.view(), y, RIDGE_ALPHA)
            .ok_or_else(|| "ridge not computable (a factor ETF has constant returns)".to_string())
    };
    match failure {
        Err(reason) => RIDGE_ETFS
            .iter()
            .map(|(f, _)| base(f).failed(reason.clone()))
            .collect(),
        Ok(fit) => RIDGE_ETFS
            .iter()
            .zip(&fit.betas)
            .map(|((f, _), b)| {
                let mut row = base(f);
                row.r_squared = finite(fit.r_squared);
                match finite(*b) {
                    Some(b) => row.beta = Some(b.clamp(-BETA_CAP, BETA_CAP)),
                    None => row.reason = Some("non-finite ridge beta".to_string()),
                }
                row
            })
            .collect(),
    }
}

/// Copies an OLS fit into a row (β clipped, non-finite fields dropped).
fn fill_ols(mut row: FactorRow, fit: &OlsFit) -> FactorRow {
    match finite(fit.beta) {
        Some(b) => row.beta = Some(b.clamp(-BETA_CAP, BETA_CAP)),
        None => return row.failed("non-finite beta".to_string()),
    }
    row.r_squared = finite(fit.r_squared);
    row.t_stat = finite(fit.t_stat);
    row.p_value = finite(fit.p_value);
    row.std_error = finite(fit.std_error);
    row.alpha = finite(fit.alpha);
    row
}

fn spread_row(
    table: &PriceTable,
    symbol: &str,
    end: usize,
    notes: &MissingNotes,
    (factor, long, short): (&'static str, &str, &str),
) -> FactorRow {
    let symbols = [symbol, long, short];
    let (_, cols) = aligned_returns(table, &symbols, end, SPREAD_WINDOW);
    let n = cols.first().map_or(0, Vec::len);
    let row = FactorRow::empty(factor, "spread", SPREAD_WINDOW, n);
    if let Some(reason) = missing_reason(table, &symbols, end, notes) {
        return row.failed(reason);
    }
    if n < SPREAD_MIN_OBS {
        return row.failed(too_little(n, SPREAD_MIN_OBS));
    }
    let spread: Vec<f64> = cols[1].iter().zip(&cols[2]).map(|(a, b)| a - b).collect();
    match ols_simple(&spread, &cols[0]) {
        Some(fit) => {
            let mut row = fill_ols(row, &fit);
            row.label = row.beta.map(|b| tilt_label(b).to_string());
            row
        }
        None => row.failed(format!("{long} − {short} spread is constant")),
    }
}

fn ols_row(
    table: &PriceTable,
    symbol: &str,
    end: usize,
    notes: &MissingNotes,
    (factor, method, etf): (&'static str, &'static str, &str),
) -> FactorRow {
    let symbols = [symbol, etf];
    let (_, cols) = aligned_returns(table, &symbols, end, OLS_WINDOW);
    let n = cols.first().map_or(0, Vec::len);
    let row = FactorRow::empty(factor, method, OLS_WINDOW, n);
    if let Some(reason) = missing_reason(table, &symbols, end, notes) {
        return row.failed(reason);
    }
    if n < OLS_MIN_OBS {
        return row.failed(too_little(n, OLS_MIN_OBS));
    }
    match ols_simple(&cols[1], &cols[0]) {
        Some(fit) => fill_ols(row, &fit),
        None => row.failed(format!("{etf} returns are constant")),
    }
}

#[cfg(test)]
mod tests;
