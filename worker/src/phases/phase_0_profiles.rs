//! Phase 0 — Company Profile Sync (final date only): profiles older than 24 h are fetched
//! again, one request per symbol; every symbol then gets its Provider Beta (1Y) row.

use super::phase_1_market_data::{available_symbols, SymbolScope};
use super::symbol_work;
use crate::context::{JobError, RunContext};
use futures::stream::{self, StreamExt};
use sigmasight_shared::db::{factors, profiles};
use sigmasight_shared::market_data::ProviderError;
use sigmasight_shared::phases::PHASE_0;

/// Runs phase 0.
pub async fn run(ctx: &RunContext, scope: &SymbolScope) -> Result<(), JobError> {
    let symbols = available_symbols(ctx, scope).await?;
    let fresh = profiles::fresh_symbols(&ctx.pool, &symbols).await?;
    let mut work = symbol_work::start(ctx, &PHASE_0, &symbols, &fresh, scope.end).await?;
    let provider = ctx.provider.clone();
    let end = scope.end;
    let mut results = stream::iter(work.todo.clone())
        .map(|s| {
            let provider = provider.clone();
            async move { (provider.company_profile(&s, end).await, s) }
        })
        .buffer_unordered(ctx.config.provider_concurrency.max(1));
    let (mut fetched, mut missing) = (0usize, Vec::new());
    while let Some((result, symbol)) = results.next().await {
        match result {
            Ok(profile) => {
                let mut tx = ctx.begin_fenced().await?;
                profiles::upsert(&mut tx, &profile, ctx.provider.name()).await?;
                tx.commit().await?;
                fetched += 1;
            }
            Err(ProviderError::NotFound { reason, .. }) => {
                ctx.debug(&PHASE_0, format!("No profile for {symbol}: {reason}"));
                missing.push(symbol);
            }
            Err(e) => {
                return Err(JobError::Retryable(anyhow::anyhow!(
                    "profile of {symbol}: {e}"
                )))
            }
        }
        work.progress.advance(1).await?;
    }
    let mut tx = ctx.begin_fenced().await?;
    factors::upsert_provider_betas(&mut tx, ctx.run.id, &symbols, scope.end).await?;
    tx.commit().await?;
    ctx.info(&PHASE_0, format!(
        "Company Profile Sync complete: {} symbols ({fetched} fetched, {} fresh, {} without a profile)",
        symbols.len(), fresh.len(), missing.len()
    ));
    work.progress.finish("completed", serde_json::json!({ "symbols": symbols.len(), "fetched": fetched, "cached": fresh.len(), "missing": missing })).await
}
