#![allow(clippy::unwrap_used)]

use super::*;
use crate::analytics::options::black_scholes;

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn assert_close(got: f64, want: f64, tol: f64, what: &str) {
    assert!(
        (got - want).abs() <= tol,
        "{what}: got {got}, want {want} (tol {tol})"
    );
}

fn stock(symbol: &str, qty: f64, entry: f64, entry_date: NaiveDate) -> PositionInput {
    PositionInput::stock(symbol, qty, entry, entry_date)
}

#[allow(clippy::too_many_arguments)]
fn option(
    symbol: &str,
    underlying: &str,
    position_type: PositionType,
    kind: OptionType,
    qty: f64,
    entry: f64,
    entry_date: NaiveDate,
    strike: f64,
    expiry: NaiveDate,
) -> PositionInput {
    PositionInput {
        investment_class: InvestmentClass::Options,
        position_type,
        underlying_symbol: Some(underlying.to_string()),
        strike_price: Some(strike),
        expiration_date: Some(expiry),
        option_type: Some(kind),
        ..stock(symbol, qty, entry, entry_date)
    }
}

/// Trading days 2024-01-02 … 2024-01-09 (weekdays).
fn jan_dates() -> Vec<NaiveDate> {
    [2, 3, 4, 5, 8, 9]
        .iter()
        .map(|d| date(2024, 1, *d))
        .collect()
}

fn table(dates: Vec<NaiveDate>, series: &[(&str, Vec<Option<f64>>)]) -> PriceTable {
    PriceTable {
        dates,
        closes: series
            .iter()
            .map(|(s, c)| ((*s).to_string(), c.clone()))
            .collect(),
    }
}

// ---- helpers -------------------------------------------------------

#[test]
fn long_call_market_value_cost_and_unrealized() {
    let mv = market_value(PositionType::Lc, 2.0, 5.0);
    let cost = cost_basis(PositionType::Lc, 2.0, 4.0);
    assert_eq!(mv, 1_000.0);
    assert_eq!(cost, 800.0);
    assert_eq!(mv - cost, 200.0);
    assert_eq!(market_value(PositionType::Long, 3.0, 10.0), 30.0);
    assert_eq!(market_value(PositionType::Short, -3.0, 10.0), -30.0);
}

#[test]
fn cash_gross_and_net_known_answer() {
    let (equity, long, short) = (3_532_423.13, 3_697_052.01, -1_181_680.54);
    assert_close(cash_value(equity, long, short), 1_017_051.66, 1e-6, "cash");
    assert_close(gross_exposure(long, short), 4_878_732.55, 1e-6, "gross");
    assert_close(net_exposure(long, short), 2_515_371.47, 1e-6, "net");
    // Cash is floored at zero.
    assert_eq!(cash_value(100.0, 500.0, 0.0), 0.0);
}

#[test]
fn hhi_to_effective_positions() {
    let eff = effective_num_positions(945.6026).unwrap();
    assert_eq!((eff * 100.0).round() / 100.0, 10.58);
    assert_eq!(effective_num_positions(0.0), None);
}

#[test]
fn concentration_metrics() {
    // 4 equal weights: hhi 2500, effective 4, top-3 0.75, top-10 1.
    let c = concentration(&[10.0, -10.0, 10.0, 10.0]).unwrap();
    assert_close(c.hhi, 2_500.0, 1e-9, "hhi");
    assert_close(c.effective_num_positions, 4.0, 1e-12, "eff");
    assert_close(c.top_3, 0.75, 1e-12, "top3");
    assert_close(c.top_10, 1.0, 1e-12, "top10");
    // Weights 0.5, 0.3, 0.1, 0.1.
    let c = concentration(&[50.0, 10.0, 30.0, 10.0]).unwrap();
    assert_close(c.hhi, 3_600.0, 1e-9, "hhi");
    assert_close(c.top_3, 0.9, 1e-12, "top3");
    assert_eq!(concentration(&[]), None);
    assert_eq!(concentration(&[0.0, 0.0]), None);
}

#[test]
fn sector_rules() {
    let d = date(2024, 1, 2);
    let mut p = stock("AAPL", 1.0, 1.0, d);
    assert_eq!(sector_of(&p), UNCLASSIFIED_SECTOR);
    p.sector = Some("Technology".into());
    assert_eq!(sector_of(&p), "Technology");
    p.sector = Some("  ".into());
    assert_eq!(sector_of(&p), UNCLASSIFIED_SECTOR);
    p.sector = Some("Technology".into());
    p.investment_class = InvestmentClass::Private;
    assert_eq!(sector_of(&p), UNCLASSIFIED_SECTOR);
    let mut o = option(
        "X",
        "AAPL",
        PositionType::Lc,
        OptionType::Call,
        1.0,
        1.0,
        d,
        1.0,
        d,
    );
    o.sector = Some("Technology".into());
    assert_eq!(sector_of(&o), UNCLASSIFIED_SECTOR);
}

