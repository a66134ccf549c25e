//! Known answers of §7b, computed independently with a short Python script (statistics
//! module, no shared code): r_t = 0.01 sin(0.9t)(1 + 0.5 sin(0.05t)) + 0.002 cos(3.1t) +
//! 0.0003, s_t = 0.008 sin(0.9t + 0.3) + 0.001 cos(2t), t = 0 … 99, rf 0.04, equity
//! 1,000 compounded from the day before the first return.

use super::*;

type Series = Vec<(NaiveDate, f64)>;

fn day(i: usize) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 1, 1).expect("a date") + chrono::Duration::days(i as i64)
}

fn series(n: usize) -> (Series, Series, Series) {
    let mut returns = Vec::new();
    let mut market = Vec::new();
    let mut equity = vec![(day(0), 1000.0)];
    for t in 0..n {
        let x = t as f64;
        let r = 0.01 * (0.9 * x).sin() * (1.0 + 0.5 * (0.05 * x).sin())
            + 0.002 * (3.1 * x).cos()
            + 0.0003;
        let s = 0.008 * (0.9 * x + 0.3).sin() + 0.001 * (2.0 * x).cos();
        returns.push((day(t + 1), r));
        market.push((day(t + 1), s));
        let last = equity[equity.len() - 1].1;
        equity.push((day(t + 1), last * (1.0 + r)));
    }
    (returns, market, equity)
}

fn run(
    returns: &[(NaiveDate, f64)],
    market: &[(NaiveDate, f64)],
    equity: &[(NaiveDate, f64)],
    rf: f64,
) -> TailRisk {
    let dd = DrawdownState::from_series(equity);
    compute(&TailInputs {
        returns,
        market,
        equity: equity[equity.len() - 1].1,
        risk_free_annual: rf,
        drawdown: &dd,
    })
}

fn close(got: Option<f64>, want: f64, name: &str) {
    let got = got.unwrap_or_else(|| panic!("{name} is null"));
    assert!((got - want).abs() < 1e-12, "{name}: {got} vs {want}");
}

#[test]
fn every_figure_matches_the_independent_computation() {
    let (r, s, e) = series(100);
    let t = run(&r, &s, &e, 0.04);
    assert_eq!((t.n, t.m), (100, 100));
    assert_eq!(
        (t.window_start, t.window_end),
        (Some(day(1)), Some(day(100)))
    );
    close(t.var_hist_95, 0.012660993165924022, "var_hist_95");
    close(t.cvar_hist_95, 0.014119952263342657, "cvar_hist_95");
    close(t.var_param_95, 0.012997162330358154, "var_param_95");
    close(t.cvar_param_95, 0.01640580993396239, "cvar_param_95");
    close(t.var_hist_99, 0.014920977532104425, "var_hist_99");
    close(t.cvar_hist_99, 0.01495023932081241, "cvar_hist_99");
    close(t.var_param_99, 0.018556388596777783, "var_param_99");
    close(t.cvar_param_99, 0.02132065946367064, "cvar_param_99");
    close(
        t.annualised_return,
        0.10259690611550898,
        "annualised_return",
    );
    close(
        t.annualised_volatility,
        0.12949482915551871,
        "annualised_volatility",
    );
    close(t.sharpe, 0.5095639285513185, "sharpe");
    close(t.sortino, 0.7387726381467569, "sortino");
    close(t.max_drawdown, -0.032501960765307425, "max_drawdown");
    close(
        t.current_drawdown,
        -0.0027388996379326125,
        "current_drawdown",
    );
    close(t.calmar, 3.156637436625696, "calmar");
    close(t.tracking_error, 0.06482019179497289, "tracking_error");
    close(t.information_ratio, 1.1718739639695106, "information_ratio");
    close(t.realised_beta, 1.2613461968433701, "realised_beta");
    close(t.up_capture, 1.326725327518697, "up_capture");
    close(t.down_capture, 1.2213490259491873, "down_capture");
    assert_eq!(t.max_drawdown_peak_date, Some(day(25)));
    assert_eq!(t.max_drawdown_trough_date, Some(day(28)));
    assert_eq!(t.max_drawdown_recovery_date, Some(day(32)));
    assert!(t.null_reasons.is_empty(), "{:?}", t.null_reasons);
    close(
        t.dollars(t.var_hist_95),
        0.012660993165924022 * e[100].1,
        "var $",
    );
}

