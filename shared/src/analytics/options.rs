//! Black–Scholes option pricing without dividends (ANALYTICS §5).
//!
//! Pure math: the standard normal CDF (via W. J. Cody's rational Chebyshev
//! approximations of `erfc`, accurate to about 1e-16 relative), European
//! call/put model values and deltas, and a calendar-date wrapper that applies
//! the expiry-day (intrinsic) and after-expiry (inactive) rules.

use crate::domain::OptionType;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// Days per year used to turn calendar days to expiry into `T` (years).
pub const DAYS_PER_YEAR: f64 = 365.0;

/// A model value and delta for one option contract (per unit of underlying,
/// before the contract multiplier).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct OptionQuote {
    /// Model value per unit of underlying.
    pub value: f64,
    /// ∂value/∂S: in [0, 1] for calls, [−1, 0] for puts.
    pub delta: f64,
}

// Coefficients of W. J. Cody, "Rational Chebyshev approximations for the
// error function", Math. Comp. 23 (1969), as used in his CALERF routine.
// Kept digit for digit as published (hence `excessive_precision` allowed).
#[allow(clippy::excessive_precision)]
const ERF_A: [f64; 5] = [
    3.161_123_743_870_565_6e0,
    1.138_641_541_510_501_56e2,
    3.774_852_376_853_020_21e2,
    3.209_377_589_138_469_47e3,
    1.857_777_061_846_031_53e-1,
];
#[allow(clippy::excessive_precision)]
const ERF_B: [f64; 4] = [
    2.360_129_095_234_412_09e1,
    2.440_246_379_344_441_73e2,
    1.282_616_526_077_372_28e3,
    2.844_236_833_439_170_62e3,
];
#[allow(clippy::excessive_precision)]
const ERFC_C: [f64; 9] = [
    5.641_884_969_886_700_89e-1,
    8.883_149_794_388_375_94e0,
    6.611_919_063_714_162_95e1,
    2.986_351_381_974_001_31e2,
    8.819_522_212_417_690_9e2,
    1.712_047_612_634_070_58e3,
    2.051_078_377_826_071_47e3,
    1.230_339_354_797_997_25e3,
    2.153_115_354_744_038_46e-8,
];
#[allow(clippy::excessive_precision)]
const ERFC_D: [f64; 8] = [
    1.574_492_611_070_983_47e1,
    1.176_939_508_913_124_99e2,
    5.371_811_018_620_098_58e2,
    1.621_389_574_566_690_19e3,
    3.290_799_235_733_459_63e3,
    4.362_619_090_143_247_16e3,
    3.439_367_674_143_721_64e3,
    1.230_339_354_803_749_42e3,
];
#[allow(clippy::excessive_precision)]
const ERFC_P: [f64; 6] = [
    3.053_266_349_612_323_44e-1,
    3.603_448_999_498_044_39e-1,
    1.257_817_261_112_292_46e-1,
    1.608_378_514_874_227_66e-2,
    6.587_491_615_298_378_03e-4,
    1.631_538_713_730_209_78e-2,
];
#[allow(clippy::excessive_precision)]
const ERFC_Q: [f64; 5] = [
    2.568_520_192_289_822_42e0,
    1.872_952_849_923_460_47e0,
    5.279_051_029_514_284_12e-1,
    6.051_834_131_244_131_91e-2,
    2.335_204_976_268_691_85e-3,
];
/// 1/√π.
#[allow(clippy::excessive_precision)]
const FRAC_1_SQRT_PI: f64 = 5.641_895_835_477_562_869_5e-1;
/// Above this erfc(x) underflows to 0 in IEEE double precision.
const ERFC_XBIG: f64 = 26.543;

/// `exp(-y²)` computed as `exp(-ysq²)·exp(-(y−ysq)(y+ysq))` with `ysq` `y`
/// truncated to a multiple of 1/16, which avoids the cancellation of `y·y`.
fn exp_neg_sq(y: f64) -> f64 {
    let ysq = (y * 16.0).trunc() / 16.0;
    let del = (y - ysq) * (y + ysq);
    (-ysq * ysq).exp() * (-del).exp()
}

