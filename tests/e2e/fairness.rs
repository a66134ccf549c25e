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

/// A worker runs the nightly batch's children on its batch slots only: with one batch slot
/// of three, no two children of a night overlap, and a user's upload during the night runs
/// beside them on a free slot instead of waiting for the night.
#[tokio::test]
async fn a_night_keeps_to_the_batch_slots_and_leaves_the_others_to_users() -> anyhow::Result<()> {
    const CHILDREN: usize = 20;
    let db = TestDb::create().await?;
    let pool = db.pool().await?;
    // Portfolios straight into the database (no onboarding): two positions each, held since
    // a fortnight before the last trading day.
    let owner = sigmasight_shared::db::users::find_or_create(&pool, "night-owner").await?;
    let since = sigmasight_shared::clock::last_trading_day() - chrono::Days::new(14);
    sqlx::query(
        "with p as (
             insert into portfolios (id, user_id, name, account_name, account_type, equity_balance, equity_balance_given)
             select gen_random_uuid(), $1, 'night-' || i, 'night-' || i, 'taxable', 100000, true
             from generate_series(1, $2) i
             returning id)
         insert into positions (id, portfolio_id, symbol, quantity, entry_price, entry_date, investment_class,
                                investment_subtype, position_type, source_row)
         select gen_random_uuid(), p.id, s.symbol, 10, 100, $3, 'PUBLIC', 'STOCK', 'LONG', s.row
         from p, (values ('AAPL', 2), ('MSFT', 3)) s(symbol, row)",
    )
    .bind(owner)
    .bind(i32::try_from(CHILDREN)?)
    .bind(since)
    .execute(&pool)
    .await?;

    let api = Api::start(&db.url, &[]).await?;
    let _worker = start_worker(
        &db.url,
        &[
            ("SIGMASIGHT_WORKER_CONCURRENCY", "3".into()),
            ("SIGMASIGHT_WORKER_BATCH_CONCURRENCY", "1".into()),
        ],
    )?;
    let (code, body) = api
        .admin_post("/api/v1/admin/batch/run", &serde_json::json!({}))
        .await?;
    anyhow::ensure!(code == 202, "{body}");
    let night = body["run_id"].as_str().unwrap_or_default().to_owned();

    // Once the first child runs, a user uploads.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let started: i64 = sqlx::query_scalar(
            "select count(*) from runs where parent_id = $1::uuid and started_at is not null",
        )
        .bind(&night)
        .fetch_one(&pool)
        .await?;
        if started > 0 {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "no child started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let csv = b"Symbol,Quantity,Entry Price Per Share,Entry Date\nAAPL,10,100.00,2025-06-02\n";
    let (user_pid, status) = api.onboard("night-user", "U", csv.to_vec()).await?;
    assert_eq!(status["status"], "completed", "{status}");
    let detail = api
        .wait_batch_run("daily", Some(&night), Duration::from_secs(180))
        .await?;
    assert_eq!(
        detail["children"],
        serde_json::json!({ "completed": CHILDREN }),
        "{detail}"
    );

    type Span = (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>);
    let children: Vec<Span> = sqlx::query_as(
        "select started_at, finished_at from runs where parent_id = $1::uuid order by started_at",
    )
    .bind(&night)
    .fetch_all(&pool)
    .await?;
    for pair in children.windows(2) {
        assert!(
            pair[1].0 >= pair[0].1,
            "two children ran at once on one batch slot: {pair:?}"
        );
    }
    let user: Span = sqlx::query_as(
        "select started_at, finished_at from runs where portfolio_id = $1::uuid and kind = 'onboarding'",
    )
    .bind(&user_pid)
    .fetch_one(&pool)
    .await?;
    let beside = children
        .iter()
        .filter(|c| c.0 < user.1 && user.0 < c.1)
        .count();
    println!(
        "batch slots: the user's onboarding ran beside {beside} of the night's {CHILDREN} children"
    );
    assert!(
        beside > 0,
        "the user's onboarding {user:?} waited for the night: {children:?}"
    );
    drop(api);
    db.drop_database().await;
    Ok(())
}
