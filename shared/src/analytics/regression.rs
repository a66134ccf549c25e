//! Least-squares estimators used by the factor phase (ANALYTICS §2).
//!
//! * [`ols_simple`]: one regressor with intercept, with the statsmodels
//!   inference (standard error with n − 2 degrees of freedom, two-sided
//!   Student-t p-value);
//! * [`ridge_standardized`]: scikit-learn `StandardScaler` (population std) +
//!   `Ridge(alpha, fit_intercept=True)`, coefficients mapped back to raw
//!   units;
//! * [`ols_multi`]: several regressors with intercept, by QR least squares.
//!
//! Pure functions on slices and ndarray views; the dense linear algebra is
//! faer's (Cholesky, LU, QR). Degenerate inputs (too few rows, constant or
//! collinear regressors, non-finite values) give `None`, never a panic.

use faer::linalg::solvers::{Solve, SolveLstsq};
use faer::{Mat, Side};
use ndarray::{ArrayView1, ArrayView2};
use statrs::distribution::{ContinuousCDF, StudentsT};

/// Result of [`ols_simple`]: `y = alpha + beta · x`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OlsFit {
    /// Intercept α.
    pub alpha: f64,
    /// Slope β.
    pub beta: f64,
    /// In-sample R² (`1 − SSR/SST`; NaN when y is constant, as statsmodels).
    pub r_squared: f64,
    /// Standard error of β, `sqrt(SSR/(n−2) / Σ(x−x̄)²)`.
    pub std_error: f64,
    /// `beta / std_error` (infinite on a perfect fit).
    pub t_stat: f64,
    /// Two-sided p-value of the t statistic under Student t(n − 2).
    pub p_value: f64,
    /// Number of (x, y) pairs used.
    pub observations: usize,
}

/// Result of [`ridge_standardized`], in the raw units of `x` and `y`.
#[derive(Debug, Clone, PartialEq)]
pub struct RidgeFit {
    /// One coefficient per column of `x` (`b_j / scale_j`).
    pub betas: Vec<f64>,
    /// Intercept in raw units: `ȳ − Σ β_j x̄_j`.
    pub intercept: f64,
    /// In-sample R² (scikit-learn `score`).
    pub r_squared: f64,
    /// Number of rows used.
    pub observations: usize,
}