#[test]
fn realized_vol_window() {
    // Alternating +1% / −1% returns.
    let mut closes = vec![Some(100.0)];
    for i in 0..80 {
        let last = closes[i].unwrap();
        closes.push(Some(if i % 2 == 0 { last * 1.01 } else { last * 0.99 }));
    }
    // 63 returns ending at 80: indices 18..=80 → 32 of +1% (even i−1) …
    let v = realized_vol_63(&closes, 80).unwrap();
    let rets: Vec<f64> = (18..=80)
        .map(|j| closes[j].unwrap() / closes[j - 1].unwrap() - 1.0)
        .collect();
    assert_eq!(rets.len(), 63);
    let mean = rets.iter().sum::<f64>() / 63.0;
    let var = rets.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / 62.0;
    assert_close(v, var.sqrt() * 252f64.sqrt(), 1e-14, "vol");
    assert_close(v, 0.01 * 252f64.sqrt() * (63.0f64 / 62.0).sqrt(), 1e-4, "≈");
    // 19 returns → None, 20 → Some.
    assert_eq!(realized_vol_63(&closes, 19), None);
    assert!(realized_vol_63(&closes, 20).is_some());
    // Gaps remove both adjacent returns.
    let mut gappy = closes.clone();
    gappy[10] = None;
    assert_eq!(realized_vol_63(&gappy, 21), None); // 21 − 2 = 19 returns
    assert!(realized_vol_63(&gappy, 22).is_some());
    assert_eq!(realized_vol_63(&closes, 81), None);
    assert_eq!(realized_vol_63(&closes, 0), None);
}

// ---- snapshots -----------------------------------------------------

/// Hand-computed 3-day, 3-position example.
///
/// AAPL +10 @100 (Jan 2, Technology), closes 101, 103, —, 106;
/// TSLA −5 @200 entered Jan 4 (no sector), closes 210, 205, 198, 202;
/// MSFT +4 @50 (Jan 2, Technology), exits Jan 5 @55, closes 51, 52, 53, 54.
#[test]
fn three_day_three_position_example() {
    let dates = jan_dates();
    let prices = table(
        dates.clone(),
        &[
            ("AAPL", vec![Some(101.0), Some(103.0), None, Some(106.0)]),
            (
                "TSLA",
                vec![Some(210.0), Some(205.0), Some(198.0), Some(202.0)],
            ),
            ("MSFT", vec![Some(51.0), Some(52.0), Some(53.0), Some(54.0)]),
        ],
    );
    let mut aapl = stock("AAPL", 10.0, 100.0, date(2024, 1, 2));
    aapl.sector = Some("Technology".into());
    let tsla = stock("TSLA", -5.0, 200.0, date(2024, 1, 4));
    let mut msft = stock("MSFT", 4.0, 50.0, date(2024, 1, 2));
    msft.sector = Some("Technology".into());
    msft.exit_date = Some(date(2024, 1, 5));
    msft.exit_price = Some(55.0);
    let days = &dates[1..4];
    let rows = compute_snapshots(
        &[aapl, tsla, msft],
        &prices,
        days,
        &SnapshotParams::new(10_000.0),
    );
    assert_eq!(rows.len(), 3);

    // Jan 3: AAPL (103−101)·10 = 20, MSFT (52−51)·4 = 4.
    let r = &rows[0];
    assert_eq!(r.date, date(2024, 1, 3));
    assert_close(r.daily_pnl, 24.0, 1e-9, "d1 pnl");
    assert_eq!(r.daily_realized_pnl, 0.0);
    assert_close(r.equity_balance, 10_024.0, 1e-9, "d1 equity");
    assert_eq!(r.total_value, r.equity_balance);
    assert_close(r.daily_return.unwrap(), 0.0024, 1e-12, "d1 ret");
    assert_close(r.cumulative_pnl, 24.0, 1e-9, "d1 cum");
    assert_close(r.cumulative_return.unwrap(), 0.0024, 1e-12, "d1 cumret");
    assert_close(r.long_value, 1_238.0, 1e-9, "d1 long");
    assert_eq!(r.short_value, 0.0);
    assert_close(r.gross_exposure, 1_238.0, 1e-9, "d1 gross");
    assert_close(r.net_exposure, 1_238.0, 1e-9, "d1 net");
    assert_close(r.cash_value, 8_786.0, 1e-9, "d1 cash");
    assert_eq!((r.num_positions, r.num_long, r.num_short), (2, 2, 0));
    assert_close(r.hhi.unwrap(), 7_204.308_371_676_658, 1e-8, "d1 hhi");
    assert_close(
        r.effective_num_positions.unwrap(),
        10_000.0 / 7_204.308_371_676_658,
        1e-10,
        "d1 eff",
    );
    assert_close(r.top_3_concentration.unwrap(), 1.0, 1e-12, "d1 top3");
    assert_close(r.top_10_concentration.unwrap(), 1.0, 1e-12, "d1 top10");
    assert_eq!(r.sector_exposure.len(), 1);
    assert_close(
        r.sector_exposure["Technology"],
        1_238.0 / 10_024.0,
        1e-12,
        "d1 tech",
    );
    assert_eq!(r.max_price_staleness_days, 0);
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);

    // Jan 4: AAPL stale at 103 → 0; TSLA entry day (198−200)·(−5) = +10;
    // MSFT (53−52)·4 = 4.
    let r = &rows[1];
    assert_close(r.daily_pnl, 14.0, 1e-9, "d2 pnl");
    assert_close(r.equity_balance, 10_038.0, 1e-9, "d2 equity");
    assert_close(r.daily_return.unwrap(), 14.0 / 10_024.0, 1e-15, "d2 ret");
    assert_close(r.long_value, 1_242.0, 1e-9, "d2 long");
    assert_close(r.short_value, -990.0, 1e-9, "d2 short");
    assert_close(r.gross_exposure, 2_232.0, 1e-9, "d2 gross");
    assert_close(r.net_exposure, 252.0, 1e-9, "d2 net");
    assert_close(r.cash_value, 9_786.0, 1e-9, "d2 cash");
    assert_eq!((r.num_positions, r.num_long, r.num_short), (3, 2, 1));
    assert_close(r.hhi.unwrap(), 4_187.108_978_558_857, 1e-8, "d2 hhi");
    assert_close(
        r.top_3_concentration.unwrap(),
        1.0,
        1e-12,
        "d2 top3 (3 symbols)",
    );
    assert_close(
        r.sector_exposure["Technology"],
        1_242.0 / 10_038.0,
        1e-12,
        "d2 tech",
    );
    assert_close(
        r.sector_exposure[UNCLASSIFIED_SECTOR],
        990.0 / 10_038.0,
        1e-12,
        "d2 unclassified",
    );
    assert_eq!(r.max_price_staleness_days, 1);

    // Jan 5: AAPL (106−103)·10 = 30; TSLA (202−198)·(−5) = −20;
    // MSFT exits: realized (55−53)·4 = 8, no longer counted.
    let r = &rows[2];
    assert_close(r.daily_pnl, 18.0, 1e-9, "d3 pnl");
    assert_close(r.daily_realized_pnl, 8.0, 1e-9, "d3 realized");
    assert_close(r.equity_balance, 10_056.0, 1e-9, "d3 equity");
    assert_close(r.cumulative_pnl, 56.0, 1e-9, "d3 cum");
    assert_close(r.cumulative_return.unwrap(), 0.0056, 1e-12, "d3 cumret");
    assert_close(r.long_value, 1_060.0, 1e-9, "d3 long");
    assert_close(r.short_value, -1_010.0, 1e-9, "d3 short");
    assert_close(r.gross_exposure, 2_070.0, 1e-9, "d3 gross");
    assert_close(r.net_exposure, 50.0, 1e-9, "d3 net");
    assert_close(r.cash_value, 10_006.0, 1e-9, "d3 cash");
    assert_eq!((r.num_positions, r.num_long, r.num_short), (2, 1, 1));
    assert_close(r.hhi.unwrap(), 5_002.917_220_938_645, 1e-8, "d3 hhi");
    assert_close(
        r.sector_exposure["Technology"],
        1_060.0 / 10_056.0,
        1e-12,
        "d3 tech",
    );
    assert_eq!(r.max_price_staleness_days, 0);
}

