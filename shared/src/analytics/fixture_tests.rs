//! Known-answer tests against `shared/tests/fixtures/analytics.json`, written
//! by `scripts/fixtures/gen_analytics_fixtures.py` from statsmodels,
//! scikit-learn and numpy. Run with `--nocapture` to see the largest
//! absolute error of each estimator.

use std::collections::HashMap;

use chrono::NaiveDate;
use ndarray::{Array1, Array2};
use serde_json::Value;

use crate::analytics::factors::{analyze_symbol, FactorRow, RIDGE_ETFS};
use crate::analytics::metrics::{realized_vol, symbol_metrics};
use crate::analytics::regression::{ols_multi, ols_simple, ridge_standardized};
use crate::analytics::snapshots::PriceTable;

const FIXTURE: &str = include_str!("../../tests/fixtures/analytics.json");

fn fixture() -> Value {
    serde_json::from_str(FIXTURE).expect("fixture parses")
}

pub(super) fn num(v: &Value) -> f64 {
    v.as_f64().expect("number")
}

pub(super) fn vec1(v: &Value) -> Vec<f64> {
    v.as_array().expect("array").iter().map(num).collect()
}

pub(super) fn mat(v: &Value) -> Array2<f64> {
    let rows: Vec<Vec<f64>> = v.as_array().expect("rows").iter().map(vec1).collect();
    let k = rows[0].len();
    Array2::from_shape_fn((rows.len(), k), |(i, j)| rows[i][j])
}

/// Tracks the largest absolute error and fails beyond `tol`.
pub(super) struct MaxErr {
    name: &'static str,
    tol: f64,
    max: f64,
}

impl MaxErr {
    pub(super) fn new(name: &'static str, tol: f64) -> Self {
        Self {
            name,
            tol,
            max: 0.0,
        }
    }
    pub(super) fn check(&mut self, what: &str, got: f64, want: f64) {
        let err = (got - want).abs();
        assert!(
            err <= self.tol,
            "{}: {what}: got {got}, want {want}, err {err:e}",
            self.name
        );
        self.max = self.max.max(err);
    }
    pub(super) fn report(&self) {
        eprintln!("max abs error {:<28} {:.3e}", self.name, self.max);
    }
}

#[test]
fn ols_simple_matches_statsmodels() {
    let fx = fixture();
    let (mut coef, mut inf) = (
        MaxErr::new("ols_simple (alpha,beta,r2,se)", 1e-12),
        MaxErr::new("ols_simple (t, p)", 1e-9),
    );
    for case in fx["ols"].as_array().expect("ols") {
        let (x, y) = (vec1(&case["x"]), vec1(&case["y"]));
        let fit = ols_simple(&x, &y).expect("fit");
        coef.check("alpha", fit.alpha, num(&case["alpha"]));
        coef.check("beta", fit.beta, num(&case["beta"]));
        coef.check("r2", fit.r_squared, num(&case["r_squared"]));
        coef.check("se", fit.std_error, num(&case["std_error"]));
        inf.check("t", fit.t_stat, num(&case["t_stat"]));
        inf.check("p", fit.p_value, num(&case["p_value"]));
        assert_eq!(
            fit.observations as u64,
            case["observations"].as_u64().expect("n")
        );
    }
    // The p-values span significant and insignificant cases.
    let ps: Vec<f64> = fx["ols"]
        .as_array()
        .expect("ols")
        .iter()
        .map(|c| num(&c["p_value"]))
        .collect();
    assert!(
        ps.iter().any(|p| *p < 1e-10) && ps.iter().any(|p| *p > 0.1),
        "{ps:?}"
    );
    coef.report();
    inf.report();
}

#[test]
fn ridge_matches_sklearn() {
    let fx = fixture();
    let mut err = MaxErr::new("ridge_standardized", 1e-10);
    for case in fx["ridge"].as_array().expect("ridge") {
        let (x, y) = (mat(&case["x"]), Array1::from(vec1(&case["y"])));
        let fit = ridge_standardized(x.view(), y.view(), num(&case["alpha"])).expect("fit");
        for (got, want) in fit.betas.iter().zip(vec1(&case["betas"])) {
            err.check("beta", *got, want);
        }
        err.check("intercept", fit.intercept, num(&case["intercept"]));
        err.check("r2", fit.r_squared, num(&case["r_squared"]));
        assert_eq!(fit.observations, y.len());
    }
    err.report();
}

