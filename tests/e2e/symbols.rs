//! Symbol-level analytics through the real processes: factor betas, metrics, profiles and
//! fundamentals are computed once per symbol and date, and served by the read endpoints.

use sigmasight_shared::market_data::synthetic::SyntheticMarket;
use sigmasight_tests::{example_csv, phase, start_worker, Api, TestDb};
use std::time::Duration;

#[tokio::test]
async fn onboarding_computes_symbol_analytics_once_and_serves_them() -> anyhow::Result<()> {
    let db = TestDb::create().await?;
    let api = Api::start(&db.url, &[]).await?;
    let _worker = start_worker(&db.url, &[])?;
    let (_, s) = api.onboard("alice", "Example", example_csv()).await?;
    assert_eq!(s["status"], "partial", "{s}");
    let ids: Vec<&str> = s["phases"]
        .as_array()
        .map(|p| p.iter().filter_map(|x| x["phase_id"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        ids,
        vec![
            "phase_1",
            "phase_1_5",
            "phase_1_75",
            "phase_0",
            "phase_2",
            "phase_3",
            "phase_4",
            "phase_5",
            "phase_6"
        ]
    );
    for id in ["phase_1_5", "phase_1_75", "phase_0", "phase_2"] {
        let p = phase(&s, id);
        assert!(
            matches!(p["status"].as_str(), Some("completed" | "warning")),
            "{p}"
        );
        assert_eq!(p["current"], p["total"], "{p}");
    }
    // 22 symbols with data (HZNP has none): 13 position symbols + 8 ETFs + ... all analysed.
    assert_eq!(
        phase(&s, "phase_1_5")["summary"]["calculated"],
        phase(&s, "phase_1_5")["total"]
    );

    // Read endpoints return what was stored; planted vs recovered market betas.
    let market = SyntheticMarket::default();
    let mut lines = Vec::new();
    for sym in ["AAPL", "MSFT", "JPM", "XOM", "JNJ", "KO", "SPY", "TLT"] {
        let (code, f) = api
            .get_json(
                "alice",
                &format!("/api/v1/market-data/symbols/{sym}/factors"),
            )
            .await?;
        assert_eq!(code, 200, "{f}");
        let rows = f["factors"].as_array().cloned().unwrap_or_default();
        assert_eq!(
            rows.iter().filter(|r| r["method"] == "ridge").count(),
            6,
            "{f}"
        );
        assert_eq!(rows.iter().filter(|r| r["method"] == "spread").count(), 4);
        let beta = rows
            .iter()
            .find(|r| r["method"] == "ols_market")
            .and_then(|r| r["beta"].as_f64())
            .unwrap_or(f64::NAN);
        let provider = rows
            .iter()
            .find(|r| r["method"] == "provider")
            .and_then(|r| r["beta"].as_f64());
        let planted = market.loadings(sym).market;
        assert!(
            (beta - planted).abs() < 0.5,
            "{sym}: market beta {beta} far from planted {planted}"
        );
        assert_eq!(
            provider.map(|p| (p * 100.0).round()),
            Some((planted * 100.0).round()),
            "{sym}: provider beta is the profile's"
        );
        lines.push(format!(
            "{sym} planted {planted:.3} recovered(90d) {beta:.3}"
        ));
    }
    eprintln!("market beta, planted vs recovered: {}", lines.join("; "));
    let (code, m) = api
        .get_json("alice", "/api/v1/market-data/symbols/AAPL/metrics")
        .await?;
    assert_eq!(code, 200, "{m}");
    assert!(
        m["return_ytd"].as_f64().is_some(),
        "YTD is never null with the on-or-before rule: {m}"
    );
    assert!(m["volatility_21d"].as_f64().is_some_and(|v| v > 0.0));
    assert_eq!(m["company_name"], "Apple Inc.");
    let (code, p) = api
        .get_json(
            "alice",
            "/api/v1/market-data/symbols/AAPL/prices?start=2026-01-02&end=2026-01-09",
        )
        .await?;
    assert_eq!(code, 200);
    assert_eq!(
        p["prices"].as_array().map(Vec::len),
        Some(6),
        "2026-01-02..09 holds 6 trading days: {p}"
    );
    let (code, e) = api
        .get_json("alice", "/api/v1/market-data/symbols/NOPE/factors")
        .await?;
    assert_eq!(
        (code, e["error"]["code"].as_str()),
        (404, Some("not_found"))
    );

    // A second portfolio holding the same symbols computes none of them again.
    let (_, second) = api
        .upload("bob", "Again", "demo.csv", example_csv())
        .await?;
    let s2 = api
        .wait_terminal(
            "bob",
            second["portfolio_id"].as_str().unwrap_or_default(),
            Duration::from_secs(120),
        )
        .await?;
    for id in ["phase_1_5", "phase_1_75", "phase_0", "phase_2"] {
        let p = phase(&s2, id);
        assert_eq!(
            p["summary"]["cached"], p["total"],
            "{id} recomputed something: {p}"
        );
    }
    let pool = db.pool().await?;
    let runs_per_symbol: i64 = sqlx::query_scalar(
        "select count(distinct run_id) from symbol_factor_exposures where method <> 'provider'",
    )
    .fetch_one(&pool)
    .await?;
    assert_eq!(
        runs_per_symbol, 1,
        "every factor row was written by the first run only"
    );
    pool.close().await;
    drop(api);
    db.drop_database().await;
    Ok(())
}
