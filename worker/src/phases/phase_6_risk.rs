//! Phase 6 — Risk Analytics (final date): factor exposures, volatility, correlations and
//! stress tests of the portfolio on its calculation date (ANALYTICS §7). Reads prices, the
//! snapshot equity and the symbol betas, computes everything off the async runtime, and
//! replaces the date's results in one fenced transaction.

use super::scope::params;
use super::scope::PortfolioScope;
use crate::context::{JobError, RunContext};
use chrono::NaiveDate;
use rust_decimal::prelude::ToPrimitive;
use sigmasight_shared::analytics::factors::MARKET_BETA_FACTOR;
use sigmasight_shared::analytics::risk::{compute, RiskOutput, RiskParams, PRICE_LOOKBACK_DAYS};
use sigmasight_shared::analytics::snapshots::PositionInput;
use sigmasight_shared::analytics::stress::SCENARIOS;
use sigmasight_shared::db::{risk, snapshots};
use sigmasight_shared::domain::InvestmentClass;
use sigmasight_shared::domain::PhaseStatus;
use sigmasight_shared::phases::PHASE_6;

/// Runs phase 6.
pub async fn run(ctx: &RunContext, scope: &PortfolioScope) -> Result<(), JobError> {
    let d = scope.end;
    let inputs = scope.inputs();
    let mut progress = ctx.start_phase(&PHASE_6, planned_items(&inputs, d)).await?;
    let (output, equity) = compute_risk(ctx, scope, inputs).await?;
    progress.set_total(output.items());
    ctx.info(
        &PHASE_6,
        format!(
            "Calculating risk analytics for {d}: {} positions, equity {equity:.2}",
            output.volatility.len() - 1
        ),
    );
    log_warnings(ctx, scope, &output);
    log_factors(ctx, &output);
    progress.advance(output.factors.len()).await?;
    log_volatility(ctx, &output);
    progress.advance(output.volatility.len()).await?;
    log_correlation(ctx, &output);
    progress.advance(1).await?;
    log_stress(ctx, &output);
    store(ctx, scope, &output).await?;
    progress.advance(output.stress.len()).await?;
    let tail = super::phase_6_tail_risk::run(ctx, scope).await?;
    log_tail_risk(ctx, &tail);
    ctx.info(
        &PHASE_6,
        format!(
            "Risk Analytics complete: {} items for {d}{}",
            output.items(),
            scope.left_out_note()
        ),
    );
    let status = PhaseStatus::finished(!output.warnings.is_empty());
    progress
        .finish(
            status,
            serde_json::json!({
                "calculation_date": d,
                "factors": output.factors.len(),
                "volatility": output.volatility.len(),
                "correlation_symbols": output.correlation.symbols.len(),
                "scenarios": output.stress.len(),
                "warnings": output.warnings.len(),
                "tail_risk_dates": tail.dates,
            }),
        )
        .await
}

/// Items before the prices are known: 13 factors, the volatility rows (the portfolio and
/// each PUBLIC/OPTIONS position active on d), the matrix, 22 scenarios.
fn planned_items(inputs: &[PositionInput], d: NaiveDate) -> usize {
    let candidates = inputs
        .iter()
        .filter(|p| p.investment_class != InvestmentClass::Private)
        .filter(|p| p.entry_date <= d && p.exit_date.is_none_or(|x| x > d))
        .filter(|p| p.expiration_date.is_none_or(|x| x >= d))
        .count();
    13 + candidates + 1 + 1 + SCENARIOS.len()
}

/// Loads prices, the equity on d and the symbol betas, and computes off the async runtime.
async fn compute_risk(
    ctx: &RunContext,
    scope: &PortfolioScope,
    inputs: Vec<PositionInput>,
) -> Result<(RiskOutput, f64), JobError> {
    let d = scope.end;
    let table_start = d - chrono::Duration::days(PRICE_LOOKBACK_DAYS);
    let table = scope.prices(ctx, table_start, d).await?;
    let equity = match d
        .succ_opt()
        .map(|next| snapshots::prior(&ctx.pool, scope.portfolio.id, next))
    {
        Some(found) => found.await?.map(|s| s.equity),
        None => None,
    }
    .unwrap_or_else(|| scope.portfolio.equity_balance.to_f64().unwrap_or(0.0));
    let betas = super::loaders::latest_betas(ctx, &scope.symbols, d).await?;
    let params = RiskParams {
        date: d,
        equity,
        snapshot: params(ctx, scope),
        duration: ctx.config.tlt_duration,
    };
    let output: RiskOutput = tokio::task::spawn_blocking(move || {
        compute(&inputs, &table, &params, |s, f| {
            betas.get(&(s.to_owned(), f.to_owned())).copied().flatten()
        })
    })
    .await
    .map_err(|e| JobError::Retryable(anyhow::anyhow!("risk computation panicked: {e}")))?;
    Ok((output, equity))
}

