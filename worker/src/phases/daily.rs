//! The daily batch (parent run): the symbol-level phases once for the whole universe, then
//! one `portfolio_daily` child run per portfolio, inserted in one statement so every worker
//! shares the portfolio-level work. The parent parks; its last child ends it.

use super::loaders::SymbolScope;
use super::RunOutcome;
use crate::context::{JobError, RunContext};
use chrono::NaiveDate;
use sigmasight_shared::db::{phases as phase_rows, positions, runs};
use sigmasight_shared::domain::RunStatus;
use sigmasight_shared::domain::FACTOR_ETFS;
use sigmasight_shared::phases::{PhaseDef, PORTFOLIOS};
use sigmasight_shared::queue::daily::BatchParams;
use std::collections::HashMap;
use tracing::Instrument as _;

/// Runs the parent of a daily batch.
pub async fn run(ctx: &RunContext) -> Result<RunOutcome, JobError> {
    let params: BatchParams = serde_json::from_value(ctx.run.params.clone()).unwrap_or_default();
    let last = sigmasight_shared::clock::last_trading_day();
    let end = params.date.map_or(last, |d| d.min(last));
    let plan: Vec<&'static PhaseDef> = ctx.run.kind.plan().iter().collect();
    let carried = super::begin_attempt(ctx, &plan).await?;

    let only = params.portfolio_ids.as_deref();
    let scope = universe_scope(positions::universe(&ctx.pool, only).await?, end);
    ctx.info(
        plan[0],
        format!(
            "Daily batch for {end}: {} symbols across {} portfolios",
            scope.symbols.len(),
            only.map_or("all".to_owned(), |p| p.len().to_string())
        ),
    );
    for phase in plan.iter().filter(|p| p.id != PORTFOLIOS.id) {
        if super::carried_over(ctx, phase, &carried) {
            continue;
        }
        match super::work(phase)? {
            super::Work::Symbols(run) => {
                let started = std::time::Instant::now();
                let span = super::phase_span(phase);
                let result = run(ctx, &scope).instrument(span.clone()).await;
                span.in_scope(|| {
                    crate::metrics::phase_ended(phase, result.is_ok(), started.elapsed());
                });
                result.map_err(|e| super::record_failure(ctx, phase, e))?;
            }
            _ => {
                return Err(JobError::Fatal(anyhow::anyhow!(
                    "{} is not a symbol-level phase of a daily batch",
                    phase.name
                )))
            }
        }
    }

    // Fan out: one child per portfolio without an active run, in one fenced statement.
    let child_params = BatchParams {
        date: Some(end),
        portfolio_ids: None,
        ..params.clone()
    };
    let child_json = serde_json::to_value(&child_params).unwrap_or_default();
    let mut tx = ctx.begin_fenced().await?;
    let children = runs::insert_children(
        &mut *tx,
        ctx.run.id,
        ctx.run.source,
        &child_json,
        ctx.run.max_attempts,
        only,
    )
    .await?;
    // The phase's total is written with the children, so each child that ends counts
    // against it (`runs::child_ended`); none can end before this commits.
    let total = i32::try_from(children).unwrap_or(i32::MAX);
    let held = phase_rows::start(&mut *tx, ctx.run.id, ctx.attempt(), PORTFOLIOS.id, total).await?;
    ctx.fenced(held)?;
    tx.commit().await?;
    ctx.heartbeat.beat();
    ctx.info(
        &PORTFOLIOS,
        format!("Queued {children} portfolio runs up to {end}; any worker may take them"),
    );
    let flushed = ctx.activity.flush().await?;
    ctx.fenced(flushed)?;
    Ok(RunOutcome {
        status: RunStatus::Running,
        summary: serde_json::json!({ "date": end, "portfolios": children }),
        parked: true,
    })
}

/// The night's symbols: each held symbol from the earliest entry of the positions holding it
/// (less the lookback), so a symbol held since last month is not asked for the history of the
/// universe's oldest position; the factor ETFs, which every symbol's regressions need, from the
/// universe's earliest.
fn universe_scope(held: Vec<(String, NaiveDate)>, end: NaiveDate) -> SymbolScope {
    let lookback = chrono::Duration::days(super::scope::LOOKBACK_DAYS);
    let history_start = held.iter().map(|(_, d)| *d).min().unwrap_or(end) - lookback;
    let funds: Vec<String> = FACTOR_ETFS.iter().map(|s| (*s).to_owned()).collect();
    let starts: HashMap<String, NaiveDate> = held
        .iter()
        .filter(|(s, _)| !funds.contains(s))
        .map(|(s, d)| (s.clone(), *d - lookback))
        .collect();
    let mut symbols: Vec<String> = held.into_iter().map(|(s, _)| s).collect();
    symbols.extend(funds.iter().cloned());
    symbols.sort();
    symbols.dedup();
    SymbolScope {
        symbols,
        funds,
        history_start,
        starts,
        end,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_default()
    }

    #[test]
    fn each_held_symbol_starts_at_its_own_first_entry_and_the_factor_etfs_at_the_earliest() {
        let held = vec![
            ("AAPL".to_owned(), d("2024-01-10")),
            ("NEW".to_owned(), d("2026-10-01")),
            ("SPY".to_owned(), d("2026-11-02")),
        ];
        let scope = universe_scope(held, d("2026-11-30"));
        assert_eq!(scope.history_start, d("2023-01-10"));
        assert_eq!(scope.start_of("AAPL"), d("2023-01-10"));
        assert_eq!(scope.start_of("NEW"), d("2025-10-01"));
        assert_eq!(
            scope.start_of("SPY"),
            d("2023-01-10"),
            "a factor ETF held late"
        );
        assert_eq!(scope.start_of("TLT"), d("2023-01-10"));
        assert_eq!(scope.symbols.len(), 2 + FACTOR_ETFS.len());
    }
}
