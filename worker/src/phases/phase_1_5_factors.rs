//! Phase 1.5 — Factor Analysis per symbol for the calculation date (ANALYTICS §2): ridge on
//! the six style ETFs, four spread regressions, market beta (90D) and IR beta. Shared across
//! portfolios: a symbol with its rows for the date is cached and costs nothing.

use super::loaders::{available_symbols, SymbolScope};
use super::symbol_work;
use crate::context::{JobError, RunContext};
use sigmasight_shared::analytics::factors::{analyze_symbol, FactorRow};
use sigmasight_shared::db::factors::{self, FactorExposure};
use sigmasight_shared::domain::PhaseStatus;
use sigmasight_shared::phases::PHASE_1_5;

/// Rows a symbol has per calculation date: 6 ridge + 4 spread + market + IR.
pub const ROWS_PER_SYMBOL: i64 = 12;
/// Symbols written per statement (and per progress step).
const CHUNK: usize = 100;

fn to_exposure(symbol: &str, date: chrono::NaiveDate, r: FactorRow) -> FactorExposure {
    FactorExposure {
        symbol: symbol.to_owned(),
        factor: r.factor.to_owned(),
        calculation_date: date,
        method: r.method.to_owned(),
        beta: r.beta,
        r_squared: r.r_squared,
        observations: r.observations,
        window_returns: r.window,
        t_stat: r.t_stat,
        p_value: r.p_value,
        std_error: r.std_error,
        alpha: r.alpha,
        label: r.label,
        reason: r.reason,
    }
}

/// Runs phase 1.5.
pub async fn run(ctx: &RunContext, scope: &SymbolScope) -> Result<(), JobError> {
    let date = scope.end;
    let symbols = available_symbols(ctx, scope).await?;
    let done = factors::complete_symbols(&ctx.pool, &symbols, date, ROWS_PER_SYMBOL).await?;
    let mut work = symbol_work::start(ctx, &PHASE_1_5, &symbols, &done, date).await?;
    if !work.todo.is_empty() {
        ctx.info(
            &PHASE_1_5,
            format!(
                "Calculating factor betas for {} symbols as of {date}",
                work.todo.len()
            ),
        );
    }
    let (table, idx) = symbol_work::price_table(ctx, &work.todo, date).await?;
    let todo = work.todo.clone();
    let results: Vec<(String, Vec<FactorRow>)> = tokio::task::spawn_blocking(move || {
        todo.into_iter()
            .map(|s| {
                let rows = idx
                    .map(|i| analyze_symbol(&table, &s, i))
                    .unwrap_or_default();
                (s, rows)
            })
            .collect()
    })
    .await
    .map_err(|e| JobError::Retryable(anyhow::anyhow!("factor analysis panicked: {e}")))?;
    let mut limited = 0usize;
    for chunk in results.chunks(CHUNK) {
        let mut rows = Vec::new();
        for (symbol, factor_rows) in chunk {
            if let Some(reason) = factor_rows.iter().find_map(|r| r.reason.clone()) {
                limited += 1;
                ctx.warn(
                    &PHASE_1_5,
                    format!("{symbol}: some betas left empty ({reason})"),
                );
            }
            rows.extend(
                factor_rows
                    .iter()
                    .cloned()
                    .map(|r| to_exposure(symbol, date, r)),
            );
        }
        let mut tx = ctx.begin_fenced().await?;
        factors::upsert_many(&mut tx, ctx.run.id, &rows).await?;
        tx.commit().await?;
        work.progress.advance(chunk.len()).await?;
    }
    ctx.info(&PHASE_1_5, format!(
        "Factor Analysis complete: {} symbols ({} calculated, {} cached, {limited} with too little history)",
        symbols.len(), results.len(), done.len()
    ));
    let status = PhaseStatus::finished(limited != 0);
    work.progress.finish(status, serde_json::json!({ "symbols": symbols.len(), "calculated": results.len(), "cached": done.len(), "limited": limited, "calculation_date": date })).await
}
