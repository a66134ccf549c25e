//! The nightly batch and admin control, through the real processes.

use serde_json::{json, Value};
use sigmasight_tests::{start_worker, start_worker_logged, Api, TestDb};
use std::time::{Duration, Instant};

fn phase_total(status: &Value, id: &str) -> Value {
    status["phases"]
        .as_array()
        .and_then(|p| p.iter().find(|x| x["phase_id"] == id))
        .map(|p| p["total"].clone())
        .unwrap_or(Value::Null)
}

const A_CSV: &[u8] =
    b"Symbol,Quantity,Entry Price Per Share,Entry Date\nAAPL,10,100.00,2026-06-01\nJPM,-5,300.00,2026-06-01\n";
const B_CSV: &[u8] =
    b"Symbol,Quantity,Entry Price Per Share,Entry Date\nXOM,20,100.00,2026-08-03\n";

const DAILY_TIMEOUT: Duration = Duration::from_secs(90);

/// An admin's forced batch of portfolio `a` from 2026-09-01, waited for: its detail.
async fn forced_batch(api: &Api, a: &str) -> anyhow::Result<Value> {
    let (code, body) = api
        .admin_post(
            "/api/v1/admin/batch/run",
            &json!({ "portfolio_ids": [a], "force_rerun": true, "start_date": "2026-09-01" }),
        )
        .await?;
    assert_eq!(code, 202, "{body}");
    let run_id = body["run_id"].as_str().unwrap_or_default().to_owned();
    api.wait_batch_run("daily", Some(&run_id), DAILY_TIMEOUT)
        .await
}

