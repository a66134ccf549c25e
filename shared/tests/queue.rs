//! Database tests of the queue contract on a real Postgres (each test gets its own database).

use chrono::Utc;
use sigmasight_shared::db::{activity, phases, portfolios, runs, MIGRATOR};
use sigmasight_shared::domain::{ActivityLevel, RunSource, RunStatus};
use sigmasight_shared::queue;
use sqlx::PgPool;
use std::collections::HashSet;
use std::time::Duration;
use uuid::Uuid;

async fn portfolio(pool: &PgPool) -> Uuid {
    let user =
        sigmasight_shared::db::users::find_or_create(pool, &format!("user-{}", Uuid::new_v4()))
            .await
            .expect("user");
    let id = Uuid::new_v4();
    let name = format!("acct-{id}");
    portfolios::insert(
        pool,
        &portfolios::NewPortfolio {
            id,
            user_id: user,
            name: "P",
            account_name: &name,
            account_type: "taxable",
            description: None,
            equity_balance: 1000.into(),
            equity_balance_given: true,
        },
    )
    .await
    .expect("portfolio");
    id
}

async fn enqueue(pool: &PgPool) -> runs::Run {
    let pid = portfolio(pool).await;
    let mut conn = pool.acquire().await.expect("conn");
    queue::enqueue_onboarding(&mut conn, pid, RunSource::Onboarding, 3)
        .await
        .expect("enqueue")
}

const TTL: Duration = Duration::from_secs(30);

