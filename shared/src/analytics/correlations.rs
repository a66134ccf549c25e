//! The position correlation matrix of phase 6 (ANALYTICS §7): pairwise
//! Pearson on log returns, PSD repair, overall correlation and the
//! mv-weighted effective number of positions.

use crate::analytics::regression::two_sided_p_value;
use faer::{Mat, Side};
use serde::{Deserialize, Serialize};

/// Log returns per symbol in the window (trading-day returns ending at d).
pub const WINDOW_RETURNS: usize = 90;
/// A symbol with fewer returns in the window is dropped.
pub const MIN_SYMBOL_RETURNS: usize = 20;
/// A pair with fewer common points gets ρ = 0 and is flagged.
pub const MIN_PAIR_POINTS: usize = 30;
/// Minimum |market value| of a kept symbol.
pub const MIN_ABS_MARKET_VALUE: f64 = 10_000.0;
/// Minimum |mv| / Σ|mv| of a kept symbol.
pub const MIN_WEIGHT: f64 = 0.01;
/// Smallest eigenvalue below which the matrix is repaired.
pub const PSD_TOLERANCE: f64 = -1e-10;

/// One pair of symbols (i < j).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pair {
    /// Row symbol.
    pub symbol_1: String,
    /// Column symbol.
    pub symbol_2: String,
    /// ρ in the final (repaired) matrix.
    pub correlation: f64,
    /// Dates both have a return on.
    pub data_points: usize,
    /// Two-sided p-value of the raw Pearson ρ (Student t, n − 2); `None` when flagged.
    pub p_value: Option<f64>,
    /// Too few common points: ρ set to 0.
    pub flagged: bool,
}

/// The matrix and its summaries.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CorrelationResult {
    /// Symbols of the matrix, in order.
    pub symbols: Vec<String>,
    /// Symbols dropped for too few returns.
    pub dropped: Vec<String>,
    /// The final matrix (row-major, symmetric, unit diagonal).
    pub matrix: Vec<Vec<f64>>,
    /// Whether the pairwise matrix needed PSD repair.
    pub psd_repaired: bool,
    /// Smallest eigenvalue of the pairwise matrix before repair.
    pub min_eigenvalue: Option<f64>,
    /// Mean |ρ_ij| over i < j (`None` with fewer than two symbols).
    pub overall_correlation: Option<f64>,
    /// 1 / wᵀρw with w = |mv| / Σ|mv|.
    pub effective_positions: Option<f64>,
    /// Every pair i < j.
    pub pairs: Vec<Pair>,
}

/// Pearson ρ and the point count of two series on the dates both have.
fn pearson(a: &[Option<f64>], b: &[Option<f64>]) -> (Option<f64>, usize) {
    let pts: Vec<(f64, f64)> = a
        .iter()
        .zip(b)
        .filter_map(|(x, y)| Some(((*x)?, (*y)?)))
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .collect();
    let n = pts.len();
    if n < 2 {
        return (None, n);
    }
    let mx = pts.iter().map(|p| p.0).sum::<f64>() / n as f64;
    let my = pts.iter().map(|p| p.1).sum::<f64>() / n as f64;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (x, y) in &pts {
        sxy += (x - mx) * (y - my);
        sxx += (x - mx).powi(2);
        syy += (y - my).powi(2);
    }
    let r = sxy / (sxx * syy).sqrt();
    (r.is_finite().then(|| r.clamp(-1.0, 1.0)), n)
}

/// Two-sided p-value of a Pearson ρ on n points (t = ρ√((n−2)/(1−ρ²))).
pub fn pearson_p_value(r: f64, n: usize) -> Option<f64> {
    if n < 3 {
        return None;
    }
    if r.abs() >= 1.0 {
        return Some(0.0);
    }
    let dof = (n - 2) as f64;
    two_sided_p_value(r * (dof / (1.0 - r * r)).sqrt(), dof)
}

