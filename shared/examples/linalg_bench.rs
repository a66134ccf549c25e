//! Linear-algebra candidates for the analytics, timed on this machine:
//! faer (chosen) vs nalgebra on (a) a 90×6 standardised ridge solve and
//! (b) a 500×500 correlation matrix from 252×500 standardised returns plus
//! its symmetric eigendecomposition (PSD repair); then `analyze_symbol` +
//! `symbol_metrics` for 30 and 1,200 symbols on a 2-year synthetic table.
//!
//! `cargo run --release -p sigmasight-shared --example linalg_bench`
//!
//! Measured 2026-11-28 on the shared 2-core dev machine: ridge 90×6 faer
//! 3.5 µs vs nalgebra 2.3 µs (both negligible); 500×500 correlation + eigen
//! faer 83 ms vs nalgebra 700 ms; analyze_symbol + symbol_metrics ≈ 160 µs
//! per symbol (1,200 symbols: 0.19 s). faer is kept: the small solves are a
//! tie in absolute terms and its symmetric eigensolver is ~8× faster, which
//! is what PSD repair of large correlation matrices needs.

use std::collections::HashMap;
use std::hint::black_box;
use std::time::Instant;

use chrono::NaiveDate;
use faer::linalg::solvers::Solve;
use sigmasight_shared::analytics::factors::{analyze_symbol, FACTOR_ETFS};
use sigmasight_shared::analytics::metrics::symbol_metrics;
use sigmasight_shared::analytics::snapshots::PriceTable;
use sigmasight_shared::market_data::synthetic::SyntheticMarket;

/// Deterministic pseudo-returns `T×N` (no RNG crate needed).
fn returns(t: usize, n: usize) -> Vec<f64> {
    (0..t * n)
        .map(|idx| {
            let (i, j) = ((idx / n) as f64, (idx % n) as f64);
            0.01 * (0.7 * i + 0.37 * j).sin()
                + 0.004 * (2.3 * i * (1.0 + j / 97.0) + j).cos()
                + 0.003 * (0.11 * i * j + 1.3).sin()
        })
        .collect()
}

/// Column-standardises a row-major `t×n` matrix in place (population std).
fn standardize(x: &mut [f64], t: usize, n: usize) {
    for j in 0..n {
        let mean = (0..t).map(|i| x[i * n + j]).sum::<f64>() / t as f64;
        let sd = ((0..t).map(|i| (x[i * n + j] - mean).powi(2)).sum::<f64>() / t as f64).sqrt();
        for i in 0..t {
            x[i * n + j] = (x[i * n + j] - mean) / sd;
        }
    }
}

