//! Portfolio analytics through the real processes: the example portfolio (longs, shorts, a
//! call, an expired put, a PRIVATE position, an exit, a delisted symbol) is onboarded, and
//! the stored daily series and risk results are checked against a plain row-by-row
//! recomputation over the prices the API serves, written here independently of the
//! engine's code.

use chrono::NaiveDate;
use serde_json::Value;
use sigmasight_tests::{example_csv, phase, start_worker, Api, TestDb};
use statrs::distribution::{ContinuousCDF, Normal};
use std::collections::{BTreeMap, HashMap};

const RATE: f64 = 0.04;
const DEFAULT_VOL: f64 = 0.30;

/// One CSV row of the example portfolio.
#[derive(Debug, Clone)]
struct Row {
    symbol: String,
    qty: f64,
    entry: f64,
    entry_date: NaiveDate,
    class: String,
    underlying: Option<String>,
    strike: Option<f64>,
    expiry: Option<NaiveDate>,
    call: bool,
    exit_date: Option<NaiveDate>,
    exit_price: Option<f64>,
}

impl Row {
    fn is_option(&self) -> bool {
        self.class == "OPTIONS"
    }
    fn m(&self) -> f64 {
        if self.is_option() {
            100.0
        } else {
            1.0
        }
    }
    fn price_symbol(&self) -> Option<&str> {
        match self.class.as_str() {
            "PRIVATE" => None,
            "OPTIONS" => self.underlying.as_deref(),
            _ => Some(&self.symbol),
        }
    }
}

fn parse_rows(csv: &str) -> Vec<Row> {
    let date = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok();
    let num = |s: &str| s.parse::<f64>().ok();
    csv.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .skip(1)
        .map(|l| {
            let c: Vec<&str> = l.split(',').map(str::trim).collect();
            Row {
                symbol: c[0].to_owned(),
                qty: num(c[1]).unwrap_or(0.0),
                entry: num(c[2]).unwrap_or(0.0),
                entry_date: date(c[3]).unwrap_or_default(),
                class: c[4].to_owned(),
                underlying: (!c[6].is_empty()).then(|| c[6].to_owned()),
                strike: num(c[7]),
                expiry: date(c[8]),
                call: c[9] == "CALL",
                exit_date: date(c[10]),
                exit_price: num(c[11]),
            }
        })
        .collect()
}

/// Closes per symbol, ascending.
type Prices = HashMap<String, BTreeMap<NaiveDate, f64>>;

fn close_on_or_before(prices: &Prices, s: &str, d: NaiveDate) -> Option<f64> {
    prices.get(s)?.range(..=d).next_back().map(|(_, c)| *c)
}

/// σ of the 63 simple returns ending at d (ddof 1, √252); 0.30 with fewer than 20.
fn option_vol(prices: &Prices, s: &str, d: NaiveDate) -> f64 {
    let closes: Vec<f64> = prices
        .get(s)
        .map(|p| p.range(..=d).map(|(_, c)| *c).collect())
        .unwrap_or_default();
    let tail = &closes[closes.len().saturating_sub(64)..];
    let r: Vec<f64> = tail.windows(2).map(|w| w[1] / w[0] - 1.0).collect();
    if r.len() < 20 {
        return DEFAULT_VOL;
    }
    sample_std(&r) * 252f64.sqrt()
}

fn sample_std(v: &[f64]) -> f64 {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
}

/// (value per unit, delta, underlying price) of a position on d; `None` when inactive.
fn value(prices: &Prices, p: &Row, d: NaiveDate) -> Option<(f64, f64, f64)> {
    if p.class == "PRIVATE" {
        return Some((p.entry, 1.0, p.entry));
    }
    let s = p.price_symbol()?;
    let Some(spot) = close_on_or_before(prices, s, d) else {
        // No data at all (delisted): marked at the entry price.
        return Some((p.entry, 1.0, p.entry));
    };
    if !p.is_option() {
        return Some((spot, 1.0, spot));
    }
    let (k, expiry) = (p.strike?, p.expiry?);
    if d > expiry {
        return None;
    }
    if d == expiry {
        let (v, delta) = if p.call {
            ((spot - k).max(0.0), if spot > k { 1.0 } else { 0.0 })
        } else {
            ((k - spot).max(0.0), if spot < k { -1.0 } else { 0.0 })
        };
        return Some((v, delta, spot));
    }
    let t = (expiry - d).num_days() as f64 / 365.0;
    let sigma = option_vol(prices, s, d);
    let n = Normal::standard();
    let d1 = ((spot / k).ln() + (RATE + sigma * sigma / 2.0) * t) / (sigma * t.sqrt());
    let d2 = d1 - sigma * t.sqrt();
    let disc = k * (-RATE * t).exp();
    Some(if p.call {
        (spot * n.cdf(d1) - disc * n.cdf(d2), n.cdf(d1), spot)
    } else {
        (disc * n.cdf(-d2) - spot * n.cdf(-d1), n.cdf(d1) - 1.0, spot)
    })
}

