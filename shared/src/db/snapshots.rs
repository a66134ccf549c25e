//! `portfolio_snapshots`: one row per (portfolio, trading date), upserted by phase 3.

use crate::analytics::snapshots::SnapshotRow;
use chrono::NaiveDate;
use sqlx::{FromRow, PgConnection, PgExecutor};
use uuid::Uuid;

/// Upserts many snapshots in one statement; returns rows written.
pub async fn upsert_many(
    conn: &mut PgConnection,
    portfolio_id: Uuid,
    run_id: Uuid,
    rows: &[SnapshotRow],
) -> Result<u64, sqlx::Error> {
    let col = |f: fn(&SnapshotRow) -> f64| rows.iter().map(f).collect::<Vec<f64>>();
    let opt = |f: fn(&SnapshotRow) -> Option<f64>| rows.iter().map(f).collect::<Vec<Option<f64>>>();
    let int = |f: fn(&SnapshotRow) -> i32| rows.iter().map(f).collect::<Vec<i32>>();
    let dates: Vec<NaiveDate> = rows.iter().map(|r| r.date).collect();
    let sectors: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| serde_json::to_value(&r.sector_exposure).unwrap_or_default())
        .collect();
    let result = sqlx::query(
        "insert into portfolio_snapshots
            (portfolio_id, snapshot_date, total_value, equity_balance, daily_pnl, daily_realized_pnl,
             daily_return, cumulative_pnl, cumulative_return, long_value, short_value, gross_exposure,
             net_exposure, cash_value, num_positions, num_long, num_short, hhi, effective_num_positions,
             top_3_concentration, top_10_concentration, sector_exposure, max_price_staleness_days, run_id)
         select $1, u.d, round(u.tv::numeric, 2), round(u.eq::numeric, 2), round(u.pnl::numeric, 2),
                round(u.rpnl::numeric, 2), u.ret, round(u.cpnl::numeric, 2), u.cret,
                round(u.lv::numeric, 2), round(u.sv::numeric, 2), round(u.gross::numeric, 2),
                round(u.net::numeric, 2), round(u.cash::numeric, 2), u.n, u.nl, u.ns, u.hhi, u.eff,
                u.top3, u.top10, u.sectors, u.stale, $2
         from unnest($3::date[], $4::float8[], $5::float8[], $6::float8[], $7::float8[], $8::float8[],
                     $9::float8[], $10::float8[], $11::float8[], $12::float8[], $13::float8[],
                     $14::float8[], $15::float8[], $16::int4[], $17::int4[], $18::int4[], $19::float8[],
                     $20::float8[], $21::float8[], $22::float8[], $23::jsonb[], $24::int4[])
              as u(d, tv, eq, pnl, rpnl, ret, cpnl, cret, lv, sv, gross, net, cash, n, nl, ns, hhi,
                   eff, top3, top10, sectors, stale)
         on conflict on constraint portfolio_snapshots_pk do update set
             total_value = excluded.total_value, equity_balance = excluded.equity_balance,
             daily_pnl = excluded.daily_pnl, daily_realized_pnl = excluded.daily_realized_pnl,
             daily_return = excluded.daily_return, cumulative_pnl = excluded.cumulative_pnl,
             cumulative_return = excluded.cumulative_return, long_value = excluded.long_value,
             short_value = excluded.short_value, gross_exposure = excluded.gross_exposure,
             net_exposure = excluded.net_exposure, cash_value = excluded.cash_value,
             num_positions = excluded.num_positions, num_long = excluded.num_long,
             num_short = excluded.num_short, hhi = excluded.hhi,
             effective_num_positions = excluded.effective_num_positions,
             top_3_concentration = excluded.top_3_concentration,
             top_10_concentration = excluded.top_10_concentration,
             sector_exposure = excluded.sector_exposure,
             max_price_staleness_days = excluded.max_price_staleness_days,
             run_id = excluded.run_id, updated_at = now()",
    )
    .bind(portfolio_id)
    .bind(run_id)
    .bind(&dates)
    .bind(col(|r| r.total_value))
    .bind(col(|r| r.equity_balance))
    .bind(col(|r| r.daily_pnl))
    .bind(col(|r| r.daily_realized_pnl))
    .bind(opt(|r| r.daily_return))
    .bind(col(|r| r.cumulative_pnl))
    .bind(opt(|r| r.cumulative_return))
    .bind(col(|r| r.long_value))
    .bind(col(|r| r.short_value))
    .bind(col(|r| r.gross_exposure))
    .bind(col(|r| r.net_exposure))
    .bind(col(|r| r.cash_value))
    .bind(int(|r| r.num_positions))
    .bind(int(|r| r.num_long))
    .bind(int(|r| r.num_short))
    .bind(opt(|r| r.hhi))
    .bind(opt(|r| r.effective_num_positions))
    .bind(opt(|r| r.top_3_concentration))
    .bind(opt(|r| r.top_10_concentration))
    .bind(&sectors)
    .bind(int(|r| r.max_price_staleness_days))
    .execute(&mut *conn)
    .await?;
    Ok(result.rows_affected())
}

