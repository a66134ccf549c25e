use super::*;
use ndarray::{Array1, Array2, Axis, Slice};
use proptest::prelude::*;

fn design(n: usize, k: usize, seed: f64) -> Array2<f64> {
    Array2::from_shape_fn((n, k), |(i, j)| {
        let t = i as f64;
        let j = j as f64;
        0.01 * (0.7 * t * (j + 1.0) + j + seed).sin() + 0.004 * (2.3 * t + 0.5 * j * seed).cos()
    })
}

#[test]
fn ols_simple_rejects_degenerate_inputs() {
    assert!(ols_simple(&[1.0, 2.0], &[1.0, 2.0]).is_none());
    assert!(ols_simple(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]).is_none());
    assert!(ols_simple(&[1.0, 2.0, 3.0], &[1.0, 2.0]).is_none());
    assert!(ols_simple(&[1.0, 2.0, f64::NAN], &[1.0, 2.0, 3.0]).is_none());
    assert!(ols_simple(&[0.1, 0.1 + 1e-17, 0.1], &[1.0, 2.0, 3.0]).is_none());
    let fit = ols_simple(&[1.0, 2.0, 3.0], &[2.0, 4.1, 5.9]);
    assert!(fit.is_some_and(|f| (f.beta - 1.95).abs() < 1e-12 && f.observations == 3));
}

#[test]
fn ols_simple_perfect_fit_has_zero_p_value() {
    let x = [0.01, -0.02, 0.03, 0.005];
    let y: Vec<f64> = x.iter().map(|v| 0.001 + 2.0 * v).collect();
    let f = ols_simple(&x, &y).expect("fit");
    assert!((f.beta - 2.0).abs() < 1e-12);
    assert!((f.r_squared - 1.0).abs() < 1e-12);
    assert!(f.p_value < 1e-12, "{f:?}");
}

#[test]
fn ridge_rejects_constant_column_and_bad_shapes() {
    let mut x = design(40, 3, 0.3);
    let y = Array1::from_shape_fn(40, |i| (i as f64 * 0.37).sin() * 0.01);
    assert!(ridge_standardized(x.view(), y.view(), 1.0).is_some());
    assert!(ridge_standardized(x.view(), y.view(), -1.0).is_none());
    assert!(ridge_standardized(x.view(), y.slice_axis(Axis(0), Slice::from(..39)), 1.0).is_none());
    x.column_mut(1).fill(0.02);
    assert!(ridge_standardized(x.view(), y.view(), 1.0).is_none());
}

#[test]
fn ridge_shrinks_toward_zero_as_alpha_grows() {
    let x = design(60, 4, 1.1);
    let y = Array1::from_shape_fn(60, |i| x.row(i).sum() + 0.002 * (5.1 * i as f64).sin());
    let norm = |a: f64| {
        let f = ridge_standardized(x.view(), y.view(), a).expect("fit");
        f.betas.iter().map(|b| b * b).sum::<f64>()
    };
    assert!(norm(0.0) > norm(1.0) && norm(1.0) > norm(100.0) && norm(100.0) > norm(1e6));
}

#[test]
fn ols_multi_rejects_collinear_and_short() {
    let mut x = design(30, 3, 0.9);
    let y = Array1::from_shape_fn(30, |i| (i as f64).cos() * 0.01);
    assert!(ols_multi(x.view(), y.view()).is_some());
    assert!(ols_multi(
        x.slice_axis(Axis(0), Slice::from(..3)),
        y.slice_axis(Axis(0), Slice::from(..3))
    )
    .is_none());
    let c0 = x.column(0).to_owned();
    x.column_mut(2).assign(&(&c0 * 2.0));
    assert!(ols_multi(x.view(), y.view()).is_none());
    x.column_mut(2).fill(1.0);
    assert!(ols_multi(x.view(), y.view()).is_none());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// With α → 0 the standardised ridge is plain OLS.
    #[test]
    fn ridge_with_tiny_alpha_equals_ols(n in 12usize..120, k in 1usize..7, seed in 0.0f64..6.0,
                                       b in proptest::collection::vec(-2.0f64..2.0, 6)) {
        let x = design(n, k, seed);
        let y = Array1::from_shape_fn(n, |i| {
            0.0003 + (0..k).map(|j| b[j] * x[[i, j]]).sum::<f64>() + 0.003 * (5.1 * i as f64 + seed).sin()
        });
        let ridge = ridge_standardized(x.view(), y.view(), 1e-10);
        let ols = ols_multi(x.view(), y.view());
        if let (Some(r), Some(o)) = (ridge, ols) {
            for (rb, ob) in r.betas.iter().zip(&o.coefficients[1..]) {
                prop_assert!((rb - ob).abs() < 1e-6, "ridge {rb} ols {ob}");
            }
            prop_assert!((r.intercept - o.coefficients[0]).abs() < 1e-6);
            prop_assert!((r.r_squared - o.r_squared).abs() < 1e-8);
        }
    }

    /// Adding a constant to y moves only the intercept.
    #[test]
    fn betas_invariant_to_shifting_y(n in 12usize..100, k in 1usize..7, seed in 0.0f64..6.0, shift in -5.0f64..5.0) {
        let x = design(n, k, seed);
        let y = Array1::from_shape_fn(n, |i| 0.01 * (1.3 * i as f64 + seed).sin() + x.row(i).sum());
        let y2 = y.mapv(|v| v + shift);
        let (r1, r2) = (ridge_standardized(x.view(), y.view(), 1.0), ridge_standardized(x.view(), y2.view(), 1.0));
        if let (Some(a), Some(b)) = (r1, r2) {
            for (p, q) in a.betas.iter().zip(&b.betas) {
                prop_assert!((p - q).abs() < 1e-8);
            }
            prop_assert!((b.intercept - a.intercept - shift).abs() < 1e-8);
        }
        if let (Some(a), Some(b)) = (ols_multi(x.view(), y.view()), ols_multi(x.view(), y2.view())) {
            for (p, q) in a.coefficients[1..].iter().zip(&b.coefficients[1..]) {
                prop_assert!((p - q).abs() < 1e-8);
            }
        }
        let col: Vec<f64> = x.column(0).to_vec();
        let (ya, yb): (Vec<f64>, Vec<f64>) = (y.to_vec(), y2.to_vec());
        if let (Some(a), Some(b)) = (ols_simple(&col, &ya), ols_simple(&col, &yb)) {
            prop_assert!((a.beta - b.beta).abs() < 1e-9);
            prop_assert!((a.std_error - b.std_error).abs() < 1e-9);
        }
    }

    /// y = a + b·x exactly recovers b (and a).
    #[test]
    fn ols_simple_recovers_exact_line(a in -1.0f64..1.0, b in -5.0f64..5.0,
                                      x in proptest::collection::vec(-0.1f64..0.1, 3..200)) {
        let mx = x.iter().sum::<f64>() / x.len() as f64;
        prop_assume!(x.iter().map(|v| (v - mx).powi(2)).sum::<f64>() > 1e-8);
        let y: Vec<f64> = x.iter().map(|v| a + b * v).collect();
        let fit = ols_simple(&x, &y);
        prop_assert!(fit.is_some());
        if let Some(f) = fit {
            prop_assert!((f.beta - b).abs() < 1e-8, "beta {} vs {b}", f.beta);
            prop_assert!((f.alpha - a).abs() < 1e-8);
            prop_assert!(f.std_error < 1e-6);
        }
    }
}