/// Warnings, except those about symbols phase 1 already warned of (debug entries).
fn log_warnings(ctx: &RunContext, scope: &PortfolioScope, output: &RiskOutput) {
    for w in &output.warnings {
        if scope.about_left_out(w) {
            ctx.debug(&PHASE_6, w.clone());
        } else {
            ctx.warn(&PHASE_6, w.clone());
        }
    }
}

fn log_factors(ctx: &RunContext, output: &RiskOutput) {
    let market = output
        .factors
        .iter()
        .find(|f| f.factor == MARKET_BETA_FACTOR);
    ctx.info(
        &PHASE_6,
        format!(
            "Factor exposures: {} factors; market beta {} (exposure {:.2})",
            output.factors.len(),
            market
                .and_then(|f| f.beta)
                .map_or("n/a".to_owned(), |b| format!("{b:.3}")),
            market.map_or(0.0, |f| f.exposure_dollar)
        ),
    );
}

fn log_volatility(ctx: &RunContext, output: &RiskOutput) {
    let pv = &output.volatility[0].metrics;
    let pct = |v: Option<f64>| v.map_or("n/a".to_owned(), |v| format!("{:.1}%", v * 100.0));
    ctx.info(
        &PHASE_6,
        format!(
            "Volatility: portfolio realised 21d {}, 63d {}, HAR forecast 21d {} ({}); {} positions",
            pct(pv.realized_vol_21d),
            pct(pv.realized_vol_63d),
            pct(pv.expected_vol_21d),
            pv.vol_trend.as_deref().unwrap_or("no trend"),
            output.volatility.len() - 1
        ),
    );
}

fn log_correlation(ctx: &RunContext, output: &RiskOutput) {
    let c = &output.correlation;
    ctx.info(
        &PHASE_6,
        format!(
            "Correlations: {} symbols, {} pairs, overall {}, effective positions {}",
            c.symbols.len(),
            c.pairs.len(),
            c.overall_correlation
                .map_or("n/a".to_owned(), |v| format!("{v:.3}")),
            c.effective_positions
                .map_or("n/a".to_owned(), |v| format!("{v:.2}"))
        ),
    );
}

fn log_tail_risk(ctx: &RunContext, tail: &super::phase_6_tail_risk::TailRiskDone) {
    let Some((var, mdd, sharpe)) = tail.headline else {
        return;
    };
    let show = |v: Option<f64>, f: fn(f64) -> String| v.map_or("n/a".to_owned(), f);
    ctx.info(
        &PHASE_6,
        format!(
            "Tail risk: {} date{}; VaR 95% {}, max drawdown {}, Sharpe {}",
            tail.dates,
            if tail.dates == 1 { "" } else { "s" },
            show(var, |v| format!("{v:.2}")),
            show(mdd, |v| format!("{:.1}%", v * 100.0)),
            show(sharpe, |v| format!("{v:.2}"))
        ),
    );
}

fn log_stress(ctx: &RunContext, output: &RiskOutput) {
    let worst = output
        .stress
        .iter()
        .filter(|s| s.active)
        .min_by(|a, b| a.correlated_pnl.total_cmp(&b.correlated_pnl));
    ctx.info(
        &PHASE_6,
        format!(
            "Stress tests: {} scenarios ({} active); worst {}",
            output.stress.len(),
            output.stress.iter().filter(|s| s.active).count(),
            worst.map_or("n/a".to_owned(), |s| format!(
                "{} {:.2} (direct {:.2})",
                s.id, s.correlated_pnl, s.direct_pnl
            ))
        ),
    );
}

/// Replaces the date's results in one fenced statement.
async fn store(
    ctx: &RunContext,
    scope: &PortfolioScope,
    output: &RiskOutput,
) -> Result<(), JobError> {
    let held = risk::replace(
        &ctx.pool,
        &risk::RiskWrite {
            portfolio_id: scope.portfolio.id,
            date: scope.end,
            run_id: ctx.run.id,
            attempt: ctx.attempt(),
            output,
        },
    )
    .await?;
    ctx.fenced(held)
}
