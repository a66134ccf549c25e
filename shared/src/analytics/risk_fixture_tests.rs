//! Independent-reference tests of phase 6 against `shared/tests/fixtures/risk.json`, written
//! by `scripts/fixtures/gen_risk_fixtures.py` from statsmodels (HAR, trend), pandas and scipy
//! (pairwise Pearson, p-values), numpy (eigh PSD repair, EWMA, percentile) and a direct
//! transcription of the stress formulas. Run with `--nocapture` to see the largest absolute
//! error of each formula.

use super::fixture_tests::{mat, num, vec1, MaxErr};
use crate::analytics::correlations::{correlation_matrix, psd_repair};
use crate::analytics::stress::{
    ewma_correlation, run_scenario, Scenario, StressInputs, SCENARIOS, SHOCK_FACTORS,
};
use crate::analytics::volatility::{har, percentile, realized_vol, trend};
use serde_json::Value;

const FIXTURE: &str = include_str!("../../tests/fixtures/risk.json");

fn fixture() -> Value {
    serde_json::from_str(FIXTURE).expect("fixture parses")
}

fn cases<'a>(fx: &'a Value, key: &str) -> &'a Vec<Value> {
    fx[key].as_array().expect("cases")
}

fn opt(v: &Value) -> Option<f64> {
    v.as_f64()
}

fn square(v: &Value) -> Vec<Vec<f64>> {
    v.as_array().expect("rows").iter().map(vec1).collect()
}

#[test]
fn har_realized_vol_and_trend_match_statsmodels() {
    let fx = fixture();
    let mut coef = MaxErr::new("HAR coefficients", 1e-9);
    let mut fc = MaxErr::new("HAR forecasts 1d/21d", 1e-10);
    let mut rv = MaxErr::new("realised vol 21/63", 1e-12);
    let mut tr = MaxErr::new("trend slope / R²", 1e-9);
    for case in cases(&fx, "har") {
        let name = case["name"].as_str().unwrap_or("?");
        let r = vec1(&case["returns"]);
        let e = &case["expected"];
        for (w, key) in [(21, "realized_vol_21"), (63, "realized_vol_63")] {
            match (realized_vol(&r, w), opt(&e[key])) {
                (Some(got), Some(want)) => rv.check(name, got, want),
                (got, want) => assert_eq!(got, want, "{name} {key}"),
            }
        }
        match (har(&r), e["rows"].as_u64()) {
            (Some(fit), Some(rows)) if !e["coefficients"].is_null() => {
                assert_eq!(fit.rows as u64, rows, "{name}");
                for (got, want) in fit.coefficients.iter().zip(vec1(&e["coefficients"])) {
                    coef.check(name, *got, want);
                }
                fc.check(name, fit.expected_vol_1d, num(&e["expected_vol_1d"]));
                fc.check(name, fit.expected_vol_21d, num(&e["expected_vol_21d"]));
            }
            (fit, _) => assert!(fit.is_none(), "{name}: HAR should be null"),
        }
        let t = trend(&r).expect("trend");
        tr.check(name, t.slope, num(&e["trend_slope"]));
        tr.check(name, t.strength, num(&e["trend_r_squared"]));
        assert_eq!(Some(t.label), e["trend"].as_str(), "{name}");
    }
    for m in [&coef, &fc, &rv, &tr] {
        m.report();
    }
}

#[test]
fn the_percentile_matches_numpy() {
    let fx = fixture();
    let mut err = MaxErr::new("vol percentile", 1e-12);
    for case in cases(&fx, "percentile") {
        let name = case["name"].as_str().unwrap_or("?");
        let got = percentile(&vec1(&case["returns"]));
        match (got, opt(&case["expected_percentile"])) {
            (Some(g), Some(w)) => err.check(name, g, w),
            (g, w) => assert_eq!(g, w, "{name}"),
        }
    }
    err.report();
}

