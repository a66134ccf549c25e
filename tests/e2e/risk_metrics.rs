//! Performance and tail risk (ANALYTICS §7b) through the real processes: onboard, run two
//! nights, and check the endpoint's figures of both dates against a recomputation here from
//! the stored snapshots and SPY closes, written independently of the engine's code.

use chrono::NaiveDate;
use serde_json::{json, Value};
use sigmasight_tests::{start_worker, Api, TestDb};
use std::time::Duration;

const CSV: &[u8] =
    b"Symbol,Quantity,Entry Price Per Share,Entry Date\nAAPL,10,100.00,2026-06-01\nJPM,5,300.00,2026-06-01\n";
const TIMEOUT: Duration = Duration::from_secs(90);
const RF: f64 = 0.04 / 252.0;

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_default()
}

/// numpy's default (linear) quantile.
fn quantile(x: &[f64], a: f64) -> f64 {
    let mut x = x.to_vec();
    x.sort_by(f64::total_cmp);
    let h = (x.len() - 1) as f64 * a;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(x.len() - 1);
    x[lo] + (h - lo as f64) * (x[hi] - x[lo])
}

fn mean(x: &[f64]) -> f64 {
    x.iter().sum::<f64>() / x.len() as f64
}

fn sd(x: &[f64]) -> f64 {
    let m = mean(x);
    (x.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / (x.len() as f64 - 1.0)).sqrt()
}

/// The figures the test recomputes, by name.
fn recompute(
    snaps: &[(NaiveDate, f64, Option<f64>)],
    spy: &[(NaiveDate, f64)],
    d: NaiveDate,
) -> Vec<(&'static str, f64)> {
    let upto: Vec<_> = snaps.iter().filter(|s| s.0 <= d).collect();
    let all: Vec<(NaiveDate, f64)> = upto.iter().filter_map(|s| s.2.map(|r| (s.0, r))).collect();
    let win = &all[all.len().saturating_sub(252)..];
    let r: Vec<f64> = win.iter().map(|p| p.1).collect();
    let q = quantile(&r, 0.05);
    let tail: Vec<f64> = r.iter().copied().filter(|v| *v <= q).collect();
    let ex: Vec<f64> = r.iter().map(|v| v - RF).collect();
    let dd = (ex.iter().map(|v| v.min(0.0).powi(2)).sum::<f64>() / ex.len() as f64).sqrt();
    let (mut peak, mut mdd) = (f64::MIN, 0.0_f64);
    for s in &upto {
        peak = peak.max(s.1);
        mdd = mdd.min(s.1 / peak - 1.0);
    }
    let equity = upto.last().map_or(0.0, |s| s.1);
    // SPY's simple returns, each from the previous close in its own series.
    let spy_r: std::collections::HashMap<NaiveDate, f64> = spy
        .windows(2)
        .map(|w| (w[1].0, w[1].1 / w[0].1 - 1.0))
        .collect();
    let both: Vec<(f64, f64)> = all
        .iter()
        .filter_map(|&(dt, v)| spy_r.get(&dt).map(|&s| (v, s)))
        .collect();
    let both = &both[both.len().saturating_sub(252)..];
    let active: Vec<f64> = both.iter().map(|(a, b)| a - b).collect();
    let (pr, ps): (Vec<f64>, Vec<f64>) = both.iter().copied().unzip();
    let (mr, ms) = (mean(&pr), mean(&ps));
    let beta = pr
        .iter()
        .zip(&ps)
        .map(|(a, b)| (a - mr) * (b - ms))
        .sum::<f64>()
        / ps.iter().map(|b| (b - ms).powi(2)).sum::<f64>();
    vec![
        ("n", r.len() as f64),
        ("m", both.len() as f64),
        ("equity", equity),
        ("var_hist_95", -q),
        ("var_hist_95_dollars", -q * equity),
        ("cvar_hist_95", -mean(&tail)),
        (
            "var_param_99",
            -(mean(&r) - 2.326_347_874_040_840_8 * sd(&r)),
        ),
        ("annualised_volatility", sd(&r) * 252f64.sqrt()),
        ("sharpe", mean(&ex) / sd(&ex) * 252f64.sqrt()),
        ("sortino", mean(&ex) / dd * 252f64.sqrt()),
        ("max_drawdown", mdd),
        ("tracking_error", sd(&active) * 252f64.sqrt()),
        ("realised_beta", beta.clamp(-5.0, 5.0)),
    ]
}

fn check(got: &Value, want: &[(&str, f64)]) {
    for (name, w) in want {
        let g = got[*name]
            .as_f64()
            .unwrap_or_else(|| panic!("{name} missing: {got}"));
        assert!(
            (g - w).abs() <= 1e-9 * w.abs().max(1.0),
            "{name}: endpoint {g}, recomputed {w}"
        );
    }
}

