//! Simple daily returns and their alignment across symbols (ANALYTICS §0).
//!
//! Input is the [`PriceTable`] of closes on ascending trading days. A return
//! on day `t` needs a close on `t` and on `t − 1` (the previous row of the
//! table); windows count trading-day returns ending at the calculation date
//! **(fix)**, and a date enters a multi-symbol series only when every symbol
//! has a return on it.

use chrono::NaiveDate;

use crate::analytics::snapshots::PriceTable;

/// `r_t = P_t / P_{t−1} − 1`; `None` where either close is missing, not
/// positive or not finite. Same length as `closes`, `r_0 = None`.
pub fn simple_returns(closes: &[Option<f64>]) -> Vec<Option<f64>> {
    let mut out = Vec::with_capacity(closes.len());
    if !closes.is_empty() {
        out.push(None);
    }
    out.extend(closes.windows(2).map(|w| return_between(w[0], w[1])));
    out
}

/// The simple return from `prev` to `cur`, when both are usable closes.
pub(crate) fn return_between(prev: Option<f64>, cur: Option<f64>) -> Option<f64> {
    match (prev, cur) {
        (Some(p), Some(c)) if p > 0.0 && p.is_finite() && c.is_finite() => {
            let r = c / p - 1.0;
            r.is_finite().then_some(r)
        }
        _ => None,
    }
}

/// Aligned returns of several symbols over the last `window` trading-day
/// returns ending at index `end` (inclusive) of the table: only dates where
/// EVERY listed symbol has a return; returns (dates, one Vec per symbol).
/// Window counts trading-day returns (ANALYTICS §0 fix), i.e. it looks at the
/// `window` return dates ending at `end`, then drops dates where any symbol
/// lacks a return.
///
/// Empty (with one empty Vec per symbol) when `end` is outside the table,
/// `window` is 0 or a symbol is not in the table.
pub fn aligned_returns(
    table: &PriceTable,
    symbols: &[&str],
    end: usize,
    window: usize,
) -> (Vec<NaiveDate>, Vec<Vec<f64>>) {
    let mut out: Vec<Vec<f64>> = vec![Vec::new(); symbols.len()];
    let mut dates = Vec::new();
    if end >= table.dates.len() || window == 0 || end == 0 {
        return (dates, out);
    }
    let series: Option<Vec<&Vec<Option<f64>>>> =
        symbols.iter().map(|s| table.closes.get(*s)).collect();
    let Some(series) = series else {
        return (dates, out);
    };
    let first = end.saturating_sub(window - 1).max(1);
    let mut row = Vec::with_capacity(symbols.len());
    for t in first..=end {
        row.clear();
        for closes in &series {
            let prev = closes.get(t - 1).copied().flatten();
            let cur = closes.get(t).copied().flatten();
            match return_between(prev, cur) {
                Some(r) => row.push(r),
                None => break,
            }
        }
        if row.len() == symbols.len() {
            dates.push(table.dates[t]);
            for (col, r) in out.iter_mut().zip(&row) {
                col.push(*r);
            }
        }
    }
    (dates, out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn d(day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2025, 3, day).unwrap_or_default()
    }

    #[test]
    fn simple_returns_skip_missing_closes() {
        let r = simple_returns(&[Some(100.0), Some(110.0), None, Some(99.0), Some(99.0)]);
        assert_eq!(r.len(), 5);
        assert_eq!(r[0], None);
        assert!((r[1].unwrap_or(f64::NAN) - 0.1).abs() < 1e-15);
        assert_eq!(r[2], None);
        assert_eq!(r[3], None);
        assert_eq!(r[4], Some(0.0));
        assert!(simple_returns(&[]).is_empty());
        assert_eq!(simple_returns(&[Some(0.0), Some(1.0)]), vec![None, None]);
    }

    fn table() -> PriceTable {
        let mut closes = HashMap::new();
        closes.insert(
            "A".to_string(),
            vec![
                Some(10.0),
                Some(11.0),
                Some(12.0),
                Some(13.0),
                Some(14.0),
                Some(15.0),
            ],
        );
        closes.insert(
            "B".to_string(),
            vec![
                Some(20.0),
                Some(20.0),
                None,
                Some(21.0),
                Some(22.0),
                Some(23.0),
            ],
        );
        PriceTable {
            dates: (3..9).map(d).collect(),
            closes,
        }
    }

    #[test]
    fn aligned_returns_window_counts_return_dates_then_drops_gaps() {
        let t = table();
        // Window 4 ending at index 5 looks at return dates 2..=5; B has no
        // return on 2 (missing close) nor 3 (missing previous close).
        let (dates, cols) = aligned_returns(&t, &["A", "B"], 5, 4);
        assert_eq!(dates, vec![d(7), d(8)]);
        assert_eq!(cols.len(), 2);
        assert!((cols[0][0] - (14.0 / 13.0 - 1.0)).abs() < 1e-15);
        assert!((cols[1][1] - (23.0 / 22.0 - 1.0)).abs() < 1e-15);
        // A alone keeps all 4.
        let (dates, cols) = aligned_returns(&t, &["A"], 5, 4);
        assert_eq!(dates, vec![d(5), d(6), d(7), d(8)]);
        assert_eq!(cols[0].len(), 4);
        // The window never reaches before index 1.
        let (dates, _) = aligned_returns(&t, &["A"], 3, 100);
        assert_eq!(dates, vec![d(4), d(5), d(6)]);
    }

    #[test]
    fn aligned_returns_degenerate_inputs_are_empty() {
        let t = table();
        for (syms, end, window) in [
            (vec!["A", "Z"], 5, 3),
            (vec!["A"], 6, 3),
            (vec!["A"], 5, 0),
            (vec!["A"], 0, 3),
        ] {
            let (dates, cols) = aligned_returns(&t, &syms, end, window);
            assert!(dates.is_empty());
            assert_eq!(cols.len(), syms.len());
            assert!(cols.iter().all(Vec::is_empty));
        }
    }
}