#[test]
fn short_position_gains_when_price_falls() {
    let dates = jan_dates();
    let prices = table(dates.clone(), &[("XYZ", vec![Some(50.0), Some(48.0)])]);
    let p = stock("XYZ", -10.0, 55.0, date(2023, 12, 1));
    let rows = compute_snapshots(&[p], &prices, &dates[1..2], &SnapshotParams::new(1_000.0));
    assert_close(rows[0].daily_pnl, 20.0, 1e-12, "short pnl");
    assert_close(rows[0].short_value, -480.0, 1e-12, "short value");
    assert_close(rows[0].cash_value, 1_020.0 + 480.0, 1e-9, "cash");
    assert_eq!((rows[0].num_long, rows[0].num_short), (0, 1));
}

#[test]
fn entry_day_pnl_is_from_entry_price() {
    let dates = jan_dates();
    let prices = table(
        dates.clone(),
        &[("XYZ", vec![Some(40.0), Some(41.0), Some(43.0)])],
    );
    let p = stock("XYZ", 100.0, 40.5, date(2024, 1, 3));
    let rows = compute_snapshots(&[p], &prices, &dates[0..3], &SnapshotParams::new(10_000.0));
    assert_eq!(rows[0].num_positions, 0);
    assert_eq!(rows[0].daily_pnl, 0.0);
    assert_close(rows[1].daily_pnl, 50.0, 1e-9, "entry day (41−40.5)·100");
    assert_close(rows[2].daily_pnl, 200.0, 1e-9, "next day (43−41)·100");
    // A weekend entry is taken from entry price on the next trading day.
    let p = stock("XYZ", 100.0, 40.5, date(2024, 1, 6));
    let prices = table(
        dates.clone(),
        &[("XYZ", vec![None, None, None, Some(40.0), Some(42.0)])],
    );
    let rows = compute_snapshots(&[p], &prices, &dates[3..5], &SnapshotParams::new(0.0));
    assert_eq!(rows[0].num_positions, 0);
    assert_close(rows[1].daily_pnl, 150.0, 1e-9, "(42−40.5)·100");
    // B = 0: no returns.
    assert_eq!(rows[1].daily_return, None);
    assert_eq!(rows[1].cumulative_return, None);
}

#[test]
fn exit_is_booked_as_realized() {
    let dates = jan_dates();
    let prices = table(
        dates.clone(),
        &[("XYZ", vec![Some(10.0), Some(11.0), Some(12.0), Some(9.0)])],
    );
    // Exit with a price: (12.5 − 11)·100 on Jan 4.
    let mut a = stock("XYZ", 100.0, 10.0, date(2024, 1, 2));
    a.exit_date = Some(date(2024, 1, 4));
    a.exit_price = Some(12.5);
    // Exit without a price: P_d used, (12 − 11)·(−50).
    let mut b = stock("XYZ", -50.0, 10.0, date(2024, 1, 2));
    b.exit_date = Some(date(2024, 1, 4));
    let rows = compute_snapshots(
        &[a, b],
        &prices,
        &dates[1..4],
        &SnapshotParams::new(5_000.0),
    );
    assert_close(rows[0].daily_pnl, 100.0 - 50.0, 1e-9, "day before exit");
    assert_eq!(rows[0].num_positions, 2);
    let r = &rows[1];
    assert_close(r.daily_realized_pnl, 150.0 - 50.0, 1e-9, "realized");
    assert_close(r.daily_pnl, 100.0, 1e-9, "pnl includes realized");
    assert_eq!(r.num_positions, 0);
    assert_eq!(r.gross_exposure, 0.0);
    assert_eq!(r.hhi, None);
    assert!(r.sector_exposure.is_empty());
    assert_close(r.cash_value, 5_150.0, 1e-9, "all cash");
    // Nothing after the exit.
    assert_eq!(rows[2].daily_pnl, 0.0);
    assert_eq!(rows[2].daily_realized_pnl, 0.0);
    // Entered and exited between snapshots' days: (exit − entry).
    let mut c = stock("XYZ", 10.0, 10.0, date(2024, 1, 6));
    c.exit_date = Some(date(2024, 1, 7));
    c.exit_price = Some(13.0);
    let rows = compute_snapshots(&[c], &prices, &dates[4..5], &SnapshotParams::new(1.0));
    assert_close(rows[0].daily_realized_pnl, 30.0, 1e-9, "round trip");
    assert_eq!(rows[0].num_positions, 0);
}