/// Complementary error function, W. J. Cody's CALERF algorithm (JINT = 1).
fn erfc(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    let y = x.abs();
    let result = if y <= 0.468_75 {
        // erf on |x| ≤ 0.46875, then 1 − erf.
        let ysq = if y > 1.11e-16 { y * y } else { 0.0 };
        let mut xnum = ERF_A[4] * ysq;
        let mut xden = ysq;
        for i in 0..3 {
            xnum = (xnum + ERF_A[i]) * ysq;
            xden = (xden + ERF_B[i]) * ysq;
        }
        return 1.0 - x * (xnum + ERF_A[3]) / (xden + ERF_B[3]);
    } else if y <= 4.0 {
        let mut xnum = ERFC_C[8] * y;
        let mut xden = y;
        for i in 0..7 {
            xnum = (xnum + ERFC_C[i]) * y;
            xden = (xden + ERFC_D[i]) * y;
        }
        exp_neg_sq(y) * (xnum + ERFC_C[7]) / (xden + ERFC_D[7])
    } else if y >= ERFC_XBIG {
        0.0
    } else {
        let ysq = 1.0 / (y * y);
        let mut xnum = ERFC_P[5] * ysq;
        let mut xden = ysq;
        for i in 0..4 {
            xnum = (xnum + ERFC_P[i]) * ysq;
            xden = (xden + ERFC_Q[i]) * ysq;
        }
        let r = ysq * (xnum + ERFC_P[4]) / (xden + ERFC_Q[4]);
        exp_neg_sq(y) * (FRAC_1_SQRT_PI - r) / y
    };
    if x < 0.0 {
        2.0 - result
    } else {
        result
    }
}

/// Standard normal cumulative distribution function Φ(x) = ½·erfc(−x/√2),
/// accurate to about 1e-16 absolute (and relative in the lower tail).
/// Returns NaN for NaN, 0 at −∞ and 1 at +∞.
pub fn norm_cdf(x: f64) -> f64 {
    0.5 * erfc(-x * std::f64::consts::FRAC_1_SQRT_2)
}

/// Intrinsic value with the expiry-day delta convention: 1 for an
/// in-the-money call (S > K), −1 for an in-the-money put (S < K), else 0.
pub fn intrinsic(kind: OptionType, s: f64, k: f64) -> OptionQuote {
    match kind {
        OptionType::Call => OptionQuote {
            value: (s - k).max(0.0),
            delta: if s > k { 1.0 } else { 0.0 },
        },
        OptionType::Put => OptionQuote {
            value: (k - s).max(0.0),
            delta: if s < k { -1.0 } else { 0.0 },
        },
    }
}

/// Black–Scholes value and delta of a European option without dividends.
///
/// `s` spot, `k` strike, `t_years` time to expiry in years, `r` continuously
/// compounded risk-free rate, `sigma` annualised volatility. With
/// d1 = (ln(S/K) + (r + σ²/2)T)/(σ√T) and d2 = d1 − σ√T:
/// call = S·N(d1) − K·e^{−rT}·N(d2) (delta N(d1)),
/// put = K·e^{−rT}·N(−d2) − S·N(−d1) (delta N(d1) − 1).
///
/// Degenerate inputs (σ ≤ 0, T ≤ 0, S ≤ 0, K ≤ 0, or an infinite input)
/// return the [`intrinsic`] value and delta; a NaN input gives a NaN quote.
pub fn black_scholes(
    kind: OptionType,
    s: f64,
    k: f64,
    t_years: f64,
    r: f64,
    sigma: f64,
) -> OptionQuote {
    let inputs = [s, k, t_years, r, sigma];
    if inputs.iter().any(|v| v.is_nan()) {
        return OptionQuote {
            value: f64::NAN,
            delta: f64::NAN,
        };
    }
    let finite = inputs.iter().all(|v| v.is_finite());
    if !finite || sigma <= 0.0 || t_years <= 0.0 || s <= 0.0 || k <= 0.0 {
        return intrinsic(kind, s, k);
    }
    let sqrt_t = t_years.sqrt();
    let vol_t = sigma * sqrt_t;
    let d1 = ((s / k).ln() + (r + 0.5 * sigma * sigma) * t_years) / vol_t;
    let d2 = d1 - vol_t;
    let discounted_k = k * (-r * t_years).exp();
    match kind {
        OptionType::Call => OptionQuote {
            value: s * norm_cdf(d1) - discounted_k * norm_cdf(d2),
            delta: norm_cdf(d1),
        },
        OptionType::Put => OptionQuote {
            value: discounted_k * norm_cdf(-d2) - s * norm_cdf(-d1),
            // N(d1) − 1 = −N(−d1), computed without cancellation.
            delta: -norm_cdf(-d1),
        },
    }
}