#[tokio::test]
async fn the_nightly_batch_brings_every_portfolio_up_to_date_and_skips_dates_it_has(
) -> anyhow::Result<()> {
    let db = TestDb::create().await?;
    let api = Api::start(&db.url, &[]).await?;
    let worker = start_worker(&db.url, &[])?;
    let a = api.onboard_completed("alice", A_CSV).await?;
    let b = api.onboard_completed("bob", B_CSV).await?;
    drop(worker);

    // Portfolio A missed its last 10 nights; B is current.
    let pool = db.pool().await?;
    let keep: Vec<(chrono::NaiveDate, f64)> = sqlx::query_as(
        "select snapshot_date, equity_balance::float8 from portfolio_snapshots where portfolio_id = $1::uuid order by snapshot_date desc limit 10",
    )
    .bind(&a)
    .fetch_all(&pool)
    .await?;
    sqlx::query(
        "delete from portfolio_snapshots where portfolio_id = $1::uuid and snapshot_date >= $2",
    )
    .bind(&a)
    .bind(keep[9].0)
    .execute(&pool)
    .await?;
    let b_before: i64 = sqlx::query_scalar(
        "select count(*) from portfolio_snapshots where portfolio_id = $1::uuid",
    )
    .bind(&b)
    .fetch_one(&pool)
    .await?;

    // A worker with the scheduler on catches up the missed night at start.
    let _scheduler = start_worker(&db.url, &[("SIGMASIGHT_SCHEDULER", "on".into())])?;
    let detail = api.wait_batch_run("daily", None, DAILY_TIMEOUT).await?;
    assert_eq!(detail["run"]["status"], "completed", "{detail}");
    assert_eq!(detail["run"]["source"], "cron");
    assert_eq!(detail["children"], json!({ "completed": 2 }), "{detail}");
    let fanout = detail["phases"]
        .as_array()
        .and_then(|p| p.iter().find(|x| x["phase_id"] == "portfolios").cloned())
        .unwrap_or_default();
    assert_eq!(
        (
            fanout["current"].as_i64(),
            fanout["total"].as_i64(),
            fanout["status"].as_str()
        ),
        (Some(2), Some(2), Some("completed"))
    );

    let restored: Vec<(chrono::NaiveDate, f64)> = sqlx::query_as(
        "select snapshot_date, equity_balance::float8 from portfolio_snapshots where portfolio_id = $1::uuid order by snapshot_date desc limit 10",
    )
    .bind(&a)
    .fetch_all(&pool)
    .await?;
    assert_eq!(restored.len(), 10);
    for (old, new) in keep.iter().zip(&restored) {
        assert_eq!(old.0, new.0);
        assert!(
            (old.1 - new.1).abs() < 0.011,
            "equity rolled forward from the prior snapshot: {old:?} vs {new:?}"
        );
    }
    let b_after: i64 = sqlx::query_scalar(
        "select count(*) from portfolio_snapshots where portfolio_id = $1::uuid",
    )
    .bind(&b)
    .fetch_one(&pool)
    .await?;
    assert_eq!(b_before, b_after);
    // Each portfolio's status shows its daily child: A added 10 dates, B none.
    let sa = api.status("alice", &a).await?;
    let sb = api.status("bob", &b).await?;
    assert_eq!(phase_total(&sa, "phase_3"), 10, "{sa}");
    assert_eq!(phase_total(&sb, "phase_3"), 0, "{sb}");
    // A child runs the portfolio-level phases only: the parent did the symbol-level ones.
    let ids: Vec<&str> = sa["phases"]
        .as_array()
        .map(|p| p.iter().filter_map(|x| x["phase_id"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        ids,
        vec!["phase_3", "phase_4", "phase_5", "phase_6"],
        "{sa}"
    );
    // Both portfolios have risk results for the batch's date, A's stress included.
    let risk_dates: Vec<chrono::NaiveDate> = sqlx::query_scalar(
        "select max(calculation_date) from stress_test_results
         where portfolio_id = any($1::uuid[]) group by portfolio_id",
    )
    .bind([a.as_str(), b.as_str()].map(|s| uuid::Uuid::parse_str(s).unwrap_or_default()))
    .fetch_all(&pool)
    .await?;
    assert_eq!(risk_dates.len(), 2);
    assert!(
        risk_dates
            .iter()
            .all(|d| d.to_string() == sa["summary"]["end_date"]),
        "{risk_dates:?} {sa}"
    );
    pool.close().await;
    drop(api);
    db.drop_database().await;
    Ok(())
}

#[tokio::test]
async fn two_schedulers_starting_at_the_same_instant_enqueue_one_daily_job() -> anyhow::Result<()> {
    let db = TestDb::create().await?;
    let on = [("SIGMASIGHT_SCHEDULER", "on".to_owned())];
    let workers = [
        start_worker_logged(&db.url, &on)?,
        start_worker_logged(&db.url, &on)?,
        start_worker_logged(&db.url, &on)?,
    ];
    let pool = db.pool().await?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (daily, done): (i64, i64) = sqlx::query_as(
            "select count(*), count(*) filter (where status = 'completed') from runs where kind = 'daily'",
        )
        .fetch_one(&pool)
        .await?;
        if done == 1 {
            assert_eq!(
                daily, 1,
                "one job per trading date, whatever the number of schedulers"
            );
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "no daily run completed ({daily} inserted)"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Every scheduler has made its decision (inserted, or found the job there) before the count.
    for w in &workers {
        w.wait_for_log("nightly batch", Duration::from_secs(30))
            .await?;
    }
    let daily: i64 = sqlx::query_scalar("select count(*) from runs where kind = 'daily'")
        .fetch_one(&pool)
        .await?;
    assert_eq!(daily, 1);
    pool.close().await;
    db.drop_database().await;
    Ok(())
}

#[tokio::test]
async fn admin_batches_respect_portfolio_scope_dates_need_force_and_runs_can_be_cancelled(
) -> anyhow::Result<()> {
    let db = TestDb::create().await?;
    let api = Api::start(&db.url, &[]).await?;
    let worker = start_worker(&db.url, &[])?;
    let a = api.onboard_completed("alice", A_CSV).await?;
    let _b = api.onboard_completed("bob", B_CSV).await?;

    let (code, body) = api
        .admin_post(
            "/api/v1/admin/batch/run",
            &json!({ "start_date": "2026-07-01" }),
        )
        .await?;
    assert_eq!(
        (code, body["error"]["code"].as_str()),
        (422, Some("ERR_BATCH_001"))
    );
    let r = api
        .client
        .post(format!("{}/api/v1/admin/batch/run", api.base))
        .bearer_auth(Api::token("alice"))
        .json(&json!({}))
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 403, "admin claim required");

    let detail = forced_batch(&api, &a).await?;
    assert_eq!(detail["run"]["status"], "completed", "{detail}");
    assert_eq!(
        detail["children"],
        json!({ "completed": 1 }),
        "only the given portfolio"
    );
    let sa = api.status("alice", &a).await?;
    assert!(sa["run_id"].as_str().is_some());
    let recomputed = phase_total(&sa, "phase_3").as_i64().unwrap_or(0);
    assert!(
        recomputed > 20,
        "forced rerun recomputed from 2026-09-01: {sa}"
    );

    // Cancel a queued run (no worker running to take it).
    drop(worker);
    let (_, body) = api
        .admin_post("/api/v1/admin/batch/run", &json!({}))
        .await?;
    let queued = body["run_id"].as_str().unwrap_or_default().to_owned();
    let (code, body) = api
        .admin_post(
            &format!("/api/v1/admin/batch/runs/{queued}/cancel"),
            &json!({}),
        )
        .await?;
    assert_eq!(
        (code, body["run"]["status"].as_str()),
        (200, Some("cancelled"))
    );
    let (code, body) = api
        .admin_post(
            &format!("/api/v1/admin/batch/runs/{queued}/cancel"),
            &json!({}),
        )
        .await?;
    assert_eq!(
        (code, body["error"]["code"].as_str()),
        (409, Some("ERR_RUN_ENDED"))
    );
    let (_, hist) = api
        .admin_get("/api/v1/admin/batch/runs?status=cancelled")
        .await?;
    assert_eq!(hist["count"], 1);
    // Admins read any portfolio's status.
    let r = api
        .client
        .get(format!("{}/api/v1/onboarding/status/{a}", api.base))
        .bearer_auth(Api::admin_token())
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 200);
    drop(api);
    db.drop_database().await;
    Ok(())
}

#[tokio::test]
async fn a_failing_nightly_child_shows_how_each_phase_ended_and_its_retry_carries_them_over(
) -> anyhow::Result<()> {
    let db = TestDb::create().await?;
    let api = Api::start(&db.url, &[("SIGMASIGHT_MAX_ATTEMPTS", "2".into())]).await?;
    let _worker = start_worker(&db.url, &[("SIGMASIGHT_RETRY_BASE_SECS", "0.2".into())])?;
    let a = api.onboard_completed("alice", A_CSV).await?;
    // A nightly child writes its phase rows once, at its end: one whose last phase fails
    // must still show the three phases it completed and the one that failed.
    let pool = db.pool().await?;
    sqlx::raw_sql(
        "create function planted_failure() returns trigger language plpgsql as
             $$ begin raise exception 'planted failure'; end $$;
         create trigger planted before insert on stress_test_results
             for each row execute function planted_failure();",
    )
    .execute(&pool)
    .await?;
    let detail = forced_batch(&api, &a).await?;
    assert_eq!(detail["children"], json!({ "failed": 1 }), "{detail}");
    let rows: Vec<(i32, String, String, bool, serde_json::Value)> = sqlx::query_as(
        "select p.attempt, p.phase_id, p.status, p.carried_over, p.summary
         from run_phases p join runs r on r.id = p.run_id
         where r.kind = 'portfolio_daily' and r.portfolio_id = $1::uuid
         order by p.attempt, p.ordinal",
    )
    .bind(&a)
    .fetch_all(&pool)
    .await?;
    let shape: Vec<(i32, &str, bool, bool)> = rows
        .iter()
        .map(|(attempt, id, status, carried, _)| {
            (
                *attempt,
                id.as_str(),
                status == "completed" || status == "warning",
                *carried,
            )
        })
        .collect();
    assert_eq!(
        shape,
        vec![
            (1, "phase_3", true, false),
            (1, "phase_4", true, false),
            (1, "phase_5", true, false),
            (1, "phase_6", false, false),
            (2, "phase_3", true, true),
            (2, "phase_4", true, true),
            (2, "phase_5", true, true),
            (2, "phase_6", false, false),
        ],
        "{rows:?}"
    );
    for (attempt, _, status, _, summary) in rows.iter().filter(|r| r.1 == "phase_6") {
        assert_eq!(status, "failed", "attempt {attempt}");
        assert!(
            summary["error"]
                .as_str()
                .unwrap_or_default()
                .contains("planted failure"),
            "attempt {attempt}: {summary}"
        );
    }
    // The first attempt's phase 3 kept what it did: its total and its duration.
    let (total, duration): (i32, Option<f64>) = sqlx::query_as(
        "select p.total, p.duration_seconds from run_phases p join runs r on r.id = p.run_id
         where r.kind = 'portfolio_daily' and r.portfolio_id = $1::uuid
           and p.attempt = 1 and p.phase_id = 'phase_3'",
    )
    .bind(&a)
    .fetch_one(&pool)
    .await?;
    assert!(total > 20, "recomputed from 2026-09-01: {total}");
    assert!(duration.is_some_and(|d| d >= 0.0), "{duration:?}");
    pool.close().await;
    drop(api);
    db.drop_database().await;
    Ok(())
}
