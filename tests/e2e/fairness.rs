//! Fair share through the real processes: user A uploads 30 portfolios, then user B one;
//! B's onboarding does not wait behind A's thirty (arrival order would start all 30 first).

use sigmasight_tests::{start_worker, Api, TestDb};
use std::time::{Duration, Instant};

const WORKERS: usize = 1;
const CONCURRENCY: usize = 4;

#[tokio::test]
async fn one_users_many_uploads_do_not_hold_back_another_users_one() -> anyhow::Result<()> {
    let db = TestDb::create().await?;
    let pool = db.pool().await?;
    let api = Api::start(&db.url, &[]).await?;
    let csv = b"Symbol,Quantity,Entry Price Per Share,Entry Date\nAAPL,10,100.00,2025-06-02\n";
    for i in 0..30 {
        let (code, body) = api
            .upload("user-a", &format!("A{i}"), "a.csv", csv.to_vec())
            .await?;
        anyhow::ensure!(code == 201, "{body}");
    }
    let (code, body) = api.upload("user-b", "B", "b.csv", csv.to_vec()).await?;
    anyhow::ensure!(code == 201, "{body}");
    let b_run = body["run_id"].as_str().unwrap_or_default().to_owned();

    let _workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            start_worker(
                &db.url,
                &[("SIGMASIGHT_WORKER_CONCURRENCY", CONCURRENCY.to_string())],
            )
        })
        .collect::<anyhow::Result<_>>()?;
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let active: i64 =
            sqlx::query_scalar("select count(*) from runs where status in ('queued', 'running')")
                .fetch_one(&pool)
                .await?;
        if active == 0 {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "{active} runs still active");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // How many of A's runs started before B's.
    let ahead: i64 = sqlx::query_scalar(
        "select count(*) from runs a join portfolios p on p.id = a.portfolio_id
         join users u on u.id = p.user_id
         where u.external_id = 'user-a'
           and a.started_at < (select started_at from runs where id = $1::uuid)",
    )
    .bind(&b_run)
    .fetch_one(&pool)
    .await?;
    println!("fair share: {ahead} of user A's 30 runs started before user B's one");
    assert!(
        ahead as usize <= WORKERS * CONCURRENCY,
        "{ahead} of A's runs started before B's (at most {})",
        WORKERS * CONCURRENCY
    );
    drop(api);
    db.drop_database().await;
    Ok(())
}