#[test]
fn ols_multi_matches_statsmodels() {
    let fx = fixture();
    let mut err = MaxErr::new("ols_multi", 1e-10);
    for case in fx["multi"].as_array().expect("multi") {
        let (x, y) = (mat(&case["x"]), Array1::from(vec1(&case["y"])));
        let fit = ols_multi(x.view(), y.view()).expect("fit");
        let want = vec1(&case["coefficients"]);
        assert_eq!(fit.coefficients.len(), want.len());
        for (got, want) in fit.coefficients.iter().zip(want) {
            err.check("coefficient", *got, want);
        }
        err.check("r2", fit.r_squared, num(&case["r_squared"]));
    }
    err.report();
}

#[test]
fn realized_vol_matches_numpy() {
    let fx = fixture();
    let mut err = MaxErr::new("realized_vol", 1e-14);
    let r = vec1(&fx["vol"]["returns"]);
    err.check(
        "all",
        realized_vol(&r).expect("vol"),
        num(&fx["vol"]["vol_all"]),
    );
    err.check(
        "21",
        realized_vol(&r[r.len() - 21..]).expect("vol"),
        num(&fx["vol"]["vol_21"]),
    );
    err.check(
        "63",
        realized_vol(&r[r.len() - 63..]).expect("vol"),
        num(&fx["vol"]["vol_63"]),
    );
    err.report();
}

fn fixture_table(t: &Value) -> PriceTable {
    let dates = t["dates"]
        .as_array()
        .expect("dates")
        .iter()
        .map(|d| {
            NaiveDate::parse_from_str(d.as_str().expect("date"), "%Y-%m-%d").expect("iso date")
        })
        .collect();
    let closes: HashMap<String, Vec<Option<f64>>> = t["closes"]
        .as_object()
        .expect("closes")
        .iter()
        .map(|(s, v)| (s.clone(), vec1(v).into_iter().map(Some).collect()))
        .collect();
    PriceTable { dates, closes }
}

fn row<'a>(rows: &'a [FactorRow], factor: &str) -> &'a FactorRow {
    rows.iter()
        .find(|r| r.factor == factor)
        .expect("row present")
}

/// Every analyze_symbol row on a full price table against the libraries.
#[test]
fn analyze_symbol_matches_references() {
    let fx = fixture();
    let t = &fx["table"];
    let table = fixture_table(t);
    let end = table.dates.len() - 1;
    let rows = analyze_symbol(&table, t["symbol"].as_str().expect("symbol"), end);
    assert_eq!(rows.len(), 12);
    let mut ridge = MaxErr::new("analyze_symbol ridge", 1e-10);
    for ((factor, _), want) in RIDGE_ETFS.iter().zip(vec1(&t["ridge"]["betas"])) {
        let r = row(&rows, factor);
        assert_eq!((r.method, r.observations, r.window), ("ridge", 90, 90));
        ridge.check(factor, r.beta.expect("beta"), want);
        ridge.check(
            "r2",
            r.r_squared.expect("r2"),
            num(&t["ridge"]["r_squared"]),
        );
    }
    let mut ols = MaxErr::new("analyze_symbol spreads+ols", 1e-9);
    let spreads = t["spreads"].as_object().expect("spreads");
    let mut expected: Vec<(&str, &Value)> = spreads.iter().map(|(k, v)| (k.as_str(), v)).collect();
    expected.push(("Market Beta (90D)", &t["market_beta"]));
    expected.push(("Interest Rate Beta", &t["ir_beta"]));
    for (factor, want) in expected {
        let r = row(&rows, factor);
        assert_eq!(
            i64::from(r.observations),
            want["observations"].as_i64().expect("n"),
            "{factor}"
        );
        for (got, key) in [
            (r.beta, "beta"),
            (r.r_squared, "r_squared"),
            (r.t_stat, "t_stat"),
            (r.std_error, "std_error"),
            (r.p_value, "p_value"),
            (r.alpha, "alpha"),
        ] {
            ols.check(key, got.expect(key), num(&want[key]));
        }
    }
    assert_eq!(row(&rows, "Size Spread").window, 180);
    assert!(rows.iter().all(|r| r.reason.is_none()), "{rows:?}");
    let m = symbol_metrics(&table, "ABC", end);
    let mut vol = MaxErr::new("symbol_metrics vol", 1e-14);
    vol.check("21", m.volatility_21d.expect("vol21"), num(&t["vol_21"]));
    vol.check("63", m.volatility_63d.expect("vol63"), num(&t["vol_63"]));
    ridge.report();
    ols.report();
    vol.report();
}