#[test]
fn missing_close_is_forward_filled_with_staleness() {
    let dates = jan_dates();
    let prices = table(
        dates.clone(),
        &[
            ("A", vec![Some(10.0), None, None, None, Some(14.0)]),
            (
                "B",
                vec![Some(5.0), Some(5.0), Some(5.0), Some(6.0), Some(6.0)],
            ),
        ],
    );
    let a = stock("A", 1.0, 10.0, date(2024, 1, 2));
    let b = stock("B", 1.0, 5.0, date(2024, 1, 2));
    let rows = compute_snapshots(&[a, b], &prices, &dates[1..5], &SnapshotParams::new(100.0));
    let stale: Vec<i32> = rows.iter().map(|r| r.max_price_staleness_days).collect();
    assert_eq!(stale, vec![1, 2, 3, 0]);
    let pnl: Vec<f64> = rows.iter().map(|r| r.daily_pnl).collect();
    assert_eq!(pnl, vec![0.0, 0.0, 1.0, 4.0]);
    assert_close(rows[2].long_value, 16.0, 1e-12, "stale A at 10 + B 6");
    // A symbol with no close at all: entry price and one warning.
    let c = stock("NOPE", 3.0, 7.0, date(2024, 1, 2));
    let rows = compute_snapshots(&[c], &prices, &dates[1..5], &SnapshotParams::new(100.0));
    assert!(rows.iter().all(|r| r.daily_pnl == 0.0));
    assert_close(rows[3].long_value, 21.0, 1e-12, "entry-price mark");
    let warnings: usize = rows.iter().map(|r| r.warnings.len()).sum();
    assert_eq!(warnings, 1);
    assert!(rows[0].warnings[0].contains("NOPE"));
}

#[test]
fn option_by_black_scholes_then_intrinsic_then_inactive() {
    let dates = jan_dates();
    let prices = table(
        dates.clone(),
        &[(
            "XYZ",
            vec![
                Some(100.0),
                Some(101.0),
                Some(102.0),
                Some(103.0),
                Some(105.0),
                Some(104.0),
            ],
        )],
    );
    let expiry = date(2024, 1, 8);
    let lc = option(
        "XYZ240108C100",
        "XYZ",
        PositionType::Lc,
        OptionType::Call,
        2.0,
        1.5,
        date(2024, 1, 3),
        100.0,
        expiry,
    );
    let rows = compute_snapshots(&[lc], &prices, &dates[1..6], &SnapshotParams::new(50_000.0));
    let bs =
        |s: f64, days: f64| black_scholes(OptionType::Call, s, 100.0, days / 365.0, 0.04, 0.30);
    let v3 = bs(101.0, 5.0);
    let v4 = bs(102.0, 4.0);
    let v5 = bs(103.0, 3.0);
    // Known values (mpmath): S 101 T 5/365 and S 102 T 4/365, σ 0.30, r 0.04.
    assert_close(v3.value, 1.997_150_447_733_041, 1e-10, "V(Jan 3)");
    assert_close(v4.value, 2.541_001_272_199_05, 1e-10, "V(Jan 4)");
    assert_close(v4.delta, 0.745_439_968_341_606, 1e-10, "delta(Jan 4)");

    // Entry day: (V − entry)·qty·100.
    assert_close(rows[0].daily_pnl, (v3.value - 1.5) * 200.0, 1e-9, "entry");
    assert_close(
        rows[1].daily_pnl,
        (v4.value - v3.value) * 200.0,
        1e-9,
        "Jan 4",
    );
    assert_close(
        rows[1].long_value,
        v4.delta * 102.0 * 200.0,
        1e-9,
        "exposure",
    );
    assert_close(rows[1].hhi.unwrap(), 10_000.0, 1e-9, "single symbol hhi");
    assert_close(
        rows[2].daily_pnl,
        (v5.value - v4.value) * 200.0,
        1e-9,
        "Jan 5",
    );
    // Expiry day: intrinsic 5 → mv 1,000; delta 1 → exposure 105·200.
    assert_close(rows[3].daily_pnl, (5.0 - v5.value) * 200.0, 1e-9, "expiry");
    assert_close(rows[3].long_value, 21_000.0, 1e-9, "expiry exposure");
    assert_close(rows[3].cumulative_pnl, (5.0 - 1.5) * 200.0, 1e-9, "cum");
    assert_eq!(rows[3].num_positions, 1);
    assert_eq!(rows[3].sector_exposure.len(), 1);
    assert_close(
        rows[3].sector_exposure[UNCLASSIFIED_SECTOR],
        1_000.0 / rows[3].equity_balance,
        1e-12,
        "option sector",
    );
    // After expiry: inactive, no P&L.
    assert_eq!(rows[4].num_positions, 0);
    assert_eq!(rows[4].daily_pnl, 0.0);
    assert_eq!(rows[4].gross_exposure, 0.0);
    // Under 20 returns: default vol, one warning for the whole run.
    let warnings: Vec<&String> = rows.iter().flat_map(|r| &r.warnings).collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(!rows[0].warnings.is_empty());
    assert!(warnings[0].contains("default volatility"));
}