#[test]
fn quantile_interpolates_linearly_between_order_statistics() {
    // numpy.quantile([4, 1, 3, 2], 0.05) = 1 + 0.15 · (2 − 1) = 1.15.
    assert!(
        (quantile_linear(&[4.0, 1.0, 3.0, 2.0], 0.05).expect("a quantile") - 1.15).abs() < 1e-15
    );
    assert_eq!(quantile_linear(&[4.0, 1.0, 3.0, 2.0], 1.0), Some(4.0));
    assert_eq!(quantile_linear(&[], 0.5), None);
}

#[test]
fn fewer_than_sixty_returns_leave_every_figure_null_with_the_reason() {
    let (r, s, e) = series(59);
    let t = run(&r, &s, &e, 0.04);
    assert_eq!(t.n, 59);
    assert_eq!(t.var_hist_95, None);
    assert_eq!(t.sharpe, None);
    assert_eq!(t.max_drawdown, None);
    assert_eq!(t.realised_beta, None);
    assert_eq!(
        t.null_reasons.get("var_hist_95").map(String::as_str),
        Some("too little history: 59 returns, need 60")
    );
    assert_eq!(t.null_reasons.len(), 21);
}

#[test]
fn only_the_last_252_returns_are_the_window() {
    let (r, s, e) = series(300);
    let t = run(&r, &s, &e, 0.04);
    let tail = run(&r[48..], &s, &e, 0.04);
    assert_eq!((t.n, t.window_start), (252, Some(day(49))));
    assert_eq!(t.var_hist_99, tail.var_hist_99);
    assert_eq!(t.sharpe, tail.sharpe);
}

#[test]
fn sortino_is_null_when_no_return_falls_below_the_risk_free_rate() {
    let r: Vec<_> = (0..80)
        .map(|i| (day(i + 1), 0.001 + 0.0001 * (i % 3) as f64))
        .collect();
    let e: Vec<_> = (0..=80).map(|i| (day(i), 100.0 + i as f64)).collect();
    let t = run(&r, &r, &e, 0.04);
    assert_eq!(t.sortino, None);
    assert!(t.null_reasons["sortino"].contains("downside deviation 0"));
    assert!(t.sharpe.is_some());
}

#[test]
fn a_flat_portfolio_has_null_sharpe_and_calmar_but_a_zero_drawdown() {
    let r: Vec<_> = (0..80).map(|i| (day(i + 1), 0.0)).collect();
    let s: Vec<_> = (0..80)
        .map(|i| (day(i + 1), if i % 2 == 0 { 0.01 } else { -0.01 }))
        .collect();
    let e: Vec<_> = (0..=80).map(|i| (day(i), 100.0)).collect();
    let t = run(&r, &s, &e, 0.04);
    assert_eq!(t.sharpe, None);
    assert_eq!(t.null_reasons["sharpe"], "zero volatility");
    assert_eq!(t.calmar, None);
    assert_eq!(t.null_reasons["calmar"], "max drawdown is 0");
    assert_eq!(t.max_drawdown, Some(0.0));
    assert_eq!(t.max_drawdown_trough_date, None);
    assert_eq!(t.null_reasons["max_drawdown_recovery_date"], "no drawdown");
    assert_eq!(t.var_hist_95, Some(0.0));
    // Every excess return is −rf, so the downside deviation is rf: Sortino = −√252.
    close(t.sortino, -(252.0_f64.sqrt()), "sortino");
    assert_eq!(t.realised_beta, Some(0.0));
    close(t.up_capture, 0.0, "up_capture");
}