/// One recomputed day.
#[derive(Debug, Default)]
struct Day {
    pnl: f64,
    realized: f64,
    equity: f64,
    long: f64,
    short: f64,
    count: i64,
    longs: i64,
    shorts: i64,
    /// Signed exposure per position symbol (PUBLIC/OPTIONS with a price, and PRIVATE).
    exposures: Vec<(String, f64)>,
}

fn recompute(rows: &[Row], prices: &Prices, dates: &[NaiveDate], equity0: f64) -> Vec<Day> {
    let mut equity = equity0;
    let mut out = Vec::new();
    for (k, d) in dates.iter().enumerate() {
        let prev = k.checked_sub(1).map(|j| dates[j]);
        let mut day = Day::default();
        for p in rows {
            if p.entry_date > *d {
                continue;
            }
            let prev_value = prev
                .filter(|pd| *pd >= p.entry_date)
                .and_then(|pd| value(prices, p, pd))
                .map(|v| v.0);
            if p.exit_date == Some(*d) {
                if let (Some(x), Some(pv)) = (p.exit_price, prev_value) {
                    let pnl = (x - pv) * p.qty * p.m();
                    day.pnl += pnl;
                    day.realized += pnl;
                }
                continue;
            }
            if p.exit_date.is_some_and(|x| x < *d) {
                continue;
            }
            let Some((v, delta, spot)) = value(prices, p, *d) else {
                continue;
            };
            day.pnl += (v - prev_value.unwrap_or(p.entry)) * p.qty * p.m();
            let e = if p.is_option() {
                delta * spot * p.qty * 100.0
            } else {
                v * p.qty
            };
            if e > 0.0 {
                day.long += e;
            } else {
                day.short += e;
            }
            day.count += 1;
            if p.qty > 0.0 {
                day.longs += 1;
            } else {
                day.shorts += 1;
            }
            day.exposures.push((p.symbol.clone(), e));
        }
        equity += day.pnl;
        day.equity = equity;
        out.push(day);
    }
    out
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * (1.0 + b.abs().max(a.abs()) * 1e-12)
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

#[tokio::test]
async fn the_stored_series_and_risk_match_a_row_by_row_recomputation() -> anyhow::Result<()> {
    let db = TestDb::create().await?;
    let api = Api::start(&db.url, &[]).await?;
    let _worker = start_worker(&db.url, &[])?;
    let csv = example_csv();
    let rows = parse_rows(&String::from_utf8_lossy(&csv));
    let (pid, s) = api.onboard("alice", "Analytics", csv).await?;
    assert_eq!(s["status"], "partial", "{s}");
    for id in ["phase_5", "phase_6"] {
        let p = phase(&s, id);
        assert!(p["total"].as_i64().unwrap_or(0) > 0, "{p}");
        assert_eq!(p["current"], p["total"], "{p}");
    }
    assert_eq!(phase(&s, "phase_5")["total"], 20);
    // 13 factors + portfolio and 16 position volatilities + the matrix + 22 scenarios.
    assert_eq!(phase(&s, "phase_6")["total"], 13 + 17 + 1 + 22);

    let base = format!("/api/v1/analytics/portfolio/{pid}");
    let (code, series) = api.get_json("alice", &format!("{base}/snapshots")).await?;
    assert_eq!(code, 200, "{series}");
    let snaps = series["snapshots"].as_array().cloned().unwrap_or_default();
    let dates: Vec<NaiveDate> = snaps
        .iter()
        .filter_map(|x| x["snapshot_date"].as_str()?.parse().ok())
        .collect();
    let d = *dates.last().expect("snapshots");
    assert_eq!(series["calculation_date"], d.to_string());

    let mut prices: Prices = HashMap::new();
    for sym in rows
        .iter()
        .filter_map(Row::price_symbol)
        .chain(["SPY", "VTV", "VUG", "MTUM", "QUAL", "IWM", "USMV", "TLT"])
    {
        let (code, body) = api
            .get_json(
                "alice",
                &format!("/api/v1/market-data/symbols/{sym}/prices?start=2023-01-01"),
            )
            .await?;
        if code == 404 {
            assert_eq!(sym, "HZNP", "only the delisted symbol has no prices");
            continue;
        }
        let series: BTreeMap<NaiveDate, f64> = body["prices"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .filter_map(|p| Some((p["date"].as_str()?.parse().ok()?, p["close"].as_f64()?)))
            .collect();
        prices.insert(sym.to_owned(), series);
    }

    // Equity balance not given: fully invested, Σ|cost|.
    let equity0: f64 = rows.iter().map(|p| (p.qty * p.entry * p.m()).abs()).sum();
    let days = recompute(&rows, &prices, &dates, equity0);
    let mut max_err = 0.0_f64;
    for (snap, day) in snaps.iter().zip(&days) {
        let at = &snap["snapshot_date"];
        for (field, want) in [
            ("daily_pnl", day.pnl),
            ("daily_realized_pnl", day.realized),
            ("equity_balance", day.equity),
            ("long_value", day.long),
            ("short_value", day.short),
            ("gross_exposure", day.long - day.short),
            ("net_exposure", day.long + day.short),
            ("cash_value", (day.equity - day.long - day.short).max(0.0)),
        ] {
            let got = num(&snap[field]);
            max_err = max_err.max((got - want).abs());
            assert!(
                close(got, want, 0.011),
                "{at} {field}: stored {got}, recomputed {want}"
            );
        }
        assert_eq!(snap["num_positions"], day.count, "{at}");
        assert_eq!(snap["num_long"], day.longs, "{at}");
        assert_eq!(snap["num_short"], day.shorts, "{at}");
    }
    let realized: f64 = days.iter().map(|x| x.realized).sum();
    assert!(realized.abs() > 1.0, "the WMT exit booked a realized P&L");
    println!(
        "series max abs error over {} days: {max_err:.2e}",
        days.len()
    );

    // Factor exposures: Σ e_i β_i over PUBLIC/OPTIONS (underlying's betas), / E_d.
    let last = days.last().expect("days");
    let (code, fx) = api
        .get_json("alice", &format!("{base}/factor-exposures"))
        .await?;
    assert_eq!(code, 200, "{fx}");
    assert_eq!(fx["calculation_date"], d.to_string());
    let factors = fx["factors"].as_array().cloned().unwrap_or_default();
    assert_eq!(factors.len(), 13, "{fx}");
    let mut betas: HashMap<(String, String), f64> = HashMap::new();
    for p in rows.iter().filter(|p| p.class != "PRIVATE") {
        let sym = p.price_symbol().unwrap_or_default();
        let (code, body) = api
            .get_json(
                "alice",
                &format!("/api/v1/market-data/symbols/{sym}/factors?date={d}"),
            )
            .await?;
        if code != 200 {
            continue;
        }
        for f in body["factors"].as_array().cloned().unwrap_or_default() {
            if let (Some(name), Some(b)) = (f["factor"].as_str(), f["beta"].as_f64()) {
                betas.insert((sym.to_owned(), name.to_owned()), b);
            }
        }
    }
    let beta_symbol: HashMap<&str, &str> = rows
        .iter()
        .filter_map(|p| Some((p.symbol.as_str(), p.price_symbol()?)))
        .collect();
    for f in &factors {
        let name = f["factor"].as_str().unwrap_or_default();
        let want: f64 = last
            .exposures
            .iter()
            .filter(|(sym, _)| sym != "PRIVATE_FUND_A" && sym != "HZNP")
            .map(|(sym, e)| {
                let b = betas
                    .get(&(beta_symbol[sym.as_str()].to_owned(), name.to_owned()))
                    .copied()
                    .unwrap_or(0.0);
                e * b
            })
            .sum();
        let got = num(&f["exposure_dollar"]);
        assert!(
            close(got, want, 1e-6 * want.abs().max(1.0)),
            "{name}: {got} vs {want}"
        );
        // The stored beta is the stored exposure over the stored equity, which is in cents
        // (|ΔE| ≤ 0.005): the exposure's own tolerance and that rounding bound the difference.
        let e = last.equity.abs();
        let beta_tol = (1e-6 * want.abs().max(1.0) + want.abs() * 0.005 / e) / (e - 0.005);
        assert!(
            close(num(&f["beta"]), want / last.equity, beta_tol),
            "{name}: {} vs {} (tolerance {beta_tol:e})",
            num(&f["beta"]),
            want / last.equity
        );
    }
    let market = num(&factors[0]["exposure_dollar"]);
    assert_eq!(factors[0]["factor"], "Market Beta (90D)");
    let ir = factors
        .iter()
        .find(|f| f["factor"] == "Interest Rate Beta")
        .map_or(f64::NAN, |f| num(&f["exposure_dollar"]));
    let positions = fx["positions"].as_array().map_or(0, Vec::len);
    assert_eq!(
        positions, 16,
        "PUBLIC and OPTIONS positions active on d with a price"
    );

    // Stress: direct P&L is exposure × shock; rates go through the duration.
    let (_, st) = api
        .get_json("alice", &format!("{base}/stress-test"))
        .await?;
    let scenarios = st["data"]["scenarios"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(scenarios.len(), 19, "active scenarios by default");
    let find = |id: &str| {
        scenarios
            .iter()
            .find(|x| x["id"] == id)
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert!(close(
        num(&find("market_down_10")["direct_pnl"]),
        -0.1 * market,
        1e-6
    ));
    assert!(close(
        num(&find("rates_up_50bp")["direct_pnl"]),
        ir * -16.5 * 0.005,
        1e-6
    ));
    let crash = find("market_crash_35");
    assert!(close(
        num(&crash["correlation_effect"]),
        num(&crash["correlated_pnl"]) - num(&crash["direct_pnl"]),
        1e-6
    ));
    let (_, all) = api
        .get_json(
            "alice",
            &format!("{base}/stress-test?include_inactive=true"),
        )
        .await?;
    assert_eq!(all["data"]["scenarios"].as_array().map_or(0, Vec::len), 22);
    let impact = &crash["impact"];
    assert!(close(
        num(&impact["dollar_impact"]),
        num(&crash["correlated_pnl"]),
        1e-9
    ));
    assert!(close(
        num(&impact["new_portfolio_value"]),
        last.equity + num(&crash["correlated_pnl"]),
        0.011
    ));

    // Volatility: the portfolio series p_t = Σ w_i r_i,t on SPY's days, w = e / Σ|e|.
    let (_, vol) = api.get_json("alice", &format!("{base}/volatility")).await?;
    let held: Vec<(&str, f64)> = last
        .exposures
        .iter()
        .filter(|(sym, _)| sym != "PRIVATE_FUND_A" && sym != "HZNP")
        .map(|(sym, e)| (beta_symbol[sym.as_str()], *e))
        .collect();
    let gross: f64 = held.iter().map(|(_, e)| e.abs()).sum();
    let spy_days: Vec<NaiveDate> = prices["SPY"].range(..=d).map(|(x, _)| *x).collect();
    let ret = |s: &str, i: usize| {
        let p = &prices[s];
        match (p.get(&spy_days[i - 1]), p.get(&spy_days[i])) {
            (Some(a), Some(b)) => b / a - 1.0,
            _ => 0.0,
        }
    };
    let n = spy_days.len();
    let p21: Vec<f64> = (n - 21..n)
        .map(|i| held.iter().map(|(s, e)| e / gross * ret(s, i)).sum())
        .collect();
    let want = sample_std(&p21) * 252f64.sqrt();
    let got = num(&vol["data"]["realized_volatility_21d"]);
    assert!(close(got, want, 1e-10), "portfolio vol {got} vs {want}");
    assert_eq!(vol["positions"].as_array().map_or(0, Vec::len), 16);
    assert!(num(&vol["data"]["expected_volatility_21d"]) > 0.0, "{vol}");

    // Correlations: PUBLIC symbols ≥ $10,000 and 1 %, log returns over the last 90 days.
    let (_, cm) = api
        .get_json("alice", &format!("{base}/correlation-matrix"))
        .await?;
    let data = &cm["data"];
    let symbols: Vec<&str> = data["symbols"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    assert!(
        symbols.contains(&"AAPL") && symbols.contains(&"TLT"),
        "{data}"
    );
    assert!(
        !symbols
            .iter()
            .any(|s| s.contains('_') || *s == "HZNP" || *s == "WMT"),
        "no options, PRIVATE, unpriced or exited symbols: {symbols:?}"
    );
    let matrix = data["correlation_matrix"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let pairs = data["pairs"].as_array().cloned().unwrap_or_default();
    assert_eq!(pairs.len(), symbols.len() * (symbols.len() - 1) / 2);
    let overall: f64 = pairs
        .iter()
        .map(|p| num(&p["correlation"]).abs())
        .sum::<f64>()
        / pairs.len() as f64;
    assert!(close(num(&data["overall_correlation"]), overall, 1e-12));
    if data["psd_repaired"] == false {
        let (a, b) = ("AAPL", "MSFT");
        let (ia, ib) = (
            symbols.iter().position(|s| *s == a).unwrap_or(0),
            symbols.iter().position(|s| *s == b).unwrap_or(0),
        );
        let lr = |s: &str| -> Vec<f64> {
            spy_days[n - 91..]
                .windows(2)
                .map(|w| (prices[s][&w[1]] / prices[s][&w[0]]).ln())
                .collect()
        };
        let (x, y) = (lr(a), lr(b));
        let (mx, my) = (x.iter().sum::<f64>() / 90.0, y.iter().sum::<f64>() / 90.0);
        let cov: f64 = x.iter().zip(&y).map(|(p, q)| (p - mx) * (q - my)).sum();
        let vx: f64 = x.iter().map(|p| (p - mx).powi(2)).sum();
        let vy: f64 = y.iter().map(|q| (q - my).powi(2)).sum();
        let rho = cov / (vx * vy).sqrt();
        assert!(close(num(&matrix[ia][ib]), rho, 1e-10), "{a}/{b}");
        assert!(
            close(num(&data["matrix"][a][b]), rho, 1e-10),
            "{a}/{b} by name"
        );
    }

    // Overview: the latest snapshot with the phase 6 betas and volatility.
    let (_, ov) = api.get_json("alice", &format!("{base}/overview")).await?;
    assert_eq!(ov["calculation_date"], d.to_string());
    assert!(close(num(&ov["equity_balance"]), last.equity, 0.011));
    assert!(close(
        num(&ov["betas"]["beta_calculated_90d"]),
        num(&factors[0]["beta"]),
        1e-9
    ));
    assert!(close(
        num(&ov["volatility"]["realized_vol_21d"]),
        want,
        1e-10
    ));
    assert_eq!(
        ov["position_count"]["option_count"], 1,
        "the call; the put has expired"
    );
    assert!(close(num(&ov["pnl"]["realized_pnl"]), realized, 0.011));

    // Sector tags: one per position.
    let pool = db.pool().await?;
    let tags: Vec<(String, String)> = sqlx::query_as(
        "select p.symbol, t.name from positions p
         join position_tags pt on pt.position_id = p.id join tags t on t.id = pt.tag_id",
    )
    .fetch_all(&pool)
    .await?;
    assert_eq!(tags.len(), 20);
    let tag_of = |s: &str| {
        tags.iter()
            .find(|(sym, _)| sym == s)
            .map(|(_, t)| t.as_str())
    };
    assert_eq!(tag_of("JPM"), Some("Sector: Financials"));
    assert_eq!(tag_of("PRIVATE_FUND_A"), Some("Sector: Uncategorized"));
    assert_eq!(tag_of("HZNP"), Some("Sector: Uncategorized"));

    // Someone else's portfolio: 404 everywhere.
    let (_, pf) = api
        .get_json(
            "alice",
            &format!("{base}/positions/factor-exposures?symbols=aapl,JPM&limit=1"),
        )
        .await?;
    assert_eq!(pf["total"], 2, "{pf}");
    assert_eq!(pf["positions"].as_array().map_or(0, Vec::len), 1);
    assert_eq!(pf["positions"][0]["symbol"], "AAPL");
    let aapl_market = num(&pf["positions"][0]["exposures"]["Market Beta (90D)"]);
    let want_beta = betas[&("AAPL".to_owned(), "Market Beta (90D)".to_owned())];
    assert!(close(aapl_market, want_beta, 1e-12));
    for path in [
        "overview",
        "positions/factor-exposures",
        "snapshots",
        "factor-exposures",
        "volatility",
        "correlation-matrix",
        "stress-test",
    ] {
        let (code, _) = api.get_json("mallory", &format!("{base}/{path}")).await?;
        assert_eq!(code, 404, "{path}");
    }
    pool.close().await;
    drop(api);
    db.drop_database().await;
    Ok(())
}
