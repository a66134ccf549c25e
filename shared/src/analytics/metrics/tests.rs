use super::*;
use std::collections::HashMap;

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).expect("valid date")
}

/// Trading days 2022-11-01..2025-03-10; close at index i is 100 + i.
fn table(missing: &[NaiveDate]) -> PriceTable {
    let dates = calendar::trading_days(d(2022, 11, 1), d(2025, 3, 10));
    let closes = dates
        .iter()
        .enumerate()
        .map(|(i, day)| (!missing.contains(day)).then_some(100.0 + i as f64))
        .collect();
    PriceTable {
        dates,
        closes: HashMap::from([("X".to_string(), closes)]),
    }
}

fn idx(t: &PriceTable, day: NaiveDate) -> usize {
    t.dates
        .iter()
        .position(|x| *x == day)
        .expect("trading day in table")
}

fn expected(t: &PriceTable, end: NaiveDate, reference: NaiveDate) -> f64 {
    (100.0 + idx(t, end) as f64) / (100.0 + idx(t, reference) as f64) - 1.0
}

fn close_to(got: Option<f64>, want: f64) -> bool {
    got.is_some_and(|g| (g - want).abs() < 1e-14)
}

#[test]
fn ytd_on_first_trading_day_uses_december_31() {
    let t = table(&[]);
    let end = idx(&t, d(2025, 1, 2));
    let m = symbol_metrics(&t, "X", end);
    assert_eq!(m.date, d(2025, 1, 2));
    assert_eq!(m.close, Some(100.0 + end as f64));
    let want = expected(&t, d(2025, 1, 2), d(2024, 12, 31));
    assert!(close_to(m.return_ytd, want), "{m:?}");
    // Dec 31 is also the previous trading day, so 1d = ytd.
    assert!(close_to(m.return_1d, want));
    // MTD in January uses the same Dec 31 close.
    assert!(close_to(m.return_mtd, want));
}

#[test]
fn ytd_uses_last_trading_day_before_a_weekend_year_end() {
    // 2022-12-31 was a Saturday and 2023-01-02 a holiday.
    let t = table(&[]);
    let end = idx(&t, d(2023, 1, 3));
    let m = symbol_metrics(&t, "X", end);
    let want = expected(&t, d(2023, 1, 3), d(2022, 12, 30));
    assert!(close_to(m.return_ytd, want), "{m:?}");
    assert!(close_to(m.return_1d, want));
}

#[test]
fn a_missing_reference_close_falls_back_to_the_previous_close() {
    let t = table(&[d(2024, 12, 31), d(2025, 2, 28)]);
    let m = symbol_metrics(&t, "X", idx(&t, d(2025, 1, 2)));
    let want = expected(&t, d(2025, 1, 2), d(2024, 12, 30));
    assert!(close_to(m.return_ytd, want), "{m:?}");
    assert!(close_to(m.return_1d, want));
    let m = symbol_metrics(&t, "X", idx(&t, d(2025, 3, 5)));
    assert!(
        close_to(m.return_mtd, expected(&t, d(2025, 3, 5), d(2025, 2, 27))),
        "{m:?}"
    );
}

#[test]
fn calendar_offsets_use_on_or_before() {
    let t = table(&[]);
    let end = d(2025, 3, 10); // Monday
    let m = symbol_metrics(&t, "X", idx(&t, end));
    // d − 30 = 2025-02-08 (Sat) → Fri 02-07; d − 91 = 2024-12-09 (Mon);
    // d − 365 = 2024-03-10 (Sun) → Fri 03-08.
    assert!(
        close_to(m.return_1m, expected(&t, end, d(2025, 2, 7))),
        "{m:?}"
    );
    assert!(close_to(m.return_3m, expected(&t, end, d(2024, 12, 9))));
    assert!(close_to(m.return_1y, expected(&t, end, d(2024, 3, 8))));
    assert!(close_to(m.return_1d, expected(&t, end, d(2025, 3, 7))));
    assert!(close_to(m.return_mtd, expected(&t, end, d(2025, 2, 28))));
    assert!(close_to(m.return_ytd, expected(&t, end, d(2024, 12, 31))));
}

#[test]
fn no_close_on_the_date_or_before_the_reference_gives_none() {
    let t = table(&[d(2025, 3, 10)]);
    let m = symbol_metrics(&t, "X", idx(&t, d(2025, 3, 10)));
    assert_eq!(m.close, None);
    assert_eq!((m.return_1d, m.return_ytd, m.return_1y), (None, None, None));
    // Near the start of the table, the 1y reference predates every close.
    let t = table(&[]);
    let m = symbol_metrics(&t, "X", idx(&t, d(2023, 6, 1)));
    assert_eq!(m.return_1y, None);
    assert!(m.return_3m.is_some());
    // Unknown symbol or index: all None.
    let m = symbol_metrics(&t, "Y", 10);
    assert_eq!((m.close, m.volatility_21d), (None, None));
    let m = symbol_metrics(&t, "X", t.dates.len());
    assert_eq!(m.date, *t.dates.last().expect("dates"));
    assert_eq!(m.close, None);
}

#[test]
fn realised_vol_needs_the_full_window() {
    let t = table(&[]);
    let closes = &t.closes["X"];
    assert_eq!(symbol_metrics(&t, "X", 20).volatility_21d, None);
    let m = symbol_metrics(&t, "X", 21);
    let r: Vec<f64> = (1..=21)
        .map(|i| closes[i].unwrap_or(0.0) / closes[i - 1].unwrap_or(1.0) - 1.0)
        .collect();
    assert_eq!(m.volatility_21d, realized_vol(&r));
    assert!(m.volatility_21d.is_some());
    assert_eq!(m.volatility_63d, None);
    assert!(symbol_metrics(&t, "X", 63).volatility_63d.is_some());
    // A gap inside the window drops the vol.
    let t = table(&[d(2025, 3, 3)]);
    assert_eq!(
        symbol_metrics(&t, "X", idx(&t, d(2025, 3, 10))).volatility_21d,
        None
    );
    assert_eq!(realized_vol(&[0.01]), None);
    assert!(close_to(
        realized_vol(&[0.01, -0.01]),
        (2.0e-4_f64 * 252.0).sqrt()
    ));
}

#[test]
fn reference_dates_follow_the_contract() {
    assert_eq!(
        reference_dates(d(2025, 1, 2)),
        [
            d(2024, 12, 31),
            d(2024, 12, 31),
            d(2024, 12, 31),
            d(2024, 12, 3),
            d(2024, 10, 3),
            d(2024, 1, 3)
        ]
    );
}