#[test]
fn the_correlation_matrix_matches_pandas_and_scipy() {
    let fx = fixture();
    let mut rho = MaxErr::new("correlation ρ", 1e-12);
    let mut summary = MaxErr::new("overall / effective positions", 1e-10);
    let mut p = MaxErr::new("pair p-values", 1e-9);
    for case in cases(&fx, "correlation") {
        let name = case["name"].as_str().unwrap_or("?");
        let symbols: Vec<String> = case["symbols"]
            .as_array()
            .expect("symbols")
            .iter()
            .filter_map(|s| s.as_str().map(str::to_owned))
            .collect();
        let rows = case["returns"].as_array().expect("returns");
        let returns: Vec<Vec<Option<f64>>> = (0..symbols.len())
            .map(|j| rows.iter().map(|r| r[j].as_f64()).collect())
            .collect();
        let got = correlation_matrix(&symbols, &returns, &vec1(&case["abs_mv"]));
        let e = &case["expected"];
        assert_eq!(got.symbols, symbols, "{name}: no symbol dropped");
        assert_eq!(
            Some(got.psd_repaired),
            e["psd_repaired"].as_bool(),
            "{name}"
        );
        for (i, row) in square(&e["matrix"]).iter().enumerate() {
            for (j, want) in row.iter().enumerate() {
                rho.check(name, got.matrix[i][j], *want);
            }
        }
        summary.check(
            name,
            got.overall_correlation.expect("overall"),
            num(&e["overall_correlation"]),
        );
        summary.check(
            name,
            got.effective_positions.expect("effective"),
            num(&e["effective_positions"]),
        );
        let flagged: Vec<(usize, usize)> = e["flagged_pairs"]
            .as_array()
            .expect("flagged")
            .iter()
            .map(|x| {
                (
                    x[0].as_u64().unwrap_or(0) as usize,
                    x[1].as_u64().unwrap_or(0) as usize,
                )
            })
            .collect();
        for want in e["pairs"].as_array().expect("pairs") {
            let (i, j) = (
                want["i"].as_u64().unwrap_or(0) as usize,
                want["j"].as_u64().unwrap_or(0) as usize,
            );
            let pair = got
                .pairs
                .iter()
                .find(|x| x.symbol_1 == symbols[i] && x.symbol_2 == symbols[j])
                .expect("pair");
            assert_eq!(
                pair.data_points as u64,
                want["data_points"].as_u64().unwrap_or(0)
            );
            assert_eq!(pair.flagged, flagged.contains(&(i, j)), "{name} {i},{j}");
            rho.check(name, pair.correlation, num(&want["correlation"]));
            match (pair.p_value, opt(&want["p_value"])) {
                (Some(g), Some(w)) => p.check(name, g, w),
                (g, w) => assert_eq!(g, w, "{name} p-value {i},{j}"),
            }
        }
    }
    for m in [&rho, &summary, &p] {
        m.report();
    }
}

#[test]
fn psd_repair_matches_numpy_eigh() {
    let fx = fixture();
    let mut err = MaxErr::new("PSD repair", 1e-12);
    for case in cases(&fx, "psd_repair") {
        let name = case["name"].as_str().unwrap_or("?");
        let mut m = square(&case["input"]);
        let (_, repaired) = psd_repair(&mut m).expect("evd");
        assert_eq!(Some(repaired), case["repaired"].as_bool(), "{name}");
        for (i, row) in square(&case["expected"]).iter().enumerate() {
            for (j, want) in row.iter().enumerate() {
                err.check(name, m[i][j], *want);
            }
        }
    }
    err.report();
}

#[test]
fn ewma_correlation_matches_numpy() {
    let fx = fixture();
    let mut err = MaxErr::new("EWMA correlation", 1e-12);
    for case in cases(&fx, "ewma") {
        let name = case["name"].as_str().unwrap_or("?");
        let got = ewma_correlation(mat(&case["returns"]).view(), num(&case["lambda"]));
        for (i, row) in square(&case["expected"]).iter().enumerate() {
            for (j, want) in row.iter().enumerate() {
                err.check(name, got[[i, j]], *want);
            }
        }
    }
    err.report();
}

#[test]
fn stress_pnl_matches_the_reference_for_every_scenario() {
    let fx = fixture();
    let factors: Vec<&str> = fx["stress_factors"]
        .as_array()
        .expect("factors")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let ours: Vec<&str> = SHOCK_FACTORS.iter().map(|f| f.0).collect();
    assert_eq!(factors, ours, "factor order");
    // The scenario table itself: same ids, same shocks, same order.
    let table = fx["stress_scenarios"].as_array().expect("scenarios");
    assert_eq!(table.len(), SCENARIOS.len());
    for (want, got) in table.iter().zip(SCENARIOS.iter()) {
        assert_eq!(want["id"].as_str(), Some(got.id));
        let shocks = want["shocks"].as_object().expect("shocks");
        assert_eq!(shocks.len(), got.shocks.len(), "{}", got.id);
        for (f, v) in got.shocks {
            assert_eq!(
                shocks.get(*f).and_then(Value::as_f64),
                Some(*v),
                "{} {f}",
                got.id
            );
        }
    }
    let mut err = MaxErr::new("stress P&L", 1e-6);
    for case in cases(&fx, "stress") {
        let name = case["name"].as_str().unwrap_or("?");
        let ex = &case["exposures"];
        let corr = square(&case["correlation"]);
        let mut correlation = [[0.0; 7]; 7];
        for (i, row) in correlation.iter_mut().enumerate() {
            row.copy_from_slice(&corr[i]);
        }
        let inputs = StressInputs {
            equity: num(&case["equity"]),
            duration: num(&case["duration"]),
            exposures: SHOCK_FACTORS.map(|(f, _, _)| num(&ex[f])),
            ir_exposure: num(&ex["Interest Rate"]),
            correlation,
        };
        for want in case["expected"].as_array().expect("expected") {
            let id = want["id"].as_str().unwrap_or_default();
            let got = run_scenario(Scenario::by_id(id).expect("scenario"), &inputs);
            let what = format!("{name} {id}");
            err.check(&what, got.direct_pnl, num(&want["direct_pnl"]));
            err.check(&what, got.correlated_pnl, num(&want["correlated_pnl"]));
            err.check(
                &what,
                got.correlation_effect,
                num(&want["correlation_effect"]),
            );
            err.check(&what, got.direct_pnl_raw, num(&want["direct_pnl_raw"]));
            err.check(
                &what,
                got.correlated_pnl_raw,
                num(&want["correlated_pnl_raw"]),
            );
            assert_eq!(Some(got.capped), want["capped"].as_bool(), "{what}");
        }
    }
    err.report();
}
