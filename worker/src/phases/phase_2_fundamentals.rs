//! Phase 2 — Fundamental Data Collection (final date only), for PUBLIC non-ETF symbols:
//! fetched when missing or 3+ days past the next earnings date.

use super::loaders::{available_symbols, SymbolScope};
use super::symbol_work;
use crate::context::{JobError, RunContext};
use futures::stream::{self, StreamExt};
use sigmasight_shared::db::{fundamentals, misses, profiles};
use sigmasight_shared::domain::PhaseStatus;
use sigmasight_shared::market_data::DataKind;
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
    let mut current = fundamentals::current_symbols(&ctx.pool, &symbols, scope.end).await?;
    // Symbols no provider had fundamentals for are not asked again within the TTL.
    current.extend(
        misses::recent(
            &ctx.pool,
            &symbols,
            "fundamentals",
            ctx.config.market.unavailable_ttl(),
        )
        .await?,
    );
    let mut work = symbol_work::start(ctx, &PHASE_2, &symbols, &current, scope.end).await?;
    let served = ctx.market.chain().serves(DataKind::Fundamentals);
    if !served && !work.todo.is_empty() {
        ctx.warn(&PHASE_2, format!(
            "No provider in the chain ({}) serves fundamentals: margins, net debt and cash flow stay empty",
            ctx.market.chain().describe()
        ));
    }
    let todo = if served {
        work.todo.clone()
    } else {
        Vec::new()
    };
    let market = ctx.market.clone();
    let end = scope.end;
    let mut results = stream::iter(todo)
        .map(|s| {
            let market = market.clone();
            async move { (market.fundamentals(&s, end).await, s) }
        })
        .buffer_unordered(ctx.config.provider_concurrency.max(1));
    let (mut fetched, mut periods) = (0usize, 0u64);
    let (mut missing, mut undecided) = (Vec::new(), Vec::new());
    while let Some((result, symbol)) = results.next().await {
        for notice in ctx.market.take_notices() {
            ctx.warn(&PHASE_2, notice);
        }
        match result {
            Ok(f) => {
                let mut tx = ctx.begin_fenced().await?;
                periods += fundamentals::upsert(&mut tx, &symbol, &f.value).await?;
                tx.commit().await?;
                fetched += 1;
            }
            Err(e) => match symbol_work::not_now(&e) {
                Some(reason) => undecided.push((symbol, reason)),
                None => {
                    misses::remember(&ctx.pool, &symbol, "fundamentals", &e.to_string()).await?;
                    ctx.debug(&PHASE_2, format!("No fundamentals for {symbol}: {e}"));
                    missing.push(symbol);
                }
            },
        }
        work.progress.advance(1).await?;
    }
    let gap = symbol_work::not_to_be_had(
        ctx,
        &PHASE_2,
        DataKind::Fundamentals,
        &undecided,
        "margins, net debt and cash flow stay empty",
    );
    let unserved = if served { 0 } else { work.todo.len() };
    ctx.info(&PHASE_2, format!(
        "Fundamental Data Collection complete: {} companies ({fetched} fetched, {} current, {} without data), {periods} periods stored",
        symbols.len(), current.len(), missing.len() + unserved
    ));
    let not_now: Vec<&str> = undecided.iter().map(|(s, _)| s.as_str()).collect();
    work.progress.finish(PhaseStatus::finished(gap), serde_json::json!({ "symbols": symbols.len(), "not_to_be_had_now": not_now, "fetched": fetched, "cached": current.len(), "missing": missing, "periods": periods, "served": served })).await
}