#[test]
fn option_uses_realized_vol_with_enough_history() {
    // 30 trading days of alternating closes, then price the option.
    let start = date(2024, 2, 1);
    let dates: Vec<NaiveDate> = (0..30).map(|i| start + chrono::Days::new(i)).collect();
    let closes: Vec<Option<f64>> = (0..30)
        .map(|i| Some(if i % 2 == 0 { 100.0 } else { 102.0 }))
        .collect();
    let prices = table(dates.clone(), &[("XYZ", closes.clone())]);
    let expiry = date(2024, 6, 21);
    let sp = option(
        "XYZP",
        "XYZ",
        PositionType::Sp,
        OptionType::Put,
        -3.0,
        4.0,
        date(2024, 1, 2),
        100.0,
        expiry,
    );
    let d = dates[29];
    let rows = compute_snapshots(
        std::slice::from_ref(&sp),
        &prices,
        &[d],
        &SnapshotParams::new(10_000.0),
    );
    let sigma = realized_vol_63(&closes, 29).unwrap();
    let q = option_quote_on(OptionType::Put, 102.0, 100.0, expiry, d, 0.04, sigma).unwrap();
    let q_prev = option_quote_on(
        OptionType::Put,
        100.0,
        100.0,
        expiry,
        dates[28],
        0.04,
        realized_vol_63(&closes, 28).unwrap(),
    )
    .unwrap();
    assert_close(
        rows[0].daily_pnl,
        (q.value - q_prev.value) * -300.0,
        1e-9,
        "pnl",
    );
    // Short put: delta < 0, qty < 0 → positive exposure.
    assert_close(
        rows[0].long_value,
        q.delta * 102.0 * -300.0,
        1e-9,
        "exposure",
    );
    assert!(rows[0].warnings.is_empty(), "{:?}", rows[0].warnings);
    assert_eq!((rows[0].num_long, rows[0].num_short), (0, 1));
}

#[test]
fn private_positions_are_flat() {
    let dates = jan_dates();
    let prices = table(
        dates.clone(),
        &[("FUND", vec![Some(1.0), Some(2.0), Some(3.0)])],
    );
    let mut p = stock("FUND", 1_000.0, 10.0, date(2024, 1, 3));
    p.investment_class = InvestmentClass::Private;
    p.sector = Some("Real Estate".into());
    let rows = compute_snapshots(&[p], &prices, &dates[1..4], &SnapshotParams::new(20_000.0));
    for r in &rows {
        assert_eq!(r.daily_pnl, 0.0);
        assert_eq!(r.long_value, 10_000.0);
        assert_eq!(r.num_positions, 1);
        assert_eq!(r.equity_balance, 20_000.0);
        assert_eq!(r.cash_value, 10_000.0);
        assert_eq!(r.sector_exposure[UNCLASSIFIED_SECTOR], 0.5);
        assert_eq!(r.max_price_staleness_days, 0);
        assert!(r.warnings.is_empty());
    }
}

#[test]
fn equity_roll_with_and_without_prior() {
    let dates = jan_dates();
    let prices = table(
        dates.clone(),
        &[("A", vec![Some(10.0), Some(11.0), Some(9.0)])],
    );
    let p = stock("A", 100.0, 10.0, date(2024, 1, 2));
    let days = &dates[1..3];
    let base = SnapshotParams::new(1_000.0);
    let rows = compute_snapshots(std::slice::from_ref(&p), &prices, days, &base);
    assert_close(rows[0].equity_balance, 1_100.0, 1e-9, "E1");
    assert_close(rows[1].equity_balance, 900.0, 1e-9, "E2");
    assert_close(rows[1].daily_return.unwrap(), -200.0 / 1_100.0, 1e-15, "r2");
    assert_close(rows[1].cumulative_pnl, -100.0, 1e-9, "cum");
    assert_close(rows[1].cumulative_return.unwrap(), -0.1, 1e-12, "cumret");

    let with_prior = SnapshotParams {
        prior: Some(PriorSnapshot {
            date: date(2024, 1, 2),
            equity: 1_500.0,
            cumulative_pnl: 500.0,
        }),
        ..base
    };
    let rows = compute_snapshots(&[p], &prices, days, &with_prior);
    assert_close(rows[0].equity_balance, 1_600.0, 1e-9, "E1 prior");
    assert_close(
        rows[0].daily_return.unwrap(),
        100.0 / 1_500.0,
        1e-15,
        "r1 prior",
    );
    assert_close(rows[0].cumulative_pnl, 600.0, 1e-9, "cum1 prior");
    assert_close(rows[1].equity_balance, 1_400.0, 1e-9, "E2 prior");
    assert_close(rows[1].cumulative_pnl, 400.0, 1e-9, "cum2 prior");
    assert_close(
        rows[1].cumulative_return.unwrap(),
        0.4,
        1e-12,
        "cumret vs B",
    );
    assert!(rows[0].warnings.is_empty());

    // Non-positive previous equity: no daily return, no sector exposure.
    let broke = SnapshotParams {
        prior: Some(PriorSnapshot {
            date: date(2024, 1, 2),
            equity: -50.0,
            cumulative_pnl: 0.0,
        }),
        ..base
    };
    let rows = compute_snapshots(
        &[stock("A", 1.0, 10.0, date(2024, 1, 2))],
        &prices,
        days,
        &broke,
    );
    assert_eq!(rows[0].daily_return, None);
    assert!(rows[0].sector_exposure.is_empty());
    assert_eq!(rows[0].cash_value, 0.0);
}

