//! Per-symbol return and volatility metrics of phase 1.75 (ANALYTICS §3).
//!
//! Period returns are `P_d / P_ref − 1` where `P_ref` is the last close **on
//! or before** the reference date (previous trading day, last day of the
//! previous month, last day of the previous year, d − 30 / d − 91 / d − 365
//! calendar days) **(fix: the original required a close on the exact date)**.
//! Realised volatilities use the simple returns of the last 21 and 63
//! trading days. Profile fields are joined by the reader, not here.

use chrono::{Datelike, Duration, NaiveDate};
use serde::Serialize;

use crate::analytics::returns::return_between;
use crate::analytics::snapshots::PriceTable;
use crate::calendar;

/// Trading days per year used to annualise volatility.
pub const ANNUALISATION_DAYS: f64 = 252.0;
/// Returns in the short realised-volatility window.
pub const VOL_SHORT_WINDOW: usize = 21;
/// Returns in the long realised-volatility window.
pub const VOL_LONG_WINDOW: usize = 63;

/// One symbol's metrics on one date.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SymbolMetrics {
    /// Calculation date.
    pub date: NaiveDate,
    /// Close on `date`.
    pub close: Option<f64>,
    /// Return since the previous trading day's close.
    pub return_1d: Option<f64>,
    /// Return since the last close of the previous month.
    pub return_mtd: Option<f64>,
    /// Return since the last close of the previous year.
    pub return_ytd: Option<f64>,
    /// Return since the last close on or before d − 30 days.
    pub return_1m: Option<f64>,
    /// Return since the last close on or before d − 91 days.
    pub return_3m: Option<f64>,
    /// Return since the last close on or before d − 365 days.
    pub return_1y: Option<f64>,
    /// Annualised std (ddof 1) of the last 21 daily returns.
    pub volatility_21d: Option<f64>,
    /// Annualised std (ddof 1) of the last 63 daily returns.
    pub volatility_63d: Option<f64>,
}

/// Annualised realised volatility: sample std (ddof 1) × √252; `None` with
/// fewer than 2 returns or a non-finite result.
pub fn realized_vol(returns: &[f64]) -> Option<f64> {
    let n = returns.len();
    if n < 2 {
        return None;
    }
    let mean = returns.iter().sum::<f64>() / n as f64;
    let var = returns.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    let vol = (var * ANNUALISATION_DAYS).sqrt();
    vol.is_finite().then_some(vol)
}

/// The last close at an index `≤ end` whose date is on or before `reference`.
fn close_on_or_before(
    dates: &[NaiveDate],
    closes: &[Option<f64>],
    end: usize,
    reference: NaiveDate,
) -> Option<f64> {
    let upto = dates[..=end].partition_point(|d| *d <= reference);
    closes[..upto.min(closes.len())]
        .iter()
        .rev()
        .find_map(|c| c.filter(|p| p.is_finite() && *p > 0.0))
}

/// Realised volatility over the last `window` return slots ending at `end`;
/// `None` unless all `window` returns exist.
fn window_vol(closes: &[Option<f64>], end: usize, window: usize) -> Option<f64> {
    if end < window {
        return None;
    }
    let returns: Option<Vec<f64>> = (end + 1 - window..=end)
        .map(|t| return_between(closes.get(t - 1).copied()?, closes.get(t).copied()?))
        .collect();
    realized_vol(&returns?)
}

/// The reference dates of 1d, MTD, YTD, 1M, 3M and 1Y for `d`.
pub fn reference_dates(d: NaiveDate) -> [NaiveDate; 6] {
    let month_start = d.with_day(1).unwrap_or(d);
    let year_start = NaiveDate::from_ymd_opt(d.year(), 1, 1).unwrap_or(d);
    [
        calendar::previous_trading_day(d),
        month_start - Duration::days(1),
        year_start - Duration::days(1),
        d - Duration::days(30),
        d - Duration::days(91),
        d - Duration::days(365),
    ]
}

/// One symbol's metrics on the date at index `end` of `table`.
///
/// Returns are `P_d/P_ref − 1` with `P_ref` the last close ON OR BEFORE each
/// reference date ([`reference_dates`]); they are `None` when there is no
/// close on `d` or none on or before the reference date. Realised vol is the
/// std (ddof 1) of the last 21/63 simple returns × √252, `None` unless all of
/// them exist. An `end` outside the table gives all-`None` metrics dated on
/// the table's last date.
pub fn symbol_metrics(table: &PriceTable, symbol: &str, end: usize) -> SymbolMetrics {
    let date = table
        .dates
        .get(end)
        .or(table.dates.last())
        .copied()
        .unwrap_or_default();
    let mut m = SymbolMetrics {
        date,
        close: None,
        return_1d: None,
        return_mtd: None,
        return_ytd: None,
        return_1m: None,
        return_3m: None,
        return_1y: None,
        volatility_21d: None,
        volatility_63d: None,
    };
    let Some(closes) = table.closes.get(symbol) else {
        return m;
    };
    if end >= table.dates.len() || end >= closes.len() {
        return m;
    }
    m.volatility_21d = window_vol(closes, end, VOL_SHORT_WINDOW);
    m.volatility_63d = window_vol(closes, end, VOL_LONG_WINDOW);
    m.close = closes[end].filter(|p| p.is_finite() && *p > 0.0);
    let [d1, mtd, ytd, m1, m3, y1] = reference_dates(date).map(|reference| {
        let prior = close_on_or_before(&table.dates, closes, end, reference);
        return_between(prior, m.close)
    });
    m.return_1d = d1;
    m.return_mtd = mtd;
    m.return_ytd = ytd;
    m.return_1m = m1;
    m.return_3m = m3;
    m.return_1y = y1;
    m
}

#[cfg(test)]
mod tests;