/// Result of [`ols_multi`].
#[derive(Debug, Clone, PartialEq)]
pub struct MultiFit {
    /// Intercept first, then one coefficient per column of `x`.
    pub coefficients: Vec<f64>,
    /// In-sample R².
    pub r_squared: f64,
    /// Number of rows used.
    pub observations: usize,
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// Two-sided p-value of `t` under Student t with `dof` degrees of freedom.
pub fn two_sided_p_value(t: f64, dof: f64) -> Option<f64> {
    if t.is_nan() || dof <= 0.0 {
        return None;
    }
    if t.is_infinite() {
        return Some(0.0);
    }
    let dist = StudentsT::new(0.0, 1.0, dof).ok()?;
    Some((2.0 * dist.sf(t.abs())).min(1.0))
}

/// A column is constant when its spread is zero or lost in rounding noise.
fn is_constant(std: f64, mean: f64, n: usize) -> bool {
    !(std.is_finite() && std > 0.0) || std <= 10.0 * f64::EPSILON * n as f64 * mean.abs()
}

/// OLS of `y = α + β x` (statsmodels `OLS(y, add_constant(x))`).
///
/// `None` when the lengths differ, `n < 3`, a value is non-finite, or `x` is
/// constant.
pub fn ols_simple(x: &[f64], y: &[f64]) -> Option<OlsFit> {
    let n = x.len();
    if n != y.len() || n < 3 || x.iter().chain(y).any(|v| !v.is_finite()) {
        return None;
    }
    let (mx, my) = (mean(x), mean(y));
    let sxx: f64 = x.iter().map(|a| (a - mx).powi(2)).sum();
    if is_constant((sxx / n as f64).sqrt(), mx, n) {
        return None;
    }
    let sxy: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let beta = sxy / sxx;
    let alpha = my - beta * mx;
    let ssr: f64 = x
        .iter()
        .zip(y)
        .map(|(a, b)| (b - alpha - beta * a).powi(2))
        .sum();
    let sst: f64 = y.iter().map(|b| (b - my).powi(2)).sum();
    let dof = (n - 2) as f64;
    let std_error = (ssr / dof / sxx).sqrt();
    let t_stat = beta / std_error;
    Some(OlsFit {
        alpha,
        beta,
        r_squared: 1.0 - ssr / sst,
        std_error,
        t_stat,
        p_value: two_sided_p_value(t_stat, dof).unwrap_or(f64::NAN),
        observations: n,
    })
}

/// In-sample R² as scikit-learn's `r2_score` (constant `y`: 1 if fitted
/// exactly, else 0).
fn r_squared(y: ArrayView1<f64>, fitted: impl Iterator<Item = f64>) -> f64 {
    let my = y.mean().unwrap_or(0.0);
    let ssr: f64 = y.iter().zip(fitted).map(|(a, f)| (a - f).powi(2)).sum();
    let sst: f64 = y.iter().map(|a| (a - my).powi(2)).sum();
    if sst > 0.0 {
        1.0 - ssr / sst
    } else if ssr == 0.0 {
        1.0
    } else {
        0.0
    }
}

fn all_finite(x: ArrayView2<f64>, y: ArrayView1<f64>) -> bool {
    x.iter().chain(y.iter()).all(|v| v.is_finite())
}

/// Ridge regression on standardised regressors (ANALYTICS §2).
///
/// Each column of `x` is centred and divided by its population std; `y` is
/// centred; `b = (ZᵀZ + αI)⁻¹ Zᵀ(y − ȳ)` is solved by Cholesky (LU if the
/// Gram matrix is not numerically positive definite) and `β = b / scale`.
/// `None` when shapes disagree, there are no rows or columns, a value is
/// non-finite, `alpha` is negative or non-finite, or a column is constant.
pub fn ridge_standardized(x: ArrayView2<f64>, y: ArrayView1<f64>, alpha: f64) -> Option<RidgeFit> {
    let (n, k) = x.dim();
    if n == 0 || k == 0 || y.len() != n || !(alpha.is_finite() && alpha >= 0.0) {
        return None;
    }
    if !all_finite(x, y) {
        return None;
    }
    let means: Vec<f64> = x
        .columns()
        .into_iter()
        .map(|c| c.sum() / n as f64)
        .collect();
    let scales: Vec<f64> = x
        .columns()
        .into_iter()
        .zip(&means)
        .map(|(c, m)| (c.iter().map(|v| (v - m).powi(2)).sum::<f64>() / n as f64).sqrt())
        .collect();
    if scales
        .iter()
        .zip(&means)
        .any(|(s, m)| is_constant(*s, *m, n))
    {
        return None;
    }
    let my = y.sum() / n as f64;
    let z = Mat::from_fn(n, k, |i, j| (x[[i, j]] - means[j]) / scales[j]);
    let yc = Mat::from_fn(n, 1, |i, _| y[i] - my);
    let mut gram = z.transpose() * &z;
    for j in 0..k {
        gram[(j, j)] += alpha;
    }
    let rhs = z.transpose() * &yc;
    let b = match gram.llt(Side::Lower) {
        Ok(llt) => llt.solve(&rhs),
        Err(_) => gram.partial_piv_lu().solve(&rhs),
    };
    let betas: Vec<f64> = (0..k).map(|j| b[(j, 0)] / scales[j]).collect();
    if betas.iter().any(|v| !v.is_finite()) {
        return None;
    }
    let intercept = my - betas.iter().zip(&means).map(|(b, m)| b * m).sum::<f64>();
    let fitted = x
        .rows()
        .into_iter()
        .map(|row| intercept + row.iter().zip(&betas).map(|(a, b)| a * b).sum::<f64>());
    Some(RidgeFit {
        r_squared: r_squared(y, fitted),
        betas,
        intercept,
        observations: n,
    })
}

/// OLS with intercept on several regressors, by Householder QR least
/// squares (statsmodels `OLS(y, add_constant(x))` coefficients).
///
/// `None` when shapes disagree, there are fewer rows than coefficients, a
/// value is non-finite, or the design matrix is rank-deficient (e.g. a
/// constant or duplicated column).
pub fn ols_multi(x: ArrayView2<f64>, y: ArrayView1<f64>) -> Option<MultiFit> {
    let (n, k) = x.dim();
    let p = k + 1;
    if y.len() != n || n < p || !all_finite(x, y) {
        return None;
    }
    // Centring the regressors before QR keeps the intercept column well
    // conditioned against them; the intercept is recovered afterwards.
    let means: Vec<f64> = x
        .columns()
        .into_iter()
        .map(|c| c.sum() / n as f64)
        .collect();
    let design = Mat::from_fn(n, p, |i, j| {
        if j == 0 {
            1.0
        } else {
            x[[i, j - 1]] - means[j - 1]
        }
    });
    let qr = design.qr();
    let r = qr.thin_R();
    let diag: Vec<f64> = (0..p).map(|j| r[(j, j)].abs()).collect();
    let max = diag.iter().fold(0.0_f64, |a, b| a.max(*b));
    if max.is_nan() || max <= 0.0 || diag.iter().any(|d| *d <= max * 1e-10 * n as f64) {
        return None;
    }
    let rhs = Mat::from_fn(n, 1, |i, _| y[i]);
    let sol = qr.solve_lstsq(&rhs);
    let mut coefficients: Vec<f64> = (0..p).map(|j| sol[(j, 0)]).collect();
    coefficients[0] -= (1..p).map(|j| coefficients[j] * means[j - 1]).sum::<f64>();
    if coefficients.iter().any(|v| !v.is_finite()) {
        return None;
    }
    let fitted = x.rows().into_iter().map(|row| {
        coefficients[0]
            + row
                .iter()
                .zip(&coefficients[1..])
                .map(|(a, b)| a * b)
                .sum::<f64>()
    });
    Some(MultiFit {
        r_squared: r_squared(y, fitted),
        coefficients,
        observations: n,
    })
}

#[cfg(test)]
mod tests;