/// Clips negative eigenvalues to 0 and rescales to a unit diagonal when the
/// smallest eigenvalue is below −1e−10. Returns the smallest eigenvalue and
/// whether the matrix changed; `None` when the decomposition fails.
pub fn psd_repair(matrix: &mut [Vec<f64>]) -> Option<(f64, bool)> {
    let n = matrix.len();
    if n == 0 {
        return Some((1.0, false));
    }
    let a = Mat::from_fn(n, n, |i, j| matrix[i][j]);
    let evd = a.self_adjoint_eigen(Side::Lower).ok()?;
    let s = evd.S().column_vector();
    let u = evd.U();
    let min = (0..n).map(|i| s[i]).fold(f64::INFINITY, f64::min);
    if min >= PSD_TOLERANCE {
        return Some((min, false));
    }
    let clipped: Vec<f64> = (0..n).map(|i| s[i].max(0.0)).collect();
    let mut rebuilt = vec![vec![0.0; n]; n];
    for (i, row) in rebuilt.iter_mut().enumerate() {
        for (j, cell) in row.iter_mut().enumerate() {
            *cell = (0..n).map(|k| u[(i, k)] * clipped[k] * u[(j, k)]).sum();
        }
    }
    for i in 0..n {
        for j in 0..n {
            let d = (rebuilt[i][i] * rebuilt[j][j]).sqrt();
            matrix[i][j] = if i == j {
                1.0
            } else if d > 0.0 {
                (rebuilt[i][j] / d).clamp(-1.0, 1.0)
            } else {
                0.0
            };
        }
    }
    Some((min, true))
}

/// Which symbols enter the matrix: |mv| ≥ 10,000 and |mv| / Σ|mv| ≥ 1 %.
pub fn passes_filters(mv: f64, gross: f64) -> bool {
    mv.abs() >= MIN_ABS_MARKET_VALUE && gross > 0.0 && mv.abs() / gross >= MIN_WEIGHT
}