/// A stored snapshot, money as f64 for reading.
#[derive(Debug, Clone, FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct StoredSnapshot {
    pub snapshot_date: NaiveDate,
    pub total_value: f64,
    pub equity_balance: f64,
    pub daily_pnl: f64,
    pub daily_realized_pnl: f64,
    pub daily_return: Option<f64>,
    pub cumulative_pnl: f64,
    pub cumulative_return: Option<f64>,
    pub long_value: f64,
    pub short_value: f64,
    pub gross_exposure: f64,
    pub net_exposure: f64,
    pub cash_value: f64,
    pub num_positions: i32,
    pub num_long: i32,
    pub num_short: i32,
    pub hhi: Option<f64>,
    pub effective_num_positions: Option<f64>,
    pub top_3_concentration: Option<f64>,
    pub top_10_concentration: Option<f64>,
    pub sector_exposure: serde_json::Value,
    pub beta_calculated_90d: Option<f64>,
    pub beta_provider_1y: Option<f64>,
    pub realized_vol_21d: Option<f64>,
    pub realized_vol_63d: Option<f64>,
    pub expected_vol_1d: Option<f64>,
    pub expected_vol_21d: Option<f64>,
}

/// Snapshots of a portfolio in [start, end], oldest first.
pub async fn list(
    db: impl PgExecutor<'_>,
    portfolio_id: Uuid,
    start: NaiveDate,
    end: NaiveDate,
) -> Result<Vec<StoredSnapshot>, sqlx::Error> {
    sqlx::query_as(
        "select snapshot_date, total_value::float8, equity_balance::float8, daily_pnl::float8,
                daily_realized_pnl::float8, daily_return, cumulative_pnl::float8, cumulative_return,
                long_value::float8, short_value::float8, gross_exposure::float8, net_exposure::float8,
                cash_value::float8, num_positions, num_long, num_short, hhi, effective_num_positions,
                top_3_concentration, top_10_concentration, sector_exposure, beta_calculated_90d,
                beta_provider_1y, realized_vol_21d, realized_vol_63d, expected_vol_1d, expected_vol_21d
         from portfolio_snapshots
         where portfolio_id = $1 and snapshot_date between $2 and $3
         order by snapshot_date",
    )
    .bind(portfolio_id)
    .bind(start)
    .bind(end)
    .fetch_all(db)
    .await
}

/// The newest snapshot date of a portfolio.
pub async fn latest_date(
    db: impl PgExecutor<'_>,
    portfolio_id: Uuid,
) -> Result<Option<NaiveDate>, sqlx::Error> {
    sqlx::query_scalar("select max(snapshot_date) from portfolio_snapshots where portfolio_id = $1")
        .bind(portfolio_id)
        .fetch_one(db)
        .await
}

/// The newest snapshot strictly before `before`: where a partial recomputation continues from.
pub async fn prior(
    db: impl PgExecutor<'_>,
    portfolio_id: Uuid,
    before: NaiveDate,
) -> Result<Option<crate::analytics::snapshots::PriorSnapshot>, sqlx::Error> {
    let row: Option<(NaiveDate, f64, f64)> = sqlx::query_as(
        "select snapshot_date, equity_balance::float8, cumulative_pnl::float8
         from portfolio_snapshots
         where portfolio_id = $1 and snapshot_date < $2
         order by snapshot_date desc
         limit 1",
    )
    .bind(portfolio_id)
    .bind(before)
    .fetch_optional(db)
    .await?;
    Ok(row.map(
        |(date, equity, cumulative_pnl)| crate::analytics::snapshots::PriorSnapshot {
            date,
            equity,
            cumulative_pnl,
        },
    ))
}

/// P&L totals up to `date`: realized (all exits), year to date and month to date.
pub async fn pnl_totals(
    db: impl PgExecutor<'_>,
    portfolio_id: Uuid,
    date: NaiveDate,
) -> Result<(f64, f64, f64), sqlx::Error> {
    sqlx::query_as(
        "select coalesce(sum(daily_realized_pnl), 0)::float8,
                coalesce(sum(daily_pnl) filter (where snapshot_date >= date_trunc('year', $2::date)), 0)::float8,
                coalesce(sum(daily_pnl) filter (where snapshot_date >= date_trunc('month', $2::date)), 0)::float8
         from portfolio_snapshots
         where portfolio_id = $1 and snapshot_date <= $2",
    )
    .bind(portfolio_id)
    .bind(date)
    .fetch_one(db)
    .await
}

/// (date, equity, daily_return) of a portfolio's snapshots in [start, end], oldest first: the
/// series of ANALYTICS §7b.
pub async fn equity_series(
    db: impl PgExecutor<'_>,
    portfolio_id: Uuid,
    start: NaiveDate,
    end: NaiveDate,
) -> Result<Vec<(NaiveDate, f64, Option<f64>)>, sqlx::Error> {
    sqlx::query_as(
        "select snapshot_date, equity_balance::float8, daily_return
         from portfolio_snapshots
         where portfolio_id = $1 and snapshot_date between $2 and $3
         order by snapshot_date",
    )
    .bind(portfolio_id)
    .bind(start)
    .bind(end)
    .fetch_all(db)
    .await
}
