//! `portfolio_tail_risk`: the §7b figures of a portfolio per calculation date, with the
//! running drawdown state the next date continues from; and their read side for the API.

use crate::analytics::tail_risk::{DrawdownState, TailRisk};
use chrono::NaiveDate;
use serde::Serialize;
use sqlx::{FromRow, PgExecutor};
use uuid::Uuid;

/// One date's figures and the drawdown state after it, as phase 6 writes them.
#[derive(Debug, Clone, Serialize)]
pub struct TailRiskRow {
    pub calculation_date: NaiveDate,
    #[serde(flatten)]
    pub figures: TailRisk,
    pub drawdown_state: DrawdownState,
}

/// Upserts the rows of one portfolio in one statement fenced on attempt `attempt` of run
/// `run_id` still running; false when the lease was lost (nothing written).
pub async fn upsert_many(
    db: impl PgExecutor<'_>,
    portfolio_id: Uuid,
    run_id: Uuid,
    attempt: i32,
    rows: &[TailRiskRow],
) -> Result<bool, sqlx::Error> {
    let rows = serde_json::to_value(rows).unwrap_or(serde_json::Value::Null);
    sqlx::query_scalar(concat!(
        "with fence as (",
        hold_run!("$2", "$3"),
        "),
         written as (
         insert into portfolio_tail_risk
             (portfolio_id, calculation_date, n, window_start, window_end, m, market_window_start,
              market_window_end, equity, var_hist_95, var_hist_99, cvar_hist_95, cvar_hist_99,
              var_param_95, var_param_99, cvar_param_95, cvar_param_99, annualised_return,
              annualised_volatility, sharpe, sortino, calmar, max_drawdown, max_drawdown_peak_date,
              max_drawdown_trough_date, max_drawdown_recovery_date, current_drawdown,
              tracking_error, information_ratio, realised_beta, up_capture, down_capture,
              null_reasons, drawdown_state, run_id)
         select $1, r.calculation_date, r.n, r.window_start, r.window_end, r.m,
                r.market_window_start, r.market_window_end, r.equity, r.var_hist_95, r.var_hist_99,
                r.cvar_hist_95, r.cvar_hist_99, r.var_param_95, r.var_param_99, r.cvar_param_95,
                r.cvar_param_99, r.annualised_return, r.annualised_volatility, r.sharpe, r.sortino,
                r.calmar, r.max_drawdown, r.max_drawdown_peak_date, r.max_drawdown_trough_date,
                r.max_drawdown_recovery_date, r.current_drawdown, r.tracking_error,
                r.information_ratio, r.realised_beta, r.up_capture, r.down_capture,
                r.null_reasons, r.drawdown_state, $2
         from jsonb_to_recordset($4) as r(
              calculation_date date, n int, window_start date, window_end date, m int,
              market_window_start date, market_window_end date, equity float8,
              var_hist_95 float8, var_hist_99 float8, cvar_hist_95 float8, cvar_hist_99 float8,
              var_param_95 float8, var_param_99 float8, cvar_param_95 float8,
              cvar_param_99 float8, annualised_return float8, annualised_volatility float8,
              sharpe float8, sortino float8, calmar float8, max_drawdown float8,
              max_drawdown_peak_date date, max_drawdown_trough_date date,
              max_drawdown_recovery_date date, current_drawdown float8, tracking_error float8,
              information_ratio float8, realised_beta float8, up_capture float8,
              down_capture float8, null_reasons jsonb, drawdown_state jsonb)
         where exists (select 1 from fence)
         on conflict on constraint portfolio_tail_risk_pk do update set
             n = excluded.n, window_start = excluded.window_start,
             window_end = excluded.window_end, m = excluded.m,
             market_window_start = excluded.market_window_start,
             market_window_end = excluded.market_window_end, equity = excluded.equity,
             var_hist_95 = excluded.var_hist_95, var_hist_99 = excluded.var_hist_99,
             cvar_hist_95 = excluded.cvar_hist_95, cvar_hist_99 = excluded.cvar_hist_99,
             var_param_95 = excluded.var_param_95, var_param_99 = excluded.var_param_99,
             cvar_param_95 = excluded.cvar_param_95, cvar_param_99 = excluded.cvar_param_99,
             annualised_return = excluded.annualised_return,
             annualised_volatility = excluded.annualised_volatility, sharpe = excluded.sharpe,
             sortino = excluded.sortino, calmar = excluded.calmar,
             max_drawdown = excluded.max_drawdown,
             max_drawdown_peak_date = excluded.max_drawdown_peak_date,
             max_drawdown_trough_date = excluded.max_drawdown_trough_date,
             max_drawdown_recovery_date = excluded.max_drawdown_recovery_date,
             current_drawdown = excluded.current_drawdown,
             tracking_error = excluded.tracking_error,
             information_ratio = excluded.information_ratio,
             realised_beta = excluded.realised_beta, up_capture = excluded.up_capture,
             down_capture = excluded.down_capture, null_reasons = excluded.null_reasons,
             drawdown_state = excluded.drawdown_state, run_id = excluded.run_id,
             updated_at = now()
         returning 1)
         select exists (select 1 from fence) and (select count(*) from written) >= 0"
    ))
    .bind(portfolio_id)
    .bind(run_id)
    .bind(attempt)
    .bind(rows)
    .fetch_one(db)
    .await
}

