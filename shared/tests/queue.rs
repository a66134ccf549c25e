//! Database tests of the queue contract on a real Postgres (each test gets its own database).

use chrono::Utc;
use sigmasight_shared::db::{activity, phases, portfolios, positions, risk, runs, MIGRATOR};
use sigmasight_shared::domain::{ActivityLevel, PhaseStatus, RunSource, RunStatus};
use sigmasight_shared::queue;
use sqlx::PgPool;
use std::collections::HashSet;
use std::time::Duration;
use uuid::Uuid;

/// A portfolio of a new user.
async fn portfolio(pool: &PgPool) -> Uuid {
    let user =
        sigmasight_shared::db::users::find_or_create(pool, &format!("user-{}", Uuid::new_v4()))
            .await
            .expect("user");
    portfolio_of(pool, user).await
}

/// A portfolio of `user`.
async fn portfolio_of(pool: &PgPool, user: Uuid) -> Uuid {
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
    enqueue_on(pool, pid).await
}

/// A queued onboarding run of portfolio `pid`.
async fn enqueue_on(pool: &PgPool, pid: Uuid) -> runs::Run {
    let mut conn = pool.acquire().await.expect("conn");
    queue::enqueue_onboarding(&mut conn, pid, RunSource::Onboarding, 3)
        .await
        .expect("enqueue")
}

/// One AAPL position in portfolio `pid`, so a nightly batch gives it a child.
async fn add_position(pool: &PgPool, pid: Uuid) {
    sqlx::query(
        "insert into positions (id, portfolio_id, symbol, quantity, entry_price, entry_date,
                                investment_class, investment_subtype, position_type, source_row)
         values (gen_random_uuid(), $1, 'AAPL', 1, 1, date '2025-01-02', 'PUBLIC', 'STOCK', 'LONG', 2)",
    )
    .bind(pid)
    .execute(pool)
    .await
    .expect("position");
}