/// The correlation matrix of `returns` (one series per symbol, aligned on the
/// same dates, `None` = no return), weighted by `abs_mv` (one per symbol).
pub fn correlation_matrix(
    symbols: &[String],
    returns: &[Vec<Option<f64>>],
    abs_mv: &[f64],
) -> CorrelationResult {
    let mut kept = Vec::new();
    let mut dropped = Vec::new();
    for (i, s) in symbols.iter().enumerate() {
        let count = returns[i].iter().filter(|r| r.is_some()).count();
        if count >= MIN_SYMBOL_RETURNS {
            kept.push(i);
        } else {
            dropped.push(s.clone());
        }
    }
    let n = kept.len();
    let mut matrix = vec![vec![0.0; n]; n];
    let mut raw_pairs = Vec::new();
    for a in 0..n {
        matrix[a][a] = 1.0;
        for b in a + 1..n {
            let (r, points) = pearson(&returns[kept[a]], &returns[kept[b]]);
            let usable = r.filter(|_| points >= MIN_PAIR_POINTS);
            let rho = usable.unwrap_or(0.0);
            matrix[a][b] = rho;
            matrix[b][a] = rho;
            raw_pairs.push((a, b, points, usable));
        }
    }
    let (min_eigenvalue, psd_repaired) = match psd_repair(&mut matrix) {
        Some((m, r)) => (Some(m), r),
        None => (None, false),
    };
    let pairs: Vec<Pair> = raw_pairs
        .into_iter()
        .map(|(a, b, points, usable)| Pair {
            symbol_1: symbols[kept[a]].clone(),
            symbol_2: symbols[kept[b]].clone(),
            correlation: matrix[a][b],
            data_points: points,
            p_value: usable.and_then(|r| pearson_p_value(r, points)),
            flagged: usable.is_none(),
        })
        .collect();
    let overall_correlation = (!pairs.is_empty())
        .then(|| pairs.iter().map(|p| p.correlation.abs()).sum::<f64>() / pairs.len() as f64);
    let total: f64 = kept.iter().map(|&i| abs_mv[i].abs()).sum();
    let effective_positions = (n > 0 && total > 0.0)
        .then(|| {
            let w: Vec<f64> = kept.iter().map(|&i| abs_mv[i].abs() / total).collect();
            let q: f64 = (0..n)
                .flat_map(|a| (0..n).map(move |b| (a, b)))
                .map(|(a, b)| w[a] * w[b] * matrix[a][b])
                .sum();
            1.0 / q
        })
        .filter(|v| v.is_finite() && *v > 0.0);
    CorrelationResult {
        symbols: kept.iter().map(|&i| symbols[i].clone()).collect(),
        dropped,
        matrix,
        psd_repaired,
        min_eigenvalue,
        overall_correlation,
        effective_positions,
        pairs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_inconsistent_matrix_is_repaired_to_psd_with_a_unit_diagonal() {
        let mut m = vec![
            vec![1.0, 0.9, -0.9],
            vec![0.9, 1.0, 0.9],
            vec![-0.9, 0.9, 1.0],
        ];
        let (min, repaired) = psd_repair(&mut m).expect("evd");
        assert!(repaired && min < -0.5);
        for (i, row) in m.iter().enumerate() {
            assert!((row[i] - 1.0).abs() < 1e-12);
        }
        let a = Mat::from_fn(3, 3, |i, j| m[i][j]);
        let eig = a.self_adjoint_eigenvalues(Side::Lower).expect("evd");
        assert!(eig.iter().all(|e| *e > -1e-10), "{eig:?}");
    }

    #[test]
    fn a_psd_matrix_is_left_alone() {
        let mut m = vec![vec![1.0, 0.3], vec![0.3, 1.0]];
        let before = m.clone();
        assert_eq!(psd_repair(&mut m).map(|r| r.1), Some(false));
        assert_eq!(m, before);
    }

    #[test]
    fn thin_symbols_are_dropped_and_thin_pairs_flagged() {
        let t = |k: usize| (0..60).map(move |i| ((i * k) as f64 * 0.37).sin() * 0.01);
        let a: Vec<Option<f64>> = t(1).map(Some).collect();
        let b: Vec<Option<f64>> = t(2).map(Some).collect();
        // 25 returns: kept (≥ 20) but pairs with only 25 points.
        let c: Vec<Option<f64>> = t(3)
            .enumerate()
            .map(|(i, v)| (i >= 35).then_some(v))
            .collect();
        let d: Vec<Option<f64>> = t(4)
            .enumerate()
            .map(|(i, v)| (i < 10).then_some(v))
            .collect();
        let syms: Vec<String> = ["A", "B", "C", "D"].iter().map(|s| s.to_string()).collect();
        let r = correlation_matrix(&syms, &[a, b, c, d], &[1.0, 1.0, 1.0, 1.0]);
        assert_eq!(r.symbols, vec!["A", "B", "C"]);
        assert_eq!(r.dropped, vec!["D"]);
        let flagged: Vec<(&str, &str)> = r
            .pairs
            .iter()
            .filter(|p| p.flagged)
            .map(|p| (p.symbol_1.as_str(), p.symbol_2.as_str()))
            .collect();
        assert_eq!(flagged, vec![("A", "C"), ("B", "C")]);
        assert_eq!(r.matrix[0][2], 0.0);
    }

    #[test]
    fn effective_positions_weigh_by_market_value() {
        // Two uncorrelated symbols: equal weights give 2, a 3:1 split 1/(0.75²+0.25²) = 1.6.
        let a: Vec<Option<f64>> = (0..90).map(|i| Some((i as f64 * 0.9).sin())).collect();
        let b: Vec<Option<f64>> = (0..90).map(|i| Some((i as f64 * 0.9).cos())).collect();
        let syms = vec!["A".to_string(), "B".to_string()];
        let r = correlation_matrix(&syms, &[a, b], &[3.0, 1.0]);
        let rho = r.matrix[0][1];
        let want = 1.0 / (0.5625 + 0.0625 + 2.0 * 0.1875 * rho);
        assert!((r.effective_positions.expect("value") - want).abs() < 1e-12);
        assert!(rho.abs() < 0.2);
    }

    #[test]
    fn the_filters_need_ten_thousand_dollars_and_one_percent() {
        assert!(passes_filters(-20_000.0, 1_000_000.0));
        assert!(!passes_filters(9_999.0, 100_000.0));
        assert!(!passes_filters(20_000.0, 3_000_000.0));
    }
}
