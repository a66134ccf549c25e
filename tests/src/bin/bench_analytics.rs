//! `sigmasight-bench-analytics`: times the portfolio-level phases through the real processes.
//! Onboards synthetic portfolios from generated CSVs and prints each phase's duration (from
//! its phase row): `phase_3` for 20 positions held 1 and 5 years, `phase_6` for 30 and 300
//! positions (longs, shorts and calls). Run by `scripts/bench.sh`.

use chrono::{Datelike, Duration as Days, Utc};
use serde_json::Value;
use sigmasight_shared::calendar;
use sigmasight_tests::{phase, start_worker, Api, TestDb};
use std::fmt::Write as _;

/// A CSV of `n` synthetic stocks entered `years` ago; every 5th is short and every 10th also
/// gets a call on it.
fn csv(n: usize, years: i64) -> String {
    let end = calendar::last_trading_day(Utc::now());
    let entry = calendar::previous_trading_day(end - Days::days(365 * years) + Days::days(1));
    let expiry = end + Days::days(200);
    let mut out = String::from("Symbol,Quantity,Entry Price Per Share,Entry Date,Investment Class,Investment Subtype,Underlying Symbol,Strike Price,Expiration Date,Option Type\n");
    for i in 0..n {
        let sym = format!("S{i:04}");
        let qty = if i % 5 == 4 { -100 } else { 100 };
        let _ = writeln!(out, "{sym},{qty},50.00,{entry},PUBLIC,STOCK,,,,");
        if i % 10 == 9 {
            let _ = writeln!(
                out,
                "{sym}_C{y}{m:02},2,3.00,{entry},OPTIONS,CALL,{sym},50.00,{expiry},CALL",
                y = expiry.year(),
                m = expiry.month()
            );
        }
    }
    out
}

async fn onboard(api: &Api, name: &str, body: String) -> anyhow::Result<Value> {
    let (_, s) = api.onboard("bench", name, body.into_bytes()).await?;
    anyhow::ensure!(s["status"] == "completed", "run ended {}", s["status"]);
    Ok(s)
}

fn secs(s: &Value, id: &str) -> f64 {
    phase(s, id)["duration_seconds"]
        .as_f64()
        .unwrap_or(f64::NAN)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let db = TestDb::create().await?;
    let api = Api::start(&db.url, &[]).await?;
    let worker = start_worker(&db.url, &[])?;
    for years in [1, 5] {
        let s = onboard(&api, &format!("history-{years}y"), csv(20, years)).await?;
        println!(
            "phase_3, 20 positions + 2 calls, {years} year(s): {} snapshots in {:.3} s (phase_6 {:.3} s)",
            phase(&s, "phase_3")["total"],
            secs(&s, "phase_3"),
            secs(&s, "phase_6")
        );
    }
    for n in [30, 300] {
        let s = onboard(&api, &format!("risk-{n}"), csv(n, 1)).await?;
        println!(
            "phase_6, {} positions ({n} stocks + {} calls), 1 year: {} items in {:.3} s (phase_3 {:.3} s)",
            n + n / 10,
            n / 10,
            phase(&s, "phase_6")["total"],
            secs(&s, "phase_6"),
            secs(&s, "phase_3")
        );
    }
    drop(worker);
    drop(api);
    db.drop_database().await;
    Ok(())
}
