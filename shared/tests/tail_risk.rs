//! Database tests of `portfolio_tail_risk`: the fenced upsert, the state a night continues
//! from, and the read with dollars.

use chrono::NaiveDate;
use sigmasight_shared::analytics::tail_risk::{DrawdownState, TailRisk};
use sigmasight_shared::db::{portfolios, runs, tail_risk, MIGRATOR};
use sigmasight_shared::domain::RunSource;
use sigmasight_shared::queue;
use sqlx::PgPool;
use std::time::Duration;
use uuid::Uuid;

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, d).expect("a date")
}

/// A portfolio with a running onboarding attempt: (portfolio, run, attempt).
async fn running(pool: &PgPool) -> (Uuid, Uuid, i32) {
    let user = sigmasight_shared::db::users::find_or_create(pool, "tail-risk-user")
        .await
        .expect("user");
    let id = Uuid::new_v4();
    portfolios::insert(
        pool,
        &portfolios::NewPortfolio {
            id,
            user_id: user,
            name: "P",
            account_name: "acct",
            account_type: "taxable",
            description: None,
            equity_balance: 1000.into(),
            equity_balance_given: true,
        },
    )
    .await
    .expect("portfolio");
    let mut conn = pool.acquire().await.expect("conn");
    queue::enqueue_onboarding(&mut conn, id, RunSource::Onboarding, 3)
        .await
        .expect("enqueue");
    let claimed = runs::claim_next(pool, "w", Duration::from_secs(30))
        .await
        .expect("claim")
        .expect("a run");
    (id, claimed.run.id, claimed.run.attempt)
}

fn row(date: NaiveDate, var: Option<f64>, equity: f64) -> tail_risk::TailRiskRow {
    let mut state = DrawdownState::default();
    state.push(day(2), 1200.0);
    state.push(date, equity);
    tail_risk::TailRiskRow {
        calculation_date: date,
        figures: TailRisk {
            n: 60,
            equity,
            var_hist_95: var,
            ..TailRisk::default()
        },
        drawdown_state: state,
    }
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn stored_rows_read_back_with_dollars_and_the_state_a_night_continues_from(pool: PgPool) {
    let (pid, run, attempt) = running(&pool).await;
    let rows = [
        row(day(3), Some(0.02), 1000.0),
        row(day(4), Some(0.03), 900.0),
    ];
    assert!(tail_risk::upsert_many(&pool, pid, run, attempt, &rows)
        .await
        .expect("upsert"));
    let latest = tail_risk::latest(&pool, pid, None)
        .await
        .expect("read")
        .expect("a row");
    assert_eq!(latest.calculation_date, day(4));
    assert_eq!(latest.var_hist_95_dollars, Some(0.03 * 900.0));
    let on_3 = tail_risk::latest(&pool, pid, Some(day(3)))
        .await
        .expect("read")
        .expect("a row");
    assert_eq!(on_3.var_hist_95_dollars, Some(0.02 * 1000.0));
    let (date, state) = tail_risk::state_before(&pool, pid, day(5))
        .await
        .expect("read")
        .expect("a state");
    assert_eq!((date, state), (day(4), rows[1].drawdown_state));
    assert_eq!(state.max_drawdown, 900.0 / 1200.0 - 1.0);
    let listed = tail_risk::list(&pool, pid, day(1), day(30))
        .await
        .expect("list");
    assert_eq!(listed.len(), 2);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_restated_date_replaces_its_row(pool: PgPool) {
    let (pid, run, attempt) = running(&pool).await;
    for var in [Some(0.02), None] {
        assert!(
            tail_risk::upsert_many(&pool, pid, run, attempt, &[row(day(3), var, 1000.0)])
                .await
                .expect("upsert")
        );
    }
    let got = tail_risk::list(&pool, pid, day(1), day(30))
        .await
        .expect("list");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].var_hist_95, None);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_lost_lease_writes_nothing(pool: PgPool) {
    let (pid, run, attempt) = running(&pool).await;
    let rows = [row(day(3), Some(0.02), 1000.0)];
    assert!(!tail_risk::upsert_many(&pool, pid, run, attempt + 1, &rows)
        .await
        .expect("upsert"));
    assert!(tail_risk::latest(&pool, pid, None)
        .await
        .expect("read")
        .is_none());
}