/// Median µs per call of `f` over `reps` calls (after a warm-up).
fn time_us(reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    let mut samples: Vec<f64> = (0..reps)
        .map(|_| {
            let t0 = Instant::now();
            f();
            t0.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn ridge_faer(z: &[f64], y: &[f64], t: usize, k: usize) -> f64 {
    let zm = faer::Mat::from_fn(t, k, |i, j| z[i * k + j]);
    let ym = faer::Mat::from_fn(t, 1, |i, _| y[i]);
    let mut g = zm.transpose() * &zm;
    for j in 0..k {
        g[(j, j)] += 1.0;
    }
    let rhs = zm.transpose() * &ym;
    match g.llt(faer::Side::Lower) {
        Ok(llt) => llt.solve(&rhs)[(0, 0)],
        Err(_) => f64::NAN,
    }
}

fn ridge_nalgebra(z: &[f64], y: &[f64], t: usize, k: usize) -> f64 {
    let zm = nalgebra::DMatrix::from_row_slice(t, k, z);
    let ym = nalgebra::DVector::from_column_slice(y);
    let g = zm.tr_mul(&zm) + nalgebra::DMatrix::identity(k, k);
    let rhs = zm.tr_mul(&ym);
    g.cholesky().map_or(f64::NAN, |c| c.solve(&rhs)[0])
}

fn corr_eigen_faer(z: &[f64], t: usize, n: usize) -> f64 {
    let zm = faer::Mat::from_fn(t, n, |i, j| z[i * n + j]);
    let c = zm.transpose() * &zm * faer::Scale(1.0 / t as f64);
    match c.self_adjoint_eigen(faer::Side::Lower) {
        Ok(e) => e.S().column_vector()[0],
        Err(_) => f64::NAN,
    }
}

fn corr_eigen_nalgebra(z: &[f64], t: usize, n: usize) -> f64 {
    let zm = nalgebra::DMatrix::from_row_slice(t, n, z);
    let c = zm.tr_mul(&zm) / t as f64;
    let e = nalgebra::SymmetricEigen::new(c);
    e.eigenvalues.min()
}

fn table(m: &SyntheticMarket, symbols: &[String], start: NaiveDate, end: NaiveDate) -> PriceTable {
    let spy = m.history("SPY", start, end).unwrap_or_default();
    let closes: HashMap<String, Vec<Option<f64>>> = symbols
        .iter()
        .map(|s| {
            let bars = m.history(s, start, end).unwrap_or_default();
            (s.clone(), bars.iter().map(|b| Some(b.close)).collect())
        })
        .collect();
    PriceTable {
        dates: spy.iter().map(|b| b.date).collect(),
        closes,
    }
}

fn main() {
    let (t, k) = (90, 6);
    let mut z = returns(t, k);
    standardize(&mut z, t, k);
    let y: Vec<f64> = (0..t)
        .map(|i| z[i * k] * 0.5 + 0.01 * (i as f64).sin())
        .collect();
    let (a, b) = (ridge_faer(&z, &y, t, k), ridge_nalgebra(&z, &y, t, k));
    println!(
        "(a) ridge 90x6:      faer {:8.2} µs   nalgebra {:8.2} µs   (agree to {:.1e})",
        time_us(2001, || {
            black_box(ridge_faer(black_box(&z), &y, t, k));
        }),
        time_us(2001, || {
            black_box(ridge_nalgebra(black_box(&z), &y, t, k));
        }),
        (a - b).abs()
    );

    let (t, n) = (252, 500);
    let mut z = returns(t, n);
    standardize(&mut z, t, n);
    let (a, b) = (corr_eigen_faer(&z, t, n), corr_eigen_nalgebra(&z, t, n));
    println!("(b) corr+eigen 500:  faer {:8.0} µs   nalgebra {:8.0} µs   (min eigenvalue {a:.3e} vs {b:.3e})",
        time_us(9, || { black_box(corr_eigen_faer(black_box(&z), t, n)); }),
        time_us(3, || { black_box(corr_eigen_nalgebra(black_box(&z), t, n)); }));

    let m = SyntheticMarket::default();
    let (start, end) = (
        NaiveDate::from_ymd_opt(2023, 11, 28),
        NaiveDate::from_ymd_opt(2025, 11, 28),
    );
    let (Some(start), Some(end)) = (start, end) else {
        return;
    };
    for count in [30usize, 1200] {
        let stocks: Vec<String> = (0..count).map(|i| format!("B{i:04}")).collect();
        let mut all: Vec<String> = FACTOR_ETFS.iter().map(|s| s.to_string()).collect();
        all.extend(stocks.iter().cloned());
        let tbl = table(&m, &all, start, end);
        let last = tbl.dates.len() - 1;
        let t0 = Instant::now();
        let mut rows = 0;
        for s in &stocks {
            rows += analyze_symbol(&tbl, s, last).len();
            black_box(symbol_metrics(&tbl, s, last));
        }
        let el = t0.elapsed();
        println!("analyze_symbol+symbol_metrics {count:5} symbols ({} days, {rows} rows): {:8.1} ms total, {:6.1} µs/symbol",
            tbl.dates.len(), el.as_secs_f64() * 1e3, el.as_secs_f64() * 1e6 / count as f64);
    }
}