/// A queued daily batch (an admin's, default parameters).
async fn enqueue_daily_parent(pool: &PgPool) -> runs::Run {
    queue::daily::enqueue_daily(
        pool,
        &queue::daily::BatchParams::default(),
        RunSource::Admin,
        None,
        3,
    )
    .await
    .expect("enqueue")
    .expect("parent")
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
    // The phases' one-statement writes carry the fence themselves.
    let pid = run.portfolio_id.expect("portfolio");
    let output = sigmasight_shared::analytics::risk::RiskOutput::default();
    let date = chrono::NaiveDate::from_ymd_opt(2026, 11, 30).expect("date");
    let write = |attempt| risk::RiskWrite {
        portfolio_id: pid,
        date,
        run_id: run.id,
        attempt,
        output: &output,
    };
    assert!(!positions::update_values(&pool, (run.id, 1), pid, &[])
        .await
        .expect("values"));
    assert!(!risk::replace(&pool, &write(1)).await.expect("risk"));
    assert!(risk::replace(&pool, &write(2)).await.expect("risk"));
    // Written again under the same keys by the same attempt: replaced, not duplicated.
    assert!(risk::replace(&pool, &write(2)).await.expect("risk again"));
    let matrices: i64 = sqlx::query_scalar(
        "select count(*) from correlation_calculations where portfolio_id = $1 and calculation_date = $2",
    )
    .bind(pid)
    .bind(date)
    .fetch_one(&pool)
    .await
    .expect("count");
    assert_eq!(matrices, 1);
    assert!(positions::update_values(&pool, (run.id, 2), pid, &[])
        .await
        .expect("values"));

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
        &serde_json::json!({"n": 4}),
        phases::PhaseEnd::at(4, 4)
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

#[sqlx::test(migrator = "MIGRATOR")]
async fn old_debug_entries_are_pruned_and_nothing_else(pool: PgPool) {
    let run = enqueue(&pool).await;
    // (age in days, debug, level): only old debug entries go.
    let rows = [
        (40, true, "info"),
        (31, true, "warning"),
        (29, true, "info"),
        (400, false, "info"),
        (400, false, "warning"),
        (400, false, "error"),
        (0, true, "info"),
    ];
    for (days, debug, level) in rows {
        sqlx::query(
            "insert into run_activity (run_id, attempt, ts, level, message, debug)
             values ($1, 1, now() - make_interval(days => $2), $3, 'm', $4)",
        )
        .bind(run.id)
        .bind(days)
        .bind(level)
        .bind(debug)
        .execute(&pool)
        .await
        .expect("entry");
    }
    // While another worker prunes (holds the lock), a batch deletes nothing.
    let mut other = pool.begin().await.expect("other");
    sqlx::query("select pg_advisory_xact_lock(hashtext('sigmasight.prune_debug'))")
        .execute(&mut *other)
        .await
        .expect("lock");
    assert_eq!(
        activity::prune_debug_batch(&pool, 30, 100)
            .await
            .expect("batch"),
        None
    );
    assert_eq!(
        activity::prune_debug(&pool, 30, 1, Duration::ZERO)
            .await
            .expect("prune"),
        0
    );
    other.rollback().await.expect("rollback");
    // One batch commits on its own: its deletion is seen by another connection at once.
    assert_eq!(
        activity::prune_debug_batch(&pool, 30, 1)
            .await
            .expect("batch"),
        Some(1)
    );
    let old_debug =
        "select count(*) from run_activity where debug and ts < now() - interval '30 days'";
    let left_old: i64 = sqlx::query_scalar(old_debug)
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(left_old, 1);
    // A batch of 1 still deletes every old entry (statement after statement).
    let deleted = activity::prune_debug(&pool, 30, 1, Duration::ZERO)
        .await
        .expect("prune");
    assert_eq!(deleted, 1);
    let left: Vec<(i32, bool)> = sqlx::query_as(
        "select extract(day from now() - ts)::int, debug from run_activity order by ts",
    )
    .fetch_all(&pool)
    .await
    .expect("left");
    assert_eq!(left.len(), 5, "{left:?}");
    assert!(
        left.iter().all(|(days, debug)| !debug || *days < 30),
        "{left:?}"
    );
    assert_eq!(
        activity::prune_debug(&pool, 30, 100, Duration::ZERO)
            .await
            .expect("again"),
        0
    );
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn runs_of_one_priority_are_claimed_round_robin_across_owners(pool: PgPool) {
    let a = sigmasight_shared::db::users::find_or_create(&pool, "a")
        .await
        .expect("a");
    let b = sigmasight_shared::db::users::find_or_create(&pool, "b")
        .await
        .expect("b");
    let c = sigmasight_shared::db::users::find_or_create(&pool, "c")
        .await
        .expect("c");
    let mut owner_of = std::collections::HashMap::new();
    // A queues five, then B one, then A one more, then C one.
    for user in [a, a, a, a, a, b, a, c] {
        let run = enqueue_on(&pool, portfolio_of(&pool, user).await).await;
        owner_of.insert(run.id, user);
    }
    let mut order = Vec::new();
    while let Some(claimed) = runs::claim_next(&pool, "w", TTL).await.expect("claim") {
        order.push(owner_of[&claimed.run.id]);
    }
    let name = |u: &Uuid| match u {
        u if *u == a => 'A',
        u if *u == b => 'B',
        _ => 'C',
    };
    let order: String = order.iter().map(name).collect();
    // Each owner's first waiting run before anyone's second, in arrival order within a round.
    assert_eq!(order, "ABCAAAAA");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn each_ended_child_counts_once_and_the_last_one_ends_its_parent(pool: PgPool) {
    use sigmasight_shared::phases::PORTFOLIOS;
    // Two portfolios with a position each, a daily parent claimed and fanned out into their
    // two children.
    for _ in 0..2 {
        let pid = portfolio(&pool).await;
        add_position(&pool, pid).await;
    }
    let parent = enqueue_daily_parent(&pool).await;
    let claimed = claim_when_due(&pool, "w1").await;
    assert_eq!(claimed.run.id, parent.id);
    assert!(
        phases::init_attempt(&pool, parent.id, 1, &[&PORTFOLIOS], &[])
            .await
            .expect("init")
    );
    let mut tx = pool.begin().await.expect("tx");
    let n = runs::insert_children(
        &mut *tx,
        parent.id,
        RunSource::Admin,
        &serde_json::json!({}),
        3,
        None,
    )
    .await
    .expect("children");
    assert_eq!(n, 2);
    assert!(phases::start(&mut *tx, parent.id, 1, PORTFOLIOS.id, 2)
        .await
        .expect("start"));
    tx.commit().await.expect("commit");
    assert!(runs::park(&pool, parent.id, 1).await.expect("park"));

    // The first child ends: counted, not the last; the parent still runs.
    let first = claim_when_due(&pool, "w1").await.run;
    let second = claim_when_due(&pool, "w2").await.run;
    let ended = |run: &runs::Run, status| {
        let (pool, id, attempt) = (pool.clone(), run.id, run.attempt);
        async move {
            runs::finish(&pool, id, attempt, status, &serde_json::json!({}), None)
                .await
                .expect("finish")
        }
    };
    assert!(ended(&first, RunStatus::Completed).await);
    assert!(!runs::child_ended(&pool, parent.id).await.expect("count"));
    let row = &phases::list(&pool, parent.id, 1).await.expect("phases")[0];
    assert_eq!((row.current, row.total), (1, 2));
    assert!(!runs::complete_parent_if_done(&pool, parent.id)
        .await
        .expect("check"));

    // The second (failed) is the last: the count says so, and the parent ends partial.
    assert!(ended(&second, RunStatus::Failed).await);
    assert!(runs::child_ended(&pool, parent.id).await.expect("count"));
    assert!(runs::complete_parent_if_done(&pool, parent.id)
        .await
        .expect("end"));
    let done = runs::find(&pool, parent.id)
        .await
        .expect("find")
        .expect("parent");
    assert_eq!(done.status, RunStatus::Partial);
    // An ended parent counts nothing more.
    assert!(!runs::child_ended(&pool, parent.id).await.expect("count"));
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn worker_sessions_commit_asynchronously_on_generic_plans_but_a_runs_end_durably(
    pool: PgPool,
) {
    use sigmasight_shared::db::{connect_with, Session};
    let opts = pool.connect_options();
    let url = format!(
        "postgres://{}@{}:{}/{}",
        opts.get_username(),
        opts.get_host(),
        opts.get_port(),
        opts.get_database().unwrap_or_default()
    );
    let show = "show synchronous_commit";
    let durable = connect_with(&url, 1, Duration::from_secs(5), Session::Api)
        .await
        .expect("connect");
    let on: String = sqlx::query_scalar(show)
        .fetch_one(&durable)
        .await
        .expect("show");
    assert_eq!(on, "on");
    let worker = connect_with(&url, 1, Duration::from_secs(5), Session::Worker)
        .await
        .expect("connect");
    let off: String = sqlx::query_scalar(show)
        .fetch_one(&worker)
        .await
        .expect("show");
    assert_eq!(off, "off");
    // The worker's statements run on their generic plans; the api's as Postgres chooses.
    let plans = "show plan_cache_mode";
    for (pool, mode) in [(&durable, "auto"), (&worker, "force_generic_plan")] {
        let shown: String = sqlx::query_scalar(plans)
            .fetch_one(pool)
            .await
            .expect("show");
        assert_eq!(shown, mode);
    }

    // A run's end turns synchronous commit on for its own transaction, and only there.
    enqueue(&pool).await;
    let run = claim_when_due(&pool, "w1").await.run;
    let mut tx = worker.begin().await.expect("begin");
    assert!(runs::finish(
        &mut *tx,
        run.id,
        run.attempt,
        RunStatus::Completed,
        &serde_json::json!({}),
        None
    )
    .await
    .expect("finish"));
    let inside: String = sqlx::query_scalar(show)
        .fetch_one(&mut *tx)
        .await
        .expect("show");
    assert_eq!(inside, "on", "the ending's transaction commits durably");
    tx.commit().await.expect("commit");
    let after: String = sqlx::query_scalar(show)
        .fetch_one(&worker)
        .await
        .expect("show");
    assert_eq!(after, "off");
}

/// The status poll's one statement reads what the separate reads do: the newest run, its
/// CURRENT attempt's phases in order (not the earlier attempt's), and the newest 50
/// non-debug entries oldest first; a stranger sees nothing, an admin everything.
#[sqlx::test(migrator = "MIGRATOR")]
async fn the_status_statement_reads_what_the_separate_reads_do(pool: PgPool) {
    use sigmasight_shared::db::status::{latest, Latest};
    let owner = sigmasight_shared::db::users::find_or_create(&pool, "owner")
        .await
        .expect("user");
    let pid = portfolio_of(&pool, owner).await;
    let stranger = sigmasight_shared::db::users::find_or_create(&pool, "stranger")
        .await
        .expect("user");
    assert!(matches!(
        latest(&pool, pid, Some(owner), 50).await.expect("read"),
        Latest::NoRun
    ));
    assert!(matches!(
        latest(&pool, pid, Some(stranger), 50).await.expect("read"),
        Latest::Hidden
    ));
    assert!(matches!(
        latest(&pool, Uuid::new_v4(), None, 50).await.expect("read"),
        Latest::Hidden
    ));

    let run = enqueue_on(&pool, pid).await;
    let plan: Vec<_> = sigmasight_shared::phases::ONBOARDING.iter().collect();
    runs::claim_next(&pool, "a", Duration::from_millis(50))
        .await
        .expect("claim")
        .expect("run");
    phases::init_attempt(&pool, run.id, 1, &plan, &[])
        .await
        .expect("init");
    claim_when_due(&pool, "b").await;
    phases::init_attempt(&pool, run.id, 2, &plan, &[])
        .await
        .expect("init 2");
    phases::start(&pool, run.id, 2, "phase_1", 7)
        .await
        .expect("start");
    let entries: Vec<_> = (0..80)
        .map(|i| activity::NewEntry {
            ts: Utc::now(),
            level: if i % 7 == 0 {
                ActivityLevel::Warning
            } else {
                ActivityLevel::Info
            },
            phase_id: Some("phase_1"),
            message: format!("entry {i} \"quoted\" \\ ünïcode"),
            debug: i % 3 == 0,
        })
        .collect();
    assert!(activity::insert_batch(&pool, run.id, 2, &entries)
        .await
        .expect("activity"));

    let expected_run = runs::latest_for_portfolio(&pool, pid)
        .await
        .expect("run")
        .expect("one");
    let expected_phases = phases::list(&pool, run.id, 2).await.expect("phases");
    let expected_feed = activity::recent(&pool, run.id, 50).await.expect("feed");
    for reader in [Some(owner), None] {
        let Latest::Run {
            owner: got_owner,
            run: got,
            phases: got_phases,
            feed,
        } = latest(&pool, pid, reader, 50).await.expect("read")
        else {
            panic!("no run read for {reader:?}");
        };
        assert_eq!(
            (got.id, got.attempt, got.status, got.worker_id.as_deref()),
            (
                expected_run.id,
                expected_run.attempt,
                expected_run.status,
                expected_run.worker_id.as_deref()
            )
        );
        assert_eq!(got_owner, owner);
        assert_eq!(got.started_at, expected_run.started_at);
        assert_eq!(got_phases, expected_phases);
        assert_eq!(got_phases.len(), plan.len());
        assert!(got_phases
            .iter()
            .all(|p| p.attempt == 2 && p.run_id == run.id));
        assert_eq!(
            (got_phases[0].status.as_str(), got_phases[0].total),
            ("running", 7)
        );
        assert_eq!(feed.len(), 50);
        assert_eq!(
            feed.iter()
                .map(|e| (e.id, e.ts, e.level, e.message.clone(), e.debug))
                .collect::<Vec<_>>(),
            expected_feed
                .iter()
                .map(|e| (e.id, e.ts, e.level, e.message.clone(), e.debug))
                .collect::<Vec<_>>()
        );
        assert!(feed.iter().all(|e| !e.debug));
        assert!(feed.windows(2).all(|w| w[0].id < w[1].id));
    }
    assert!(matches!(
        latest(&pool, pid, Some(stranger), 50).await.expect("read"),
        Latest::Hidden
    ));
}

/// Every run id, made by the api (onboarding, a daily parent) or by Postgres (a night's
/// children), is a UUIDv7 of the moment it was made, so a night's runs sit next to each
/// other at the end of every index keyed by run id, whatever the history.
#[sqlx::test(migrator = "MIGRATOR")]
async fn run_ids_are_uuid_v7_of_their_creation_time(pool: PgPool) {
    let before = Utc::now() - chrono::Duration::seconds(1);
    let onboarding = enqueue(&pool).await;
    add_position(&pool, onboarding.portfolio_id.expect("a portfolio")).await;
    sqlx::query("update runs set status = 'completed', finished_at = now() where id = $1")
        .bind(onboarding.id)
        .execute(&pool)
        .await
        .expect("end the onboarding");
    let parent = enqueue_daily_parent(&pool).await;
    let n = runs::insert_children(
        &pool,
        parent.id,
        RunSource::Admin,
        &serde_json::json!({}),
        3,
        None,
    )
    .await
    .expect("children");
    assert_eq!(n, 1);
    let ids: Vec<Uuid> = sqlx::query_scalar("select id from runs order by created_at")
        .fetch_all(&pool)
        .await
        .expect("ids");
    let after = Utc::now() + chrono::Duration::seconds(1);
    assert_eq!(ids.len(), 3);
    for id in &ids {
        assert_eq!(id.get_version_num(), 7, "{id}");
        assert_eq!(id.get_variant(), uuid::Variant::RFC4122, "{id}");
        let (secs, nanos) = id.get_timestamp().expect("a v7 id has a time").to_unix();
        let made = chrono::DateTime::from_timestamp(i64::try_from(secs).expect("secs"), nanos)
            .expect("a time");
        assert!(before <= made && made <= after, "{id} made at {made}");
    }
    // Two made by Postgres in one statement differ.
    let two: Vec<Uuid> =
        sqlx::query_scalar("select sigmasight_uuid_v7() from generate_series(1, 2)")
            .fetch_all(&pool)
            .await
            .expect("two");
    assert_ne!(two[0], two[1]);
}

/// Runs queued in one transaction (a nightly fan-out, an upload of many portfolios) wake the
/// workers once: one notification, not one per run (each woke every worker for a claim).
#[sqlx::test(migrator = "MIGRATOR")]
async fn runs_queued_together_wake_the_workers_once(pool: PgPool) {
    let mut listener = sqlx::postgres::PgListener::connect_with(&pool)
        .await
        .expect("listener");
    listener
        .listen(queue::QUEUED_CHANNEL)
        .await
        .expect("listen");
    let mut portfolios = Vec::new();
    for _ in 0..3 {
        portfolios.push(portfolio(&pool).await);
    }
    let mut tx = pool.begin().await.expect("begin");
    for pid in portfolios {
        queue::enqueue_onboarding(&mut tx, pid, RunSource::Onboarding, 3)
            .await
            .expect("enqueue");
    }
    tx.commit().await.expect("commit");
    let wait = Duration::from_millis;
    tokio::time::timeout(wait(5_000), listener.recv())
        .await
        .expect("woken")
        .expect("notification");
    let more = tokio::time::timeout(wait(300), listener.recv()).await;
    assert!(more.is_err(), "one notification for three runs: {more:?}");
    // A run queued later wakes them again.
    enqueue(&pool).await;
    tokio::time::timeout(wait(5_000), listener.recv())
        .await
        .expect("woken again")
        .expect("notification");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn cancelling_a_running_run_tells_the_workers_and_closes_its_unfinished_phases(pool: PgPool) {
    let run = enqueue(&pool).await;
    runs::claim_next(&pool, "worker-a", TTL)
        .await
        .expect("claim")
        .expect("run");
    let plan: Vec<_> = sigmasight_shared::phases::ONBOARDING.iter().collect();
    assert!(phases::init_attempt(&pool, run.id, 1, &plan, &[])
        .await
        .expect("init"));
    assert!(phases::start(&pool, run.id, 1, "phase_1", 10)
        .await
        .expect("start"));
    // Listening before the cancel, as the worker's claim loop does.
    let mut listener = sqlx::postgres::PgListener::connect_with(&pool)
        .await
        .expect("listener");
    listener
        .listen(queue::CANCELLED_CHANNEL)
        .await
        .expect("listen");

    let cancelled = runs::cancel(&pool, run.id).await.expect("cancel");
    assert_eq!(cancelled.map(|r| r.status), Some(RunStatus::Cancelled));
    let heard = tokio::time::timeout(Duration::from_secs(5), listener.recv())
        .await
        .expect("a notification within 5 s")
        .expect("recv");
    assert_eq!(heard.payload(), run.id.to_string());

    let rows = phases::list_all_attempts(&pool, run.id)
        .await
        .expect("phases");
    assert_eq!(rows.len(), plan.len());
    for row in &rows {
        let expected = if row.phase_id == "phase_1" {
            PhaseStatus::Failed
        } else {
            PhaseStatus::Skipped
        };
        assert_eq!(row.status, expected, "{}", row.phase_id);
        assert_eq!(
            row.summary["error"], "cancelled by an admin",
            "{}",
            row.phase_id
        );
    }
    // Nothing more to close, nothing to cancel twice.
    assert!(runs::cancel(&pool, run.id).await.expect("again").is_none());
}
