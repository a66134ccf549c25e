//! The phases of a portfolio run, executed in DESIGN order. Each phase is a function of the
//! run context and the portfolio scope; a new attempt skips phases an earlier attempt
//! completed (they show as carried over).

mod daily;
mod phase_0_profiles;
mod phase_1_5_factors;
mod phase_1_75_metrics;
mod phase_1_market_data;
mod phase_2_fundamentals;
mod phase_3_snapshots;
mod phase_4_market_values;
mod phase_5_sector_tags;
mod phase_6_risk;
pub mod scope;
mod symbol_work;

use crate::context::{JobError, RunContext};
use anyhow::anyhow;
use phase_1_market_data::SymbolScope;
use scope::PortfolioScope;
use sigmasight_shared::db::{phases as phase_rows, prices};
use sigmasight_shared::domain::{ActivityLevel, RunKind, RunStatus};
use sigmasight_shared::phases::PhaseDef;
use std::sync::Arc;

/// How a run ended well.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// `completed`, or `partial` when some symbols had no data.
    pub status: RunStatus,
    /// Result summary stored on the run.
    pub summary: serde_json::Value,
    /// A parent that fanned out: it stays running until its last child ends it.
    pub parked: bool,
}

/// Executes the run's phases.
pub async fn execute(ctx: Arc<RunContext>) -> Result<RunOutcome, JobError> {
    match ctx.run.kind {
        RunKind::Onboarding | RunKind::Admin | RunKind::PortfolioDaily => portfolio_run(&ctx).await,
        RunKind::Daily => daily::run(&ctx).await,
        other => Err(JobError::Fatal(anyhow!(
            "run kind {other} is not supported by this worker"
        ))),
    }
}

async fn portfolio_run(ctx: &RunContext) -> Result<RunOutcome, JobError> {
    let portfolio_id = ctx
        .run
        .portfolio_id
        .ok_or_else(|| JobError::Fatal(anyhow!("run has no portfolio")))?;
    let plan: Vec<&'static PhaseDef> = ctx.run.kind.plan().iter().collect();
    let carried = if ctx.attempt() > 1 {
        phase_rows::completed_before(&ctx.pool, ctx.run.id, ctx.attempt()).await?
    } else {
        Vec::new()
    };
    let held =
        phase_rows::init_attempt(&ctx.pool, ctx.run.id, ctx.attempt(), &plan, &carried).await?;
    ctx.fenced(held)?;
    let mut scope = PortfolioScope::load(ctx, portfolio_id).await?;
    let symbols = scope.symbol_scope();
    let mut verdicts_read = false;
    for phase in plan {
        if carried.iter().any(|c| c == phase.id) {
            ctx.info(
                phase,
                format!(
                    "{} already completed in an earlier attempt; carried over",
                    phase.name
                ),
            );
            continue;
        }
        ctx.check_lease()?;
        let portfolio_level = matches!(phase.id, "phase_3" | "phase_4" | "phase_5" | "phase_6");
        if portfolio_level && !verdicts_read {
            // Phase 1 has decided which symbols have no data: the portfolio phases name them.
            scope.refresh_left_out(ctx).await?;
            verdicts_read = true;
        }
        match phase.id {
            "phase_3" => phase_3_snapshots::run(ctx, &scope)
                .await
                .map_err(|e| record_failure(ctx, phase, e)),
            "phase_4" => phase_4_market_values::run(ctx, &scope)
                .await
                .map_err(|e| record_failure(ctx, phase, e)),
            "phase_5" => phase_5_sector_tags::run(ctx, &scope)
                .await
                .map_err(|e| record_failure(ctx, phase, e)),
            "phase_6" => phase_6_risk::run(ctx, &scope)
                .await
                .map_err(|e| record_failure(ctx, phase, e)),
            _ => run_symbol_phase(ctx, phase, &symbols).await,
        }?;
    }
    outcome(ctx, &scope).await
}

/// Runs one symbol-level phase over `scope`.
pub(super) async fn run_symbol_phase(
    ctx: &RunContext,
    phase: &PhaseDef,
    scope: &SymbolScope,
) -> Result<(), JobError> {
    let result = match phase.id {
        "phase_1" => phase_1_market_data::run(ctx, scope).await,
        "phase_1_5" => phase_1_5_factors::run(ctx, scope).await,
        "phase_1_75" => phase_1_75_metrics::run(ctx, scope).await,
        "phase_0" => phase_0_profiles::run(ctx, scope).await,
        "phase_2" => phase_2_fundamentals::run(ctx, scope).await,
        other => Err(JobError::Fatal(anyhow!(
            "phase {other} is not a symbol-level phase"
        ))),
    };
    result.map_err(|e| record_failure(ctx, phase, e))
}

/// Records a phase's failure in the feed (its row is marked failed when the attempt ends)
/// and passes the error on.
fn record_failure(ctx: &RunContext, phase: &PhaseDef, e: JobError) -> JobError {
    if !matches!(e, JobError::LeaseLost) {
        ctx.activity.push(
            ActivityLevel::Error,
            Some(phase.id),
            format!("{} failed: {e}", phase.name),
            false,
        );
    }
    e
}

/// Summary: positions analyzed/total, unavailable symbols, trading days.
async fn outcome(ctx: &RunContext, scope: &PortfolioScope) -> Result<RunOutcome, JobError> {
    let verdicts = prices::availability(&ctx.pool, &scope.symbols).await?;
    let mut unavailable: Vec<String> = verdicts
        .into_iter()
        .filter(|v| !v.available)
        .map(|v| v.symbol)
        .collect();
    unavailable.sort();
    let analyzed = scope
        .positions
        .iter()
        .filter(|p| {
            !unavailable
                .iter()
                .any(|u| Some(u.as_str()) == scope::price_symbol(p))
        })
        .count();
    let summary = serde_json::json!({
        "positions_total": scope.positions.len(),
        "positions_analyzed": analyzed,
        "unavailable_symbols": unavailable,
        "trading_days": scope.days.len(),
        "start_date": scope.days.first(),
        "end_date": scope.end,
    });
    let status = if unavailable.is_empty() {
        RunStatus::Completed
    } else {
        RunStatus::Partial
    };
    // Info either way: phase 1 gave the one warning per unavailable symbol.
    ctx.activity.push(
        ActivityLevel::Info,
        None,
        if unavailable.is_empty() {
            format!(
                "Portfolio setup complete: {analyzed} of {} positions analyzed over {} trading days",
                scope.positions.len(),
                scope.days.len()
            )
        } else {
            format!(
                "Portfolio setup completed with warnings: {analyzed} of {} positions analyzed; no market data for {}",
                scope.positions.len(),
                unavailable.join(", ")
            )
        },
        false,
    );
    Ok(RunOutcome {
        status,
        summary,
        parked: false,
    })
}