#[test]
fn a_portfolio_that_never_recovered_has_no_recovery_date() {
    let e = [
        (day(0), 100.0),
        (day(1), 120.0),
        (day(2), 90.0),
        (day(3), 96.0),
    ];
    let dd = DrawdownState::from_series(&e);
    assert_eq!(dd.max_drawdown, -0.25);
    assert_eq!(
        (dd.max_dd_peak_date, dd.max_dd_trough_date),
        (Some(day(1)), Some(day(2)))
    );
    assert_eq!(dd.recovery_date, None);
    close(dd.current_drawdown, -0.2, "current_drawdown");
    let r: Vec<_> = (0..70)
        .map(|i| (day(i + 1), 0.01 * ((i % 5) as f64 - 2.0)))
        .collect();
    let t = compute(&TailInputs {
        returns: &r,
        market: &[],
        equity: 96.0,
        risk_free_annual: 0.0,
        drawdown: &dd,
    });
    assert_eq!(t.max_drawdown_recovery_date, None);
    assert_eq!(
        t.null_reasons["max_drawdown_recovery_date"],
        "not recovered"
    );
    close(t.current_drawdown, -0.2, "current_drawdown");
}

#[test]
fn a_recovery_is_the_first_date_back_at_the_peak_and_a_deeper_fall_resets_it() {
    let mut dd = DrawdownState::from_series(&[(day(0), 100.0), (day(1), 90.0), (day(2), 100.0)]);
    assert_eq!(dd.recovery_date, Some(day(2)));
    dd.push(day(3), 101.0);
    dd.push(day(4), 80.0);
    assert_eq!(dd.max_dd_peak_date, Some(day(3)));
    assert_eq!(dd.recovery_date, None);
    close(Some(dd.max_drawdown), 80.0 / 101.0 - 1.0, "max_drawdown");
}

#[test]
fn carrying_the_state_night_by_night_equals_folding_the_whole_history() {
    let (_, _, e) = series(120);
    let mut carried = DrawdownState::from_series(&e[..60]);
    for &(d, v) in &e[60..] {
        carried.push(d, v);
    }
    assert_eq!(carried, DrawdownState::from_series(&e));
}

#[test]
fn market_figures_need_sixty_dates_shared_with_spy() {
    let (r, s, e) = series(100);
    let t = run(&r, &s[..59], &e, 0.04);
    assert_eq!(t.m, 59);
    assert_eq!(t.tracking_error, None);
    assert_eq!(
        t.null_reasons["up_capture"],
        "too little overlap with SPY: 59 dates, need 60"
    );
    assert!(t.sharpe.is_some());
}

#[test]
fn realised_beta_is_clipped_to_five() {
    let (_, s, e) = series(100);
    let r: Vec<_> = s.iter().map(|&(d, v)| (d, 10.0 * v)).collect();
    assert_eq!(run(&r, &s, &e, 0.04).realised_beta, Some(5.0));
}

#[test]
fn a_series_continued_from_a_stored_state_equals_the_series_from_the_start() {
    let (r, s, e) = series(400);
    let snaps: Vec<SnapshotPoint> = e
        .iter()
        .enumerate()
        .map(|(i, &(d, v))| (d, v, i.checked_sub(1).map(|j| r[j].1)))
        .collect();
    let all_dates: Vec<NaiveDate> = e.iter().map(|p| p.0).collect();
    let whole = compute_series(&snaps, &s, &all_dates, None, 0.04);
    assert_eq!(whole.len(), 401);
    let (d350, _, state350) = whole[350].clone();
    // A night: its own date, the state of the night before, and only the window's
    // snapshots (the drawdown's trough, day 28, is long out of them).
    let night = compute_series(&snaps[99..], &s, &[day(351)], Some((d350, state350)), 0.04);
    assert_eq!(night.len(), 1);
    assert_eq!(night[0], whole[351]);
    assert_eq!(night[0].1.n, 252);
    assert_eq!(whole[59].1.sharpe, None);
    assert!(whole[60].1.sharpe.is_some());
}
