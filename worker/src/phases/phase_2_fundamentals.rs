//! Phase 2 — Fundamental Data Collection (final date only), for PUBLIC non-ETF symbols:
//! fetched when missing or 3+ days past the next earnings date.

use super::phase_1_market_data::{available_symbols, SymbolScope};
use super::symbol_work;
use crate::context::{JobError, RunContext};
use futures::stream::{self, StreamExt};
use sigmasight_shared::db::{fundamentals, profiles};
use sigmasight_shared::market_data::ProviderError;
use sigmasight_shared::phases::PHASE_2;

/// Runs phase 2.
pub async fn run(ctx: &RunContext, scope: &SymbolScope) -> Result<(), JobError> {
    let available = available_symbols(ctx, scope).await?;
    let etfs: Vec<String> = profiles::facts(&ctx.pool, &available)
        .await?
        .into_iter()
        .filter(|f| f.is_etf)
        .map(|f| f.symbol)
        .collect();
    let symbols: Vec<String> = available
        .into_iter()
        .filter(|s| !etfs.contains(s) && !scope.funds.contains(s))
        .collect();
    let current = fundamentals::current_symbols(&ctx.pool, &symbols, scope.end).await?;
    let mut work = symbol_work::start(ctx, &PHASE_2, &symbols, &current, scope.end).await?;
    let provider = ctx.provider.clone();
    let end = scope.end;
    let mut results = stream::iter(work.todo.clone())
        .map(|s| {
            let provider = provider.clone();
            async move { (provider.fundamentals(&s, end).await, s) }
        })
        .buffer_unordered(ctx.config.provider_concurrency.max(1));
    let (mut fetched, mut periods, mut missing) = (0usize, 0u64, Vec::new());
    while let Some((result, symbol)) = results.next().await {
        match result {
            Ok(f) => {
                let mut tx = ctx.begin_fenced().await?;
                periods += fundamentals::upsert(&mut tx, &symbol, &f).await?;
                tx.commit().await?;
                fetched += 1;
            }
            Err(ProviderError::NotFound { reason, .. }) => {
                ctx.debug(&PHASE_2, format!("No fundamentals for {symbol}: {reason}"));
                missing.push(symbol);
            }
            Err(e) => {
                return Err(JobError::Retryable(anyhow::anyhow!(
                    "fundamentals of {symbol}: {e}"
                )))
            }
        }
        work.progress.advance(1).await?;
    }
    ctx.info(&PHASE_2, format!(
        "Fundamental Data Collection complete: {} companies ({fetched} fetched, {} current, {} without data), {periods} periods stored",
        symbols.len(), current.len(), missing.len()
    ));
    work.progress.finish("completed", serde_json::json!({ "symbols": symbols.len(), "fetched": fetched, "cached": current.len(), "missing": missing, "periods": periods })).await
}