#[test]
fn skipped_and_non_trading_days() {
    let dates = jan_dates();
    let prices = table(
        dates.clone(),
        &[("A", vec![Some(10.0), Some(11.0), Some(12.0), Some(14.0)])],
    );
    let p = stock("A", 1.0, 10.0, date(2024, 1, 2));
    // Jan 4 skipped: its P&L lands on Jan 5; Saturday Jan 6 repeats Jan 5.
    let days = [date(2024, 1, 3), date(2024, 1, 5), date(2024, 1, 6)];
    let rows = compute_snapshots(&[p], &prices, &days, &SnapshotParams::new(100.0));
    assert_eq!(rows[0].daily_pnl, 1.0);
    assert_eq!(rows[1].daily_pnl, 3.0);
    assert_eq!(rows[2].daily_pnl, 0.0);
    assert_eq!(rows[2].equity_balance, 104.0);
    assert_eq!(rows[2].long_value, 14.0);
    assert_eq!(rows[2].warnings.len(), 1);
    // A day before the table: a row with nothing in it.
    let rows = compute_snapshots(
        &[],
        &prices,
        &[date(2023, 12, 29)],
        &SnapshotParams::new(7.0),
    );
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].equity_balance, 7.0);
    assert_eq!(rows[0].warnings.len(), 1);
    assert!(compute_snapshots(&[], &prices, &[], &SnapshotParams::new(7.0)).is_empty());
}

#[test]
fn non_finite_inputs_are_skipped_with_a_warning() {
    let dates = jan_dates();
    let prices = table(dates.clone(), &[("A", vec![Some(10.0), Some(11.0)])]);
    let good = stock("A", 1.0, 10.0, date(2024, 1, 2));
    let bad = stock("A", f64::NAN, 10.0, date(2024, 1, 2));
    let rows = compute_snapshots(
        &[good, bad],
        &prices,
        &dates[1..2],
        &SnapshotParams::new(100.0),
    );
    assert_eq!(rows[0].daily_pnl, 1.0);
    assert_eq!(rows[0].num_positions, 1);
    assert_eq!(rows[0].warnings.len(), 1);
}

// ---- current values ------------------------------------------------

#[test]
fn position_values_for_stocks_options_and_private() {
    let dates = jan_dates();
    let prices = table(
        dates.clone(),
        &[
            (
                "XYZ",
                vec![
                    Some(100.0),
                    Some(101.0),
                    Some(102.0),
                    Some(103.0),
                    Some(105.0),
                ],
            ),
            ("OLD", vec![Some(20.0), None, None, None, None, None]),
            (
                "STALE",
                vec![Some(30.0), Some(31.0), None, None, None, None],
            ),
        ],
    );
    let expiry = date(2024, 1, 8);
    let lc = option(
        "C",
        "XYZ",
        PositionType::Lc,
        OptionType::Call,
        2.0,
        4.0,
        date(2024, 1, 2),
        100.0,
        expiry,
    );
    let sp = option(
        "P",
        "XYZ",
        PositionType::Sp,
        OptionType::Put,
        -1.0,
        5.0,
        date(2024, 1, 2),
        100.0,
        date(2024, 2, 7),
    );
    let mut private = stock("PRIV", 10.0, 50.0, date(2024, 1, 2));
    private.investment_class = InvestmentClass::Private;
    let long = stock("XYZ", 10.0, 90.0, date(2024, 1, 2));
    let stale = stock("STALE", 1.0, 30.0, date(2024, 1, 2));
    let old = stock("OLD", 1.0, 20.0, date(2024, 1, 2));
    let mut closed = stock("XYZ", 1.0, 90.0, date(2024, 1, 2));
    closed.exit_date = Some(expiry);
    let future = stock("XYZ", 1.0, 90.0, date(2024, 1, 9));
    let all = [
        lc.clone(),
        sp.clone(),
        private.clone(),
        long.clone(),
        stale.clone(),
        old.clone(),
        closed,
        future,
    ];
    let params = SnapshotParams::new(0.0);
    let vals = position_values(&all, &prices, expiry, &params);
    assert_eq!(vals.len(), 6, "closed and future positions excluded");

    // LC on its expiry day: intrinsic 5 → mv 1,000, cost 800, unrealized 200.
    let v = &vals[0];
    assert_eq!(v.position_id, lc.id);
    assert_eq!(v.last_price, Some(5.0));
    assert_eq!(v.price_date, Some(expiry));
    assert_eq!(v.market_value, Some(1_000.0));
    assert_eq!(v.cost_basis, 800.0);
    assert_eq!(v.unrealized_pnl, Some(200.0));
    assert_eq!(v.delta, Some(1.0));
    assert_eq!(v.exposure, Some(21_000.0));

    // SP, 30 days to expiry, default vol (4 returns): BS put at S 105.
    let v = &vals[1];
    let q = black_scholes(OptionType::Put, 105.0, 100.0, 30.0 / 365.0, 0.04, 0.30);
    assert_close(v.last_price.unwrap(), q.value, 1e-12, "put value");
    assert_close(v.market_value.unwrap(), -100.0 * q.value, 1e-9, "put mv");
    assert_eq!(v.cost_basis, -500.0);
    assert_close(
        v.unrealized_pnl.unwrap(),
        500.0 - 100.0 * q.value,
        1e-9,
        "put pnl",
    );
    assert_close(
        v.exposure.unwrap(),
        q.delta * 105.0 * -100.0,
        1e-9,
        "put exposure",
    );
    assert!(v.exposure.unwrap() > 0.0);

    // Private: entry price, no P&L.
    let v = &vals[2];
    assert_eq!(v.market_value, Some(500.0));
    assert_eq!(v.unrealized_pnl, Some(0.0));
    assert_eq!(v.price_date, None);

    // Stock with a close on d.
    let v = &vals[3];
    assert_eq!((v.last_price, v.price_date), (Some(105.0), Some(expiry)));
    assert_eq!(v.unrealized_pnl, Some(150.0));
    assert_eq!(v.exposure, Some(1_050.0));
    assert_eq!(v.delta, None);

    // Newest close within the previous 5 trading days (Jan 3).
    let v = &vals[4];
    assert_eq!(
        (v.last_price, v.price_date),
        (Some(31.0), Some(date(2024, 1, 3)))
    );
    // Jan 2 is 4 trading days before Jan 8: still within the window.
    let v = &vals[5];
    assert_eq!(
        (v.last_price, v.price_date),
        (Some(20.0), Some(date(2024, 1, 2)))
    );
    assert_eq!(v.unrealized_pnl, Some(0.0));

    // After expiry the LC is no longer open.
    let vals = position_values(&all, &prices, date(2024, 1, 9), &params);
    assert_eq!(vals.len(), 6);
    assert!(vals.iter().all(|v| v.position_id != lc.id));
}

