//! The daily batch (parent run): the symbol-level phases once for the whole universe, then
//! one `portfolio_daily` child run per portfolio, inserted in one statement so every worker
//! shares the portfolio-level work. The parent parks; its last child ends it.

use super::loaders::SymbolScope;
use super::RunOutcome;
use crate::context::{JobError, RunContext};
use sigmasight_shared::db::{phases as phase_rows, positions, runs};
use sigmasight_shared::domain::RunStatus;
use sigmasight_shared::domain::FACTOR_ETFS;
use sigmasight_shared::phases::{PhaseDef, PORTFOLIOS};
use sigmasight_shared::queue::daily::BatchParams;
use tracing::Instrument as _;

/// Runs the parent of a daily batch.
pub async fn run(ctx: &RunContext) -> Result<RunOutcome, JobError> {
    let params: BatchParams = serde_json::from_value(ctx.run.params.clone()).unwrap_or_default();
    let last = sigmasight_shared::clock::last_trading_day();
    let end = params.date.map_or(last, |d| d.min(last));
    let plan: Vec<&'static PhaseDef> = ctx.run.kind.plan().iter().collect();
    let carried = super::begin_attempt(ctx, &plan).await?;

    let only = params.portfolio_ids.as_deref();
    let (mut symbols, earliest) = positions::universe(&ctx.pool, only).await?;
    symbols.extend(FACTOR_ETFS.iter().map(|s| (*s).to_owned()));
    symbols.sort();
    symbols.dedup();
    let scope = SymbolScope {
        symbols,
        funds: FACTOR_ETFS.iter().map(|s| (*s).to_owned()).collect(),
        history_start: earliest.unwrap_or(end)
            - chrono::Duration::days(super::scope::LOOKBACK_DAYS),
        end,
    };
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