/// Quote of an option on calendar date `d` for an option expiring on `expiry`.
///
/// T = (expiry − d) calendar days / 365. On the expiry date the value is the
/// [`intrinsic`] value (delta ±1 in the money, else 0); after expiry the
/// option is inactive and `None` is returned.
pub fn option_quote_on(
    kind: OptionType,
    s: f64,
    k: f64,
    expiry: NaiveDate,
    d: NaiveDate,
    r: f64,
    sigma: f64,
) -> Option<OptionQuote> {
    let days = (expiry - d).num_days();
    if days < 0 {
        return None;
    }
    if days == 0 {
        return Some(intrinsic(kind, s, k));
    }
    // Day counts are far below 2^53, so the conversion is exact.
    #[allow(clippy::cast_precision_loss)]
    let t = days as f64 / DAYS_PER_YEAR;
    Some(black_scholes(kind, s, k, t, r, sigma))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn norm_cdf_matches_high_precision_reference() {
        // Reference values computed with mpmath at 50 digits: ncdf(x).
        let cases: [(f64, f64); 14] = [
            (0.0, 0.5),
            (0.1, 0.539827837277029),
            (-0.3, 0.3820885778110474),
            (0.5, 0.6914624612740131),
            (-0.66, 0.25462691467133614),
            (1.0, 0.8413447460685429),
            (-1.0, 0.15865525393145705),
            (1.96, 0.9750021048517795),
            (-2.5, 0.006209665325776135),
            (3.0, 0.9986501019683699),
            (-4.0, 3.1671241833119924e-05),
            (-6.0, 9.86587645037698e-10),
            (-8.5, 9.479534822203318e-18),
            (-10.0, 7.619853024160525e-24),
        ];
        for (x, want) in cases {
            let got = norm_cdf(x);
            assert!(close(got, want, 1e-15), "x={x}: {got} vs {want}");
            if want > 0.0 {
                assert!(
                    ((got - want) / want).abs() < 1e-13,
                    "relative x={x}: {got} vs {want}"
                );
            }
        }
        assert_eq!(norm_cdf(f64::INFINITY), 1.0);
        assert_eq!(norm_cdf(f64::NEG_INFINITY), 0.0);
        assert_eq!(norm_cdf(-40.0), 0.0);
        assert!(norm_cdf(40.0) == 1.0 && norm_cdf(-37.0) < 1e-290);
        assert!(norm_cdf(f64::NAN).is_nan());
    }

    #[test]
    fn norm_cdf_symmetry_and_monotonicity() {
        let mut prev = 0.0;
        for i in -800..=800 {
            let x = f64::from(i) / 100.0;
            let p = norm_cdf(x);
            assert!(close(p + norm_cdf(-x), 1.0, 2e-16), "x={x}");
            assert!(p >= prev, "not monotone at {x}");
            prev = p;
        }
    }

    #[test]
    fn black_scholes_known_answer() {
        let c = black_scholes(OptionType::Call, 100.0, 105.0, 0.5, 0.04, 0.2);
        let p = black_scholes(OptionType::Put, 100.0, 105.0, 0.5, 0.04, 0.2);
        assert!(close(c.value, 4.376_999_327_011_66, 1e-10), "{c:?}");
        assert!(close(c.delta, 0.447_149_470_641_424, 1e-10), "{c:?}");
        assert!(close(p.value, 7.297_860_024_220_97, 1e-10), "{p:?}");
        assert!(close(p.delta, -0.552_850_529_358_576, 1e-10), "{p:?}");
    }

    #[test]
    fn put_call_parity_holds() {
        for &(s, k, t, r, sig) in &[
            (100.0, 105.0, 0.5, 0.04, 0.2),
            (50.0, 30.0, 2.0, 0.01, 0.6),
            (250.0, 260.0, 10.0 / 365.0, 0.05, 0.15),
            (10.0, 100.0, 1.0, 0.0, 0.3),
            (100.0, 100.0, 0.01, -0.01, 1.5),
        ] {
            let c = black_scholes(OptionType::Call, s, k, t, r, sig);
            let p = black_scholes(OptionType::Put, s, k, t, r, sig);
            let parity = s - k * (-r * t).exp();
            assert!(
                close(c.value - p.value, parity, 1e-10 * s.max(k)),
                "{s} {k}"
            );
            assert!(close(c.delta - p.delta, 1.0, 1e-14), "delta parity {s} {k}");
            assert!(c.value >= 0.0 && p.value >= 0.0);
            assert!((0.0..=1.0).contains(&c.delta));
            assert!((-1.0..=0.0).contains(&p.delta));
        }
    }

    #[test]
    fn degenerate_inputs_give_intrinsic() {
        let c = black_scholes(OptionType::Call, 110.0, 100.0, 0.5, 0.04, 0.0);
        assert_eq!(
            c,
            OptionQuote {
                value: 10.0,
                delta: 1.0
            }
        );
        let p = black_scholes(OptionType::Put, 110.0, 100.0, 0.0, 0.04, 0.2);
        assert_eq!(
            p,
            OptionQuote {
                value: 0.0,
                delta: 0.0
            }
        );
        let p = black_scholes(OptionType::Put, 90.0, 100.0, -1.0, 0.04, 0.2);
        assert_eq!(
            p,
            OptionQuote {
                value: 10.0,
                delta: -1.0
            }
        );
        let c = black_scholes(OptionType::Call, 90.0, 100.0, 0.5, 0.04, -0.2);
        assert_eq!(
            c,
            OptionQuote {
                value: 0.0,
                delta: 0.0
            }
        );
        let c = black_scholes(OptionType::Call, f64::NAN, 100.0, 0.5, 0.04, 0.2);
        assert!(c.value.is_nan() && c.delta.is_nan());
    }

    #[test]
    fn quote_on_dates() {
        let expiry = date(2024, 6, 21);
        // 182 calendar days before expiry.
        let d = date(2023, 12, 22);
        let q = option_quote_on(OptionType::Call, 100.0, 105.0, expiry, d, 0.04, 0.2);
        let want = black_scholes(OptionType::Call, 100.0, 105.0, 182.0 / 365.0, 0.04, 0.2);
        assert_eq!(q, Some(want));
        // Expiry day: intrinsic.
        let q = option_quote_on(OptionType::Call, 110.0, 105.0, expiry, expiry, 0.04, 0.2);
        assert_eq!(
            q,
            Some(OptionQuote {
                value: 5.0,
                delta: 1.0
            })
        );
        let q = option_quote_on(OptionType::Put, 110.0, 105.0, expiry, expiry, 0.04, 0.2);
        assert_eq!(
            q,
            Some(OptionQuote {
                value: 0.0,
                delta: 0.0
            })
        );
        let q = option_quote_on(OptionType::Put, 100.0, 105.0, expiry, expiry, 0.04, 0.2);
        assert_eq!(
            q,
            Some(OptionQuote {
                value: 5.0,
                delta: -1.0
            })
        );
        let q = option_quote_on(OptionType::Call, 105.0, 105.0, expiry, expiry, 0.04, 0.2);
        assert_eq!(
            q,
            Some(OptionQuote {
                value: 0.0,
                delta: 0.0
            })
        );
        // After expiry: inactive.
        let after = date(2024, 6, 22);
        assert_eq!(
            option_quote_on(OptionType::Call, 110.0, 105.0, expiry, after, 0.04, 0.2),
            None
        );
    }
}