/// An admin's nightly batch, with a worker whose business date is `as_of`, waited for.
async fn night(api: &Api, db_url: &str, as_of: &str) -> anyhow::Result<()> {
    let _worker = start_worker(db_url, &[("SIGMASIGHT_AS_OF", as_of.to_owned())])?;
    let (code, run) = api
        .admin_post("/api/v1/admin/batch/run", &json!({}))
        .await?;
    anyhow::ensure!(code == 202, "{run}");
    let id = run["run_id"].as_str().unwrap_or_default().to_owned();
    let detail = api.wait_batch_run("daily", Some(&id), TIMEOUT).await?;
    assert_eq!(detail["run"]["status"], "completed", "{detail}");
    Ok(())
}

#[tokio::test]
async fn two_nights_store_the_tail_risk_of_each_date_as_a_recomputation_from_the_snapshots_gives(
) -> anyhow::Result<()> {
    let db = TestDb::create().await?;
    let api = Api::start(&db.url, &[("SIGMASIGHT_AS_OF", "2026-11-30".into())]).await?;
    let worker = start_worker(&db.url, &[("SIGMASIGHT_AS_OF", "2026-11-25".into())])?;
    let pid = api.onboard_completed("alice", CSV).await?;
    let path = format!("/api/v1/analytics/portfolio/{pid}/risk-metrics");
    let (code, onboarded) = api.get_json("alice", &path).await?;
    assert_eq!(code, 200, "{onboarded}");
    assert_eq!(onboarded["calculation_date"], "2026-11-25", "{onboarded}");

    drop(worker);
    night(&api, &db.url, "2026-11-27").await?;
    night(&api, &db.url, "2026-11-30").await?;

    let pool = db.pool().await?;
    let snaps: Vec<(NaiveDate, f64, Option<f64>)> = sqlx::query_as(
        "select snapshot_date, equity_balance::float8, daily_return from portfolio_snapshots
         where portfolio_id = $1::uuid order by snapshot_date",
    )
    .bind(&pid)
    .fetch_all(&pool)
    .await?;
    let spy: Vec<(NaiveDate, f64)> = sqlx::query_as(
        "select price_date, close from market_prices where symbol = 'SPY' order by price_date",
    )
    .fetch_all(&pool)
    .await?;
    for d in ["2026-11-25", "2026-11-27", "2026-11-30"] {
        let (code, body) = api.get_json("alice", &format!("{path}?date={d}")).await?;
        assert_eq!(code, 200, "{body}");
        assert_eq!(body["calculation_date"], d, "{body}");
        let want = recompute(&snaps, &spy, date(d));
        assert!(
            want[0].1 >= 60.0,
            "enough history for the figures: {want:?}"
        );
        check(&body["metrics"], &want);
        // Only a recovery may be missing (a portfolio still under its peak), with its reason.
        let m = &body["metrics"];
        let reasons = m["null_reasons"].as_object().cloned().unwrap_or_default();
        let expected = if m["max_drawdown_recovery_date"].is_null() {
            vec!["max_drawdown_recovery_date"]
        } else {
            vec![]
        };
        assert_eq!(
            reasons.keys().map(String::as_str).collect::<Vec<_>>(),
            expected,
            "{m}"
        );
    }

    // The history holds onboarding's final date (it does not fill the dates before: that
    // would cost more than phase 3) and each night's; the latest is the second night's, and
    // the overview leads with it.
    let (_, hist) = api
        .get_json("alice", &format!("{path}?from=2026-11-25&to=2026-11-30"))
        .await?;
    let dates: Vec<&str> = hist["history"]
        .as_array()
        .map(|h| {
            h.iter()
                .filter_map(|r| r["calculation_date"].as_str())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(dates, ["2026-11-25", "2026-11-27", "2026-11-30"], "{hist}");
    let stored: i64 = sqlx::query_scalar(
        "select count(*) from portfolio_tail_risk where portfolio_id = $1::uuid",
    )
    .bind(&pid)
    .fetch_one(&pool)
    .await?;
    assert_eq!(stored, 3);
    let (_, latest) = api.get_json("alice", &path).await?;
    assert_eq!(latest["calculation_date"], "2026-11-30");
    let (_, overview) = api
        .get_json(
            "alice",
            &format!("/api/v1/analytics/portfolio/{pid}/overview"),
        )
        .await?;
    assert_eq!(
        overview["tail_risk"],
        json!({
            "calculation_date": "2026-11-30",
            "var_95_dollars": latest["metrics"]["var_hist_95_dollars"],
            "max_drawdown": latest["metrics"]["max_drawdown"],
            "sharpe": latest["metrics"]["sharpe"],
        })
    );
    // Owner only; a date with from/to is refused.
    let (code, _) = api.get_json("mallory", &path).await?;
    assert_eq!(code, 404);
    let (code, _) = api
        .get_json("alice", &format!("{path}?date=2026-11-27&from=2026-11-01"))
        .await?;
    assert_eq!(code, 400);
    pool.close().await;
    drop(api);
    db.drop_database().await;
    Ok(())
}
