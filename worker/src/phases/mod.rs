//! The phases of a portfolio run, executed in DESIGN order. Each phase is a function of the
//! run context and the portfolio scope; a new attempt skips phases an earlier attempt
//! completed (they show as carried over).

mod daily;
mod loaders;
pub mod night_share;
mod phase_0_profiles;
mod phase_1_5_factors;
mod phase_1_75_metrics;
mod phase_1_market_data;
mod phase_2_fundamentals;
mod phase_3_snapshots;
mod phase_4_market_values;
mod phase_5_sector_tags;
mod phase_6_risk;
mod phase_6_tail_risk;
pub mod scope;
mod symbol_work;

use crate::context::{JobError, RunContext};
use anyhow::anyhow;
use futures::future::BoxFuture;
use loaders::SymbolScope;
use scope::PortfolioScope;
use sigmasight_shared::db::phases as phase_rows;
use sigmasight_shared::domain::{ActivityLevel, RunKind, RunStatus};
use sigmasight_shared::phases::{self as defs, PhaseDef};
use std::sync::Arc;
use tracing::Instrument as _;

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
    let carried = begin_attempt(ctx, &plan).await?;
    let mut scope = PortfolioScope::load(ctx, portfolio_id).await?;
    let symbols = scope.symbol_scope();
    // Set once a symbol-level phase has run: phase 1 may have changed which symbols have no
    // data, which the portfolio phases then read again.
    let mut verdicts_stale = false;
    for phase in plan {
        if carried_over(ctx, phase, &carried) {
            continue;
        }
        ctx.check_lease()?;
        let started = std::time::Instant::now();
        let span = phase_span(phase);
        let result = match work(phase)? {
            Work::Symbols(run) => {
                verdicts_stale = true;
                run(ctx, &symbols).instrument(span.clone()).await
            }
            Work::Portfolio(run) => {
                if verdicts_stale {
                    // Phase 1 has decided which symbols have no data: the portfolio phases
                    // name them.
                    scope.refresh_left_out(ctx).await?;
                    verdicts_stale = false;
                }
                run(ctx, &scope).instrument(span.clone()).await
            }
            Work::FanOut => Err(JobError::Fatal(anyhow!(
                "{} runs in a daily batch only",
                phase.name
            ))),
        };
        span.in_scope(|| crate::metrics::phase_ended(phase, result.is_ok(), started.elapsed()));
        if let Err(e) = result {
            if ctx.deferred.is_none()
                && !ctx.watched_live()
                && !matches!(e, JobError::LeaseLost | JobError::Cancelled)
            {
                // This phase's start was never written: show it running, so the attempt's
                // end marks it failed (not skipped) with the error.
                phase_rows::start(&ctx.pool, ctx.run.id, ctx.attempt(), phase.id, 0).await?;
            }
            return Err(record_failure(ctx, phase, e));
        }
    }
    if verdicts_stale {
        scope.refresh_left_out(ctx).await?;
    }
    Ok(outcome(ctx, &scope))
}

/// The span of one phase: its lines carry `phase` beside the run's fields. Its end is
/// logged at debug level with the time it took.
pub(super) fn phase_span(phase: &PhaseDef) -> tracing::Span {
    tracing::info_span!("phase", phase = phase.id)
}

/// A phase's work, over the run's symbols or its portfolio.
#[derive(Clone, Copy)]
pub(super) enum Work {
    Symbols(for<'a> fn(&'a RunContext, &'a SymbolScope) -> BoxFuture<'a, Result<(), JobError>>),
    Portfolio(
        for<'a> fn(&'a RunContext, &'a PortfolioScope) -> BoxFuture<'a, Result<(), JobError>>,
    ),
    /// The daily parent's fan-out into child runs (run by `daily` itself).
    FanOut,
}

/// Every phase and what runs it: the one dispatch table. Which phases a kind runs, and in
/// which order, is `RunKind::plan`.
static TABLE: [(&PhaseDef, Work); 10] = [
    (
        &defs::PHASE_1,
        Work::Symbols(|c, s| Box::pin(phase_1_market_data::run(c, s))),
    ),
    (
        &defs::PHASE_1_5,
        Work::Symbols(|c, s| Box::pin(phase_1_5_factors::run(c, s))),
    ),
    (
        &defs::PHASE_1_75,
        Work::Symbols(|c, s| Box::pin(phase_1_75_metrics::run(c, s))),
    ),
    (
        &defs::PHASE_0,
        Work::Symbols(|c, s| Box::pin(phase_0_profiles::run(c, s))),
    ),
    (
        &defs::PHASE_2,
        Work::Symbols(|c, s| Box::pin(phase_2_fundamentals::run(c, s))),
    ),
    (
        &defs::PHASE_3,
        Work::Portfolio(|c, p| Box::pin(phase_3_snapshots::run(c, p))),
    ),
    (
        &defs::PHASE_4,
        Work::Portfolio(|c, p| Box::pin(phase_4_market_values::run(c, p))),
    ),
    (
        &defs::PHASE_5,
        Work::Portfolio(|c, p| Box::pin(phase_5_sector_tags::run(c, p))),
    ),
    (
        &defs::PHASE_6,
        Work::Portfolio(|c, p| Box::pin(phase_6_risk::run(c, p))),
    ),
    (&defs::PORTFOLIOS, Work::FanOut),
];