#[test]
fn position_values_five_trading_day_window() {
    let dates = weekdays(10);
    let mut closes = vec![None; 10];
    closes[0] = Some(20.0);
    let prices = table(dates.clone(), &[("OLD", closes)]);
    let old = stock("OLD", 2.0, 15.0, dates[0]);
    let params = SnapshotParams::new(0.0);
    // dates[5]: dates[0] is the 5th previous trading day → used.
    let v = &position_values(std::slice::from_ref(&old), &prices, dates[5], &params)[0];
    assert_eq!((v.last_price, v.price_date), (Some(20.0), Some(dates[0])));
    assert_eq!(v.unrealized_pnl, Some(10.0));
    // dates[6]: 6 trading days back → unknown.
    let v = &position_values(std::slice::from_ref(&old), &prices, dates[6], &params)[0];
    assert_eq!(v.last_price, None);
    assert_eq!(v.market_value, None);
    assert_eq!(v.unrealized_pnl, None);
    assert_eq!(v.exposure, None);
    assert_eq!(v.cost_basis, 30.0);
    // A non-trading day, Saturday 2019-01-12 (after Friday dates[8]): the
    // 5 previous trading days are dates[4..=8].
    let saturday = dates[8] + chrono::Days::new(1);
    let mut mid = vec![None; 10];
    mid[4] = Some(7.0);
    let mut early = vec![None; 10];
    early[3] = Some(8.0);
    let prices = table(dates.clone(), &[("MID", mid), ("EARLY", early)]);
    let both = [
        stock("MID", 1.0, 7.0, dates[0]),
        stock("EARLY", 1.0, 8.0, dates[0]),
    ];
    let vals = position_values(&both, &prices, saturday, &params);
    assert_eq!(vals[0].price_date, Some(dates[4]));
    assert_eq!(vals[1].last_price, None);
    // Before the table: no price.
    let before = dates[0] - chrono::Days::new(1);
    let v = &position_values(&both, &prices, before, &params);
    assert!(v.is_empty(), "entered after d");
    let mut early_entry = both[0].clone();
    early_entry.entry_date = before;
    let v = &position_values(&[early_entry], &prices, before, &params)[0];
    assert_eq!(v.last_price, None);
}

// ---- scale and reference ---------------------------------------------

/// Small deterministic generator (LCG).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 11) as f64) / ((1_u64 << 53) as f64)
    }
}

/// Weekdays from 2019-01-01, `n` of them.
fn weekdays(n: usize) -> Vec<NaiveDate> {
    use chrono::Datelike;
    let mut d = date(2019, 1, 1);
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        if d.weekday().num_days_from_monday() < 5 {
            out.push(d);
        }
        d = d.succ_opt().unwrap();
    }
    out
}

fn random_book(
    rng: &mut Lcg,
    dates: &[NaiveDate],
    n_pos: usize,
    with_options: bool,
) -> (Vec<PositionInput>, PriceTable) {
    let n = dates.len();
    let mut closes = HashMap::new();
    let n_sym = 120;
    for s in 0..n_sym {
        let mut px = 20.0 + 200.0 * rng.next();
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            px *= 1.0 + 0.02 * (rng.next() - 0.5);
            v.push(if rng.next() < 0.03 { None } else { Some(px) });
        }
        closes.insert(format!("S{s}"), v);
    }
    let mut positions = Vec::with_capacity(n_pos);
    for k in 0..n_pos {
        let sym = format!("S{}", k % n_sym);
        let entry_i = (rng.next() * n as f64 * 0.9) as usize;
        let qty = (rng.next() * 200.0 - 60.0).round();
        let mut p = stock(
            &sym,
            if qty == 0.0 { 1.0 } else { qty },
            10.0 + 100.0 * rng.next(),
            dates[entry_i],
        );
        p.sector = Some(["Tech", "Energy", "ETFs"][k % 3].to_string());
        if rng.next() < 0.3 {
            let exit_i = entry_i + (rng.next() * (n - entry_i) as f64) as usize;
            p.exit_date = Some(dates[exit_i.min(n - 1)] + chrono::Days::new(u64::from(k % 2 == 0)));
            if rng.next() < 0.5 {
                p.exit_price = Some(10.0 + 100.0 * rng.next());
            }
        }
        if k % 17 == 0 {
            p.investment_class = InvestmentClass::Private;
        }
        if with_options && k % 10 == 3 {
            let expiry = dates[(entry_i + 60).min(n - 1)] + chrono::Days::new(1);
            let q = p.quantity.signum() * 3.0;
            let pt = if q > 0.0 {
                PositionType::Lc
            } else {
                PositionType::Sp
            };
            let kind = if q > 0.0 {
                OptionType::Call
            } else {
                OptionType::Put
            };
            p = PositionInput {
                id: Uuid::new_v4(),
                ..option(
                    &format!("{sym}-OPT{k}"),
                    &sym,
                    pt,
                    kind,
                    q,
                    2.0,
                    p.entry_date,
                    100.0,
                    expiry,
                )
            };
        }
        positions.push(p);
    }
    (
        positions,
        PriceTable {
            dates: dates.to_vec(),
            closes,
        },
    )
}

