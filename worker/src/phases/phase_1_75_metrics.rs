//! Phase 1.75 — Symbol Metrics for the calculation date (ANALYTICS §3): period returns with
//! the "last close on or before" rule and realised volatility; history kept per date.

use super::loaders::{available_symbols, SymbolScope};
use super::symbol_work;
use crate::context::{JobError, RunContext};
use sigmasight_shared::analytics::metrics::{symbol_metrics, SymbolMetrics};
use sigmasight_shared::db::metrics;
use sigmasight_shared::domain::PhaseStatus;
use sigmasight_shared::phases::PHASE_1_75;

/// Runs phase 1.75.
pub async fn run(ctx: &RunContext, scope: &SymbolScope) -> Result<(), JobError> {
    let date = scope.end;
    let symbols = available_symbols(ctx, scope).await?;
    let done = metrics::symbols_with_date(&ctx.pool, &symbols, date).await?;
    let mut work = symbol_work::start(ctx, &PHASE_1_75, &symbols, &done, date).await?;
    let (table, idx) = symbol_work::price_table(ctx, &work.todo, date).await?;
    let todo = work.todo.clone();
    let rows: Vec<(String, SymbolMetrics)> = tokio::task::spawn_blocking(move || {
        todo.into_iter()
            .filter_map(|s| idx.map(|i| (s.clone(), symbol_metrics(&table, &s, i))))
            .collect()
    })
    .await
    .map_err(|e| JobError::Retryable(anyhow::anyhow!("symbol metrics panicked: {e}")))?;
    let mut tx = ctx.begin_fenced().await?;
    metrics::upsert_many(&mut tx, ctx.run.id, &rows).await?;
    tx.commit().await?;
    work.progress.advance(rows.len()).await?;
    ctx.info(
        &PHASE_1_75,
        format!(
            "Symbol Metrics complete: {} symbols ({} calculated, {} cached)",
            symbols.len(),
            rows.len(),
            done.len()
        ),
    );
    work.progress.finish(PhaseStatus::Completed, serde_json::json!({ "symbols": symbols.len(), "calculated": rows.len(), "cached": done.len(), "calculation_date": date })).await
}