/// What runs `phase`.
pub(super) fn work(phase: &PhaseDef) -> Result<Work, JobError> {
    TABLE
        .iter()
        .find(|(def, _)| def.id == phase.id)
        .map(|(_, w)| *w)
        .ok_or_else(|| JobError::Fatal(anyhow!("phase {} has no implementation", phase.id)))
}

/// Writes the attempt's phase rows and returns the phases an earlier attempt completed.
pub(super) async fn begin_attempt(
    ctx: &RunContext,
    plan: &[&'static PhaseDef],
) -> Result<Vec<String>, JobError> {
    if ctx.deferred.is_some() {
        // Written whole with the attempt's end; a first attempt carries nothing over.
        return Ok(Vec::new());
    }
    let carried = if ctx.attempt() > 1 {
        phase_rows::completed_before(&ctx.pool, ctx.run.id, ctx.attempt()).await?
    } else {
        Vec::new()
    };
    let held =
        phase_rows::init_attempt(&ctx.pool, ctx.run.id, ctx.attempt(), plan, &carried).await?;
    ctx.fenced(held)?;
    Ok(carried)
}

/// True (and said in the feed) when an earlier attempt completed `phase`.
pub(super) fn carried_over(ctx: &RunContext, phase: &PhaseDef, carried: &[String]) -> bool {
    let done = carried.iter().any(|c| c == phase.id);
    if done {
        ctx.info(
            phase,
            format!(
                "{} already completed in an earlier attempt; carried over",
                phase.name
            ),
        );
    }
    done
}

/// Records a phase's failure in the feed (its row is marked failed when the attempt ends)
/// and passes the error on.
fn record_failure(ctx: &RunContext, phase: &PhaseDef, e: JobError) -> JobError {
    if !matches!(e, JobError::LeaseLost | JobError::Cancelled) {
        ctx.activity.push(
            ActivityLevel::Error,
            Some(phase.id),
            format!("{} failed: {e}", phase.name),
            false,
        );
    }
    e
}

/// Summary: positions analyzed/total, the held symbols without market data, the factor ETFs
/// without prices, the data no provider could serve now, trading days. Any of the three
/// makes the run `partial`.
fn outcome(ctx: &RunContext, scope: &PortfolioScope) -> RunOutcome {
    let (unavailable, factor_etfs) = scope.unavailable_split();
    let gaps = ctx.gaps();
    let analyzed = scope
        .positions
        .iter()
        .filter(|p| {
            !unavailable
                .iter()
                .chain(&scope.deferred)
                .any(|u| Some(u.as_str()) == scope::price_symbol(p))
        })
        .count();
    let summary = serde_json::json!({
        "positions_total": scope.positions.len(),
        "positions_analyzed": analyzed,
        "unavailable_symbols": unavailable,
        "factor_etfs_without_prices": factor_etfs,
        "data_gaps": gaps,
        "deferred_symbols": scope.deferred,
        "trading_days": scope.days.len(),
        "start_date": scope.days.first(),
        "end_date": scope.end,
    });
    let complete = unavailable.is_empty()
        && factor_etfs.is_empty()
        && gaps.is_empty()
        && scope.deferred.is_empty();
    let status = if complete {
        RunStatus::Completed
    } else {
        RunStatus::Partial
    };
    let total = scope.positions.len();
    let mut message = if complete {
        format!(
            "Portfolio setup complete: {analyzed} of {total} positions analyzed over {} trading days",
            scope.days.len()
        )
    } else {
        format!("Portfolio setup completed with warnings: {analyzed} of {total} positions analyzed")
    };
    if !unavailable.is_empty() {
        message.push_str(&format!("; no market data for {}", unavailable.join(", ")));
    }
    if !factor_etfs.is_empty() {
        message.push_str(&format!(
            "; factor ETFs without prices: {}",
            factor_etfs.join(", ")
        ));
    }
    if !gaps.is_empty() {
        message.push_str(&format!("; not to be had now: {}", gaps.join("; ")));
    }
    // Info either way: the phases gave the warnings.
    ctx.activity.push(ActivityLevel::Info, None, message, false);
    RunOutcome {
        status,
        summary,
        parked: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sigmasight_shared::domain::RunKind;

    #[test]
    fn every_phase_a_kind_plans_has_its_work_and_portfolio_children_run_portfolio_work() {
        for kind in RunKind::ALL {
            for phase in kind.plan() {
                assert!(work(phase).is_ok(), "{kind}: {}", phase.id);
            }
        }
        for phase in RunKind::PortfolioDaily.plan() {
            assert!(
                matches!(work(phase), Ok(Work::Portfolio(_))),
                "{}",
                phase.id
            );
        }
        for phase in RunKind::Daily.plan() {
            assert!(
                matches!(work(phase), Ok(Work::Symbols(_) | Work::FanOut)),
                "{}",
                phase.id
            );
        }
    }
}