/// Claims as `worker` as soon as something is claimable (a lease expiring, a retry coming
/// due), polling until a 5 s deadline instead of sleeping a fixed time.
async fn claim_when_due(pool: &PgPool, worker: &str) -> runs::ClaimedRun {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(claimed) = runs::claim_next(pool, worker, TTL).await.expect("claim") {
            return claimed;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "nothing became claimable"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn concurrent_claimers_never_get_the_same_run(pool: PgPool) {
    for _ in 0..20 {
        enqueue(&pool).await;
    }
    let mut handles = Vec::new();
    for w in 0..8 {
        let pool = pool.clone();
        handles.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            while let Some(c) = runs::claim_next(&pool, &format!("w{w}"), TTL)
                .await
                .expect("claim")
            {
                mine.push(c.run.id);
            }
            mine
        }));
    }
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.await.expect("join"));
    }
    let unique: HashSet<_> = all.iter().collect();
    assert_eq!(all.len(), 20, "every run claimed exactly once");
    assert_eq!(unique.len(), 20);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_run_with_an_expired_lease_is_claimed_again_as_the_next_attempt(pool: PgPool) {
    let run = enqueue(&pool).await;
    let first = runs::claim_next(&pool, "worker-a", Duration::from_millis(50))
        .await
        .expect("claim")
        .expect("a run");
    assert_eq!(
        (first.run.id, first.run.attempt, first.prior_status.as_str()),
        (run.id, 1, "queued")
    );
    assert!(
        runs::claim_next(&pool, "worker-b", TTL)
            .await
            .expect("claim")
            .is_none(),
        "lease still held"
    );
    let second = claim_when_due(&pool, "worker-b").await;
    assert_eq!(second.run.id, run.id);
    assert_eq!(second.run.attempt, 2);
    assert_eq!(second.prior_status, RunStatus::Running);
    assert_eq!(second.run.previous_worker_id.as_deref(), Some("worker-a"));
    assert_eq!(second.run.worker_id.as_deref(), Some("worker-b"));
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn writes_fenced_on_a_lost_attempt_change_nothing(pool: PgPool) {
    let run = enqueue(&pool).await;
    runs::claim_next(&pool, "worker-a", Duration::from_millis(50))
        .await
        .expect("claim")
        .expect("run");
    let plan: Vec<_> = sigmasight_shared::phases::ONBOARDING.iter().collect();
    assert!(phases::init_attempt(&pool, run.id, 1, &plan, &[])
        .await
        .expect("init"));
    claim_when_due(&pool, "worker-b").await;

    // Every write of attempt 1 now touches nothing and says so.
    assert!(!runs::renew_lease(&pool, run.id, 1, TTL)
        .await
        .expect("renew"));
    assert!(!phases::start(&pool, run.id, 1, "phase_1", 10)
        .await
        .expect("start"));
    assert!(!phases::progress(&pool, run.id, 1, "phase_1", 5, 10)
        .await
        .expect("progress"));
    let entry = activity::NewEntry {
        ts: Utc::now(),
        level: ActivityLevel::Info,
        phase_id: None,
        message: "late".into(),
        debug: false,
    };
    assert!(!activity::insert_batch(&pool, run.id, 1, &[entry])
        .await
        .expect("activity"));
    assert!(!runs::finish(
        &pool,
        run.id,
        1,
        RunStatus::Completed,
        &serde_json::json!({}),
        None
    )
    .await
    .expect("finish"));
    let mut tx = pool.begin().await.expect("tx");
    assert!(!runs::hold_fence(&mut tx, run.id, 1).await.expect("fence"));
    drop(tx);

    let stored = runs::find(&pool, run.id).await.expect("find").expect("run");
    assert_eq!((stored.status.as_str(), stored.attempt), ("running", 2));
    assert!(activity::all(&pool, run.id, true)
        .await
        .expect("all")
        .is_empty());
    // The current attempt's writes still work.
    assert!(runs::renew_lease(&pool, run.id, 2, TTL)
        .await
        .expect("renew"));
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_portfolio_has_at_most_one_active_run(pool: PgPool) {
    let run = enqueue(&pool).await;
    let pid = run.portfolio_id.expect("portfolio");
    let mut conn = pool.acquire().await.expect("conn");
    let err = queue::enqueue_onboarding(&mut conn, pid, RunSource::Onboarding, 3)
        .await
        .expect_err("second active run refused");
    assert!(
        sigmasight_shared::db::is_unique_violation(&err, runs::ONE_ACTIVE_PER_PORTFOLIO),
        "{err}"
    );
    runs::claim_next(&pool, "w", TTL)
        .await
        .expect("claim")
        .expect("run");
    runs::finish(
        &pool,
        run.id,
        1,
        RunStatus::Completed,
        &serde_json::json!({}),
        None,
    )
    .await
    .expect("finish");
    queue::enqueue_onboarding(&mut conn, pid, RunSource::Onboarding, 3)
        .await
        .expect("a new run once the first ended");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_requeued_attempt_waits_for_its_backoff(pool: PgPool) {
    let run = enqueue(&pool).await;
    runs::claim_next(&pool, "w", TTL)
        .await
        .expect("claim")
        .expect("run");
    let later = Utc::now() + chrono::Duration::milliseconds(300);
    assert!(runs::requeue(&pool, run.id, 1, "provider down", later)
        .await
        .expect("requeue"));
    assert!(
        runs::claim_next(&pool, "w", TTL)
            .await
            .expect("claim")
            .is_none(),
        "not due yet"
    );
    let again = claim_when_due(&pool, "w").await;
    assert_eq!(again.run.attempt, 2);
    assert_eq!(again.prior_status, RunStatus::Queued);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_lost_lease_on_the_last_attempt_fails_the_run(pool: PgPool) {
    let pid = portfolio(&pool).await;
    let mut conn = pool.acquire().await.expect("conn");
    let run = queue::enqueue_onboarding(&mut conn, pid, RunSource::Onboarding, 1)
        .await
        .expect("enqueue");
    runs::claim_next(&pool, "worker-a", Duration::from_millis(50))
        .await
        .expect("claim")
        .expect("run");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !sqlx::query_scalar::<_, bool>("select lease_expires_at < now() from runs where id = $1")
        .bind(run.id)
        .fetch_one(&pool)
        .await
        .expect("lease")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the lease never expired"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        runs::claim_next(&pool, "worker-b", TTL)
            .await
            .expect("claim")
            .is_none(),
        "no attempts left to take over"
    );
    let reaped = runs::fail_exhausted_leases(&pool).await.expect("reap");
    assert_eq!(reaped.len(), 1);
    assert_eq!(reaped[0].worker_id.as_deref(), Some("worker-a"));
    let stored = runs::find(&pool, run.id).await.expect("find").expect("run");
    assert_eq!(stored.status, RunStatus::Failed);
    assert!(stored.error.unwrap_or_default().contains("worker-a"));
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_new_attempt_carries_over_phases_completed_before(pool: PgPool) {
    let run = enqueue(&pool).await;
    let plan: Vec<_> = sigmasight_shared::phases::ONBOARDING.iter().collect();
    runs::claim_next(&pool, "a", Duration::from_millis(50))
        .await
        .expect("claim")
        .expect("run");
    phases::init_attempt(&pool, run.id, 1, &plan, &[])
        .await
        .expect("init");
    phases::start(&pool, run.id, 1, "phase_1", 4)
        .await
        .expect("start");
    assert!(phases::finish(
        &pool,
        run.id,
        1,
        "phase_1",
        sigmasight_shared::domain::PhaseStatus::Completed,
        &serde_json::json!({"n": 4})
    )
    .await
    .expect("finish"));
    claim_when_due(&pool, "b").await;
    let carried = phases::completed_before(&pool, run.id, 2)
        .await
        .expect("carried");
    assert_eq!(carried, vec!["phase_1".to_owned()]);
    assert!(phases::init_attempt(&pool, run.id, 2, &plan, &carried)
        .await
        .expect("init 2"));
    let rows = phases::list(&pool, run.id, 2).await.expect("list");
    assert_eq!(rows.len(), sigmasight_shared::phases::ONBOARDING.len());
    assert_eq!(
        (
            rows[0].status.as_str(),
            rows[0].carried_over,
            rows[0].current
        ),
        ("completed", true, 4)
    );
    assert_eq!(
        (rows[1].status.as_str(), rows[1].carried_over),
        ("pending", false)
    );
}