/// Straightforward per-day, per-position evaluation of the stock rules.
fn naive_pnl(
    positions: &[PositionInput],
    prices: &PriceTable,
    days: &[NaiveDate],
) -> Vec<(f64, f64, i32)> {
    let dates = &prices.dates;
    let price = |sym: &str, i: usize| -> Option<f64> {
        let c = &prices.closes[sym];
        (0..=i).rev().find_map(|j| c[j])
    };
    days.iter()
        .map(|d| {
            let i = dates.iter().position(|x| x == d).unwrap();
            let prev = dates[i - 1];
            let (mut pnl, mut long, mut num) = (0.0, 0.0, 0);
            for p in positions {
                let private = p.investment_class == InvestmentClass::Private;
                let px = |j: usize| {
                    if private {
                        p.entry_price
                    } else {
                        price(&p.symbol, j).unwrap_or(p.entry_price)
                    }
                };
                let active =
                    |dd: NaiveDate| p.entry_date <= dd && p.exit_date.is_none_or(|x| x > dd);
                let was_active = active(prev);
                let base = if was_active { px(i - 1) } else { p.entry_price };
                if active(*d) {
                    pnl += (px(i) - base) * p.quantity;
                    let e = px(i) * p.quantity;
                    if e > 0.0 {
                        long += e;
                    }
                    num += 1;
                } else if let Some(x) = p.exit_date {
                    // Exit booked on the first trading day on or after it.
                    if x <= *d && x > prev && p.entry_date <= *d {
                        pnl += (p.exit_price.unwrap_or_else(|| px(i)) - base) * p.quantity;
                    }
                }
            }
            (pnl, long, num)
        })
        .collect()
}

#[test]
fn matches_naive_reference_on_random_stock_book() {
    let mut rng = Lcg(7);
    let dates = weekdays(160);
    let (positions, prices) = random_book(&mut rng, &dates, 60, false);
    let days = &dates[70..];
    let rows = compute_snapshots(&positions, &prices, days, &SnapshotParams::new(1e6));
    let want = naive_pnl(&positions, &prices, days);
    let mut equity = 1e6;
    for (r, (pnl, long, num)) in rows.iter().zip(want) {
        assert_close(r.daily_pnl, pnl, 1e-6, &format!("pnl {}", r.date));
        assert_close(r.long_value, long, 1e-6, &format!("long {}", r.date));
        assert_eq!(r.num_positions, num, "num {}", r.date);
        equity += pnl;
        assert_close(r.equity_balance, equity, 1e-5, "equity");
        assert_close(
            r.gross_exposure,
            r.long_value - r.short_value,
            1e-6,
            "gross",
        );
    }
}

#[test]
fn five_years_of_three_hundred_positions_stay_finite_and_warn_once_per_option() {
    let mut rng = Lcg(42);
    let dates = weekdays(1_260 + 100);
    let (positions, prices) = random_book(&mut rng, &dates, 300, true);
    let days = &dates[100..];
    let rows = compute_snapshots(&positions, &prices, days, &SnapshotParams::new(5e6));
    assert_eq!(rows.len(), 1_260);
    assert!(rows
        .iter()
        .all(|r| r.equity_balance.is_finite() && r.gross_exposure.is_finite()));
    assert!(rows.iter().any(|r| r.num_positions > 50));
    // Each option warns at most once per run.
    let warnings: usize = rows.iter().map(|r| r.warnings.len()).sum();
    assert!(warnings <= positions.len());
}

#[test]
fn a_window_of_a_price_table_is_the_table_of_that_range() {
    let dates = crate::calendar::trading_days(date(2026, 1, 2), date(2026, 3, 31));
    let n = dates.len();
    let mut closes = HashMap::new();
    #[allow(clippy::cast_precision_loss)]
    let full: Vec<Option<f64>> = (0..n).map(|i| (i % 7 != 3).then_some(i as f64)).collect();
    closes.insert("A".to_owned(), full.clone());
    // A series whose missing tail is left out (shorter than the dates).
    closes.insert("B".to_owned(), full[..10].to_vec());
    let table = PriceTable { dates, closes };

    // Bounds that are not trading days (a weekend) snap inward, as loading that range would.
    let w = table.window(date(2026, 2, 1), date(2026, 2, 28));
    let want = crate::calendar::trading_days(date(2026, 2, 1), date(2026, 2, 28));
    assert_eq!(w.dates, want);
    let lo = table.dates.iter().position(|d| *d == want[0]).unwrap();
    assert_eq!(w.closes["A"], full[lo..lo + want.len()].to_vec());
    assert!(
        w.closes["B"].is_empty(),
        "B has nothing after its tenth day"
    );

    // The whole range gives the table back; an empty range gives no dates.
    assert_eq!(table.window(date(2025, 1, 1), date(2027, 1, 1)), table);
    let none = table.window(date(2026, 3, 1), date(2026, 2, 1));
    assert!(none.dates.is_empty());
    assert!(none.closes.values().all(Vec::is_empty));
}