/// The drawdown state after the newest stored date strictly before `before` (where a night
/// or a restatement continues from), with that date.
pub async fn state_before(
    db: impl PgExecutor<'_>,
    portfolio_id: Uuid,
    before: NaiveDate,
) -> Result<Option<(NaiveDate, DrawdownState)>, sqlx::Error> {
    let row: Option<(NaiveDate, sqlx::types::Json<DrawdownState>)> = sqlx::query_as(
        "select calculation_date, drawdown_state
         from portfolio_tail_risk
         where portfolio_id = $1 and calculation_date < $2
         order by calculation_date desc
         limit 1",
    )
    .bind(portfolio_id)
    .bind(before)
    .fetch_optional(db)
    .await?;
    Ok(row.map(|(d, s)| (d, s.0)))
}

/// The stored figures of one date, dollars included: the API's answer.
#[derive(Debug, Clone, FromRow, Serialize, utoipa::ToSchema)]
pub struct TailRiskRecord {
    pub calculation_date: NaiveDate,
    /// Returns in the window (≤ 252; the figures need 60).
    pub n: i32,
    pub window_start: Option<NaiveDate>,
    pub window_end: Option<NaiveDate>,
    /// Dates with both a portfolio and a SPY return (≤ 252; the market figures need 60).
    pub m: i32,
    pub market_window_start: Option<NaiveDate>,
    pub market_window_end: Option<NaiveDate>,
    /// Snapshot equity on the date.
    pub equity: f64,
    /// One-day historical VaR at 95 %, as a positive return (a loss).
    pub var_hist_95: Option<f64>,
    pub var_hist_99: Option<f64>,
    pub cvar_hist_95: Option<f64>,
    pub cvar_hist_99: Option<f64>,
    pub var_param_95: Option<f64>,
    pub var_param_99: Option<f64>,
    pub cvar_param_95: Option<f64>,
    pub cvar_param_99: Option<f64>,
    /// The VaR and CVaR figures × equity.
    pub var_hist_95_dollars: Option<f64>,
    pub var_hist_99_dollars: Option<f64>,
    pub cvar_hist_95_dollars: Option<f64>,
    pub cvar_hist_99_dollars: Option<f64>,
    pub var_param_95_dollars: Option<f64>,
    pub var_param_99_dollars: Option<f64>,
    pub cvar_param_95_dollars: Option<f64>,
    pub cvar_param_99_dollars: Option<f64>,
    pub annualised_return: Option<f64>,
    pub annualised_volatility: Option<f64>,
    pub sharpe: Option<f64>,
    pub sortino: Option<f64>,
    pub calmar: Option<f64>,
    /// Worst drawdown over the whole history up to the date (≤ 0).
    pub max_drawdown: Option<f64>,
    pub max_drawdown_peak_date: Option<NaiveDate>,
    pub max_drawdown_trough_date: Option<NaiveDate>,
    /// Null while not recovered.
    pub max_drawdown_recovery_date: Option<NaiveDate>,
    pub current_drawdown: Option<f64>,
    pub tracking_error: Option<f64>,
    pub information_ratio: Option<f64>,
    pub realised_beta: Option<f64>,
    pub up_capture: Option<f64>,
    pub down_capture: Option<f64>,
    /// {figure: reason} for every null figure.
    #[schema(value_type = Object)]
    pub null_reasons: serde_json::Value,
}

const SELECT: &str = "select calculation_date, n, window_start, window_end, m,
        market_window_start, market_window_end, equity, var_hist_95, var_hist_99, cvar_hist_95,
        cvar_hist_99, var_param_95, var_param_99, cvar_param_95, cvar_param_99,
        var_hist_95 * equity as var_hist_95_dollars, var_hist_99 * equity as var_hist_99_dollars,
        cvar_hist_95 * equity as cvar_hist_95_dollars, cvar_hist_99 * equity as cvar_hist_99_dollars,
        var_param_95 * equity as var_param_95_dollars, var_param_99 * equity as var_param_99_dollars,
        cvar_param_95 * equity as cvar_param_95_dollars,
        cvar_param_99 * equity as cvar_param_99_dollars,
        annualised_return, annualised_volatility, sharpe, sortino, calmar, max_drawdown,
        max_drawdown_peak_date, max_drawdown_trough_date, max_drawdown_recovery_date,
        current_drawdown, tracking_error, information_ratio, realised_beta, up_capture,
        down_capture, null_reasons
    from portfolio_tail_risk
    where portfolio_id = $1";

/// The newest date's figures on or before `on` (the newest of all when `on` is None).
pub async fn latest(
    db: impl PgExecutor<'_>,
    portfolio_id: Uuid,
    on: Option<NaiveDate>,
) -> Result<Option<TailRiskRecord>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{SELECT} and ($2::date is null or calculation_date <= $2)
         order by calculation_date desc limit 1"
    ))
    .bind(portfolio_id)
    .bind(on)
    .fetch_optional(db)
    .await
}

/// The figures of every date in [from, to], oldest first.
pub async fn list(
    db: impl PgExecutor<'_>,
    portfolio_id: Uuid,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<TailRiskRecord>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{SELECT} and calculation_date between $2 and $3 order by calculation_date"
    ))
    .bind(portfolio_id)
    .bind(from)
    .bind(to)
    .fetch_all(db)
    .await
}
